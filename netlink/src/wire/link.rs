//! Link messages: `RTM_NEWLINK` bodies for a [`LinkSpec`], the `RTM_SETLINK` bodies of the
//! handle's link changes, and replies parsed into [`Link`] through [`LinkView`], which
//! skips the attributes nothing reads.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{DecodeError, NlasIterator, Parseable, ParseableParametrized};
use netlink_packet_route::link::{
    InfoBridge, InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoPortData, InfoVeth, InfoVlan,
    IpVlanFlags, IpVlanMode, LinkAttribute, LinkExtentMask, LinkFlags, LinkHeader, LinkInfo,
    LinkMessage, MacVlanMode, State,
};

use super::bridge::bridge_port_from;
use super::{decode_all, RTM_NEWLINK};
use crate::error::Result;
use crate::socket::Reply;
use crate::types::{
    IpvlanFlag, IpvlanMode, Link, LinkChange, LinkData, LinkId, LinkKind, LinkSpec, MacvlanMode,
    IFF_ALLMULTI, IFF_PROMISC,
};

/// A link message naming one link, by index or by name.
pub(crate) fn link_message(id: LinkId<'_>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    match id {
        LinkId::Index(i) => msg.header.index = i,
        LinkId::Name(n) => msg.attributes.push(LinkAttribute::IfName(n.to_string())),
    }
    msg
}

/// The `RTM_GETLINK` body asking for one link, statistics left out.
pub(crate) fn get_link_message(id: LinkId<'_>) -> LinkMessage {
    let mut msg = link_message(id);
    skip_stats(&mut msg);
    msg
}

/// The `RTM_GETLINK` dump body for every link, statistics left out.
pub(crate) fn dump_links_message() -> LinkMessage {
    let mut msg = LinkMessage::default();
    skip_stats(&mut msg);
    msg
}

/// Asks the kernel to leave the statistics out of link replies: they are a third of a link
/// message, cost the kernel a walk over per-CPU counters, and nothing here reads them.
fn skip_stats(msg: &mut LinkMessage) {
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
}

/// The `RTM_SETLINK` body changing the `IFF_*` flags selected by `mask` to their values in
/// `flags`.
pub(crate) fn set_flags_message(id: LinkId<'_>, flags: u32, mask: u32) -> LinkMessage {
    let mut msg = link_message(id);
    msg.header.flags = LinkFlags::from_bits_retain(flags);
    msg.header.change_mask = LinkFlags::from_bits_retain(mask);
    msg
}

/// One attribute an `RTM_SETLINK` changes.
pub(crate) enum SetLink<'a> {
    Mtu(u32),
    Mac([u8; 6]),
    Name(&'a str),
    /// Move to the namespace open at this descriptor.
    Netns(BorrowedFd<'a>),
    /// The master's index; 0 detaches.
    Master(u32),
    /// The transmit queue length (`IFLA_TXQLEN`).
    TxQueueLen(u32),
}

/// The `RTM_SETLINK` body changing one attribute of link `index`.
pub(crate) fn set_link_message(index: u32, change: SetLink<'_>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(match change {
        SetLink::Mtu(mtu) => LinkAttribute::Mtu(mtu),
        SetLink::Mac(mac) => LinkAttribute::Address(mac.to_vec()),
        SetLink::Name(name) => LinkAttribute::IfName(name.to_string()),
        SetLink::Netns(fd) => LinkAttribute::NetNsFd(fd.as_raw_fd()),
        SetLink::Master(master) => LinkAttribute::Controller(master),
        SetLink::TxQueueLen(len) => LinkAttribute::TxQueueLen(len),
    });
    msg
}

/// The `RTM_SETLINK` body applying `change` to link `index` in one request: the flags it
/// names in the header, the other attributes as attributes.
pub(crate) fn set_link_attrs_message(index: u32, change: &LinkChange) -> LinkMessage {
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
    msg
}

