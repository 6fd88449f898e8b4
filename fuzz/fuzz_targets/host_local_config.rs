//! host-local's configuration decoder (ranges, the legacy single range, ipRanges, requested
//! addresses, routes, dataDir) on one request: `CNI_ARGS`, NUL, stdin (or just stdin).
//!
//! The checks are `fuzz_oracles::host_local_config` (fuzz-oracles/src/host_local_config.rs),
//! which `cargo test` also runs on every seed of `corpus/host_local_config/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::host_local_config(data));
