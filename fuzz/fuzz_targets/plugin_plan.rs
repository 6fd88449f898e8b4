//! A whole plugin request (plugin and verb, environment, stdin) up to the first kernel call:
//! the plan the plugin's verb would execute (`reference_plugins::plan::for_request`) for every
//! reference plugin, never naming a link, sysctl, chain, file, socket, namespace or IPAM
//! plugin the request did not name.
//!
//! The checks are `fuzz_oracles::plugin_plan` (fuzz-oracles/src/plugin_plan.rs), which
//! `cargo test` also runs on every seed of `corpus/plugin_plan/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::plugin_plan(data));
