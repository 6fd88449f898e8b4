//! `ptp`: a veth pair per container, with the container's traffic routed through the host
//! end instead of a bridge.
//!
//! - ADD: IPAM ADD (undone if a later step fails), the veth pair (`mtu` on both ends), the
//!   addresses and routes in the container (everything via the IPAM gateway), the gateway
//!   addresses and host routes on the host end, forwarding, and with `ipMasq` masquerade.
//! - CHECK: IPAM CHECK, then the container interface, addresses and routes of `prevResult`,
//!   and the masquerade rules.
//! - DEL: IPAM DEL, the container interface (with its host end), the masquerade rules;
//!   success when the namespace or the interface is gone.
//! - STATUS: the IPAM plugin's answer. GC: forwarded to IPAM, stale masquerade rules removed.
//!
//! The work lives in [`reference_plugins::plugins::ptp`].

fn main() {
    cni::skel::plugin_main(reference_plugins::plugins::ptp::PLUGIN)
}
