//! The harness's base config reading (`x-conformance`, the attachment patch, the prelude of a
//! list) and an inline `--attachment-patch`: config text, then optionally NUL and the patch.
//!
//! The checks are `fuzz_oracles::harness_target` (fuzz-oracles/src/harness_target.rs), which `cargo test` also
//! runs on every seed of `corpus/harness_target/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::harness_target(data));
