//! A plugin request configuration from untrusted bytes: parsing, the validation rules, the
//! accessors and the typed conventions must never panic, and whatever parses must survive a
//! serialize/parse round trip unchanged.
//!
//! The checks are `fuzz_oracles::config` (fuzz-oracles/src/config.rs), which `cargo test` also
//! runs on every seed of `corpus/config/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::config(data));
