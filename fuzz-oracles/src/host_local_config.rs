//! host-local's configuration decoder ([`IpamConfig::parse`]: `ipam.ranges`, the legacy
//! `subnet`/`rangeStart`/`rangeEnd`/`gateway`, `routes`, `dataDir`, `resolvConf`,
//! `runtimeConfig.ipRanges`/`ips`, `args.cni.ips`, `CNI_ARGS IP=`) on one untrusted request
//! (input format: [`crate::request`]).
//!
//! Never panics; a refusal is code 7, or code 4 for a bad `IP=` in `CNI_ARGS`. An accepted
//! configuration satisfies what the allocator relies on:
//! - every range: a subnet without host bits, not IPv4-mapped, at most /30 (IPv4) or /126
//!   (IPv6); `rangeStart` <= `rangeEnd`, both and the gateway inside the subnet and of its
//!   family; an IPv4 gateway that is not the subnet's broadcast address (the kernel refuses a
//!   route through it: "Nexthop has invalid gateway");
//! - a range set is not empty, of one family, its ranges do not overlap, nor do the ranges of
//!   two sets; below 0.3.0 at most one set per family;
//! - for small sets, the allocation order ([`RangeSet::candidates`]) yields every usable
//!   address once and nothing else, as many as [`RangeSet::capacity`] says, starting after the
//!   address reserved last and ending with it;
//! - requested addresses are canonical and unique; `CNI_ARGS` ones come from an `IP=`;
//! - [`StoreLocation::parse`], all DEL and GC read, finds the store ADD uses.

use std::collections::HashSet;
use std::net::IpAddr;

use cni::SpecVersion;
use ipnet::IpNet;
use reference_plugins::plugins::host_local::allocator::{Range, RangeSet};
use reference_plugins::plugins::host_local::config::{IpamConfig, Source, StoreLocation};

use crate::request::{assert_code, Request};

/// Sets with more addresses than this are not enumerated.
const ENUMERATE_MAX: u128 = 512;

/// The oracle of the `host_local_config` target.
pub fn host_local_config(data: &[u8]) {
    let req = Request::new(data);
    let location = StoreLocation::parse(req.stdin);
    let parsed = match &req.built {
        Ok(cmd) => IpamConfig::parse(&cmd.stdin, &cmd.args, cmd.version),
        Err(_) => IpamConfig::parse(req.stdin, &req.cni_args, req.version),
    };
    let cfg = match parsed {
        Ok(c) => c,
        Err(e) => {
            assert_code("host-local", &e, &[4, 7]);
            if e.code.code() == 4 {
                assert!(req.cni_args.get("IP").is_some(), "code 4 without IP=");
            }
            return;
        }
    };
    match location {
        Ok(l) => assert_eq!(l, cfg.location, "DEL/GC would look for another store"),
        Err(e) => panic!("ADD's config is accepted but DEL's view of it is not: {e}"),
    }
    assert!(!cfg.location.data_dir.as_os_str().is_empty());
    if let Some(p) = &cfg.resolv_conf {
        assert!(!p.as_os_str().is_empty());
    }
    config_invariants(&cfg, req.version);
    if cfg.requested.iter().any(|r| r.source == Source::CniArgs) {
        assert!(req.cni_args.get("IP").is_some_and(|v| !v.is_empty()));
    }
}

/// What the allocator relies on (see the module documentation); shared with the store target.
pub(crate) fn config_invariants(cfg: &IpamConfig, version: SpecVersion) {
    assert!(!cfg.ranges.is_empty(), "no range set");
    for set in &cfg.ranges {
        set_invariants(set);
    }
    for (i, a) in cfg.ranges.iter().enumerate() {
        for b in &cfg.ranges[i + 1..] {
            for ra in a.ranges() {
                assert!(
                    b.ranges().iter().all(|rb| !overlap(ra, rb)),
                    "range sets {a} and {b} overlap"
                );
            }
        }
    }
    if version < SpecVersion::V0_3_0 {
        let v4 = cfg.ranges.iter().filter(|s| s.is_v4()).count();
        assert!(
            v4 <= 1 && cfg.ranges.len() - v4 <= 1,
            "{version} with more than one set per family"
        );
    }
    let mut seen = HashSet::new();
    for r in &cfg.requested {
        assert_eq!(r.ip, r.ip.to_canonical(), "requested address not canonical");
        assert!(seen.insert(r.ip), "{} requested twice", r.ip);
    }
}

