//! Bridge messages: `AF_BRIDGE` bodies setting a port's options (`IFLA_PROTINFO`) and adding
//! or removing VLANs (`IFLA_AF_SPEC`), the VLAN dump and its parsing, and the bridge port
//! settings a link reply carries.

use netlink_packet_core::DefaultNla;
use netlink_packet_route::link::{
    AfSpecBridge, BridgeFlag, BridgeVlanInfo, BridgeVlanInfoFlags, InfoBridgePort, LinkAttribute,
    LinkExtentMask, LinkMessage, LinkProtoInfoBridge,
};
use netlink_packet_route::AddressFamily;

use super::{decode_all, RTM_NEWLINK};
use crate::error::Result;
use crate::socket::Reply;
use crate::types::{BridgePort, BridgeVlan, VlanTable};

// Bridge port attributes (`IFLA_BRPORT_*`, `linux/if_link.h`) sent inside `IFLA_PROTINFO`.
const IFLA_BRPORT_MODE: u16 = 4;
const IFLA_BRPORT_LEARNING: u16 = 8;
const IFLA_BRPORT_UNICAST_FLOOD: u16 = 9;
const IFLA_BRPORT_PROXYARP: u16 = 10;
const IFLA_BRPORT_ISOLATED: u16 = 33;

/// The `IFLA_BRPORT_*` attributes `port` sets, in the order they are sent.
fn port_attributes(port: &BridgePort) -> Vec<(u16, bool)> {
    [
        (IFLA_BRPORT_MODE, port.hairpin),
        (IFLA_BRPORT_LEARNING, port.learning),
        (IFLA_BRPORT_ISOLATED, port.isolated),
        (IFLA_BRPORT_UNICAST_FLOOD, port.unicast_flood),
        (IFLA_BRPORT_PROXYARP, port.proxy_arp),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect()
}

/// The `AF_BRIDGE` `RTM_SETLINK` body setting the options `port` gives on bridge port
/// `index`; `None` when it gives none.
pub(crate) fn set_port_message(index: u32, port: &BridgePort) -> Option<LinkMessage> {
    let attrs = port_attributes(port);
    if attrs.is_empty() {
        return None;
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
    Some(msg)
}

/// The `AF_BRIDGE` body adding or removing one bridge VLAN.
pub(crate) fn vlan_message(index: u32, vlan: BridgeVlan, table: VlanTable) -> LinkMessage {
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

/// The `AF_BRIDGE` `RTM_GETLINK` dump body asking for every port's VLANs.
pub(crate) fn dump_vlans_message() -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Bridge;
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::Brvlan]));
    msg
}

/// The VLANs of link `index` in a VLAN dump's reply, in order, each once.
pub(crate) fn vlans_from(op: &str, replies: &[Reply], index: u32) -> Result<Vec<BridgeVlan>> {
    let links: Vec<LinkMessage> = decode_all(op, replies, RTM_NEWLINK)?;
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

/// The bridge port settings of a link reply's `IFLA_INFO_SLAVE_DATA`.
pub(crate) fn bridge_port_from(infos: Vec<InfoBridgePort>) -> BridgePort {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::{assert_bytes, emit};

    #[test]
    #[cfg(target_endian = "little")]
    fn bridge_golden_bytes() {
        let port = BridgePort {
            hairpin: Some(true),
            learning: Some(false),
            isolated: None,
            unicast_flood: Some(false),
            proxy_arp: Some(true),
        };
        assert_bytes(
            &emit(&set_port_message(5, &port).unwrap()),
            "07 00 0000 05000000 00000000 00000000 # ifinfomsg: AF_BRIDGE, index 5
            2400 0c80                              # IFLA_PROTINFO (nested)
              0500 0400 01 000000                  #   IFLA_BRPORT_MODE 1
              0500 0800 00 000000                  #   IFLA_BRPORT_LEARNING 0
              0500 0900 00 000000                  #   IFLA_BRPORT_UNICAST_FLOOD 0
              0500 0a00 01 000000                  #   IFLA_BRPORT_PROXYARP 1",
        );
        assert!(set_port_message(5, &BridgePort::default()).is_none());
        assert_bytes(
            &emit(&vlan_message(5, BridgeVlan::access(100), VlanTable::Port)),
            "07 00 0000 05000000 00000000 00000000 # ifinfomsg: AF_BRIDGE, index 5
            1400 1a00                              # IFLA_AF_SPEC
              0600 0000 0100 0000                  #   IFLA_BRIDGE_FLAGS BRIDGE_FLAGS_MASTER
              0800 0200 0600 6400                  #   IFLA_BRIDGE_VLAN_INFO PVID|UNTAGGED, vid 100",
        );
        assert_bytes(
            &emit(&vlan_message(4, BridgeVlan::tagged(200), VlanTable::Bridge)),
            "07 00 0000 04000000 00000000 00000000 # ifinfomsg: AF_BRIDGE, index 4
            1400 1a00                              # IFLA_AF_SPEC
              0600 0000 0200 0000                  #   IFLA_BRIDGE_FLAGS BRIDGE_FLAGS_SELF
              0800 0200 0000 c800                  #   IFLA_BRIDGE_VLAN_INFO no flags, vid 200",
        );
        assert_bytes(
            &emit(&dump_vlans_message()),
            "07 00 0000 00000000 00000000 00000000 # ifinfomsg: AF_BRIDGE
            0800 1d00 02000000                     # IFLA_EXT_MASK RTEXT_FILTER_BRVLAN",
        );
    }
}
