//! Results of any version from untrusted bytes: parsing (with and without an assumed version)
//! never panics, a parsed result re-parses from its own JSON to the same value, and every
//! successful conversion yields a valid result labelled with the target version.
//!
//! The checks are `fuzz_oracles::result` (fuzz-oracles/src/result.rs), which `cargo test` also
//! runs on every seed of `corpus/result/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::result(data));
