//! The one place our plugins talk rtnetlink: a small synchronous socket ([`Netlink`]) and plain
//! types for what it reads and asks for ([`Link`], [`LinkSpec`], [`Address`],
//! [`AddressSpec`], [`Route`], [`BridgeVlan`], [`BridgePort`]).
//!
//! What this module owns:
//! - the socket: one `NETLINK_ROUTE` socket per handle, created in the current namespace
//!   ([`Netlink::open`]) or in another one ([`Netlink::open_in`]); a netlink socket stays
//!   bound to the namespace it was created in, so the handle works there from any thread
//!   without the thread ever staying in that namespace. The handle also keeps that namespace
//!   open ([`Netlink::netns`]) so callers can name it (as a veth peer's home, or for sysctls);
//! - the request/reply exchange: sequence numbers, acks, multi-part dumps, interrupted dumps
//!   (retried), kernel error codes turned into [`NetlinkError`] (with "no such thing" and
//!   `EEXIST` as their own variants, and the kernel's extended-ack text when it sends one);
//! - the translation between `netlink-packet-route` messages and our types. That crate
//!   changes its API often, so none of its types appear in this module's public interface:
//!   a version bump touches this file only.
//!
//! The operations are the kernel facts the interface plugins (bridge, ptp, macvlan, ipvlan,
//! vlan) need: links (create veth/bridge/macvlan/ipvlan/vlan, delete, rename, move to another
//! namespace, up/down, MTU, MAC, promiscuous and all-multicast mode, transmit queue length,
//! master), bridge ports (hairpin, learning,
//! isolation, VLANs), addresses and routes (add, replace, delete, dump). What to do with them
//! (which sysctls, in which order, with which names) lives in the `iface` module of reference-plugins and the plugins.
//!
//! Operations are blocking and cheap: a plugin opens one handle per namespace it works in
//! and makes a handful of requests. A new operation is one method on top of
//! [`Netlink::request`] and [`Netlink::dump`].

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorBuffer, NetlinkBuffer, NlasIterator, Parseable,
    ParseableParametrized, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK,
    NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    AfSpecBridge, BridgeFlag, BridgeVlanInfo, BridgeVlanInfoFlags, InfoBridge, InfoBridgePort,
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoPortData, InfoVeth, InfoVlan, IpVlanFlags,
    IpVlanMode, LinkAttribute, LinkExtentMask, LinkFlags, LinkHeader, LinkInfo, LinkMessage,
    LinkProtoInfoBridge, MacVlanMode, State,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

/// Size of the receive buffer; the kernel caps one dump part at 32 KiB.
const RECV_BUF: usize = 64 * 1024;
/// How often an interrupted dump (`NLM_F_DUMP_INTR`) is retried before giving up.
const DUMP_RETRIES: usize = 5;
/// `NLMSGERR_ATTR_MSG`: the extended-ack attribute carrying the kernel's error text.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Length of `struct nlmsghdr`.
const HEADER_LEN: usize = 16;
// rtnetlink message types (`linux/rtnetlink.h`), a stable kernel ABI.
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const IFF_UP: u32 = libc::IFF_UP as u32;
const IFF_LOOPBACK: u32 = libc::IFF_LOOPBACK as u32;
const IFF_PROMISC: u32 = libc::IFF_PROMISC as u32;
const IFF_ALLMULTI: u32 = libc::IFF_ALLMULTI as u32;
// Bridge port attributes (`IFLA_BRPORT_*`, `linux/if_link.h`) sent inside `IFLA_PROTINFO`.
const IFLA_BRPORT_MODE: u16 = 4;
const IFLA_BRPORT_LEARNING: u16 = 8;
const IFLA_BRPORT_UNICAST_FLOOD: u16 = 9;
const IFLA_BRPORT_PROXYARP: u16 = 10;
const IFLA_BRPORT_ISOLATED: u16 = 33;
/// `IFA_F_TENTATIVE`: an IPv6 address still doing duplicate address detection.
pub const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_DADFAILED`: duplicate address detection found the address in use.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_NODAD`.
pub const IFA_F_NODAD: u32 = 0x02;
/// Route scopes (`RT_SCOPE_*`).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
/// In a delete request: match routes of any scope.
pub const RT_SCOPE_NOWHERE: u8 = 255;
/// The main routing table (`RT_TABLE_MAIN`), where routes go unless told otherwise.
pub const RT_TABLE_MAIN: u32 = 254;
/// The local table (`RT_TABLE_LOCAL`): the kernel's routes to its own addresses.
pub const RT_TABLE_LOCAL: u32 = 255;
/// `RTPROT_BOOT`, the protocol `ip route add` gives routes (and ours get).
const RTPROT_BOOT: u8 = 3;
/// `IF_OPER_UP`.
const IF_OPER_UP: u8 = 6;

/// What a netlink operation failed with.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The namespace path does not exist (the container is gone).
    #[error("network namespace {} does not exist", path.display())]
    NetnsNotFound { path: PathBuf },
    /// The namespace path exists but could not be opened or entered (not a namespace, say).
    #[error("cannot enter network namespace {}: {source}", path.display())]
    EnterNetns { path: PathBuf, source: io::Error },
    /// The thread could not go back to its own namespace after creating a socket elsewhere;
    /// the thread is left in the target namespace and should do no further work.
    #[error("cannot return to the original network namespace: {0}")]
    RestoreNetns(io::Error),
    /// Creating, binding or using the socket failed.
    #[error("netlink socket: {0}")]
    Socket(io::Error),
    /// No such link, address or route: the kernel answered `ENODEV` or `ENOENT` (links),
    /// `EADDRNOTAVAIL` (deleting an address) or `ESRCH` (deleting a route).
    #[error("{op}: not found ({detail})")]
    NotFound {
        op: String,
        errno: i32,
        detail: String,
    },
    /// The kernel answered `EEXIST`.
    #[error("{op}: already exists ({detail})")]
    Exists { op: String, detail: String },
    /// Any other kernel error.
    #[error("{op}: {detail}")]
    Kernel {
        op: String,
        errno: i32,
        detail: String,
    },
    /// The reply could not be decoded.
    #[error("{op}: malformed netlink reply: {reason}")]
    Decode { op: String, reason: String },
}

impl NetlinkError {
    /// The kernel's errno, for errors that carry one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::NotFound { errno, .. } => Some(*errno),
            NetlinkError::Exists { .. } => Some(libc::EEXIST),
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            NetlinkError::EnterNetns { source, .. }
            | NetlinkError::RestoreNetns(source)
            | NetlinkError::Socket(source) => source.raw_os_error(),
            NetlinkError::NetnsNotFound { .. } => Some(libc::ENOENT),
            NetlinkError::Decode { .. } => None,
        }
    }

    /// No such link, address or route (not: no such namespace, see
    /// [`NetlinkError::is_netns_gone`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, NetlinkError::NotFound { .. })
    }

    pub fn is_exists(&self) -> bool {
        matches!(self, NetlinkError::Exists { .. })
    }

    /// The namespace path does not exist any more: a DEL can succeed.
    pub fn is_netns_gone(&self) -> bool {
        matches!(self, NetlinkError::NetnsNotFound { .. })
    }

    /// The kernel does not know the link kind (`EOPNOTSUPP`: no ipvlan or 8021q module, say)
    /// or the operation.
    pub fn is_not_supported(&self) -> bool {
        self.errno() == Some(libc::EOPNOTSUPP)
    }

    fn from_kernel(op: &str, errno: i32, ext_msg: Option<String>) -> NetlinkError {
        let mut detail = io::Error::from_raw_os_error(errno).to_string();
        if let Some(msg) = ext_msg {
            detail = format!("{detail}: {msg}");
        }
        let op = op.to_string();
        match errno {
            libc::ENODEV | libc::ENOENT | libc::EADDRNOTAVAIL | libc::ESRCH => {
                NetlinkError::NotFound { op, errno, detail }
            }
            libc::EEXIST => NetlinkError::Exists { op, detail },
            errno => NetlinkError::Kernel { op, errno, detail },
        }
    }
}

pub type Result<T, E = NetlinkError> = std::result::Result<T, E>;

/// A link named by name or by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkId<'a> {
    Name(&'a str),
    Index(u32),
}

impl<'a> From<&'a str> for LinkId<'a> {
    fn from(name: &'a str) -> LinkId<'a> {
        LinkId::Name(name)
    }
}

impl<'a> From<&'a String> for LinkId<'a> {
    fn from(name: &'a String) -> LinkId<'a> {
        LinkId::Name(name)
    }
}

impl From<u32> for LinkId<'_> {
    fn from(index: u32) -> Self {
        LinkId::Index(index)
    }
}

impl std::fmt::Display for LinkId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkId::Name(n) => write!(f, "{n:?}"),
            LinkId::Index(i) => write!(f, "index {i}"),
        }
    }
}

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
    pub mtu: Option<u32>,
    /// Hardware address (six bytes for Ethernet; all zero for loopback).
    pub mac: Option<Vec<u8>>,
    /// `IFLA_INFO_KIND` (`"veth"`, `"bridge"`...); `None` for physical devices and `lo`.
    pub kind: Option<String>,
    /// `IFLA_MASTER`: index of the bridge (or other master) this link is a port of.
    pub master: Option<u32>,
    /// `IFLA_LINK`: for a veth, the index of its peer (an index in the peer's namespace,
    /// which [`Link::link_netnsid`] names when it is another one); for a macvlan, ipvlan or
    /// vlan link, its lower device.
    pub parent: Option<u32>,
    /// `IFLA_LINK_NETNSID`: set when [`Link::parent`] lives in another namespace.
    pub link_netnsid: Option<i32>,
    /// `IFLA_OPERSTATE` (`IF_OPER_*`).
    pub oper_state: Option<u8>,
    /// `IFLA_PROMISCUITY`: how many holders asked for promiscuous mode.
    pub promiscuity: Option<u32>,
    /// The kind's own settings, for the kinds the plugins make.
    pub data: Option<LinkData>,
    /// Bridge port settings, when the link is a bridge port.
    pub bridge_port: Option<BridgePort>,
}

impl Link {
    /// Administratively up (`IFF_UP`).
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// Operationally up (`IF_OPER_UP`).
    pub fn is_oper_up(&self) -> bool {
        self.oper_state == Some(IF_OPER_UP)
    }

    pub fn is_loopback(&self) -> bool {
        self.flags & IFF_LOOPBACK != 0
    }

    /// `IFF_PROMISC` is set.
    pub fn is_promisc(&self) -> bool {
        self.flags & IFF_PROMISC != 0
    }

    /// `IFF_ALLMULTI` is set (all-multicast mode as requested by user space).
    pub fn is_allmulti(&self) -> bool {
        self.flags & IFF_ALLMULTI != 0
    }

    /// `kind` is `k`.
    pub fn is_kind(&self, k: &str) -> bool {
        self.kind.as_deref() == Some(k)
    }

    /// For a veth, the index of its peer (in the peer's namespace).
    pub fn veth_peer_index(&self) -> Option<u32> {
        self.is_kind("veth").then_some(self.parent).flatten()
    }

    /// The hardware address as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> Option<String> {
        self.mac.as_deref().map(format_mac)
    }
}

/// Attributes of an existing link to change in one request ([`Netlink::set_link_attrs`]);
/// `None` leaves an attribute as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkChange {
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    pub promisc: Option<bool>,
    pub allmulti: Option<bool>,
    pub tx_queue_len: Option<u32>,
}

impl LinkChange {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        *self == LinkChange::default()
    }
}

impl std::fmt::Display for LinkChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(mac) = self.mac {
            parts.push(format!("address {}", format_mac(&mac)));
        }
        if let Some(mtu) = self.mtu {
            parts.push(format!("mtu {mtu}"));
        }
        let on_off = |b: bool| if b { "on" } else { "off" };
        if let Some(p) = self.promisc {
            parts.push(format!("promisc {}", on_off(p)));
        }
        if let Some(a) = self.allmulti {
            parts.push(format!("allmulticast {}", on_off(a)));
        }
        if let Some(q) = self.tx_queue_len {
            parts.push(format!("txqueuelen {q}"));
        }
        write!(f, "[{}]", parts.join(", "))
    }
}

