//! The tuning plugin's configuration decoder (sysctl keys and their files under
//! /proc/sys/net, mac, mtu, txQLen, dataDir, args.cni, the mac capability) on one request:
//! `CNI_ARGS`, NUL, stdin (or just stdin).
//!
//! The checks are `fuzz_oracles::tuning_config` (fuzz-oracles/src/tuning_config.rs), which `cargo test` also
//! runs on every seed of `corpus/tuning_config/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::tuning_config(data));