/// The transmit queue length (`IFLA_TXQLEN`) in a reply about one link (decoded in full:
/// [`LinkView`] keeps no queue length).
pub(crate) fn tx_queue_len_from(op: &str, replies: &[Reply]) -> Result<Option<u32>> {
    let links: Vec<LinkMessage> = decode_all(op, replies, RTM_NEWLINK)?;
    Ok(links
        .into_iter()
        .flat_map(|l| l.attributes)
        .find_map(|a| match a {
            LinkAttribute::TxQueueLen(len) => Some(len),
            _ => None,
        }))
}

/// The `RTM_NEWLINK` body (without create flags: a change of kind data) setting a macvlan's
/// broadcast queue length (`IFLA_MACVLAN_BC_QUEUE_LEN`).
pub(crate) fn macvlan_bc_queue_len_message(index: u32, len: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::MacVlan),
        LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::BcQueueLen(len)])),
    ]));
    msg
}

/// The `RTM_NEWLINK` body for `spec`.
pub(crate) fn new_link_message(spec: &LinkSpec<'_>) -> LinkMessage {
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
                Some(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                    macvlan_mode_to_wire(mode),
                )])),
            )
        }
        LinkKind::Ipvlan { master, mode, flag } => {
            attrs.push(LinkAttribute::Link(master));
            (
                InfoKind::IpVlan,
                Some(InfoData::IpVlan(vec![
                    InfoIpVlan::Mode(ipvlan_mode_to_wire(mode)),
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

fn macvlan_mode_to_wire(mode: MacvlanMode) -> MacVlanMode {
    match mode {
        MacvlanMode::Private => MacVlanMode::Private,
        MacvlanMode::Vepa => MacVlanMode::Vepa,
        MacvlanMode::Bridge => MacVlanMode::Bridge,
        MacvlanMode::Passthru => MacVlanMode::Passthrough,
        MacvlanMode::Source => MacVlanMode::Source,
    }
}

fn macvlan_mode_from_wire(m: MacVlanMode) -> Option<MacvlanMode> {
    Some(match m {
        MacVlanMode::Private => MacvlanMode::Private,
        MacVlanMode::Vepa => MacvlanMode::Vepa,
        MacVlanMode::Bridge => MacvlanMode::Bridge,
        MacVlanMode::Passthrough => MacvlanMode::Passthru,
        MacVlanMode::Source => MacvlanMode::Source,
        _ => return None,
    })
}

fn ipvlan_mode_to_wire(mode: IpvlanMode) -> IpVlanMode {
    match mode {
        IpvlanMode::L2 => IpVlanMode::L2,
        IpvlanMode::L3 => IpVlanMode::L3,
        IpvlanMode::L3s => IpVlanMode::L3S,
    }
}

fn ipvlan_mode_from_wire(m: IpVlanMode) -> Option<IpvlanMode> {
    Some(match m {
        IpVlanMode::L2 => IpvlanMode::L2,
        IpVlanMode::L3 => IpvlanMode::L3,
        IpVlanMode::L3S => IpvlanMode::L3s,
        _ => return None,
    })
}

/// The links of the `RTM_NEWLINK` messages of a reply.
pub(crate) fn links_from(op: &str, replies: &[Reply]) -> Result<Vec<Link>> {
    let links: Vec<LinkView> = decode_all(op, replies, RTM_NEWLINK)?;
    Ok(links.into_iter().map(|v| link_from(v.0)).collect())
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
        flags: msg.header.flags.bits(),
        ..Link::default()
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
                InfoMacVlan::Mode(m) => macvlan_mode_from_wire(m),
                _ => None,
            }),
        },
        InfoData::IpVlan(infos) => {
            let (mut mode, mut flag) = (None, None);
            for i in infos {
                match i {
                    InfoIpVlan::Mode(m) => mode = ipvlan_mode_from_wire(m),
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

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use netlink_packet_core::Emitable;

    use super::*;
    use crate::golden::{assert_bytes, emit};

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

    /// `struct ifinfomsg` with every field zero: family, pad, type, index, flags, change.
    const IFINFOMSG_ZERO: &str = "00 00 0000 00000000 00000000 00000000";

    #[test]
    #[cfg(target_endian = "little")]
    fn veth_golden_bytes() {
        let spec = LinkSpec {
            kind: LinkKind::Veth {
                peer_name: "peer0",
                peer_netns: None,
                peer_mac: Some([2, 0, 0, 0, 0, 2]),
            },
            ..LinkSpec::veth("veth0", "", None)
                .mtu(1400)
                .mac([2, 0, 0, 0, 0, 1])
        };
        assert_bytes(
            &emit(&new_link_message(&spec)),
            &format!(
                "{IFINFOMSG_ZERO}
                0a00 0300 7665746830 000000       # IFLA_IFNAME veth0
                0800 0400 78050000                # IFLA_MTU 1400
                0a00 0100 020000000001 0000       # IFLA_ADDRESS
                4800 1200                         # IFLA_LINKINFO
                  0900 0100 7665746800 000000     #   IFLA_INFO_KIND veth
                  3800 0200                       #   IFLA_INFO_DATA
                    3400 0100                     #     VETH_INFO_PEER
                      {IFINFOMSG_ZERO}
                      0a00 0300 7065657230 000000 #       IFLA_IFNAME peer0
                      0800 0400 78050000          #       IFLA_MTU 1400
                      0a00 0100 020000000002 0000 #       IFLA_ADDRESS"
            ),
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn macvlan_golden_bytes() {
        let spec = LinkSpec::macvlan("mv0", 7, MacvlanMode::Bridge).mtu(1500);
        assert_bytes(
            &emit(&new_link_message(&spec)),
            &format!(
                "{IFINFOMSG_ZERO}
                0800 0300 6d763000                # IFLA_IFNAME mv0
                0800 0400 dc050000                # IFLA_MTU 1500
                0800 0500 07000000                # IFLA_LINK 7
                1c00 1200                         # IFLA_LINKINFO
                  0c00 0100 6d6163766c616e00      #   IFLA_INFO_KIND macvlan
                  0c00 0200                       #   IFLA_INFO_DATA
                    0800 0100 04000000            #     IFLA_MACVLAN_MODE bridge"
            ),
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn ipvlan_vlan_bridge_golden_bytes() {
        let ipvlan = LinkSpec::ipvlan("ipv0", 7, IpvlanMode::L3, IpvlanFlag::Private);
        assert_bytes(
            &emit(&new_link_message(&ipvlan)),
            &format!(
                "{IFINFOMSG_ZERO}
                0900 0300 6970763000 000000       # IFLA_IFNAME ipv0
                0800 0500 07000000                # IFLA_LINK 7
                2400 1200                         # IFLA_LINKINFO
                  0b00 0100 6970766c616e00 00     #   IFLA_INFO_KIND ipvlan
                  1400 0200                       #   IFLA_INFO_DATA
                    0600 0100 0100 0000           #     IFLA_IPVLAN_MODE l3
                    0600 0200 0100 0000           #     IFLA_IPVLAN_FLAGS private"
            ),
        );
        assert_bytes(
            &emit(&new_link_message(&LinkSpec::vlan("vlan100", 7, 100))),
            &format!(
                "{IFINFOMSG_ZERO}
                0c00 0300 766c616e31303000        # IFLA_IFNAME vlan100
                0800 0500 07000000                # IFLA_LINK 7
                1c00 1200                         # IFLA_LINKINFO
                  0900 0100 766c616e00 000000     #   IFLA_INFO_KIND vlan
                  0c00 0200                       #   IFLA_INFO_DATA
                    0600 0100 6400 0000           #     IFLA_VLAN_ID 100"
            ),
        );
        let bridge = LinkSpec::bridge("cni0", Some(true)).mac([2, 1, 1, 1, 1, 1]);
        assert_bytes(
            &emit(&new_link_message(&bridge)),
            &format!(
                "{IFINFOMSG_ZERO}
                0900 0300 636e693000 000000       # IFLA_IFNAME cni0
                0a00 0100 020101010101 0000       # IFLA_ADDRESS
                1c00 1200                         # IFLA_LINKINFO
                  0b00 0100 62726964676500 00     #   IFLA_INFO_KIND bridge
                  0c00 0200                       #   IFLA_INFO_DATA
                    0500 0700 01 000000           #     IFLA_BR_VLAN_FILTERING 1"
            ),
        );
        assert_bytes(
            &emit(&new_link_message(&LinkSpec::bridge("cni0", None))),
            &format!(
                "{IFINFOMSG_ZERO}
                0900 0300 636e693000 000000       # IFLA_IFNAME cni0
                1000 1200                         # IFLA_LINKINFO
                  0b00 0100 62726964676500 00     #   IFLA_INFO_KIND bridge"
            ),
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn link_change_golden_bytes() {
        assert_bytes(
            &emit(&get_link_message(LinkId::Name("eth0"))),
            &format!(
                "{IFINFOMSG_ZERO}
                0900 0300 6574683000 000000       # IFLA_IFNAME eth0
                0800 1d00 08000000                # IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS"
            ),
        );
        assert_bytes(
            &emit(&set_flags_message(LinkId::Index(9), 1, 1)),
            "00 00 0000 09000000 01000000 01000000 # ifinfomsg: index 9, flags IFF_UP, change IFF_UP",
        );
        let stdin = std::io::stdin();
        let index_9 = "00 00 0000 09000000 00000000 00000000 # ifinfomsg: index 9";
        let cases = [
            (SetLink::Mtu(1300), "0800 0400 14050000 # IFLA_MTU 1300"),
            (
                SetLink::Mac([0x0a, 0x58, 1, 2, 3, 4]),
                "0a00 0100 0a5801020304 0000 # IFLA_ADDRESS",
            ),
            (
                SetLink::Name("net1"),
                "0900 0300 6e65743100 000000 # IFLA_IFNAME net1",
            ),
            (SetLink::Master(4), "0800 0a00 04000000 # IFLA_MASTER 4"),
            (
                SetLink::TxQueueLen(500),
                "0800 0d00 f4010000 # IFLA_TXQLEN 500",
            ),
            (
                SetLink::Netns(stdin.as_fd()),
                "0800 1c00 00000000 # IFLA_NET_NS_FD 0",
            ),
        ];
        for (change, attr) in cases {
            assert_bytes(
                &emit(&set_link_message(9, change)),
                &format!("{index_9}\n{attr}"),
            );
        }
        assert_bytes(
            &emit(&set_link_attrs_message(
                9,
                &LinkChange {
                    mac: Some([0x0a, 0x58, 1, 2, 3, 4]),
                    mtu: Some(1300),
                    promisc: Some(true),
                    allmulti: Some(false),
                    tx_queue_len: Some(500),
                },
            )),
            "00 00 0000 09000000 00010000 00030000 # ifinfomsg: index 9, flags IFF_PROMISC, change IFF_PROMISC|IFF_ALLMULTI
            0a00 0100 0a5801020304 0000            # IFLA_ADDRESS
            0800 0400 14050000                     # IFLA_MTU 1300
            0800 0d00 f4010000                     # IFLA_TXQLEN 500",
        );
        assert_bytes(
            &emit(&macvlan_bc_queue_len_message(6, 1000)),
            "00 00 0000 06000000 00000000 00000000 # ifinfomsg: index 6
            1c00 1200                              # IFLA_LINKINFO
              0c00 0100 6d6163766c616e00           #   IFLA_INFO_KIND macvlan
              0c00 0200                            #   IFLA_INFO_DATA
                0800 0700 e8030000                 #     IFLA_MACVLAN_BC_QUEUE_LEN 1000",
        );
        assert_bytes(
            &emit(&dump_links_message()),
            &format!(
                "{IFINFOMSG_ZERO}\n0800 1d00 08000000 # IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS"
            ),
        );
    }
}
