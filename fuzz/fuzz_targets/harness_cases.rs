//! The harness's case loader on one case file (TOML text).
//!
//! The checks are `fuzz_oracles::harness_cases` (fuzz-oracles/src/harness_cases.rs), which `cargo test` also
//! runs on every seed of `corpus/harness_cases/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::harness_cases(data));
