//! A network configuration list (and a single config lifted into one) from untrusted bytes:
//! no panics, version negotiation succeeds on anything accepted, and the round trip through
//! serialization is exact.
//!
//! The checks are `fuzz_oracles::conflist` (fuzz-oracles/src/conflist.rs), which `cargo test` also
//! runs on every seed of `corpus/conflist/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::conflist(data));
