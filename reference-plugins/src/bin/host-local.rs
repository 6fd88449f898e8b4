//! `host-local`: IPAM from configured ranges, recorded under `<dataDir>/<network>/` in the
//! same files upstream's host-local uses, so either can take over the other's store.
//!
//! - ADD: one address per range set (IPv4, IPv6, both), honouring requested addresses
//!   (`CNI_ARGS IP=`, `args.cni.ips`, `runtimeConfig.ips`) and the `ipRanges` capability;
//!   returns `ips` (address, gateway), `routes` and `dns`. Partial reservations are undone.
//! - DEL: releases the reservations of (container ID, ifname); succeeds when there are none.
//! - CHECK: fails when the reservation is gone (or an address of `prevResult` in our ranges is
//!   not reserved for the attachment).
//! - GC: releases every reservation of the network not in `cni.dev/valid-attachments`.
//! - STATUS: fails with code 50 when the data directory is unusable or a range set is full.
//!
//! The work lives in [`reference_plugins::ipam`].

use cni::skel::{plugin_main, CmdArgs, Plugin};
use cni::{CniResult, Error};
use reference_plugins::ipam::{self, config::IpamConfig, config::StoreLocation};

struct HostLocal;

fn config(args: &CmdArgs) -> Result<IpamConfig, Error> {
    IpamConfig::parse(&args.stdin, &args.args, args.version)
}

impl Plugin for HostLocal {
    fn about(&self) -> String {
        format!(
            "CNI host-local plugin (cni-rs {})",
            env!("CARGO_PKG_VERSION")
        )
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        ipam::add(&config(args)?, &args.container_id, &args.ifname)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        let prev = args.prev_result()?;
        ipam::check(
            &config(args)?,
            &args.container_id,
            &args.ifname,
            prev.as_ref(),
        )
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        // Only the store's location is needed, so DEL works even if the ranges became invalid.
        ipam::del(
            &StoreLocation::parse(&args.stdin)?,
            &args.container_id,
            &args.ifname,
        )
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        let valid = args.conf.gc_valid_attachments();
        ipam::gc(&StoreLocation::parse(&args.stdin)?, valid.as_deref())
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        ipam::status(&config(args)?)
    }
}

fn main() {
    plugin_main(HostLocal)
}
