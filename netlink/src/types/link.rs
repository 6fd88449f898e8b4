//! Links as the kernel reports them ([`Link`], [`LinkData`]) and as the plugins ask for them
//! ([`LinkSpec`], [`LinkKind`]), the names of link kinds' modes ([`MacvlanMode`],
//! [`IpvlanMode`], [`IpvlanFlag`]) and of links ([`LinkId`]).

use std::os::fd::BorrowedFd;

use super::BridgePort;

pub(crate) const IFF_UP: u32 = libc::IFF_UP as u32;
pub(crate) const IFF_LOOPBACK: u32 = libc::IFF_LOOPBACK as u32;
pub(crate) const IFF_PROMISC: u32 = libc::IFF_PROMISC as u32;
pub(crate) const IFF_ALLMULTI: u32 = libc::IFF_ALLMULTI as u32;
/// `IF_OPER_UP`.
const IF_OPER_UP: u8 = 6;

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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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

/// Attributes of an existing link to change in one request ([`crate::Netlink::set_link_attrs`]);
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

    /// Every mode, in the kernel's order.
    pub const ALL: [MacvlanMode; 5] = [
        MacvlanMode::Private,
        MacvlanMode::Vepa,
        MacvlanMode::Bridge,
        MacvlanMode::Passthru,
        MacvlanMode::Source,
    ];

    /// The kernel's `MACVLAN_MODE_*` value (`IFLA_MACVLAN_MODE`).
    pub fn kernel_value(self) -> u32 {
        match self {
            MacvlanMode::Private => 1,
            MacvlanMode::Vepa => 2,
            MacvlanMode::Bridge => 4,
            MacvlanMode::Passthru => 8,
            MacvlanMode::Source => 16,
        }
    }

    /// The mode of a kernel value.
    pub fn from_kernel_value(v: u32) -> Option<MacvlanMode> {
        MacvlanMode::ALL.into_iter().find(|m| m.kernel_value() == v)
    }
}

impl std::str::FromStr for MacvlanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MacvlanMode::ALL
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

/// What [`Netlink::create_link`](crate::Netlink::create_link) makes.
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

impl LinkKind<'_> {
    /// The kind's `IFLA_INFO_KIND` name (`"veth"`, `"macvlan"`...).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            LinkKind::Veth { .. } => "veth",
            LinkKind::Bridge { .. } => "bridge",
            LinkKind::Macvlan { .. } => "macvlan",
            LinkKind::Ipvlan { .. } => "ipvlan",
            LinkKind::Vlan { .. } => "vlan",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_format() {
        assert_eq!(format_mac(&[0x0a, 0, 0xff, 1, 2, 3]), "0a:00:ff:01:02:03");
        assert_eq!(format_mac(&[]), "");
    }
}
