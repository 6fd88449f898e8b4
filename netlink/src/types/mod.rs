//! The route-netlink data types: plain values for what the handle reads and asks for
//! (links, bridge ports and VLANs, addresses, routes) and the kernel constants callers name.
//! Nothing here knows the wire format; `crate::wire` translates these to and from
//! `netlink-packet-route` messages.

mod address;
mod bridge;
mod link;
mod route;

pub use address::{Address, AddressSpec, Family, IFA_F_DADFAILED, IFA_F_NODAD, IFA_F_TENTATIVE};
pub use bridge::{BridgePort, BridgeVlan, VlanTable};
pub use link::{
    format_mac, IpvlanFlag, IpvlanMode, Link, LinkChange, LinkData, LinkId, LinkKind, LinkSpec,
    MacvlanMode,
};
pub(crate) use link::{IFF_ALLMULTI, IFF_PROMISC, IFF_UP};
pub use route::{
    Route, RouteAdd, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE,
    RT_TABLE_LOCAL, RT_TABLE_MAIN,
};
