//! Property tests: results of every version survive JSON and version conversion exactly as far
//! as the spec allows (RES-1, RES-12, RES-13, RES-14, RES-19, VER-8, VER-9, VER-10), network
//! configurations keep every key through a parse/serialize cycle (CFG-1, CFG-14), and
//! `CNI_ARGS` strings survive display/parse (ENV-7, ENV-8).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cni::args::CniArgs;
use cni::config::{Attachment, IpamConf, NetConf, NetConfList};
use cni::result::{
    CniResult, Dns, Interface, IpConfig, IpConfig040, IpVersion, LegacyIpConfig, Result020,
    Result040, Result100, ResultError, Route,
};
use cni::version::{ResultFamily, SpecVersion};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/// Any short string, control characters and non-ASCII included (exercises JSON escaping).
fn text() -> impl Strategy<Value = String> {
    "(?s).{0,10}"
}

fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

/// An address with a prefix length; host bits are kept as they are (RES-5: `10.1.0.5/16`).
fn v4_net() -> impl Strategy<Value = IpNet> {
    (v4_addr(), 0u8..=32).prop_map(|(a, p)| IpNet::V4(Ipv4Net::new(a, p).unwrap()))
}

fn v6_net() -> impl Strategy<Value = IpNet> {
    (v6_addr(), 0u8..=128).prop_map(|(a, p)| IpNet::V6(Ipv6Net::new(a, p).unwrap()))
}

/// An address with an optional gateway of the same family (RES-14).
fn v4_addr_gw() -> impl Strategy<Value = (IpNet, Option<IpAddr>)> {
    (v4_net(), option::of(v4_addr().prop_map(IpAddr::V4)))
}

fn v6_addr_gw() -> impl Strategy<Value = (IpNet, Option<IpAddr>)> {
    (v6_net(), option::of(v6_addr().prop_map(IpAddr::V6)))
}

fn addr_gw() -> impl Strategy<Value = (IpNet, Option<IpAddr>)> {
    prop_oneof![v4_addr_gw(), v6_addr_gw()]
}

fn mac() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 6]>().prop_map(|m| m
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")),
        text(),
    ]
}

/// A route; `v11` allows the 1.1.0-only fields (RES-8), otherwise they stay `None`.
fn route_of(dst: BoxedStrategy<(IpNet, Option<IpAddr>)>, v11: bool) -> BoxedStrategy<Route> {
    (
        dst,
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        option::of(any::<u8>()),
    )
        .prop_map(move |((dst, gw), mtu, advmss, priority, table, scope)| {
            let r = Route {
                dst,
                gw,
                mtu,
                advmss,
                priority,
                table,
                scope,
            };
            if v11 {
                r
            } else {
                r.basic()
            }
        })
        .boxed()
}

fn route(v11: bool) -> BoxedStrategy<Route> {
    route_of(addr_gw().boxed(), v11)
}

/// An interface; `v11` allows `mtu`, `socketPath` and `pciID` (RES-3).
fn interface(v11: bool) -> impl Strategy<Value = Interface> {
    (
        text(),
        option::of(mac()),
        option::of(text()),
        option::of(any::<u32>()),
        option::of(text()),
        option::of("[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]"),
    )
        .prop_map(move |(name, mac, sandbox, mtu, socket_path, pci_id)| {
            let i = Interface {
                name,
                mac,
                mtu,
                sandbox,
                socket_path,
                pci_id,
            };
            if v11 {
                i
            } else {
                i.basic()
            }
        })
}

fn ip_text() -> impl Strategy<Value = String> {
    prop_oneof![
        v4_addr().prop_map(|a| a.to_string()),
        v6_addr().prop_map(|a| a.to_string()),
    ]
}

fn dns() -> impl Strategy<Value = Dns> {
    (
        vec(ip_text(), 0..3),
        option::of(text()),
        vec(text(), 0..3),
        vec(text(), 0..3),
    )
        .prop_map(|(nameservers, domain, search, options)| Dns {
            nameservers,
            domain,
            search,
            options,
        })
}