/// Settings of a link kind, as created or as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkData {
    Bridge {
        vlan_filtering: Option<bool>,
    },
    Macvlan {
        mode: Option<MacvlanMode>,
    },
    Ipvlan {
        mode: Option<IpvlanMode>,
        flag: Option<IpvlanFlag>,
    },
    Vlan {
        id: u16,
    },
}

/// Macvlan modes (`MACVLAN_MODE_*`), named as in CNI configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacvlanMode {
    Private,
    Vepa,
    Bridge,
    Passthru,
    Source,
}

impl MacvlanMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Passthru => "passthru",
            MacvlanMode::Source => "source",
        }
    }

    fn to_wire(self) -> MacVlanMode {
        match self {
            MacvlanMode::Private => MacVlanMode::Private,
            MacvlanMode::Vepa => MacVlanMode::Vepa,
            MacvlanMode::Bridge => MacVlanMode::Bridge,
            MacvlanMode::Passthru => MacVlanMode::Passthrough,
            MacvlanMode::Source => MacVlanMode::Source,
        }
    }

    fn from_wire(m: MacVlanMode) -> Option<MacvlanMode> {
        Some(match m {
            MacVlanMode::Private => MacvlanMode::Private,
            MacVlanMode::Vepa => MacvlanMode::Vepa,
            MacVlanMode::Bridge => MacvlanMode::Bridge,
            MacVlanMode::Passthrough => MacvlanMode::Passthru,
            MacVlanMode::Source => MacvlanMode::Source,
            _ => return None,
        })
    }
}

impl std::str::FromStr for MacvlanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            MacvlanMode::Private,
            MacvlanMode::Vepa,
            MacvlanMode::Bridge,
            MacvlanMode::Passthru,
            MacvlanMode::Source,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| format!("unknown macvlan mode {s:?}"))
    }
}

impl std::fmt::Display for MacvlanMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ipvlan modes (`IPVLAN_MODE_*`), named as in CNI configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpvlanMode {
    L2,
    L3,
    L3s,
}

impl IpvlanMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IpvlanMode::L2 => "l2",
            IpvlanMode::L3 => "l3",
            IpvlanMode::L3s => "l3s",
        }
    }

    /// The kernel's `IPVLAN_MODE_*` value (`IFLA_IPVLAN_MODE`).
    pub fn kernel_value(self) -> u16 {
        match self {
            IpvlanMode::L2 => 0,
            IpvlanMode::L3 => 1,
            IpvlanMode::L3s => 2,
        }
    }

    /// The mode for a kernel value.
    pub fn from_kernel_value(v: u16) -> Option<IpvlanMode> {
        [IpvlanMode::L2, IpvlanMode::L3, IpvlanMode::L3s]
            .into_iter()
            .find(|m| m.kernel_value() == v)
    }

    fn to_wire(self) -> IpVlanMode {
        match self {
            IpvlanMode::L2 => IpVlanMode::L2,
            IpvlanMode::L3 => IpVlanMode::L3,
            IpvlanMode::L3s => IpVlanMode::L3S,
        }
    }

    fn from_wire(m: IpVlanMode) -> Option<IpvlanMode> {
        Some(match m {
            IpVlanMode::L2 => IpvlanMode::L2,
            IpVlanMode::L3 => IpvlanMode::L3,
            IpVlanMode::L3S => IpvlanMode::L3s,
            _ => return None,
        })
    }
}

impl std::str::FromStr for IpvlanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [IpvlanMode::L2, IpvlanMode::L3, IpvlanMode::L3s]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown ipvlan mode {s:?}"))
    }
}

impl std::fmt::Display for IpvlanMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ipvlan flags (`IPVLAN_F_*`): how slaves of one lower device reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpvlanFlag {
    /// No flag: slaves talk to each other directly (the kernel's default).
    #[default]
    Bridge,
    Private,
    Vepa,
}

impl IpvlanFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            IpvlanFlag::Bridge => "bridge",
            IpvlanFlag::Private => "private",
            IpvlanFlag::Vepa => "vepa",
        }
    }

    /// The kernel's `IPVLAN_F_*` value (`IFLA_IPVLAN_FLAGS`).
    pub fn kernel_value(self) -> u16 {
        match self {
            IpvlanFlag::Bridge => 0,
            IpvlanFlag::Private => 1,
            IpvlanFlag::Vepa => 2,
        }
    }

    /// The flag for a kernel value.
    pub fn from_kernel_value(v: u16) -> Option<IpvlanFlag> {
        match v {
            0 => Some(IpvlanFlag::Bridge),
            1 => Some(IpvlanFlag::Private),
            2 => Some(IpvlanFlag::Vepa),
            _ => None,
        }
    }
}

impl std::str::FromStr for IpvlanFlag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [IpvlanFlag::Bridge, IpvlanFlag::Private, IpvlanFlag::Vepa]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown ipvlan flag {s:?}"))
    }
}

/// Bridge port settings (`IFLA_BRPORT_*`). `None` leaves a setting as it is when writing,
/// and means "not reported" when reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgePort {
    /// Hairpin mode (`IFLA_BRPORT_MODE`): frames may leave by the port they came in on.
    pub hairpin: Option<bool>,
    /// The bridge learns source MACs seen on this port.
    pub learning: Option<bool>,
    /// Isolated ports cannot talk to each other, only to non-isolated ones.
    pub isolated: Option<bool>,
    /// Unknown-destination unicast is flooded to this port.
    pub unicast_flood: Option<bool>,
    /// The bridge answers ARP requests for this port's neighbours.
    pub proxy_arp: Option<bool>,
}

impl BridgePort {
    fn attributes(&self) -> Vec<(u16, bool)> {
        [
            (IFLA_BRPORT_MODE, self.hairpin),
            (IFLA_BRPORT_LEARNING, self.learning),
            (IFLA_BRPORT_ISOLATED, self.isolated),
            (IFLA_BRPORT_UNICAST_FLOOD, self.unicast_flood),
            (IFLA_BRPORT_PROXYARP, self.proxy_arp),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// One VLAN of a bridge port's (or bridge's own) VLAN table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BridgeVlan {
    pub vid: u16,
    /// Untagged frames arriving on the port belong to this VLAN.
    pub pvid: bool,
    /// Frames of this VLAN leave the port untagged.
    pub untagged: bool,
}

impl BridgeVlan {
    /// A tagged VLAN (a trunk member).
    pub fn tagged(vid: u16) -> BridgeVlan {
        BridgeVlan {
            vid,
            pvid: false,
            untagged: false,
        }
    }

    /// The port's native VLAN: PVID, egress untagged (an access port).
    pub fn access(vid: u16) -> BridgeVlan {
        BridgeVlan {
            vid,
            pvid: true,
            untagged: true,
        }
    }
}

/// Whose VLAN table a bridge VLAN request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanTable {
    /// The link is a bridge port; the entry goes in its bridge's table for that port
    /// (`BRIDGE_FLAGS_MASTER`, `bridge vlan add ... master`).
    Port,
    /// The link is the bridge device itself; the entry is the bridge's own
    /// (`BRIDGE_FLAGS_SELF`, `bridge vlan add dev br0 ... self`).
    Bridge,
}

/// What [`Netlink::create_link`] makes.
#[derive(Debug, Clone, Copy)]
pub struct LinkSpec<'a> {
    pub name: &'a str,
    pub kind: LinkKind<'a>,
    /// MTU; for a veth, of both ends.
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// Create the link directly in this namespace rather than the handle's (the way
    /// macvlan, ipvlan and vlan links reach a container: the lower device stays here).
    pub netns: Option<BorrowedFd<'a>>,
}

/// The kinds of link the plugins create, with each kind's settings.
#[derive(Debug, Clone, Copy)]
pub enum LinkKind<'a> {
    Veth {
        peer_name: &'a str,
        /// Where the peer is created; `None`: next to the link itself.
        peer_netns: Option<BorrowedFd<'a>>,
        peer_mac: Option<[u8; 6]>,
    },
    Bridge {
        vlan_filtering: Option<bool>,
    },
    Macvlan {
        master: u32,
        mode: MacvlanMode,
    },
    Ipvlan {
        master: u32,
        mode: IpvlanMode,
        flag: IpvlanFlag,
    },
    /// An 802.1Q VLAN link on `master`.
    Vlan {
        master: u32,
        id: u16,
    },
}

impl<'a> LinkSpec<'a> {
    fn of(name: &'a str, kind: LinkKind<'a>) -> LinkSpec<'a> {
        LinkSpec {
            name,
            kind,
            mtu: None,
            mac: None,
            netns: None,
        }
    }

    /// A veth pair `name` / `peer_name`, the peer in `peer_netns` (or next to `name`).
    pub fn veth(
        name: &'a str,
        peer_name: &'a str,
        peer_netns: Option<BorrowedFd<'a>>,
    ) -> LinkSpec<'a> {
        LinkSpec::of(
            name,
            LinkKind::Veth {
                peer_name,
                peer_netns,
                peer_mac: None,
            },
        )
    }

    pub fn bridge(name: &'a str, vlan_filtering: Option<bool>) -> LinkSpec<'a> {
        LinkSpec::of(name, LinkKind::Bridge { vlan_filtering })
    }

    pub fn macvlan(name: &'a str, master: u32, mode: MacvlanMode) -> LinkSpec<'a> {
        LinkSpec::of(name, LinkKind::Macvlan { master, mode })
    }

    pub fn ipvlan(name: &'a str, master: u32, mode: IpvlanMode, flag: IpvlanFlag) -> LinkSpec<'a> {
        LinkSpec::of(name, LinkKind::Ipvlan { master, mode, flag })
    }

    pub fn vlan(name: &'a str, master: u32, id: u16) -> LinkSpec<'a> {
        LinkSpec::of(name, LinkKind::Vlan { master, id })
    }

    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    pub fn mac(mut self, mac: [u8; 6]) -> Self {
        self.mac = Some(mac);
        self
    }

    /// Creates the link in the namespace open at `netns` instead of the handle's.
    pub fn in_netns(mut self, netns: BorrowedFd<'a>) -> Self {
        self.netns = Some(netns);
        self
    }
}

/// Lower-case, colon-separated hex, as results carry MAC addresses.
pub fn format_mac(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// An address family filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn wire(family: Option<Family>) -> AddressFamily {
        match family {
            None => AddressFamily::Unspec,
            Some(Family::V4) => AddressFamily::Inet,
            Some(Family::V6) => AddressFamily::Inet6,
        }
    }
}

/// An address configured on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Index of the link carrying it.
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// `RT_SCOPE_*` (0 universe, 253 link, 254 host).
    pub scope: u8,
    /// `IFA_F_*` flags ([`IFA_F_TENTATIVE`], [`IFA_F_DADFAILED`]...).
    pub flags: u32,
}

impl Address {
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// The address with its prefix length, host bits kept (`10.1.0.5/24`).
    pub fn net(&self) -> IpNet {
        IpNet::new(self.addr, self.prefix_len).expect("the kernel reports valid prefixes")
    }

    /// IPv6 duplicate address detection is still running.
    pub fn is_tentative(&self) -> bool {
        self.flags & IFA_F_TENTATIVE != 0
    }

    /// IPv6 duplicate address detection found the address in use elsewhere.
    pub fn is_dad_failed(&self) -> bool {
        self.flags & IFA_F_DADFAILED != 0
    }
}

/// An address to add to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressSpec {
    /// The address with its prefix length (`10.1.0.5/24`).
    pub net: IpNet,
    /// IPv4 only: the broadcast address (`IFA_BROADCAST`). `None` sends none, as
    /// `ip addr add` does without `brd`; see [`AddressSpec::with_default_broadcast`].
    pub broadcast: Option<Ipv4Addr>,
    /// IPv6 only: skip duplicate address detection (`IFA_F_NODAD`), so the address is
    /// usable at once.
    pub nodad: bool,
}

impl AddressSpec {
    pub fn new(net: IpNet) -> AddressSpec {
        AddressSpec {
            net,
            broadcast: None,
            nodad: false,
        }
    }

