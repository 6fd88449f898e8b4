//! Bridges, bridge ports and bridge VLANs against the kernel. Root only: each test makes
//! its own namespace.

mod common;

use cni_netlink::{BridgePort, BridgeVlan, LinkData, LinkSpec, Netlink, VlanTable};
use common::{ip_json, up_pair};
use netns_sandbox::Netns;

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
