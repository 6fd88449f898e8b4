//! Datagrams the dhcp daemon receives (DHCPv4 or DHCPv6, picked by the first byte): decoding
//! never panics and what it accepts makes a sane lease and result.
//!
//! The checks are `fuzz_oracles::dhcp_reply` (fuzz-oracles/src/dhcp_reply.rs), which `cargo
//! test` also runs on every seed of `corpus/dhcp_reply/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_oracles::dhcp_reply(data));
