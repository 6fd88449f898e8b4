//! host-local's on-disk store under arbitrary directory contents (address-named files in any
//! form, reservations in every format, garbage, huge files, directories, FIFOs, symbolic links)
//! and a sequence of ADD/DEL/CHECK/GC/STATUS, in a temporary directory per input.
//!
//! The checks are `fuzz_oracles::host_local_store` (fuzz-oracles/src/host_local_store.rs),
//! which `cargo test` also runs on every seed of `corpus/host_local_store/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::host_local_store(data));
