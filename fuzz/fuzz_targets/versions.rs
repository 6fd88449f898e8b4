//! Version strings, negotiation, and the identifier rules of the invocation environment.
//!
//! The checks are `fuzz_oracles::versions` (fuzz-oracles/src/versions.rs), which `cargo test` also
//! runs on every seed of `corpus/versions/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::versions(data));
