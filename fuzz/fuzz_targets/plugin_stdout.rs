//! A plugin's stdout as the harness reads it: byte 0 picks verb, exit status and plugin kind,
//! byte 1 the request version, the rest is stdout; every check that needs no world runs on it.
//!
//! The checks are `fuzz_oracles::plugin_stdout` (fuzz-oracles/src/plugin_stdout.rs), which `cargo test` also
//! runs on every seed of `corpus/plugin_stdout/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::plugin_stdout(data));
