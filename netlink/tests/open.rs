//! Opening handles: in the current namespace, in another one (and back), errors that name
//! what is missing; the loopback link of a fresh namespace. Root only: each test makes its
//! own namespaces.

mod common;

use cni_netlink::{Family, Netlink, NetlinkError};
use common::own_netns_inode;
use netns_sandbox::Netns;
use std::net::IpAddr;

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