fn num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn overlap(a: &Range, b: &Range) -> bool {
    a.is_v4() == b.is_v4()
        && num(a.range_start()) <= num(b.range_end())
        && num(b.range_start()) <= num(a.range_end())
}

fn range_invariants(r: &Range) {
    let subnet = r.subnet();
    assert_eq!(r.is_v4(), matches!(subnet, IpNet::V4(_)), "{r}: family");
    assert!(
        subnet.prefix_len() + 2 <= subnet.max_prefix_len(),
        "{subnet} is too small to allocate from"
    );
    assert_eq!(subnet.addr(), subnet.network(), "{subnet} has host bits");
    if let IpNet::V6(n) = subnet {
        assert!(
            n.addr().to_ipv4_mapped().is_none(),
            "{subnet} is IPv4-mapped"
        );
    }
    for (what, a) in [
        ("rangeStart", r.range_start()),
        ("rangeEnd", r.range_end()),
        ("gateway", r.gateway()),
    ] {
        assert!(
            a.is_ipv4() == r.is_v4() && subnet.contains(&a),
            "{what} {a} outside {subnet}"
        );
    }
    assert!(
        num(r.range_start()) <= num(r.range_end()),
        "{r}: start > end"
    );
    if r.is_v4() {
        assert_ne!(
            r.gateway(),
            subnet.broadcast(),
            "{subnet}: the gateway is the broadcast address"
        );
    }
    for a in [subnet.network(), r.gateway()] {
        if r.contains(a) {
            assert!(r.unusable_reason(a).is_some(), "{a} usable in {r}");
        }
    }
}

fn set_invariants(set: &RangeSet) {
    let ranges = set.ranges();
    assert!(!ranges.is_empty(), "empty range set");
    for (i, r) in ranges.iter().enumerate() {
        range_invariants(r);
        assert_eq!(r.is_v4(), set.is_v4(), "{set} mixes families");
        for o in &ranges[i + 1..] {
            assert!(!overlap(r, o), "{r} and {o} overlap in {set}");
        }
    }
    let size = ranges.iter().fold(0u128, |acc, r| {
        acc.saturating_add(num(r.range_end()) - num(r.range_start()) + 1)
    });
    if size > ENUMERATE_MAX {
        return;
    }
    let order: Vec<IpAddr> = set.candidates(None).map(|(a, _)| a).collect();
    let unique: HashSet<IpAddr> = order.iter().copied().collect();
    assert_eq!(unique.len(), order.len(), "{set}: an address comes twice");
    assert_eq!(order.len() as u128, set.capacity(), "{set}: capacity");
    for a in &order {
        let r = set.range_for(*a).expect("a candidate lies in the set");
        assert!(r.unusable_reason(*a).is_none(), "{a} of {set} is unusable");
    }
    let usable = ranges
        .iter()
        .flat_map(|r| {
            let v4 = r.is_v4();
            (num(r.range_start())..=num(r.range_end())).map(move |n| (r, addr(n, v4)))
        })
        .filter(|(r, a)| r.unusable_reason(*a).is_none())
        .count();
    assert_eq!(
        usable,
        order.len(),
        "{set}: a usable address is never offered"
    );
    // After the address reserved last, the order goes on from there and ends with it.
    if let Some(&last) = order.get(order.len() / 2) {
        let again: Vec<IpAddr> = set.candidates(Some(last)).map(|(a, _)| a).collect();
        assert_eq!(again.last(), Some(&last), "{set} after {last}");
        let set_again: HashSet<IpAddr> = again.iter().copied().collect();
        assert_eq!(set_again, unique, "{set} after {last}");
    }
}

fn addr(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4((n as u32).into())
    } else {
        IpAddr::V6(n.into())
    }
}
