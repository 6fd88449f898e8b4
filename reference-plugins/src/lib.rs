//! The reference plugins: one module per plugin under [`plugins`], each a thin layer over the
//! shared modules beside it; each binary in `src/bin/` hands its plugin to
//! [`cni::skel::plugin_main`] (`dhcp daemon …` instead runs the dhcp daemon,
//! [`plugins::dhcp::daemon`]), and [`multicall`] runs any of them from one binary
//! (`cni-rs-plugins`), choosing by the name it is started under; [`installer`] is its
//! `install` (the plugin set into a directory, for images without a shell) and `wait`.
//!
//! Shared modules:
//! - [`conf`]: decoding a plugin's configuration with Go's rules, the keys several plugins
//!   share, and the lenient DEL view ([`conf::DelConf`]).
//! - [`netlink`]: the synchronous rtnetlink handle every interface plugin uses.
//! - [`iface`]: plumbing the interface plugins share (sysctls, veth pairs, applying an IPAM
//!   result, MAC addresses).
//! - [`sublink`]: what macvlan, ipvlan and vlan share (a link on a master, renamed into the
//!   container; IPAM with rollback; CHECK, DEL, STATUS, GC).
//! - [`firewall`]: ipMasq rules (nftables, or iptables as a fallback) for bridge and ptp.
//!
//! The toolkit every plugin's verbs are written with, so that they agree:
//! - [`error`]: lower failures as CNI errors with context (`.context("…")`), one internal
//!   code for them all ([`cni::error::INTERNAL_ERROR_CODE`]); the first failure of a DEL.
//! - [`netns`]: the container's namespace for each verb, with one rule for "gone" on DEL.
//! - [`rollback`]: how ADD undoes what it made when a later step fails.
//! - [`check`]: CHECK's comparison of an attachment with `prevResult`.
//! - [`delegate`]: the IPAM delegate's STATUS and GC as interface plugins forward them.
//! - [`attachment_lock`]: ADD, CHECK and DEL of one attachment exclude each other.
//! - [`plan`]: what a verb will change (links and their namespace, sysctls, nftables and
//!   iptables chains, files, the dhcp daemon call, the IPAM delegate), decoded from the
//!   request before any kernel call; each plugin's verbs take their names from their typed
//!   plan, and [`plan::for_request`] lists it for the `plugin_plan` fuzz target.

pub mod attachment_lock;
pub mod check;
pub mod conf;
pub mod delegate;
pub mod error;
pub mod firewall;
pub mod iface;
pub mod installer;
pub mod multicall;
/// The rtnetlink handle lives in its own crate (`netlink/`), shared with netns-sandbox.
pub use cni_netlink as netlink;
pub mod netns;
pub mod plan;
pub mod plugins;
pub mod rollback;
pub mod sublink;
#[cfg(test)]
mod test_args;

/// A plugin's about text (run without `CNI_COMMAND`, or with `--version`): the upstream name,
/// our version and the build ([`cni::build_info`]).
pub fn about(plugin: &str) -> String {
    format!(
        "CNI {plugin} plugin (cni-rs {}, build {})",
        env!("CARGO_PKG_VERSION"),
        cni::build_info::BUILD
    )
}