/// An interface index that is valid for `n` interfaces (RES-6).
fn iface_index(n: usize) -> BoxedStrategy<Option<usize>> {
    if n == 0 {
        Just(None).boxed()
    } else {
        option::of(0..n).boxed()
    }
}

// ---------------------------------------------------------------------------------------------
// Results of each layout
// ---------------------------------------------------------------------------------------------

/// A 1.0.0 or 1.1.0 result; 1.0.0 results never carry the 1.1.0-only fields (RES-19).
fn result100(version: SpecVersion) -> impl Strategy<Value = Result100> {
    assert_eq!(version.family(), ResultFamily::V1);
    let v11 = version == SpecVersion::V1_1_0;
    vec(interface(v11), 0..4)
        .prop_flat_map(move |interfaces| {
            let n = interfaces.len();
            (
                Just(interfaces),
                vec((iface_index(n), addr_gw()), 0..5),
                vec(route(v11), 0..5),
                dns(),
            )
        })
        .prop_map(move |(interfaces, ips, routes, dns)| Result100 {
            cni_version: version,
            interfaces,
            ips: ips
                .into_iter()
                .map(|(interface, (address, gateway))| IpConfig {
                    interface,
                    address,
                    gateway,
                })
                .collect(),
            routes,
            dns,
        })
}

/// A 0.3.0, 0.3.1 or 0.4.0 result: `ips[].version` matches the address (RES-14), no 1.1.0
/// fields (RES-13).
fn result040(version: SpecVersion) -> impl Strategy<Value = Result040> {
    assert_eq!(version.family(), ResultFamily::V04);
    vec(interface(false), 0..4)
        .prop_flat_map(|interfaces| {
            let n = interfaces.len();
            (
                Just(interfaces),
                vec((iface_index(n), addr_gw()), 0..5),
                vec(route(false), 0..5),
                dns(),
            )
        })
        .prop_map(move |(interfaces, ips, routes, dns)| Result040 {
            cni_version: version,
            interfaces,
            ips: ips
                .into_iter()
                .map(|(interface, (address, gateway))| IpConfig040 {
                    version: IpVersion::of(&address),
                    interface,
                    address,
                    gateway,
                })
                .collect(),
            routes,
            dns,
        })
}

/// One family of a legacy result: the address, a gateway and routes of that family (RES-12).
fn legacy_ip(v4: bool) -> BoxedStrategy<LegacyIpConfig> {
    let (addr, dst) = if v4 {
        (v4_addr_gw().boxed(), v4_addr_gw().boxed())
    } else {
        (v6_addr_gw().boxed(), v6_addr_gw().boxed())
    };
    (addr, vec(route_of(dst, false), 0..4))
        .prop_map(|((ip, gateway), routes)| LegacyIpConfig {
            ip,
            gateway,
            routes,
        })
        .boxed()
}

/// A 0.1.0 or 0.2.0 result, possibly without any address.
fn result020(version: SpecVersion) -> impl Strategy<Value = Result020> {
    assert_eq!(version.family(), ResultFamily::Legacy);
    (
        option::of(legacy_ip(true)),
        option::of(legacy_ip(false)),
        dns(),
    )
        .prop_map(move |(ip4, ip6, dns)| Result020 {
            cni_version: version,
            ip4,
            ip6,
            dns,
        })
}

/// A legacy result with at least one address (the only kind that survives a trip through
/// 0.4.0, VER-9).
fn result020_with_address(version: SpecVersion) -> impl Strategy<Value = Result020> {
    result020(version).prop_filter("needs an address", |r| r.ip4.is_some() || r.ip6.is_some())
}

fn result_of(version: SpecVersion) -> BoxedStrategy<CniResult> {
    match version.family() {
        ResultFamily::Legacy => result020(version).prop_map(CniResult::Legacy).boxed(),
        ResultFamily::V04 => result040(version).prop_map(CniResult::V04).boxed(),
        ResultFamily::V1 => result100(version).prop_map(CniResult::V1).boxed(),
    }
}

