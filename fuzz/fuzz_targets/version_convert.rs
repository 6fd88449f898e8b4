//! Results built from structured input (so nearly every run is a valid result rather than a
//! JSON syntax error): converting between every pair of versions never panics, every
//! successful conversion is a valid result of the target version, and going up to a newer
//! version and back down keeps the addresses (and, for results a version can fully carry,
//! everything else).
//!
//! The checks are `fuzz_oracles::version_convert` (fuzz-oracles/src/version_convert.rs), which `cargo test` also
//! runs on every seed of `corpus/version_convert/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::version_convert(data));
