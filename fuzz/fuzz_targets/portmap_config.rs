//! The portmap plugin's configuration decoder (mark bit, external chain, conditions of both
//! backends, backend choice, `runtimeConfig.portMappings`) on one request: `CNI_ARGS`, NUL,
//! stdin (or just stdin).
//!
//! The checks are `fuzz_oracles::portmap_config` (fuzz-oracles/src/portmap_config.rs), which `cargo test` also
//! runs on every seed of `corpus/portmap_config/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::portmap_config(data));