fn any_version() -> impl Strategy<Value = SpecVersion> {
    select(SpecVersion::ALL.to_vec())
}

fn versions_of(family: ResultFamily) -> impl Strategy<Value = SpecVersion> {
    select(
        SpecVersion::ALL
            .into_iter()
            .filter(|v| v.family() == family)
            .collect::<Vec<_>>(),
    )
}

fn any_result() -> impl Strategy<Value = CniResult> {
    any_version().prop_flat_map(result_of)
}

/// A 0.3.x/0.4.0 or 1.x result (the layouts with an `ips` list).
fn modern_result() -> impl Strategy<Value = CniResult> {
    prop_oneof![
        versions_of(ResultFamily::V04),
        versions_of(ResultFamily::V1)
    ]
    .prop_flat_map(result_of)
}

// ---------------------------------------------------------------------------------------------
// Helpers for conversion checks
// ---------------------------------------------------------------------------------------------

/// `(interface, address, gateway)` of every `ips` entry, whatever the layout.
fn addresses(r: &CniResult) -> Vec<(Option<usize>, IpNet, Option<IpAddr>)> {
    match r {
        CniResult::Legacy(l) => [&l.ip4, &l.ip6]
            .into_iter()
            .flatten()
            .map(|c| (None, c.ip, c.gateway))
            .collect(),
        CniResult::V04(r) => r
            .ips
            .iter()
            .map(|ip| (ip.interface, ip.address, ip.gateway))
            .collect(),
        CniResult::V1(r) => r
            .ips
            .iter()
            .map(|ip| (ip.interface, ip.address, ip.gateway))
            .collect(),
    }
}

fn interfaces(r: &CniResult) -> &[Interface] {
    match r {
        CniResult::Legacy(_) => &[],
        CniResult::V04(r) => &r.interfaces,
        CniResult::V1(r) => &r.interfaces,
    }
}

fn routes(r: &CniResult) -> Vec<Route> {
    match r {
        CniResult::Legacy(l) => [&l.ip4, &l.ip6]
            .into_iter()
            .flatten()
            .flat_map(|c| c.routes.clone())
            .collect(),
        CniResult::V04(r) => r.routes.clone(),
        CniResult::V1(r) => r.routes.clone(),
    }
}

fn dns_of(r: &CniResult) -> &Dns {
    match r {
        CniResult::Legacy(l) => &l.dns,
        CniResult::V04(r) => &r.dns,
        CniResult::V1(r) => &r.dns,
    }
}

fn is_v4(n: &IpNet) -> bool {
    matches!(n, IpNet::V4(_))
}

