//! The reference plugins: one module per plugin under [`plugins`], each a thin layer over the
//! shared modules beside it; each binary in `src/bin/` hands its plugin to
//! [`cni::skel::plugin_main`].
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

pub mod conf;
pub mod firewall;
pub mod iface;
/// The rtnetlink handle lives in its own crate (`netlink/`), shared with netns-sandbox.
pub use cni_netlink as netlink;
pub mod plugins;
pub mod sublink;

/// The text VERSION-adjacent `about` reports: the upstream name and our version.
pub fn about(plugin: &str) -> String {
    format!("CNI {plugin} plugin (cni-rs {})", env!("CARGO_PKG_VERSION"))
}
