//! `bridge`: attaches containers to a Linux bridge in the host namespace through veth pairs,
//! with addresses from an IPAM plugin (or none: L2 only).
//!
//! - ADD: bridge created or reused, veth pair (host end a bridge port), IPAM addresses and
//!   routes in the container, gateway addresses on the bridge, forwarding, masquerade and
//!   MAC spoof check as configured; everything of the attachment undone on failure.
//! - DEL: container veth, IPAM reservation, masquerade and spoof-check rules removed; the
//!   bridge stays. Succeeds when the namespace or the link is already gone.
//! - CHECK: IPAM CHECK, then bridge, veth pair, addresses, routes and rules against
//!   `prevResult`.
//! - STATUS and GC: forwarded to the IPAM plugin.
//!
//! The work lives in [`reference_plugins::plugins::bridge`].

fn main() {
    cni::skel::plugin_main(reference_plugins::plugins::bridge::PLUGIN)
}
