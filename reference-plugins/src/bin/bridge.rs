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
//! The work lives in [`reference_plugins::bridge`].

use cni::skel::{plugin_main, CmdArgs, Plugin};
use cni::{CniResult, Error};
use reference_plugins::bridge;

struct Bridge;

impl Plugin for Bridge {
    fn about(&self) -> String {
        format!("CNI bridge plugin (cni-rs {})", env!("CARGO_PKG_VERSION"))
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        bridge::add(args)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        bridge::check(args)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        bridge::del(args)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        bridge::status(args)
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        bridge::gc(args)
    }
}

fn main() {
    plugin_main(Bridge)
}
