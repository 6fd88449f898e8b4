//! Shared modules of the reference plugins; each binary in `src/bin/` is a thin `Plugin` on
//! top of them.
//!
//! - [`conf`]: the configuration of the interface plugins (bridge, ptp, macvlan, ipvlan, vlan).
//! - [`netlink`]: the synchronous rtnetlink handle every interface plugin uses.
//! - [`iface`]: plumbing the interface plugins share (namespaces, sysctls, veth pairs,
//!   applying an IPAM result, MAC addresses).
//! - [`ipam`]: host-local's configuration, allocator and on-disk store.
//! - [`loopback`]: the `loopback` plugin's work.
//! - [`sublink`]: what macvlan, ipvlan and vlan share (a link on a master, renamed into the
//!   container; IPAM with rollback; CHECK, DEL, STATUS, GC); [`macvlan`], [`ipvlan`] and
//!   [`vlan`]: each plugin's configuration turned into that work.
//! - [`firewall`]: ipMasq rules (nftables, or iptables as a fallback) for bridge and ptp.
//! - [`ptp`]: the `ptp` plugin's work (routed veth pairs).
//! - [`bridge`]: the `bridge` plugin's work (veth pairs on a host bridge).

pub mod bridge;
pub mod conf;
pub mod firewall;
pub mod iface;
pub mod ipam;
pub mod ipvlan;
pub mod loopback;
pub mod macvlan;
/// The rtnetlink handle lives in its own crate (`netlink/`), shared with netns-sandbox.
pub use cni_netlink as netlink;
pub mod ptp;
pub mod sublink;
pub mod vlan;
