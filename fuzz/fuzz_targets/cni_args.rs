//! `CNI_ARGS` strings: parsing never panics and a parsed value prints back to a string that
//! parses to the same pairs.
//!
//! The checks are `fuzz_oracles::cni_args` (fuzz-oracles/src/cni_args.rs), which `cargo test` also
//! runs on every seed of `corpus/cni_args/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::cni_args(data));
