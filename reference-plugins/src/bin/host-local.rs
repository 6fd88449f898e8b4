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
//! The work lives in [`reference_plugins::plugins::host_local`].

fn main() {
    cni::skel::plugin_main(reference_plugins::plugins::host_local::PLUGIN)
}
