//! `loopback`: brings the container's `lo` up on ADD and down on DEL.
//!
//! - ADD: `lo` up in `CNI_NETNS` (`CNI_IFNAME` is ignored). With a `prevResult`, that result
//!   is passed through; otherwise the result names `lo` (all-zero MAC, sandbox `CNI_NETNS`)
//!   with `127.0.0.1/8` and, when the namespace has IPv6, `::1/128`.
//! - CHECK: error unless `lo` is up.
//! - DEL: `lo` down; success when `CNI_NETNS` is absent or the namespace is gone.
//! - STATUS and GC: nothing held, always success.
//!
//! The work lives in [`reference_plugins::plugins::loopback`].

fn main() {
    cni::skel::plugin_main(reference_plugins::plugins::loopback::PLUGIN)
}