/// What a 1.1.0 result looks like once the 1.1.0-only fields are gone (VER-10).
fn without_v11_fields(r: &Result100) -> Result100 {
    Result100 {
        interfaces: r.interfaces.iter().map(Interface::basic).collect(),
        routes: r.routes.iter().map(Route::basic).collect(),
        ..r.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Result properties
// ---------------------------------------------------------------------------------------------

proptest! {
    /// RES-1, RES-12, RES-13, RES-19: every layout parses back from its own compact and pretty
    /// JSON to the same value, labelled with its own version.
    #[test]
    fn res_json_round_trip_every_version(r in any_result()) {
        let compact = r.to_json();
        prop_assert_eq!(&CniResult::parse(compact.as_bytes(), None).unwrap(), &r);
        let pretty = r.to_json_pretty();
        prop_assert_eq!(&CniResult::parse(pretty.as_bytes(), None).unwrap(), &r);
        // A result keeps its own label even when the caller assumes another version (RES-20).
        let assumed = CniResult::parse(compact.as_bytes(), Some(SpecVersion::V0_1_0)).unwrap();
        prop_assert_eq!(&assumed, &r);
        prop_assert!(r.validate().is_ok());
    }

    /// RES-19: 1.0.0 JSON has no `ips[].version` and none of the 1.1.0-only keys; 0.3.x/0.4.0
    /// JSON always has `ips[].version` matching the address (RES-14).
    #[test]
    fn res_19_json_keys_per_version(r in modern_result()) {
        let v = r.to_value();
        let ips = v.get("ips").and_then(Value::as_array).cloned().unwrap_or_default();
        for ip in &ips {
            let addr: IpNet = ip["address"].as_str().unwrap().parse().unwrap();
            match r.version().family() {
                ResultFamily::V1 => prop_assert!(ip.get("version").is_none()),
                _ => prop_assert_eq!(
                    ip["version"].as_str().unwrap(),
                    if is_v4(&addr) { "4" } else { "6" }
                ),
            }
        }
        if r.version() < SpecVersion::V1_1_0 {
            for i in v.get("interfaces").and_then(Value::as_array).into_iter().flatten() {
                for k in ["mtu", "socketPath", "pciID"] {
                    prop_assert!(i.get(k).is_none(), "{} in a {} interface", k, r.version());
                }
            }
            for rt in v.get("routes").and_then(Value::as_array).into_iter().flatten() {
                for k in ["mtu", "advmss", "priority", "table", "scope"] {
                    prop_assert!(rt.get(k).is_none(), "{} in a {} route", k, r.version());
                }
            }
        }
    }

    /// `convert_to(v)` is labelled `v`, passes `validate()`, parses back from its JSON, and only
    /// fails when a legacy target gets a result without any address (VER-9).
    #[test]
    fn ver_convert_to_every_version_is_labelled_and_valid(r in any_result(), target in any_version()) {
        match r.convert_to(target) {
            Ok(c) => {
                prop_assert_eq!(c.version(), target);
                prop_assert!(c.validate().is_ok(), "{:?}", c.validate());
                prop_assert_eq!(&CniResult::parse(c.to_json().as_bytes(), None).unwrap(), &c);
            }
            Err(e) => {
                prop_assert_eq!(e, ResultError::NoAddressForLegacy(target));
                prop_assert_eq!(target.family(), ResultFamily::Legacy);
                prop_assert!(addresses(&r).is_empty());
            }
        }
    }

    /// VER-10: 0.3.x/0.4.0 -> 1.1.0 -> back to the original label gives back the original.
    #[test]
    fn ver_10_v04_up_to_110_and_back(v in versions_of(ResultFamily::V04).prop_flat_map(result040)) {
        let orig = CniResult::V04(v);
        let up = orig.convert_to(SpecVersion::V1_1_0).unwrap();
        prop_assert!(matches!(up, CniResult::V1(_)));
        // Going up keeps every address with its index and gateway, interfaces and routes.
        prop_assert_eq!(addresses(&up), addresses(&orig));
        prop_assert_eq!(interfaces(&up), interfaces(&orig));
        prop_assert_eq!(routes(&up), routes(&orig));
        prop_assert_eq!(dns_of(&up), dns_of(&orig));
        let down = up.convert_to(orig.version()).unwrap();
        prop_assert_eq!(&down, &orig);
    }

    /// VER-10: 1.0.0 -> 1.1.0 -> 1.0.0 only relabels.
    #[test]
    fn ver_10_100_up_to_110_and_back(r in result100(SpecVersion::V1_0_0)) {
        let orig = CniResult::V1(r.clone());
        let CniResult::V1(up) = orig.convert_to(SpecVersion::V1_1_0).unwrap() else {
            panic!("1.1.0 uses the 1.x layout")
        };
        prop_assert_eq!(&up, &Result100 { cni_version: SpecVersion::V1_1_0, ..r });
        let down = CniResult::V1(up).convert_to(SpecVersion::V1_0_0).unwrap();
        prop_assert_eq!(&down, &orig);
    }

    /// VER-10: 1.1.0 -> 1.0.0 and 1.1.0 -> 0.4.0 -> 1.1.0 lose exactly the 1.1.0-only fields.
    #[test]
    fn ver_10_110_down_loses_only_new_fields(r in result100(SpecVersion::V1_1_0)) {
        let orig = CniResult::V1(r.clone());
        let stripped = without_v11_fields(&r);
        let to100 = orig.convert_to(SpecVersion::V1_0_0).unwrap();
        prop_assert_eq!(
            &to100,
            &CniResult::V1(Result100 { cni_version: SpecVersion::V1_0_0, ..stripped.clone() })
        );
        let back = orig
            .convert_to(SpecVersion::V0_4_0)
            .unwrap()
            .convert_to(SpecVersion::V1_1_0)
            .unwrap();
        prop_assert_eq!(&back, &CniResult::V1(stripped));
    }

    /// VER-10: 1.1.0 -> 0.4.0 keeps every address, gateway and interface index, each
    /// interface's name/mac/sandbox, every route's dst/gw, and dns; `version` follows the address.
    #[test]
    fn ver_10_110_to_040_keeps_every_field_it_can(r in result100(SpecVersion::V1_1_0)) {
        let CniResult::V04(d) = CniResult::V1(r.clone()).convert_to(SpecVersion::V0_4_0).unwrap()
        else {
            panic!("0.4.0 uses the 0.4.0 layout")
        };
        prop_assert_eq!(d.cni_version, SpecVersion::V0_4_0);
        prop_assert_eq!(d.ips.len(), r.ips.len());
        for (a, b) in r.ips.iter().zip(&d.ips) {
            prop_assert_eq!(a.address, b.address);
            prop_assert_eq!(a.gateway, b.gateway);
            prop_assert_eq!(a.interface, b.interface);
            prop_assert_eq!(b.version, IpVersion::of(&a.address));
        }
        prop_assert_eq!(d.interfaces.len(), r.interfaces.len());
        for (a, b) in r.interfaces.iter().zip(&d.interfaces) {
            prop_assert_eq!(&a.name, &b.name);
            prop_assert_eq!(&a.mac, &b.mac);
            prop_assert_eq!(&a.sandbox, &b.sandbox);
            prop_assert_eq!((b.mtu, &b.socket_path, &b.pci_id), (None, &None, &None));
        }
        prop_assert_eq!(d.routes.len(), r.routes.len());
        for (a, b) in r.routes.iter().zip(&d.routes) {
            prop_assert_eq!(b, &a.basic());
        }
        prop_assert_eq!(&d.dns, &r.dns);
    }

    /// VER-9: 0.3.x/0.4.0/1.x -> 0.2.0 (and 0.1.0) keeps the first IPv4 and the first IPv6
    /// address with their gateways, sorts routes into the family of their `dst` (basic fields
    /// only, dropped when that family has no address), keeps dns, and fails without addresses.
    #[test]
    fn ver_9_down_to_legacy(r in modern_result(), target in versions_of(ResultFamily::Legacy)) {
        let addrs = addresses(&r);
        let first = |v4: bool| addrs.iter().find(|(_, a, _)| is_v4(a) == v4).map(|(_, a, g)| (*a, *g));
        let want_routes = |v4: bool| -> Vec<Route> {
            routes(&r).iter().filter(|rt| is_v4(&rt.dst) == v4).map(Route::basic).collect()
        };
        match r.convert_to(target) {
            Err(e) => {
                prop_assert_eq!(e, ResultError::NoAddressForLegacy(target));
                prop_assert!(addrs.is_empty());
            }
            Ok(CniResult::Legacy(l)) => {
                prop_assert!(!addrs.is_empty());
                prop_assert_eq!(l.cni_version, target);
                for (got, v4) in [(&l.ip4, true), (&l.ip6, false)] {
                    match first(v4) {
                        None => prop_assert!(got.is_none()),
                        Some((addr, gw)) => {
                            let got = got.as_ref().unwrap();
                            prop_assert_eq!(got.ip, addr);
                            prop_assert_eq!(got.gateway, gw);
                            prop_assert_eq!(&got.routes, &want_routes(v4));
                        }
                    }
                }
                prop_assert_eq!(&l.dns, dns_of(&r));
            }
            Ok(other) => prop_assert!(false, "legacy target gave {:?}", other),
        }
    }

    /// VER-8: 0.1.0/0.2.0 -> 0.4.0 puts `ip4` first then `ip6` into `ips` with `version`,
    /// appends each family's routes to `routes`, copies dns, adds no interfaces; and
    /// 0.4.0 -> the original legacy label gives back the original.
    #[test]
    fn ver_8_legacy_up_to_040_and_back(
        l in versions_of(ResultFamily::Legacy).prop_flat_map(result020_with_address),
    ) {
        let orig = CniResult::Legacy(l.clone());
        let CniResult::V04(up) = orig.convert_to(SpecVersion::V0_4_0).unwrap() else {
            panic!("0.4.0 uses the 0.4.0 layout")
        };
        let want_ips: Vec<IpConfig040> = [&l.ip4, &l.ip6]
            .into_iter()
            .flatten()
            .map(|c| IpConfig040 {
                version: IpVersion::of(&c.ip),
                interface: None,
                address: c.ip,
                gateway: c.gateway,
            })
            .collect();
        prop_assert_eq!(&up.ips, &want_ips);
        prop_assert_eq!(&up.routes, &routes(&orig));
        prop_assert!(up.interfaces.is_empty());
        prop_assert_eq!(&up.dns, &l.dns);
        let back = CniResult::V04(up).convert_to(l.cni_version).unwrap();
        prop_assert_eq!(&back, &orig);
        // And through 1.1.0 as well.
        let via_v1 = orig
            .convert_to(SpecVersion::V1_1_0)
            .unwrap()
            .convert_to(l.cni_version)
            .unwrap();
        prop_assert_eq!(&via_v1, &orig);
    }
}

// ---------------------------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------------------------

/// A network name that satisfies the identifier rule (CFG-2).
fn identifier() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,20}"
}

