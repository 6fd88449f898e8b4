//! Route operations against the kernel, cross-checked with iproute2. Root only: the test
//! makes its own namespace.

mod common;

use cni_netlink::{
    AddressSpec, Family, Netlink, Route, RouteAdd, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN,
};
use common::{ip, ip_json, net, up_pair};
use netns_sandbox::Netns;

/// `RTPROT_BOOT`, the protocol routes get unless told otherwise.
const RTPROT_BOOT: u8 = 3;

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
