//! Every reference plugin's configuration decoder (bridge, ptp, macvlan, ipvlan, vlan, what
//! loopback reads, DEL's lenient view) on one request: `CNI_ARGS`, NUL, stdin (or just stdin).
//!
//! The checks are `fuzz_oracles::plugin_config` (fuzz-oracles/src/plugin_config.rs), which
//! `cargo test` also runs on every seed of `corpus/plugin_config/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::plugin_config(data));