    /// For an IPv4 address with a prefix shorter than /31, the subnet's last address as
    /// broadcast (what `ip addr add ... brd +` and Go's netlink library set).
    pub fn with_default_broadcast(mut self) -> Self {
        if let IpNet::V4(v4) = self.net {
            if v4.prefix_len() < 31 {
                self.broadcast = Some(v4.broadcast());
            }
        }
        self
    }

    pub fn with_nodad(mut self) -> Self {
        self.nodad = true;
        self
    }
}

/// A route, as asked for or as read back from a dump.
///
/// In requests, `None` fields take the defaults of `ip route add`: table main, scope
/// universe, protocol boot, no metric. In a delete, `None` fields match any value. Read back,
/// `table`, `scope` and `protocol` are always set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination; host bits are dropped on the wire (`10.1.0.5/24` means `10.1.0.0/24`).
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    /// Output device index (`RTA_OIF`).
    pub oif: Option<u32>,
    /// Preferred source address (`RTA_PREFSRC`).
    pub prefsrc: Option<IpAddr>,
    /// `RT_SCOPE_*`.
    pub scope: Option<u8>,
    /// Routing table id.
    pub table: Option<u32>,
    /// Metric (`RTA_PRIORITY`).
    pub priority: Option<u32>,
    /// `RTPROT_*`.
    pub protocol: Option<u8>,
    /// `RTAX_MTU`.
    pub mtu: Option<u32>,
    /// `RTAX_ADVMSS`.
    pub advmss: Option<u32>,
}

impl Route {
    pub fn new(dst: IpNet) -> Route {
        Route {
            dst,
            gateway: None,
            oif: None,
            prefsrc: None,
            scope: None,
            table: None,
            priority: None,
            protocol: None,
            mtu: None,
            advmss: None,
        }
    }

    pub fn family(&self) -> Family {
        Family::of(&self.dst.addr())
    }

    pub fn via(mut self, gateway: IpAddr) -> Self {
        self.gateway = Some(gateway);
        self
    }

    pub fn dev(mut self, oif: u32) -> Self {
        self.oif = Some(oif);
        self
    }

    pub fn src(mut self, prefsrc: IpAddr) -> Self {
        self.prefsrc = Some(prefsrc);
        self
    }

    pub fn scope(mut self, scope: u8) -> Self {
        self.scope = Some(scope);
        self
    }

    pub fn table(mut self, table: u32) -> Self {
        self.table = Some(table);
        self
    }

    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = Some(priority);
        self
    }

    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    pub fn advmss(mut self, advmss: u32) -> Self {
        self.advmss = Some(advmss);
        self
    }

    /// The default route of the main table is this one's destination (`0.0.0.0/0`, `::/0`).
    pub fn is_default(&self) -> bool {
        self.dst.prefix_len() == 0
    }
}

/// How [`Netlink::add_route_with`] treats a route that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAdd {
    /// Fail with [`NetlinkError::Exists`] if a route with the same destination, table and
    /// metric exists (`ip route add`).
    Exclusive,
    /// Add next to existing routes (`NLM_F_CREATE` alone, Go netlink's `RouteAddEcmp`):
    /// only an identical route fails; for IPv6 a second gateway for the same destination and
    /// metric joins it as a multipath next hop.
    Append,
    /// Replace the route with the same destination, table and metric, or add it
    /// (`ip route replace`): idempotent.
    Replace,
}

/// A synchronous rtnetlink handle bound to one network namespace.
pub struct Netlink {
    socket: Socket,
    /// The namespace the socket lives in, kept open.
    netns: File,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.socket.as_raw_fd())
            .field("netns_fd", &self.netns.as_raw_fd())
            .field("seq", &self.seq)
            .finish()
    }
}

impl Netlink {
    /// A handle on the calling thread's current network namespace.
    pub fn open() -> Result<Netlink> {
        let netns = own_netns().map_err(NetlinkError::Socket)?;
        Netlink::with_socket(netns)
    }

    /// A socket in the calling thread's current namespace, which is `netns`.
    fn with_socket(netns: File) -> Result<Netlink> {
        // No bind or connect: the kernel binds the socket to a free port on the first send,
        // and an unconnected netlink socket sends to the kernel (port 0). Three system
        // calls fewer, in processes that live for a few milliseconds.
        let socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        // Extended acks give readable kernel error text; capped acks keep error replies
        // short. Both are optional (older kernels): failures are ignored.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(Netlink {
            socket,
            netns,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// A handle on the namespace bound at `netns` (a `CNI_NETNS` path). The calling thread
    /// enters it only to create the socket and returns to its own namespace before this
    /// returns, on every path. A path that does not exist is [`NetlinkError::NetnsNotFound`].
    pub fn open_in(netns: impl AsRef<Path>) -> Result<Netlink> {
        let path = netns.as_ref();
        let target = File::open(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                NetlinkError::NetnsNotFound {
                    path: path.to_path_buf(),
                }
            } else {
                NetlinkError::EnterNetns {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Netlink::enter_for_socket(target, || path.to_path_buf())
    }

    /// A handle on the namespace open at `netns` (a namespace file descriptor, which is
    /// duplicated and kept).
    pub fn open_fd(netns: BorrowedFd<'_>) -> Result<Netlink> {
        let enter = |source| NetlinkError::EnterNetns {
            path: PathBuf::from(format!("fd {}", netns.as_raw_fd())),
            source,
        };
        let target = File::from(netns.try_clone_to_owned().map_err(enter)?);
        Netlink::enter_for_socket(target, || {
            PathBuf::from(format!("fd {}", netns.as_raw_fd()))
        })
    }

    /// Enters `target` just long enough to create the socket, then returns the thread to
    /// its own namespace (on every path). `what` names the target in errors.
    fn enter_for_socket(target: File, what: impl Fn() -> PathBuf) -> Result<Netlink> {
        let enter = |source| NetlinkError::EnterNetns {
            path: what(),
            source,
        };
        let original = own_netns().map_err(enter)?;
        setns(target.as_fd()).map_err(enter)?;
        let opened = Netlink::with_socket(target);
        setns(original.as_fd()).map_err(NetlinkError::RestoreNetns)?;
        opened
    }

    /// The index of the link named `name`, without a netlink round trip: `SIOCGIFINDEX` on
    /// this handle's socket, which the kernel answers in the socket's namespace. A missing
    /// link is [`NetlinkError::NotFound`], as with [`Netlink::link`].
    pub fn index_of(&self, name: &str) -> Result<u32> {
        let op = format!("get index of {name:?}");
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        if name.is_empty() || name.len() >= req.ifr_name.len() || name.contains('\0') {
            return Err(NetlinkError::from_kernel(&op, libc::EINVAL, None));
        }
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: SIOCGIFINDEX reads ifr_name and writes ifr_ifindex of the ifreq it is given.
        let rc = unsafe { libc::ioctl(self.socket.as_raw_fd(), libc::SIOCGIFINDEX as _, &mut req) };
        if rc < 0 {
            let errno = io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            return Err(NetlinkError::from_kernel(&op, errno, None));
        }
        // SAFETY: on success the kernel has set the ifindex member of the union.
        Ok(unsafe { req.ifr_ifru.ifru_ifindex } as u32)
    }

    /// The namespace this handle works in, as an open file descriptor (to place a veth peer
    /// there, or to run a thread there for sysctls).
    pub fn netns(&self) -> BorrowedFd<'_> {
        self.netns.as_fd()
    }

    // ----- links -------------------------------------------------------------------------

    /// Looks a link up by name or index.
    pub fn link<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<Link> {
        let id = id.into();
        let op = format!("get link {id}");
        let mut msg = link_message_for(id);
        skip_stats(&mut msg);
        let replies = self.request(&op, RTM_GETLINK, 0, &msg)?;
        let links: Vec<LinkView> = decode_all(&op, &replies, RTM_NEWLINK)?;
        links
            .into_iter()
            .next()
            .map(|v| link_from(v.0))
            .ok_or_else(|| NetlinkError::Decode {
                op,
                reason: "no link in the reply".into(),
            })
    }

    /// Every link of the namespace, with kind, master and parent (peer) indexes.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let op = "list links";
        let mut msg = LinkMessage::default();
        skip_stats(&mut msg);
        let replies = self.dump(op, RTM_GETLINK, &msg)?;
        let links: Vec<LinkView> = decode_all(op, &replies, RTM_NEWLINK)?;
        Ok(links.into_iter().map(|v| link_from(v.0)).collect())
    }

    /// Creates a link (`NLM_F_CREATE | NLM_F_EXCL`: an existing name is
    /// [`NetlinkError::Exists`]; a kind this kernel lacks is `EOPNOTSUPP`, see
    /// [`NetlinkError::is_not_supported`]). The link is created down; look it up by name
    /// (in the namespace it went to) for its index.
    pub fn create_link(&mut self, spec: &LinkSpec<'_>) -> Result<()> {
        let op = format!("create {} link {:?}", kind_name(&spec.kind), spec.name);
        let msg = new_link_message(spec);
        self.request(&op, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &msg)
            .map(drop)
    }

    /// Deletes a link (a veth's peer goes with it). A missing link is
    /// [`NetlinkError::NotFound`].
    pub fn delete_link<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<()> {
        let id = id.into();
        let op = format!("delete link {id}");
        self.request(&op, RTM_DELLINK, 0, &link_message_for(id))
            .map(drop)
    }

    /// Sets a link (by index, or by name without a lookup first) administratively up.
    pub fn set_up<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<()> {
        self.set_flags(id.into(), IFF_UP, IFF_UP, "set link up")
    }

    /// Sets a link administratively down.
    pub fn set_down<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<()> {
        self.set_flags(id.into(), 0, IFF_UP, "set link down")
    }

    /// Turns promiscuous mode (`IFF_PROMISC`) on or off.
    pub fn set_promisc<'a>(&mut self, id: impl Into<LinkId<'a>>, on: bool) -> Result<()> {
        let flags = if on { IFF_PROMISC } else { 0 };
        self.set_flags(id.into(), flags, IFF_PROMISC, "set promiscuous mode")
    }

