//! Link operations against the kernel: veth pairs across namespaces, moving links,
//! macvlan, ipvlan and vlan links. Root only: each test makes its own namespaces.

mod common;

use std::fs::File;
use std::os::fd::AsFd;

use cni_netlink::{IpvlanFlag, IpvlanMode, LinkData, LinkKind, LinkSpec, MacvlanMode, Netlink};
use common::up_pair;
use netns_sandbox::Netns;

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

#[test]
fn link_attributes_in_one_request_and_one_by_one() {
    use cni_netlink::LinkChange;

    let ns = Netns::new("nl-attrs").unwrap();
    let mut nl = Netlink::open_in(ns.path()).unwrap();
    let (index, _) = up_pair(&mut nl, "t0", "t1");
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
    // The MAC of a veth that is up can change.
    nl.set_link_attrs(index, &change).unwrap();
    let l = nl.link(index).unwrap();
    assert_eq!(l.mac.as_deref(), Some(&mac[..]));
    assert_eq!(l.mtu, Some(1280));
    assert!(l.is_promisc() && l.is_allmulti() && l.is_up());
    assert_eq!(nl.tx_queue_len(index).unwrap(), 77);
    assert_eq!(nl.tx_queue_len("t0").unwrap(), 77);

    // Flags not named keep their value.
    let allmulti_off = LinkChange {
        allmulti: Some(false),
        ..LinkChange::default()
    };
    nl.set_link_attrs(index, &allmulti_off).unwrap();
    let l = nl.link(index).unwrap();
    assert!(l.is_promisc() && !l.is_allmulti() && l.is_up());

    nl.set_allmulti(index, true).unwrap();
    assert!(nl.link(index).unwrap().is_allmulti());
    nl.set_allmulti("t0", false).unwrap();
    assert!(!nl.link(index).unwrap().is_allmulti());
    nl.set_tx_queue_len(index, 1000).unwrap();
    assert_eq!(nl.tx_queue_len(index).unwrap(), 1000);

    // A refused attribute fails the request, named in the error.
    let too_small = LinkChange {
        mtu: Some(10),
        ..LinkChange::default()
    };
    let e = nl.set_link_attrs(index, &too_small).unwrap_err();
    assert!(e.to_string().contains("mtu 10"), "{e}");
    assert!(nl.tx_queue_len(9999).unwrap_err().is_not_found());
}
