//! `tuning`: a chained plugin that adjusts the interface an earlier plugin made and the
//! container's network sysctls.
//!
//! - ADD (needs `prevResult`): writes the `sysctl` keys inside the container (only under
//!   `/proc/sys/net/`, allow-list honoured), saves the previous MAC, MTU, promiscuous and
//!   all-multicast mode and queue length to `<dataDir>/<containerID>_<ifName>.json`, then
//!   changes them; the result is `prevResult` with the new MAC. A failure undoes it all.
//! - CHECK: every configured value against the kernel.
//! - DEL: restores the saved link attributes and removes the file; success when there is
//!   nothing to restore or the namespace or link is gone.
//! - STATUS: the data directory is usable. GC: saved files of stale attachments removed.
//!
//! The work lives in [`reference_plugins::plugins::tuning`].

fn main() {
    cni::skel::plugin_main(reference_plugins::plugins::tuning::PLUGIN)
}