    /// Changes the `IFF_*` flags selected by `mask` to their values in `flags`.
    fn set_flags(&mut self, id: LinkId<'_>, flags: u32, mask: u32, what: &str) -> Result<()> {
        let mut msg = link_message_for(id);
        msg.header.flags = LinkFlags::from_bits_retain(flags);
        msg.header.change_mask = LinkFlags::from_bits_retain(mask);
        let op = format!("{what} ({id})");
        self.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// One `RTM_SETLINK` with one attribute.
    fn set_attribute(&mut self, index: u32, attr: LinkAttribute, what: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(attr);
        let op = format!("{what} (index {index})");
        self.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Sets a macvlan's broadcast queue length (`IFLA_MACVLAN_BC_QUEUE_LEN`), a change of the
    /// link's kind data, which the kernel takes through `RTM_NEWLINK` without create flags.
    pub fn set_macvlan_bc_queue_len(&mut self, index: u32, len: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::BcQueueLen(len)])),
        ]));
        let op = format!("set macvlan bcqueuelen {len} (index {index})");
        self.request(&op, RTM_NEWLINK, 0, &msg).map(drop)
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<()> {
        self.set_attribute(index, LinkAttribute::Mtu(mtu), &format!("set MTU {mtu}"))
    }

    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<()> {
        let what = format!("set MAC {}", format_mac(&mac));
        self.set_attribute(index, LinkAttribute::Address(mac.to_vec()), &what)
    }

    /// Turns all-multicast mode (`IFF_ALLMULTI`) on or off.
    pub fn set_allmulti<'a>(&mut self, id: impl Into<LinkId<'a>>, on: bool) -> Result<()> {
        let flags = if on { IFF_ALLMULTI } else { 0 };
        self.set_flags(id.into(), flags, IFF_ALLMULTI, "set all-multicast mode")
    }

    /// Sets the transmit queue length (`IFLA_TXQLEN`).
    pub fn set_tx_queue_len(&mut self, index: u32, len: u32) -> Result<()> {
        let what = format!("set txqueuelen {len}");
        self.set_attribute(index, LinkAttribute::TxQueueLen(len), &what)
    }

    /// The transmit queue length (`IFLA_TXQLEN`) of a link.
    pub fn tx_queue_len<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<u32> {
        let id = id.into();
        let op = format!("get txqueuelen of link {id}");
        let mut msg = link_message_for(id);
        skip_stats(&mut msg);
        let replies = self.request(&op, RTM_GETLINK, 0, &msg)?;
        let links: Vec<LinkMessage> = decode_all(&op, &replies, RTM_NEWLINK)?;
        links
            .into_iter()
            .flat_map(|l| l.attributes)
            .find_map(|a| match a {
                LinkAttribute::TxQueueLen(len) => Some(len),
                _ => None,
            })
            .ok_or_else(|| NetlinkError::Decode {
                op,
                reason: "no IFLA_TXQLEN in the reply".into(),
            })
    }

    /// Changes several attributes of link `index` in one `RTM_SETLINK`: the kernel applies
    /// them in its own order (address, MTU, flags, queue length) and stops at the first it
    /// refuses, keeping those applied before it. An empty change sends nothing.
    pub fn set_link_attrs(&mut self, index: u32, change: &LinkChange) -> Result<()> {
        if change.is_empty() {
            return Ok(());
        }
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let (mut flags, mut mask) = (0, 0);
        for (on, flag) in [
            (change.promisc, IFF_PROMISC),
            (change.allmulti, IFF_ALLMULTI),
        ] {
            if let Some(on) = on {
                mask |= flag;
                if on {
                    flags |= flag;
                }
            }
        }
        msg.header.flags = LinkFlags::from_bits_retain(flags);
        msg.header.change_mask = LinkFlags::from_bits_retain(mask);
        if let Some(mac) = change.mac {
            msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(mtu) = change.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(len) = change.tx_queue_len {
            msg.attributes.push(LinkAttribute::TxQueueLen(len));
        }
        let op = format!("set link attributes {change} (index {index})");
        self.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Renames a link. The kernel refuses (`EBUSY`) while the link is up.
    pub fn rename(&mut self, index: u32, name: &str) -> Result<()> {
        let what = format!("rename link to {name:?}");
        self.set_attribute(index, LinkAttribute::IfName(name.to_string()), &what)
    }

    /// Moves a link to the namespace open at `netns`. Its index may change there, and it
    /// arrives down.
    pub fn set_netns(&mut self, index: u32, netns: BorrowedFd<'_>) -> Result<()> {
        let attr = LinkAttribute::NetNsFd(netns.as_raw_fd());
        self.set_attribute(index, attr, "move link to another namespace")
    }

    /// Makes the link a port of `master` (a bridge's index).
    pub fn set_master(&mut self, index: u32, master: u32) -> Result<()> {
        let what = format!("set master index {master}");
        self.set_attribute(index, LinkAttribute::Controller(master), &what)
    }

    /// Detaches the link from its master.
    pub fn set_nomaster(&mut self, index: u32) -> Result<()> {
        self.set_attribute(index, LinkAttribute::Controller(0), "set nomaster")
    }

    // ----- bridge ports ------------------------------------------------------------------

    /// Changes the settings of bridge port `index` that `port` gives (`AF_BRIDGE`
    /// `RTM_SETLINK` with `IFLA_PROTINFO`). The link must already be a bridge port.
    pub fn set_bridge_port(&mut self, index: u32, port: &BridgePort) -> Result<()> {
        let attrs = port.attributes();
        if attrs.is_empty() {
            return Ok(());
        }
        let mut msg = LinkMessage::default();
        msg.header.interface_family = AddressFamily::Bridge;
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::ProtoInfoBridge(
            attrs
                .into_iter()
                .map(|(k, v)| LinkProtoInfoBridge::Other(DefaultNla::new(k, vec![u8::from(v)])))
                .collect(),
        ));
        let op = format!("set bridge port options (index {index})");
        self.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Hairpin mode of bridge port `index`.
    pub fn set_hairpin(&mut self, index: u32, on: bool) -> Result<()> {
        self.set_bridge_port(
            index,
            &BridgePort {
                hairpin: Some(on),
                ..BridgePort::default()
            },
        )
    }

    /// Adds `vlan` to the VLAN table of `index` (a port or the bridge itself, per `table`).
    /// Adding an existing VLAN updates its flags.
    pub fn bridge_vlan_add(
        &mut self,
        index: u32,
        vlan: BridgeVlan,
        table: VlanTable,
    ) -> Result<()> {
        let op = format!("add bridge vlan {} (index {index})", vlan.vid);
        let msg = bridge_vlan_message(index, vlan, table);
        self.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Removes VLAN `vid` from the VLAN table of `index`.
    pub fn bridge_vlan_del(&mut self, index: u32, vid: u16, table: VlanTable) -> Result<()> {
        let op = format!("delete bridge vlan {vid} (index {index})");
        let msg = bridge_vlan_message(index, BridgeVlan::tagged(vid), table);
        self.request(&op, RTM_DELLINK, 0, &msg).map(drop)
    }

    /// The VLAN table of bridge port (or bridge) `index`, VLAN by VLAN.
    pub fn bridge_vlans(&mut self, index: u32) -> Result<Vec<BridgeVlan>> {
        let op = format!("list bridge vlans (index {index})");
        let mut msg = LinkMessage::default();
        msg.header.interface_family = AddressFamily::Bridge;
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::Brvlan]));
        let replies = self.dump(&op, RTM_GETLINK, &msg)?;
        let links: Vec<LinkMessage> = decode_all(&op, &replies, RTM_NEWLINK)?;
        let mut vlans = Vec::new();
        for link in links.into_iter().filter(|l| l.header.index == index) {
            for attr in link.attributes {
                if let LinkAttribute::AfSpecBridge(specs) = attr {
                    for spec in specs {
                        if let AfSpecBridge::VlanInfo(info) = spec {
                            let vlan = BridgeVlan {
                                vid: info.vid,
                                pvid: info.flags.contains(BridgeVlanInfoFlags::Pvid),
                                untagged: info.flags.contains(BridgeVlanInfoFlags::Untagged),
                            };
                            if !vlans.contains(&vlan) {
                                vlans.push(vlan);
                            }
                        }
                    }
                }
            }
        }
        Ok(vlans)
    }

    // ----- addresses ---------------------------------------------------------------------

    /// Addresses of the link with index `index`, in the kernel's order, optionally of one
    /// family only.
    pub fn addresses(&mut self, index: u32, family: Option<Family>) -> Result<Vec<Address>> {
        let mut msg = AddressMessage::default();
        msg.header.family = Family::wire(family);
        let op = format!("list addresses (index {index})");
        let replies = self.dump(&op, RTM_GETADDR, &msg)?;
        let addrs: Vec<AddressMessage> = decode_all(&op, &replies, RTM_NEWADDR)?;
        Ok(addrs
            .into_iter()
            .filter_map(address_from)
            .filter(|a| a.index == index && (family.is_none() || family == Some(a.family())))
            .collect())
    }

    /// Adds an address to link `index`; an existing one is [`NetlinkError::Exists`].
    pub fn add_address(&mut self, index: u32, spec: &AddressSpec) -> Result<()> {
        let op = format!("add address {} (index {index})", spec.net);
        let msg = address_message(index, spec);
        self.request(&op, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &msg)
            .map(drop)
    }

    /// Removes address `net` (address and prefix length) from link `index`; a missing one is
    /// [`NetlinkError::NotFound`].
    pub fn delete_address(&mut self, index: u32, net: IpNet) -> Result<()> {
        let op = format!("delete address {net} (index {index})");
        let msg = address_message(index, &AddressSpec::new(net));
        self.request(&op, RTM_DELADDR, 0, &msg).map(drop)
    }

    // ----- routes ------------------------------------------------------------------------

    /// Routes of every table, IPv4 and/or IPv6 (the local table and the kernel's own
    /// routes included; filter on [`Route::table`], [`Route::oif`]...). Multipath routes
    /// are reported without gateway.
    pub fn routes(&mut self, family: Option<Family>) -> Result<Vec<Route>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = Family::wire(family);
        let op = "list routes";
        let replies = self.dump(op, RTM_GETROUTE, &msg)?;
        let mut routes = Vec::new();
        for reply in replies.iter().filter(|r| r.kind == RTM_NEWROUTE) {
            // Only IPv4 and IPv6 (a dump of all families also has multicast and MPLS).
            let fam = reply.payload.first().copied();
            if fam != Some(libc::AF_INET as u8) && fam != Some(libc::AF_INET6 as u8) {
                continue;
            }
            let msg =
                RouteMessage::parse(&reply.payload[..]).map_err(|e| NetlinkError::Decode {
                    op: op.to_string(),
                    reason: e.to_string(),
                })?;
            if let Some(route) = route_from(msg) {
                if family.is_none() || family == Some(route.family()) {
                    routes.push(route);
                }
            }
        }
        Ok(routes)
    }

    /// Adds a route exclusively ([`RouteAdd::Exclusive`]).
    pub fn add_route(&mut self, route: &Route) -> Result<()> {
        self.add_route_with(route, RouteAdd::Exclusive)
    }

    /// Adds or replaces a route ([`RouteAdd::Replace`]): the same call twice succeeds.
    pub fn replace_route(&mut self, route: &Route) -> Result<()> {
        self.add_route_with(route, RouteAdd::Replace)
    }

    /// Adds a route the way `how` says.
    pub fn add_route_with(&mut self, route: &Route, how: RouteAdd) -> Result<()> {
        let flags = match how {
            RouteAdd::Exclusive => NLM_F_CREATE | NLM_F_EXCL,
            RouteAdd::Append => NLM_F_CREATE,
            RouteAdd::Replace => NLM_F_CREATE | NLM_F_REPLACE,
        };
        let op = format!("add route {}", describe_route(route));
        let msg = route_message(route, false);
        self.request(&op, RTM_NEWROUTE, flags, &msg).map(drop)
    }

    /// Deletes the first route matching `route` (its `None` fields match anything; table
    /// defaults to main). A missing route is [`NetlinkError::NotFound`].
    pub fn delete_route(&mut self, route: &Route) -> Result<()> {
        let op = format!("delete route {}", describe_route(route));
        let msg = route_message(route, true);
        self.request(&op, RTM_DELROUTE, 0, &msg).map(drop)
    }

    // ----- the exchange ------------------------------------------------------------------

    /// Sends one request of type `kind` that expects an ack (`extra` adds flags such as
    /// `NLM_F_CREATE | NLM_F_EXCL`), and returns the messages that came before the ack (a
    /// GET's answer, say).
    fn request(
        &mut self,
        op: &str,
        kind: u16,
        extra: u16,
        msg: &impl Emitable,
    ) -> Result<Vec<Reply>> {
        self.exchange(op, kind, NLM_F_ACK | extra, msg)
    }
    /// Sends one dump request and collects every part, retrying a dump the kernel reports
    /// as interrupted by a concurrent change.
    fn dump(&mut self, op: &str, kind: u16, msg: &impl Emitable) -> Result<Vec<Reply>> {
        for _ in 0..DUMP_RETRIES {
            match self.exchange(op, kind, NLM_F_DUMP, msg) {
                Err(NetlinkError::Kernel { errno, .. }) if errno == libc::EINTR => continue,
                other => return other,
            }
        }
        Err(NetlinkError::from_kernel(op, libc::EINTR, None))
    }

    /// One request and its complete reply, undecoded. Messages of other sequence numbers
    /// (left over from an earlier exchange that failed half-way) are skipped.
    fn exchange(
        &mut self,
        op: &str,
        kind: u16,
        flags: u16,
        msg: &impl Emitable,
    ) -> Result<Vec<Reply>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut out = vec![0u8; HEADER_LEN + msg.buffer_len()];
        {
            let mut header = NetlinkBuffer::new(&mut out[..]);
            header.set_length((HEADER_LEN + msg.buffer_len()) as u32);
            header.set_message_type(kind);
            header.set_flags(NLM_F_REQUEST | flags);
            header.set_sequence_number(seq);
        }
        msg.emit(&mut out[HEADER_LEN..]);
        self.socket.send(&out, 0).map_err(NetlinkError::Socket)?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let decode = |reason: String| NetlinkError::Decode {
            op: op.to_string(),
            reason,
        };
        let mut replies = Vec::new();
        let mut interrupted = false;
        loop {
            self.buf.clear();
            let n = self
                .socket
                .recv(&mut self.buf, 0)
                .map_err(NetlinkError::Socket)?;
            if n > self.buf.len() {
                return Err(decode(format!("reply of {n} bytes truncated")));
            }
            let mut offset = 0;
            while offset < n {
                let reply = NetlinkBuffer::new_checked(&self.buf[offset..n])
                    .map_err(|e| decode(e.to_string()))?;
                offset += (reply.length() as usize + 3) & !3;
                if reply.sequence_number() != seq {
                    continue;
                }
                if reply.flags() & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                let payload = reply.payload();
                match reply.message_type() {
                    NLMSG_NOOP | NLMSG_OVERRUN => {}
                    NLMSG_DONE => {
                        // A dump can end with an error code in place of the usual 0.
                        let code = payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        if code < 0 {
                            return Err(NetlinkError::from_kernel(op, -code, None));
                        }
                        if interrupted {
                            return Err(NetlinkError::from_kernel(op, libc::EINTR, None));
                        }
                        return Ok(replies);
                    }
                    NLMSG_ERROR => {
                        let err =
                            ErrorBuffer::new_checked(payload).map_err(|e| decode(e.to_string()))?;
                        let Some(code) = err.code() else {
                            return Ok(replies); // the ack
                        };
                        let ext = (reply.flags() & NLM_F_ACK_TLVS != 0)
                            .then(|| {
                                ext_ack_message(err.payload(), reply.flags() & NLM_F_CAPPED != 0)
                            })
                            .flatten();
                        return Err(NetlinkError::from_kernel(op, -code.get(), ext));
                    }
                    kind => {
                        replies.push(Reply {
                            kind,
                            payload: payload.to_vec(),
                        });
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(replies);
                        }
                    }
                }
            }
        }
    }
}

