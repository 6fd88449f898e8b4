//! The dhcp IPAM plugin's configuration decoder (daemonSocketPath, request and provide
//! options with fromArg, priority, dhcpv4/dhcpv6) and DEL's lenient socket path, on one
//! request: `CNI_ARGS`, NUL, stdin (or just stdin).
//!
//! The checks are `fuzz_oracles::dhcp_config` (fuzz-oracles/src/dhcp_config.rs), which `cargo
//! test` also runs on every seed of `corpus/dhcp_config/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::dhcp_config(data));
