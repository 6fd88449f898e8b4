//! The one place cni-rs talks netlink: a small synchronous rtnetlink handle ([`Netlink`])
//! with plain types for what it reads and asks for ([`Link`], [`LinkSpec`], [`Address`],
//! [`AddressSpec`], [`Route`], [`BridgeVlan`], [`BridgePort`]), and nf_tables over
//! nfnetlink ([`nfnetlink`]).
//!
//! The crate is in layers, each a module that says what it owns:
//! - `socket`: one `NETLINK_ROUTE` socket, created in the current namespace or in another
//!   one (the thread enters it only to create the socket: a netlink socket stays bound to
//!   the namespace it was created in, so the handle works there from any thread); the
//!   request/reply exchange: framing, sequence numbers, acks, multi-part dumps, interrupted
//!   dumps (retried), kernel error codes turned into [`NetlinkError`] (module `error`, with
//!   "no such thing" and `EEXIST` as their own variants, and the kernel's extended-ack text
//!   when it sends one);
//! - `types`: the route-netlink data types above, and the kernel constants callers name
//!   ([`RT_TABLE_MAIN`], [`IFA_F_NODAD`]...);
//! - `handle`: [`Netlink`] itself, opened once per namespace (which it keeps open,
//!   [`Netlink::netns`], so callers can name it as a veth peer's home, or for sysctls), and
//!   its operations per object: links, bridge ports and VLANs, addresses, routes;
//! - `wire`: the translation between `netlink-packet-route` messages and our types. That
//!   crate changes its API often, so none of its types appear in this crate's public
//!   interface: a version bump touches `wire` (and `socket`, for `netlink-packet-core`)
//!   only, and golden-byte tests there catch one that changes the bytes;
//! - [`nfnetlink`]: nf_tables over a `NETLINK_NETFILTER` socket, framed by hand: rule
//!   dumps, chain queries, and batches of rule changes committed in one transaction.
//!
//! The operations are the kernel facts the interface plugins (bridge, ptp, macvlan, ipvlan,
//! vlan) and tuning need: links (create veth/bridge/macvlan/ipvlan/vlan, delete, rename, move to another
//! namespace, up/down, MTU, MAC, promiscuous and all-multicast mode, transmit queue length,
//! master), bridge ports (hairpin, learning,
//! isolation, VLANs), addresses and routes (add, replace, delete, dump). What to do with them
//! (which sysctls, in which order, with which names) lives in the `iface` module of
//! reference-plugins and the plugins; which firewall rules to write lives in its `firewall`
//! module.
//!
//! Operations are blocking and cheap: a plugin opens one handle per namespace it works in
//! and makes a handful of requests. A new operation is one method in `handle` on top of the
//! socket's request or dump, with its message body in `wire`.

mod error;
mod handle;
pub mod nfnetlink;
mod socket;
mod types;
mod wire;

#[cfg(test)]
mod golden;

pub use error::{NetlinkError, Result};
pub use handle::Netlink;
pub use types::{
    format_mac, Address, AddressSpec, BridgePort, BridgeVlan, Family, IpvlanFlag, IpvlanMode, Link,
    LinkChange, LinkData, LinkId, LinkKind, LinkSpec, MacvlanMode, Route, RouteAdd, VlanTable,
    IFA_F_DADFAILED, IFA_F_NODAD, IFA_F_TENTATIVE, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_NOWHERE,
    RT_SCOPE_UNIVERSE, RT_TABLE_LOCAL, RT_TABLE_MAIN,
};