/// One message of a reply, not yet decoded: its type and its payload.
struct Reply {
    kind: u16,
    payload: Vec<u8>,
}

/// Decodes every reply of type `kind` as a `T` (a `LinkMessage`, an `AddressMessage`...).
/// Decoding message by message, rather than through `netlink-packet-route`'s umbrella enum,
/// links in only the parsers of the message types we ask for.
fn decode_all<T: for<'a> Parseable<[u8]>>(
    op: &str,
    replies: &[Reply],
    kind: u16,
) -> Result<Vec<T>> {
    replies
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| {
            T::parse(&r.payload).map_err(|e| NetlinkError::Decode {
                op: op.to_string(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The calling thread's own network namespace. On the main thread `/proc/self/ns/net` names
/// the same one and is cheaper: skel has just looked that path up, so it is cached, while
/// `thread-self` goes through `task/<tid>` entries made afresh for every process.
fn own_netns() -> io::Result<File> {
    // SAFETY: system calls without arguments.
    let main_thread = unsafe { libc::gettid() == libc::getpid() };
    File::open(if main_thread {
        "/proc/self/ns/net"
    } else {
        "/proc/thread-self/ns/net"
    })
}

/// Moves the calling thread into the network namespace open at `ns`.
fn setns(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain system call on a file descriptor borrowed for the duration of the call.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The `NLMSGERR_ATTR_MSG` text of an error payload: the echoed request (only its 16-byte
/// header when the ack is capped, else all of it) followed by extended-ack attributes.
fn ext_ack_message(payload: &[u8], capped: bool) -> Option<String> {
    let echoed = if capped {
        16
    } else {
        u32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?) as usize
    };
    let mut rest = payload.get((echoed + 3) & !3..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = rest[4..len].split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = rest.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

/// Asks the kernel to leave the statistics out of link replies: they are a third of a link
/// message, cost the kernel a walk over per-CPU counters, and nothing here reads them.
fn skip_stats(msg: &mut LinkMessage) {
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
}

/// A link message naming one link, by index or by name.
fn link_message_for(id: LinkId<'_>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    match id {
        LinkId::Index(i) => msg.header.index = i,
        LinkId::Name(n) => msg.attributes.push(LinkAttribute::IfName(n.to_string())),
    }
    msg
}

fn kind_name(kind: &LinkKind<'_>) -> &'static str {
    match kind {
        LinkKind::Veth { .. } => "veth",
        LinkKind::Bridge { .. } => "bridge",
        LinkKind::Macvlan { .. } => "macvlan",
        LinkKind::Ipvlan { .. } => "ipvlan",
        LinkKind::Vlan { .. } => "vlan",
    }
}

/// The `RTM_NEWLINK` body for `spec`.
fn new_link_message(spec: &LinkSpec<'_>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    let attrs = &mut msg.attributes;
    attrs.push(LinkAttribute::IfName(spec.name.to_string()));
    if let Some(mtu) = spec.mtu {
        attrs.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = spec.mac {
        attrs.push(LinkAttribute::Address(mac.to_vec()));
    }
    if let Some(ns) = spec.netns {
        attrs.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
    }
    let (kind, data) = match spec.kind {
        LinkKind::Veth {
            peer_name,
            peer_netns,
            peer_mac,
        } => {
            let mut peer = LinkMessage::default();
            peer.attributes
                .push(LinkAttribute::IfName(peer_name.to_string()));
            if let Some(mtu) = spec.mtu {
                peer.attributes.push(LinkAttribute::Mtu(mtu));
            }
            if let Some(mac) = peer_mac {
                peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
            }
            if let Some(ns) = peer_netns {
                peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
            }
            (InfoKind::Veth, Some(InfoData::Veth(InfoVeth::Peer(peer))))
        }
        LinkKind::Bridge { vlan_filtering } => (
            InfoKind::Bridge,
            vlan_filtering.map(|on| InfoData::Bridge(vec![InfoBridge::VlanFiltering(on)])),
        ),
        LinkKind::Macvlan { master, mode } => {
            attrs.push(LinkAttribute::Link(master));
            (
                InfoKind::MacVlan,
                Some(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode.to_wire())])),
            )
        }
        LinkKind::Ipvlan { master, mode, flag } => {
            attrs.push(LinkAttribute::Link(master));
            (
                InfoKind::IpVlan,
                Some(InfoData::IpVlan(vec![
                    InfoIpVlan::Mode(mode.to_wire()),
                    InfoIpVlan::Flags(IpVlanFlags::from_bits_retain(flag.kernel_value())),
                ])),
            )
        }
        LinkKind::Vlan { master, id } => {
            attrs.push(LinkAttribute::Link(master));
            (InfoKind::Vlan, Some(InfoData::Vlan(vec![InfoVlan::Id(id)])))
        }
    };
    let mut info = vec![LinkInfo::Kind(kind)];
    info.extend(data.map(LinkInfo::Data));
    attrs.push(LinkAttribute::LinkInfo(info));
    msg
}

/// The `AF_BRIDGE` body adding or removing one bridge VLAN.
fn bridge_vlan_message(index: u32, vlan: BridgeVlan, table: VlanTable) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Bridge;
    msg.header.index = index;
    let mut flags = BridgeVlanInfoFlags::empty();
    if vlan.pvid {
        flags |= BridgeVlanInfoFlags::Pvid;
    }
    if vlan.untagged {
        flags |= BridgeVlanInfoFlags::Untagged;
    }
    let target = match table {
        VlanTable::Port => BridgeFlag::Controller,
        VlanTable::Bridge => BridgeFlag::LowerDev,
    };
    msg.attributes.push(LinkAttribute::AfSpecBridge(vec![
        AfSpecBridge::Flags(target),
        AfSpecBridge::VlanInfo(BridgeVlanInfo {
            flags,
            vid: vlan.vid,
        }),
    ]));
    msg
}

/// The body of `RTM_NEWADDR`/`RTM_DELADDR` for `spec` on link `index`.
fn address_message(index: u32, spec: &AddressSpec) -> AddressMessage {
    let mut msg = AddressMessage::default();
    let addr = spec.net.addr();
    msg.header.family = Family::wire(Some(Family::of(&addr)));
    msg.header.prefix_len = spec.net.prefix_len();
    msg.header.index = index;
    msg.header.scope = AddressScope::Universe;
    msg.attributes.push(AddressAttribute::Local(addr));
    msg.attributes.push(AddressAttribute::Address(addr));
    if let (Some(brd), IpAddr::V4(_)) = (spec.broadcast, addr) {
        msg.attributes.push(AddressAttribute::Broadcast(brd));
    }
    if spec.nodad && addr.is_ipv6() {
        msg.header.flags = AddressHeaderFlags::Nodad;
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    msg
}

/// The body of `RTM_NEWROUTE` (or, with `delete`, `RTM_DELROUTE`) for `route`.
fn route_message(route: &Route, delete: bool) -> RouteMessage {
    let mut msg = RouteMessage::default();
    let dst = route.dst.trunc();
    let h = &mut msg.header;
    h.address_family = Family::wire(Some(route.family()));
    h.destination_prefix_length = dst.prefix_len();
    let table = route.table.unwrap_or(RT_TABLE_MAIN);
    h.table = u8::try_from(table).unwrap_or(0);
    if delete {
        // Wildcards: the kernel matches any scope, protocol and type.
        h.scope = RouteScope::from(route.scope.unwrap_or(RT_SCOPE_NOWHERE));
        h.protocol = RouteProtocol::from(route.protocol.unwrap_or(0));
        h.kind = RouteType::Unspec;
    } else {
        h.scope = RouteScope::from(route.scope.unwrap_or(RT_SCOPE_UNIVERSE));
        h.protocol = RouteProtocol::from(route.protocol.unwrap_or(RTPROT_BOOT));
        h.kind = RouteType::Unicast;
    }
    let attrs = &mut msg.attributes;
    attrs.push(RouteAttribute::Table(table));
    if dst.prefix_len() > 0 {
        attrs.push(RouteAttribute::Destination(RouteAddress::from(dst.addr())));
    }
    if let Some(gw) = route.gateway {
        attrs.push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(oif) = route.oif {
        attrs.push(RouteAttribute::Oif(oif));
    }
    if let Some(src) = route.prefsrc {
        attrs.push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    if let Some(p) = route.priority {
        attrs.push(RouteAttribute::Priority(p));
    }
    let mut metrics = Vec::new();
    if let Some(mtu) = route.mtu {
        metrics.push(RouteMetric::Mtu(mtu));
    }
    if let Some(advmss) = route.advmss {
        metrics.push(RouteMetric::Advmss(advmss));
    }
    if !metrics.is_empty() && !delete {
        attrs.push(RouteAttribute::Metrics(metrics));
    }
    msg
}

/// `10.0.0.0/8 via 10.1.0.1 dev index 3 table 254`, for error messages.
fn describe_route(r: &Route) -> String {
    let mut s = r.dst.trunc().to_string();
    if let Some(gw) = r.gateway {
        s.push_str(&format!(" via {gw}"));
    }
    if let Some(oif) = r.oif {
        s.push_str(&format!(" dev index {oif}"));
    }
    if let Some(src) = r.prefsrc {
        s.push_str(&format!(" src {src}"));
    }
    if let Some(t) = r.table {
        s.push_str(&format!(" table {t}"));
    }
    if let Some(p) = r.priority {
        s.push_str(&format!(" metric {p}"));
    }
    s
}

/// A link message holding only the attributes [`link_from`] reads. The others (per-family
/// configuration, XDP, property lists...) are most of a link message; they are skipped
/// without being parsed, so their parsers never run and are never paged in: plugins are
/// processes of a few milliseconds, where that shows.
struct LinkView(LinkMessage);

/// `IFLA_*` attributes kept in a [`LinkView`] (`linux/if_link.h`).
const LINK_VIEW_ATTRS: [u16; 9] = [
    1,  // IFLA_ADDRESS
    3,  // IFLA_IFNAME
    4,  // IFLA_MTU
    5,  // IFLA_LINK
    10, // IFLA_MASTER
    16, // IFLA_OPERSTATE
    18, // IFLA_LINKINFO
    30, // IFLA_PROMISCUITY
    37, // IFLA_LINK_NETNSID
];
/// Size of `struct ifinfomsg`.
const IFINFOMSG_LEN: usize = 16;

impl Parseable<[u8]> for LinkView {
    fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut msg = LinkMessage::default();
        msg.header = LinkHeader::parse(buf)?;
        let family = msg.header.interface_family;
        for nla in NlasIterator::new(buf.get(IFINFOMSG_LEN..).unwrap_or_default()) {
            let nla = nla?;
            if LINK_VIEW_ATTRS.contains(&nla.kind()) {
                msg.attributes
                    .push(LinkAttribute::parse_with_param(&nla, family)?);
            }
        }
        Ok(LinkView(msg))
    }
}

/// Reading another attribute here means adding it to [`LINK_VIEW_ATTRS`].
fn link_from(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        flags: msg.header.flags.bits(),
        mtu: None,
        mac: None,
        kind: None,
        master: None,
        parent: None,
        link_netnsid: None,
        oper_state: None,
        promiscuity: None,
        data: None,
        bridge_port: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Mtu(m) => link.mtu = Some(m),
            LinkAttribute::Address(a) => link.mac = Some(a),
            LinkAttribute::Controller(m) => link.master = Some(m),
            LinkAttribute::Link(p) => link.parent = Some(p),
            LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(id),
            LinkAttribute::OperState(s) => link.oper_state = Some(State::into(s)),
            LinkAttribute::Promiscuity(p) => link.promiscuity = Some(p),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => link.kind = Some(k.to_string()),
                        LinkInfo::Data(d) => link.data = link_data_from(d),
                        LinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                            link.bridge_port = Some(bridge_port_from(p))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn link_data_from(data: InfoData) -> Option<LinkData> {
    Some(match data {
        InfoData::Bridge(infos) => LinkData::Bridge {
            vlan_filtering: infos.into_iter().find_map(|i| match i {
                InfoBridge::VlanFiltering(on) => Some(on),
                _ => None,
            }),
        },
        InfoData::MacVlan(infos) => LinkData::Macvlan {
            mode: infos.into_iter().find_map(|i| match i {
                InfoMacVlan::Mode(m) => MacvlanMode::from_wire(m),
                _ => None,
            }),
        },
        InfoData::IpVlan(infos) => {
            let (mut mode, mut flag) = (None, None);
            for i in infos {
                match i {
                    InfoIpVlan::Mode(m) => mode = IpvlanMode::from_wire(m),
                    InfoIpVlan::Flags(f) => flag = IpvlanFlag::from_kernel_value(f.bits()),
                    _ => {}
                }
            }
            LinkData::Ipvlan { mode, flag }
        }
        InfoData::Vlan(infos) => LinkData::Vlan {
            id: infos.into_iter().find_map(|i| match i {
                InfoVlan::Id(id) => Some(id),
                _ => None,
            })?,
        },
        _ => return None,
    })
}

fn bridge_port_from(infos: Vec<InfoBridgePort>) -> BridgePort {
    let mut port = BridgePort::default();
    for info in infos {
        match info {
            InfoBridgePort::HairpinMode(on) => port.hairpin = Some(on),
            InfoBridgePort::Learning(on) => port.learning = Some(on),
            InfoBridgePort::Isolated(on) => port.isolated = Some(on),
            InfoBridgePort::UnicastFlood(on) => port.unicast_flood = Some(on),
            InfoBridgePort::ProxyARP(on) => port.proxy_arp = Some(on),
            _ => {}
        }
    }
    port
}

fn address_from(msg: AddressMessage) -> Option<Address> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
    // links and the only one present for IPv6. IFA_FLAGS, when present, supersedes the
    // header's 8-bit flags.
    let mut local = None;
    let mut address = None;
    let mut flags = u32::from(msg.header.flags.bits());
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Flags(f) => flags = f.bits(),
            _ => {}
        }
    }
    Some(Address {
        index: msg.header.index,
        addr: local.or(address)?,
        prefix_len: msg.header.prefix_len,
        scope: msg.header.scope.into(),
        flags,
    })
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route_from(msg: RouteMessage) -> Option<Route> {
    let h = &msg.header;
    let unspecified: IpAddr = match h.address_family {
        AddressFamily::Inet => Ipv4Addr::UNSPECIFIED.into(),
        AddressFamily::Inet6 => std::net::Ipv6Addr::UNSPECIFIED.into(),
        _ => return None,
    };
    let mut dst = unspecified;
    let mut route = Route::new(IpNet::new(unspecified, 0).ok()?);
    route.table = Some(u32::from(h.table));
    route.scope = Some(h.scope.into());
    route.protocol = Some(h.protocol.into());
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = route_addr(a)?,
            RouteAttribute::Gateway(a) => route.gateway = route_addr(a),
            RouteAttribute::PrefSource(a) => route.prefsrc = route_addr(a),
            RouteAttribute::Oif(i) => route.oif = Some(*i),
            RouteAttribute::Priority(p) => route.priority = Some(*p),
            RouteAttribute::Table(t) => route.table = Some(*t),
            RouteAttribute::Metrics(metrics) => {
                for m in metrics {
                    match m {
                        RouteMetric::Mtu(v) => route.mtu = Some(*v),
                        RouteMetric::Advmss(v) => route.advmss = Some(*v),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    route.dst = IpNet::new(dst, h.destination_prefix_length).ok()?;
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netns_sandbox::Netns;
    use std::os::unix::fs::MetadataExt;

    fn own_netns_inode() -> u64 {
        std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
    }

    #[test]
    fn loopback_in_a_fresh_namespace() {
        let ns = Netns::new("nl-lo").unwrap();
        ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let lo = nl.link("lo").unwrap();
            assert_eq!(lo.name, "lo");
            assert!(lo.is_loopback());
            assert!(!lo.is_up(), "the kernel creates lo down");
            assert_eq!(lo.mac_string().as_deref(), Some("00:00:00:00:00:00"));
            assert_eq!(lo.kind, None);
            assert_eq!(lo.mtu, Some(65536));
            assert_eq!(nl.link(lo.index).unwrap(), lo);
            assert!(nl.addresses(lo.index, None).unwrap().is_empty());

            nl.set_up(lo.index).unwrap();
            assert!(nl.link("lo").unwrap().is_up());
            let v4 = nl.addresses(lo.index, Some(Family::V4)).unwrap();
            assert_eq!(v4.len(), 1);
            assert_eq!(v4[0].addr, "127.0.0.1".parse::<IpAddr>().unwrap());
            assert_eq!(v4[0].prefix_len, 8);
            assert_eq!(v4[0].scope, 254);
            let all = nl.addresses(lo.index, None).unwrap();
            assert!(all.iter().all(|a| a.index == lo.index));

            nl.set_down(lo.index).unwrap();
            assert!(!nl.link("lo").unwrap().is_up());
            assert_eq!(nl.links().unwrap(), vec![nl.link("lo").unwrap()]);
        })
        .unwrap();
    }

    #[test]
    fn link_attributes_in_one_request_and_one_by_one() {
        let ns = Netns::new("nl-attrs").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        nl.create_link(&LinkSpec::veth("t0", "t1", None)).unwrap();
        let index = nl.link("t0").unwrap().index;
        nl.set_up(index).unwrap();
        let before = nl.link(index).unwrap();
        assert!(!before.is_promisc() && !before.is_allmulti());
        assert!(LinkChange::default().is_empty());
        nl.set_link_attrs(index, &LinkChange::default()).unwrap();

        let mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
        let change = LinkChange {
            mac: Some(mac),
            mtu: Some(1280),
            promisc: Some(true),
            allmulti: Some(true),
            tx_queue_len: Some(77),
        };
        assert_eq!(
            change.to_string(),
            "[address 02:11:22:33:44:55, mtu 1280, promisc on, allmulticast on, txqueuelen 77]"
        );
        nl.set_link_attrs(index, &change).unwrap();
        let l = nl.link(index).unwrap();
        assert_eq!(l.mac.as_deref(), Some(&mac[..]));
        assert_eq!(l.mtu, Some(1280));
        assert!(l.is_promisc() && l.is_allmulti() && l.is_up());
        assert_eq!(nl.tx_queue_len(index).unwrap(), 77);
        assert_eq!(nl.tx_queue_len("t0").unwrap(), 77);

        // Flags not named keep their value.
        nl.set_link_attrs(
            index,
            &LinkChange {
                allmulti: Some(false),
                ..LinkChange::default()
            },
        )
        .unwrap();
        let l = nl.link(index).unwrap();
        assert!(l.is_promisc() && !l.is_allmulti() && l.is_up());

        nl.set_allmulti(index, true).unwrap();
        assert!(nl.link(index).unwrap().is_allmulti());
        nl.set_allmulti("t0", false).unwrap();
        assert!(!nl.link(index).unwrap().is_allmulti());
        nl.set_tx_queue_len(index, 1000).unwrap();
        assert_eq!(nl.tx_queue_len(index).unwrap(), 1000);

        // A refused attribute fails the request.
        let e = nl
            .set_link_attrs(
                index,
                &LinkChange {
                    mtu: Some(10),
                    ..LinkChange::default()
                },
            )
            .unwrap_err();
        assert!(e.to_string().contains("mtu 10"), "{e}");
        assert!(nl.tx_queue_len(9999).unwrap_err().is_not_found());
    }

    #[test]
    fn missing_link_is_not_found() {
        let ns = Netns::new("nl-enodev").unwrap();
        ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let e = nl.link("nosuch0").unwrap_err();
            assert!(e.is_not_found(), "{e:?}");
            assert_eq!(e.errno(), Some(libc::ENODEV));
            let e = nl.link(9999).unwrap_err();
            assert!(e.is_not_found(), "{e:?}");
            let e = nl.index_of("nosuch0").unwrap_err();
            assert!(e.is_not_found(), "{e:?}");
            assert_eq!(nl.index_of("lo").unwrap(), nl.link("lo").unwrap().index);
            assert!(nl.index_of("a-name-longer-than-ifnamsiz").is_err());
            let e = nl.set_up(9999).unwrap_err();
            assert!(e.is_not_found(), "{e:?}");
            // The handle stays usable after errors.
            assert_eq!(nl.link("lo").unwrap().name, "lo");
        })
        .unwrap();
    }

    #[test]
    fn open_in_works_there_and_returns_home() {
        let ns = Netns::new("nl-openin").unwrap();
        let before = own_netns_inode();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        assert_eq!(own_netns_inode(), before, "thread must be back home");
        let lo = nl.link("lo").unwrap();
        nl.set_up(lo.index).unwrap();
        // The change happened in the namespace, seen from a thread inside it.
        let up = ns
            .run(|| Netlink::open().unwrap().link("lo").unwrap().is_up())
            .unwrap();
        assert!(up);
        // Only one link there: this socket does not see the host's links.
        assert_eq!(nl.links().unwrap().len(), 1);
    }

    #[test]
    fn open_in_errors_restore_the_thread() {
        let before = own_netns_inode();
        let e = Netlink::open_in("/run/netns/cnirs-does-not-exist").unwrap_err();
        assert!(matches!(e, NetlinkError::NetnsNotFound { .. }), "{e:?}");
        // A path that exists but is not a namespace.
        let file = std::env::temp_dir().join(format!("cnirs-notns-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let e = Netlink::open_in(&file).unwrap_err();
        std::fs::remove_file(&file).unwrap();
        assert!(matches!(e, NetlinkError::EnterNetns { .. }), "{e:?}");
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert_eq!(own_netns_inode(), before);
    }

    #[test]
    fn ext_ack_text_is_read() {
        // An error payload with a capped echo (16-byte header) and one NLMSGERR_ATTR_MSG.
        let mut p = Vec::new();
        p.extend_from_slice(&40u32.to_ne_bytes()); // echoed request claimed 40 bytes long
        p.extend_from_slice(&[0u8; 12]);
        let text = b"bad thing\0";
        p.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        p.extend_from_slice(text);
        assert_eq!(ext_ack_message(&p, true).as_deref(), Some("bad thing"));
        // Uncapped: the whole 40-byte request is echoed before the attributes.
        let mut q = p[..16].to_vec();
        q.extend_from_slice(&[0u8; 24]);
        q.extend_from_slice(&p[16..]);
        assert_eq!(ext_ack_message(&q, false).as_deref(), Some("bad thing"));
        assert_eq!(ext_ack_message(&[1, 2], false), None);
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `ip -j <args>` run inside `ns`, parsed.
    fn ip_json(ns: &Netns, args: &[&str]) -> serde_json::Value {
        let out = ns.command("ip").arg("-j").args(args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A veth pair `a`/`b` inside the handle's namespace, both ends up; returns their indexes.
    fn up_pair(nl: &mut Netlink, a: &str, b: &str) -> (u32, u32) {
        nl.create_link(&LinkSpec::veth(a, b, None)).unwrap();
        let (a, b) = (nl.link(a).unwrap().index, nl.link(b).unwrap().index);
        nl.set_up(a).unwrap();
        nl.set_up(b).unwrap();
        (a, b)
    }

    #[test]
    fn veth_pair_across_namespaces() {
        let cont = Netns::new("nl-veth-c").unwrap();
        let host = Netns::new("nl-veth-h").unwrap();
        let host_fd = File::open(host.path()).unwrap();
        let mut c = Netlink::open_in(cont.path()).unwrap();
        let mut h = Netlink::open_in(host.path()).unwrap();

        let spec = LinkSpec {
            kind: LinkKind::Veth {
                peer_name: "vethpeer0",
                peer_netns: Some(host_fd.as_fd()),
                peer_mac: Some([0x02, 0, 0, 0, 0, 0x02]),
            },
            ..LinkSpec::veth("eth0", "", None)
                .mtu(1400)
                .mac([0x02, 0, 0, 0, 0, 0x01])
        };
        c.create_link(&spec).unwrap();
        let ce = c.link("eth0").unwrap();
        let he = h.link("vethpeer0").unwrap();
        assert_eq!(ce.kind.as_deref(), Some("veth"));
        assert_eq!(ce.mtu, Some(1400));
        assert_eq!(he.mtu, Some(1400), "the peer gets the same MTU");
        assert_eq!(ce.mac_string().as_deref(), Some("02:00:00:00:00:01"));
        assert_eq!(he.mac_string().as_deref(), Some("02:00:00:00:00:02"));
        assert_eq!(ce.veth_peer_index(), Some(he.index));
        assert_eq!(he.veth_peer_index(), Some(ce.index));
        assert!(
            ce.link_netnsid.is_some(),
            "the peer lives in another namespace"
        );
        assert!(!ce.is_up() && !he.is_up());
        assert!(c.link("vethpeer0").unwrap_err().is_not_found());
        // Host-side dump: the link whose peer index is the container end's.
        let found: Vec<_> = h
            .links()
            .unwrap()
            .into_iter()
            .filter(|l| l.veth_peer_index() == Some(ce.index))
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "vethpeer0");

        // The same names again: EEXIST, however the name clashes.
        let e = c.create_link(&spec).unwrap_err();
        assert!(e.is_exists(), "{e:?}");
        let other = LinkSpec::veth("eth1", "vethpeer0", Some(host_fd.as_fd()));
        let e = c.create_link(&other).unwrap_err();
        assert!(e.is_exists(), "{e:?}");
        assert!(
            c.link("eth1").unwrap_err().is_not_found(),
            "nothing half-made"
        );

        c.rename(ce.index, "net1").unwrap();
        c.set_mtu(ce.index, 1300).unwrap();
        c.set_mac(ce.index, [0x0a, 0x58, 1, 2, 3, 4]).unwrap();
        c.set_up("net1").unwrap();
        let renamed = c.link(ce.index).unwrap();
        assert_eq!(renamed.name, "net1");
        assert_eq!(renamed.mtu, Some(1300));
        assert_eq!(renamed.mac_string().as_deref(), Some("0a:58:01:02:03:04"));
        assert!(renamed.is_up());
        let e = c.rename(ce.index, "lo").unwrap_err();
        assert!(e.is_exists(), "{e:?}");

        // Deleting one end removes the other, in the other namespace too.
        c.delete_link("net1").unwrap();
        assert!(h.link("vethpeer0").unwrap_err().is_not_found());
        let e = c.delete_link("net1").unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        let e = c.delete_link(ce.index).unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
    }

    #[test]
    fn move_link_to_another_namespace() {
        let a = Netns::new("nl-move-a").unwrap();
        let b = Netns::new("nl-move-b").unwrap();
        let mut na = Netlink::open_in(a.path()).unwrap();
        let mut nb = Netlink::open_fd(File::open(b.path()).unwrap().as_fd()).unwrap();
        na.create_link(&LinkSpec::veth("m0", "m1", None)).unwrap();
        let m1 = na.link("m1").unwrap();
        let b_fd = File::open(b.path()).unwrap();
        na.set_netns(m1.index, b_fd.as_fd()).unwrap();
        assert!(na.link("m1").unwrap_err().is_not_found());
        let moved = nb.link("m1").unwrap();
        assert_eq!(moved.veth_peer_index(), Some(na.link("m0").unwrap().index));
        // The handle's own namespace, usable as a target.
        nb.set_netns(moved.index, na.netns()).unwrap();
        assert!(na.link("m1").is_ok());
        na.delete_link("m0").unwrap();
        assert_eq!(na.links().unwrap().len(), 1);
        assert_eq!(nb.links().unwrap().len(), 1);
    }

    /// Bridge ports everywhere; bridge VLANs only where the kernel has
    /// `CONFIG_BRIDGE_VLAN_FILTERING` (the VM lane; this machine's kernel refuses even
    /// `vlan_filtering 0` with `EOPNOTSUPP`).
    #[test]
    fn bridge_ports_and_vlans() {
        let ns = Netns::new("nl-bridge").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        let vlans = match nl.create_link(&LinkSpec::bridge("br0", Some(true)).mtu(1450)) {
            Ok(()) => true,
            Err(e) if e.is_not_supported() => {
                nl.create_link(&LinkSpec::bridge("br0", None).mtu(1450))
                    .unwrap();
                false
            }
            Err(e) => panic!("{e}"),
        };
        let br = nl.link("br0").unwrap();
        assert!(br.is_kind("bridge"));
        assert_eq!(br.mtu, Some(1450));
        if vlans {
            assert_eq!(
                br.data,
                Some(LinkData::Bridge {
                    vlan_filtering: Some(true)
                })
            );
        }
        let e = nl.create_link(&LinkSpec::bridge("br0", None)).unwrap_err();
        assert!(e.is_exists(), "{e:?}");

        nl.set_promisc(br.index, true).unwrap();
        assert!(nl.link(br.index).unwrap().is_promisc());
        nl.set_promisc(br.index, false).unwrap();
        assert!(!nl.link(br.index).unwrap().is_promisc());

        let (p0, _p1) = up_pair(&mut nl, "p0", "p1");
        assert_eq!(nl.link(p0).unwrap().master, None);
        assert_eq!(nl.link(p0).unwrap().bridge_port, None);
        nl.set_master(p0, br.index).unwrap();
        let port = nl.link(p0).unwrap();
        assert_eq!(port.master, Some(br.index));
        let before = port
            .bridge_port
            .expect("a bridge port reports its settings");
        assert_eq!(before.hairpin, Some(false));
        assert_eq!(before.learning, Some(true));

        nl.set_hairpin(p0, true).unwrap();
        nl.set_bridge_port(
            p0,
            &BridgePort {
                learning: Some(false),
                isolated: Some(true),
                unicast_flood: Some(false),
                proxy_arp: Some(true),
                ..BridgePort::default()
            },
        )
        .unwrap();
        let after = nl.link(p0).unwrap().bridge_port.unwrap();
        assert_eq!(
            after,
            BridgePort {
                hairpin: Some(true),
                learning: Some(false),
                isolated: Some(true),
                unicast_flood: Some(false),
                proxy_arp: Some(true),
            }
        );
        // Cross-check with iproute2.
        let detail = ip_json(&ns, &["-d", "link", "show", "dev", "p0"]);
        assert_eq!(detail[0]["linkinfo"]["info_slave_data"]["hairpin"], true);
        assert_eq!(detail[0]["linkinfo"]["info_slave_data"]["learning"], false);
        // An empty change is no request at all, and a non-port is refused.
        nl.set_bridge_port(p0, &BridgePort::default()).unwrap();
        assert!(nl.set_hairpin(br.index, true).is_err());

        if vlans {
            bridge_vlans_of_port(&ns, &mut nl, br.index, p0);
        } else {
            let e = nl
                .bridge_vlan_add(p0, BridgeVlan::access(100), VlanTable::Port)
                .unwrap_err();
            assert!(e.is_not_supported(), "{e:?}");
            assert!(nl.bridge_vlans(p0).unwrap().is_empty());
        }

        nl.set_nomaster(p0).unwrap();
        assert_eq!(nl.link(p0).unwrap().master, None);
        nl.delete_link("br0").unwrap();
        nl.delete_link("p0").unwrap();
    }

    fn bridge_vlans_of_port(ns: &Netns, nl: &mut Netlink, br: u32, p0: u32) {
        // The port starts with the default VLAN 1 as PVID, untagged.
        assert_eq!(nl.bridge_vlans(p0).unwrap(), vec![BridgeVlan::access(1)]);
        nl.bridge_vlan_add(p0, BridgeVlan::access(100), VlanTable::Port)
            .unwrap();
        for vid in [200, 201] {
            nl.bridge_vlan_add(p0, BridgeVlan::tagged(vid), VlanTable::Port)
                .unwrap();
        }
        nl.bridge_vlan_del(p0, 1, VlanTable::Port).unwrap();
        assert_eq!(
            nl.bridge_vlans(p0).unwrap(),
            vec![
                BridgeVlan::access(100),
                BridgeVlan::tagged(200),
                BridgeVlan::tagged(201)
            ]
        );
        let e = nl.bridge_vlan_del(p0, 1, VlanTable::Port).unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        // The bridge's own table.
        nl.bridge_vlan_add(br, BridgeVlan::tagged(100), VlanTable::Bridge)
            .unwrap();
        assert!(nl.bridge_vlans(br).unwrap().iter().any(|v| v.vid == 100));
        let shown = ip_json(ns, &["-d", "link", "show", "dev", "br0"]);
        assert_eq!(shown[0]["linkinfo"]["info_data"]["vlan_filtering"], 1);
    }

    #[test]
    fn bridge_without_vlan_filtering() {
        let ns = Netns::new("nl-bridge-plain").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        nl.create_link(&LinkSpec::bridge("cni0", None).mac([0x02, 1, 1, 1, 1, 1]))
            .unwrap();
        let br = nl.link("cni0").unwrap();
        assert_eq!(
            br.data,
            Some(LinkData::Bridge {
                vlan_filtering: Some(false)
            })
        );
        assert_eq!(br.mac_string().as_deref(), Some("02:01:01:01:01:01"));
    }

    #[test]
    fn macvlan_every_mode() {
        let host = Netns::new("nl-macvlan-h").unwrap();
        let cont = Netns::new("nl-macvlan-c").unwrap();
        let mut h = Netlink::open_in(host.path()).unwrap();
        let mut c = Netlink::open_in(cont.path()).unwrap();
        let (lower, _) = up_pair(&mut h, "lower0", "lower1");
        for mode in [
            MacvlanMode::Bridge,
            MacvlanMode::Private,
            MacvlanMode::Vepa,
            MacvlanMode::Passthru,
            MacvlanMode::Source,
        ] {
            assert_eq!(mode.as_str().parse::<MacvlanMode>(), Ok(mode));
            h.create_link(&LinkSpec::macvlan("mv0", lower, mode).mtu(1400))
                .unwrap();
            let mv = h.link("mv0").unwrap();
            assert!(mv.is_kind("macvlan"));
            assert_eq!(mv.parent, Some(lower));
            assert_eq!(mv.data, Some(LinkData::Macvlan { mode: Some(mode) }));
            h.delete_link(mv.index).unwrap();
        }
        assert!("bogus".parse::<MacvlanMode>().is_err());

        // Created straight into the container namespace, the lower device staying here.
        let cont_fd = File::open(cont.path()).unwrap();
        let spec = LinkSpec::macvlan("mvtmp", lower, MacvlanMode::Bridge)
            .mac([0x02, 0, 0, 0, 0, 0x33])
            .in_netns(cont_fd.as_fd());
        h.create_link(&spec).unwrap();
        assert!(h.link("mvtmp").unwrap_err().is_not_found());
        let mv = c.link("mvtmp").unwrap();
        assert_eq!(mv.parent, Some(lower));
        assert!(mv.link_netnsid.is_some());
        assert_eq!(mv.mac_string().as_deref(), Some("02:00:00:00:00:33"));
        c.rename(mv.index, "eth0").unwrap();
        c.set_up("eth0").unwrap();
        // A missing master.
        let e = h
            .create_link(&LinkSpec::macvlan("mv1", 9999, MacvlanMode::Bridge))
            .unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        c.delete_link("eth0").unwrap();
    }

    /// ipvlan and 802.1q need modules this kernel lacks: there the request must come back as
    /// `EOPNOTSUPP` (not a panic, nothing left behind); where the kernel has them (the VM
    /// lane) the link must be what was asked for.
    #[test]
    fn ipvlan_and_vlan_where_the_kernel_has_them() {
        let host = Netns::new("nl-ipvlan-h").unwrap();
        let cont = Netns::new("nl-ipvlan-c").unwrap();
        let mut h = Netlink::open_in(host.path()).unwrap();
        let mut c = Netlink::open_in(cont.path()).unwrap();
        let (lower, _) = up_pair(&mut h, "lower0", "lower1");
        let cont_fd = File::open(cont.path()).unwrap();

        for (mode, flag) in [
            (IpvlanMode::L2, IpvlanFlag::Bridge),
            (IpvlanMode::L3, IpvlanFlag::Private),
            (IpvlanMode::L3s, IpvlanFlag::Vepa),
        ] {
            let spec = LinkSpec::ipvlan("ipv0", lower, mode, flag)
                .mtu(1400)
                .in_netns(cont_fd.as_fd());
            match h.create_link(&spec) {
                Err(e) if e.is_not_supported() => {
                    assert_eq!(e.errno(), Some(libc::EOPNOTSUPP));
                    assert!(c.link("ipv0").unwrap_err().is_not_found());
                }
                Err(e) => panic!("ipvlan {mode}: {e}"),
                Ok(()) => {
                    let l = c.link("ipv0").unwrap();
                    assert!(l.is_kind("ipvlan"));
                    assert_eq!(l.parent, Some(lower));
                    assert_eq!(
                        l.data,
                        Some(LinkData::Ipvlan {
                            mode: Some(mode),
                            flag: Some(flag)
                        })
                    );
                    c.delete_link(l.index).unwrap();
                }
            }
        }

        let spec = LinkSpec::vlan("vlan100", lower, 100).in_netns(cont_fd.as_fd());
        match h.create_link(&spec) {
            Err(e) if e.is_not_supported() => {
                assert!(c.link("vlan100").unwrap_err().is_not_found());
            }
            Err(e) => panic!("vlan: {e}"),
            Ok(()) => {
                let l = c.link("vlan100").unwrap();
                assert!(l.is_kind("vlan"));
                assert_eq!(l.parent, Some(lower));
                assert_eq!(l.data, Some(LinkData::Vlan { id: 100 }));
                c.delete_link(l.index).unwrap();
            }
        }
        assert_eq!(c.links().unwrap().len(), 1, "only lo is left");
    }

    /// The messages for kinds this kernel cannot create, decoded back.
    #[test]
    fn ipvlan_and_vlan_messages() {
        let emit = |spec: &LinkSpec<'_>| {
            let msg = new_link_message(spec);
            let mut buf = vec![0u8; msg.buffer_len()];
            msg.emit(&mut buf);
            link_from(LinkMessage::parse(&buf[..]).unwrap())
        };
        let l = emit(&LinkSpec::ipvlan("i0", 7, IpvlanMode::L3s, IpvlanFlag::Private).mtu(9000));
        assert_eq!(
            (l.name.as_str(), l.parent, l.mtu),
            ("i0", Some(7), Some(9000))
        );
        assert_eq!(l.kind.as_deref(), Some("ipvlan"));
        assert_eq!(
            l.data,
            Some(LinkData::Ipvlan {
                mode: Some(IpvlanMode::L3s),
                flag: Some(IpvlanFlag::Private)
            })
        );
        let l = emit(&LinkSpec::vlan("v0", 3, 4094));
        assert_eq!((l.kind.as_deref(), l.parent), (Some("vlan"), Some(3)));
        assert_eq!(l.data, Some(LinkData::Vlan { id: 4094 }));
        let l = emit(&LinkSpec::macvlan("m0", 2, MacvlanMode::Passthru));
        assert_eq!(
            l.data,
            Some(LinkData::Macvlan {
                mode: Some(MacvlanMode::Passthru)
            })
        );
        assert_eq!("l3s".parse::<IpvlanMode>(), Ok(IpvlanMode::L3s));
        assert_eq!("vepa".parse::<IpvlanFlag>(), Ok(IpvlanFlag::Vepa));
        assert!("l4".parse::<IpvlanMode>().is_err());
    }

    #[test]
    fn addresses_add_list_delete() {
        let ns = Netns::new("nl-addr").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        let (a, _) = up_pair(&mut nl, "a0", "a1");

        let v4 = AddressSpec::new(net("10.1.0.5/24")).with_default_broadcast();
        assert_eq!(v4.broadcast, Some("10.1.0.255".parse().unwrap()));
        assert_eq!(
            AddressSpec::new(net("10.1.0.5/31"))
                .with_default_broadcast()
                .broadcast,
            None
        );
        nl.add_address(a, &v4).unwrap();
        nl.add_address(a, &AddressSpec::new(net("2001:db8::5/64")).with_nodad())
            .unwrap();
        nl.add_address(a, &AddressSpec::new(net("10.9.0.1/32")))
            .unwrap();
        let e = nl.add_address(a, &v4).unwrap_err();
        assert!(e.is_exists(), "{e:?}");

        let got4 = nl.addresses(a, Some(Family::V4)).unwrap();
        let nets: Vec<IpNet> = got4.iter().map(Address::net).collect();
        assert_eq!(nets, vec![net("10.1.0.5/24"), net("10.9.0.1/32")]);
        let got6: Vec<Address> = nl
            .addresses(a, Some(Family::V6))
            .unwrap()
            .into_iter()
            .filter(|a| a.scope == 0)
            .collect();
        assert_eq!(got6.len(), 1);
        assert_eq!(got6[0].net(), net("2001:db8::5/64"));
        assert!(got6[0].flags & IFA_F_NODAD != 0);
        assert!(!got6[0].is_tentative() && !got6[0].is_dad_failed());

        let shown = ip_json(&ns, &["addr", "show", "dev", "a0"]);
        let infos = shown[0]["addr_info"].as_array().unwrap();
        let v4info = infos.iter().find(|i| i["local"] == "10.1.0.5").unwrap();
        assert_eq!(v4info["broadcast"], "10.1.0.255");
        assert_eq!(v4info["prefixlen"], 24);
        let v6info = infos.iter().find(|i| i["local"] == "2001:db8::5").unwrap();
        assert_eq!(v6info["nodad"], true);

        nl.delete_address(a, net("10.1.0.5/24")).unwrap();
        nl.delete_address(a, net("2001:db8::5/64")).unwrap();
        let e = nl.delete_address(a, net("10.1.0.5/24")).unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        assert_eq!(e.errno(), Some(libc::EADDRNOTAVAIL));
        let e = nl.delete_address(a, net("2001:db8::5/64")).unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        let left: Vec<IpNet> = nl
            .addresses(a, None)
            .unwrap()
            .iter()
            .filter(|a| a.scope == 0)
            .map(Address::net)
            .collect();
        assert_eq!(left, vec![net("10.9.0.1/32")]);
    }

    #[test]
    fn routes_add_replace_list_delete() {
        let ns = Netns::new("nl-route").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        let (a, _) = up_pair(&mut nl, "r0", "r1");
        nl.add_address(a, &AddressSpec::new(net("10.1.0.5/24")))
            .unwrap();
        nl.add_address(a, &AddressSpec::new(net("2001:db8::5/64")).with_nodad())
            .unwrap();
        let mine = |nl: &mut Netlink, family| -> Vec<Route> {
            nl.routes(Some(family))
                .unwrap()
                .into_iter()
                .filter(|r| r.oif == Some(a) && r.protocol == Some(RTPROT_BOOT))
                .collect()
        };

        let r = Route::new(net("10.2.0.0/16"))
            .via(ip("10.1.0.1"))
            .dev(a)
            .priority(50);
        nl.add_route(&r).unwrap();
        let e = nl.add_route(&r).unwrap_err();
        assert!(e.is_exists(), "{e:?}");
        let got = mine(&mut nl, Family::V4);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].dst, net("10.2.0.0/16"));
        assert_eq!(got[0].gateway, Some(ip("10.1.0.1")));
        assert_eq!(got[0].priority, Some(50));
        assert_eq!(got[0].table, Some(RT_TABLE_MAIN));
        assert_eq!(got[0].scope, Some(RT_SCOPE_UNIVERSE));

        // Replace: same destination and metric, another gateway; still one route.
        let r2 = Route {
            gateway: Some(ip("10.1.0.2")),
            ..r
        };
        nl.replace_route(&r2).unwrap();
        nl.replace_route(&r2).unwrap();
        let got = mine(&mut nl, Family::V4);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].gateway, Some(ip("10.1.0.2")));

        // Host bits, another table, metrics, link scope, preferred source.
        let r3 = Route::new(net("10.3.7.9/16"))
            .dev(a)
            .scope(RT_SCOPE_LINK)
            .src(ip("10.1.0.5"))
            .table(100)
            .mtu(1400)
            .advmss(1360);
        nl.add_route_with(&r3, RouteAdd::Append).unwrap();
        let got: Vec<Route> = mine(&mut nl, Family::V4)
            .into_iter()
            .filter(|r| r.table == Some(100))
            .collect();
        assert_eq!(got.len(), 1);
        let g = got[0];
        assert_eq!(g.dst, net("10.3.0.0/16"));
        assert_eq!(
            (g.scope, g.prefsrc, g.mtu, g.advmss, g.gateway),
            (
                Some(RT_SCOPE_LINK),
                Some(ip("10.1.0.5")),
                Some(1400),
                Some(1360),
                None
            )
        );
        let shown = ip_json(&ns, &["route", "show", "table", "100"]);
        assert_eq!(shown[0]["dst"], "10.3.0.0/16");
        assert_eq!(shown[0]["prefsrc"], "10.1.0.5");

        // IPv6 and defaults.
        let r6 = Route::new(net("2001:db8:1::/48"))
            .via(ip("2001:db8::1"))
            .dev(a);
        nl.add_route(&r6).unwrap();
        let d4 = Route::new(net("0.0.0.0/0")).via(ip("10.1.0.1")).dev(a);
        nl.add_route(&d4).unwrap();
        let d6 = Route::new(net("::/0")).via(ip("2001:db8::1")).dev(a);
        nl.add_route(&d6).unwrap();
        let got6 = mine(&mut nl, Family::V6);
        assert!(got6
            .iter()
            .any(|r| r.dst == net("2001:db8:1::/48") && r.gateway == Some(ip("2001:db8::1"))));
        assert!(got6.iter().any(|r| r.is_default()));
        assert!(mine(&mut nl, Family::V4).iter().any(|r| r.is_default()));
        let all = nl.routes(None).unwrap();
        assert!(all.iter().any(|r| r.family() == Family::V4));
        assert!(all.iter().any(|r| r.family() == Family::V6));

        // An unreachable gateway is the kernel's error, not ours.
        let e = nl
            .add_route(&Route::new(net("10.8.0.0/16")).via(ip("192.0.2.1")))
            .unwrap_err();
        assert!(!e.is_exists() && !e.is_not_found(), "{e:?}");

        // Delete: wildcards on what is not given.
        for route in [&r2, &r6, &d4, &d6] {
            nl.delete_route(&Route::new(route.dst).dev(a)).unwrap();
        }
        nl.delete_route(&Route::new(net("10.3.0.0/16")).table(100))
            .unwrap();
        let e = nl.delete_route(&r2).unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        let e = nl.delete_route(&r6).unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        assert!(mine(&mut nl, Family::V4).is_empty());
        assert!(mine(&mut nl, Family::V6).is_empty());
    }

    #[test]
    fn mac_format() {
        assert_eq!(format_mac(&[0x0a, 0, 0xff, 1, 2, 3]), "0a:00:ff:01:02:03");
        assert_eq!(format_mac(&[]), "");
    }
}
