//! Address operations against the kernel, cross-checked with iproute2. Root only: the
//! test makes its own namespace.

mod common;

use cni_netlink::{Address, AddressSpec, Family, Netlink, IFA_F_NODAD};
use common::{ip_json, net, up_pair};
use ipnet::IpNet;
use netns_sandbox::Netns;

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
