//! `loopback`: brings the container's `lo` up on ADD and down on DEL.
//!
//! - ADD: `lo` up in `CNI_NETNS` (`CNI_IFNAME` is ignored). With a `prevResult`, that result
//!   is passed through; otherwise the result names `lo` (all-zero MAC, sandbox `CNI_NETNS`)
//!   with `127.0.0.1/8` and, when the namespace has IPv6, `::1/128`.
//! - CHECK: error unless `lo` is up.
//! - DEL: `lo` down; success when `CNI_NETNS` is absent or the namespace is gone.
//! - STATUS and GC: nothing held, always success.
//!
//! The work lives in [`reference_plugins::loopback`].

use cni::skel::{plugin_main, CmdArgs, Plugin};
use cni::{CniResult, Error};
use reference_plugins::loopback;

struct Loopback;

impl Plugin for Loopback {
    fn about(&self) -> String {
        format!("CNI loopback plugin (cni-rs {})", env!("CARGO_PKG_VERSION"))
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        // Read prevResult first: a bad one fails before the namespace is touched.
        let prev = args.prev_result()?;
        let netns = netns(args)?;
        let addrs = loopback::up(netns)?;
        Ok(prev.unwrap_or_else(|| loopback::result(netns, &addrs)))
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        loopback::check(netns(args)?)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        loopback::down(args.netns.as_deref())
    }
}

/// skel guarantees `CNI_NETNS` for ADD and CHECK; this only turns its absence into an error.
fn netns(args: &CmdArgs) -> Result<&str, Error> {
    args.netns
        .as_deref()
        .ok_or_else(|| Error::invalid_env("CNI_NETNS is required"))
}

fn main() {
    plugin_main(Loopback)
}