/// A plugin `type`: anything non-empty without a path separator (CFG-11).
fn plugin_type() -> impl Strategy<Value = String> {
    "[^/\\\\]{1,12}"
}

/// JSON numbers that survive a text round trip exactly.
fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-100_000i32..100_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((text(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    vec((text(), json_value()), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// A map of extra keys, none of which is in `reserved`.
fn extra_keys(reserved: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    vec(
        (
            text().prop_filter("standard key", move |k| !reserved.contains(&k.as_str())),
            json_value(),
        ),
        0..4,
    )
    .prop_map(|kv| kv.into_iter().collect())
}

const NETCONF_KEYS: &[&str] = &[
    "cniVersion",
    "name",
    "type",
    "capabilities",
    "ipam",
    "dns",
    "args",
    "runtimeConfig",
    "prevResult",
    "cni.dev/valid-attachments",
];

const LIST_KEYS: &[&str] = &[
    "cniVersion",
    "cniVersions",
    "name",
    "disableCheck",
    "disableGC",
    "loadOnlyInlinedPlugins",
    "plugins",
];

const PLUGIN_KEYS: &[&str] = &["type", "capabilities", "ipam"];

fn version_string() -> impl Strategy<Value = String> {
    any_version().prop_map(|v| v.as_str().to_string())
}

fn ipam() -> impl Strategy<Value = IpamConf> {
    (plugin_type(), extra_keys(&["type"]))
        .prop_map(|(plugin_type, extra)| IpamConf { plugin_type, extra })
}

fn capabilities() -> impl Strategy<Value = BTreeMap<String, bool>> {
    btree_map(text(), any::<bool>(), 0..4)
}

fn attachment() -> impl Strategy<Value = Attachment> {
    (identifier(), "[a-z0-9]{1,15}").prop_map(|(container_id, ifname)| Attachment {
        container_id,
        ifname,
    })
}

/// A `prevResult`: a real result of any version, or an arbitrary object.
fn prev_result() -> impl Strategy<Value = Value> {
    prop_oneof![any_result().prop_map(|r| r.to_value()), json_object()]
}

fn netconf() -> impl Strategy<Value = NetConf> {
    (
        (version_string(), identifier(), plugin_type()),
        (
            option::of(capabilities()),
            option::of(ipam()),
            option::of(dns()),
        ),
        (
            option::of(json_object()),
            option::of(json_object()),
            option::of(prev_result()),
            option::of(vec(attachment(), 0..3)),
        ),
        extra_keys(NETCONF_KEYS),
    )
        .prop_map(
            |(
                (cni_version, name, plugin_type),
                (capabilities, ipam, dns),
                (args, runtime_config, prev_result, valid_attachments),
                extra,
            )| NetConf {
                cni_version,
                name,
                plugin_type,
                capabilities,
                ipam,
                dns,
                args,
                runtime_config,
                prev_result,
                valid_attachments,
                extra,
            },
        )
}

/// A plugin object of a list: a valid `type`, maybe boolean `capabilities` and an `ipam` with a
/// valid type, and plugin-specific keys.
fn plugin_object() -> impl Strategy<Value = Map<String, Value>> {
    (
        plugin_type(),
        option::of(capabilities()),
        option::of(ipam()),
        extra_keys(PLUGIN_KEYS),
    )
        .prop_map(|(t, caps, ipam, extra)| {
            let mut m = Map::new();
            m.insert("type".into(), t.into());
            if let Some(caps) = caps {
                m.insert("capabilities".into(), serde_json::to_value(caps).unwrap());
            }
            if let Some(ipam) = ipam {
                m.insert("ipam".into(), serde_json::to_value(ipam).unwrap());
            }
            m.extend(extra);
            m
        })
}

fn netconflist() -> impl Strategy<Value = NetConfList> {
    (
        version_string(),
        option::of(vec(
            select(vec!["0.3.1", "0.4.0", "1.0.0", "1.1.0", "1.10.0", "2.0.0"])
                .prop_map(String::from),
            0..4,
        )),
        identifier(),
        any::<[bool; 3]>(),
        option::of(vec(plugin_object(), 1..4)),
        extra_keys(LIST_KEYS),
    )
        .prop_map(
            |(cni_version, cni_versions, name, [check, gc, inlined], plugins, extra)| {
                NetConfList {
                    cni_version,
                    cni_versions,
                    name,
                    disable_check: check,
                    disable_gc: gc,
                    // CFG-8: loadOnlyInlinedPlugins needs a plugins key.
                    load_only_inlined_plugins: inlined && plugins.is_some(),
                    plugins,
                    extra,
                }
            },
        )
}

proptest! {
    /// CFG-1, CFG-14: a plugin request config, unknown keys included, survives
    /// serialize/parse unchanged and is valid.
    #[test]
    fn cfg_14_netconf_round_trip(c in netconf()) {
        let bytes = serde_json::to_vec(&c).unwrap();
        let back = NetConf::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &c);
        prop_assert!(back.validate().is_ok(), "{:?}", back.validate());
        // Pretty output parses to the same value too.
        let pretty = serde_json::to_vec_pretty(&c).unwrap();
        prop_assert_eq!(&NetConf::parse(&pretty).unwrap(), &c);
    }

    /// CFG-1, CFG-6, CFG-14, VER-1: a valid list survives serialize/parse (which validates)
    /// unchanged.
    #[test]
    fn cfg_1_netconflist_round_trip(l in netconflist()) {
        let bytes = serde_json::to_vec(&l).unwrap();
        let back = NetConfList::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &l);
        prop_assert!(back.negotiated_version().is_ok());
    }

    /// ENV-7, ENV-8: pairs whose keys and values avoid `;` and `=` (keys non-empty) survive
    /// display/parse in order.
    #[test]
    fn env_8_cni_args_round_trip(
        pairs in vec(("[^;=]{1,10}", "[^;=]{0,10}"), 0..6),
    ) {
        let args = CniArgs::from_pairs(pairs.clone());
        let shown = args.to_string();
        let back = CniArgs::parse(&shown).unwrap();
        prop_assert_eq!(&back, &args);
        prop_assert_eq!(back.pairs(), &pairs[..]);
        // The last value given for a key wins.
        for (k, _) in &pairs {
            let last = pairs.iter().rev().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str());
            prop_assert_eq!(back.get(k), last);
        }
    }
}
