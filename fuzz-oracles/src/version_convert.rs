//! Results built from structured input (so nearly every run is a valid result rather than a
//! JSON syntax error): converting between every pair of versions never panics, every
//! successful conversion is a valid result of the target version, and going up to a newer
//! version and back down keeps the addresses (and, for results a version can fully carry,
//! everything else).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use cni::result::{
    CniResult, Dns, Interface, IpConfig, IpConfig040, IpVersion, LegacyIpConfig, Result020,
    Result040, Result100, ResultError, Route,
};
use cni::version::ResultFamily;
use cni::SpecVersion;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::results::{convert_to_all, json_round_trip};

#[derive(Arbitrary, Debug)]
struct Addr {
    v6: bool,
    bytes: [u8; 16],
    prefix: u8,
}

impl Addr {
    fn ip(&self) -> IpAddr {
        ip_of(self.v6, &self.bytes)
    }

    /// Prefix lengths are clamped to what the family allows.
    fn net(&self) -> IpNet {
        match self.ip() {
            IpAddr::V4(a) => Ipv4Net::new(a, self.prefix % 33).unwrap().into(),
            IpAddr::V6(a) => Ipv6Net::new(a, self.prefix % 129).unwrap().into(),
        }
    }
}

fn ip_of(v6: bool, b: &[u8; 16]) -> IpAddr {
    if v6 {
        Ipv6Addr::from(*b).into()
    } else {
        Ipv4Addr::new(b[0], b[1], b[2], b[3]).into()
    }
}

#[derive(Arbitrary, Debug)]
struct Ip {
    addr: Addr,
    /// Made the address's family, as validation demands.
    gateway: Option<[u8; 16]>,
    interface: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct RouteIn {
    dst: Addr,
    /// Any family: a route may go through a gateway of the other family (RFC 5549).
    gw: Option<(bool, [u8; 16])>,
    mtu: Option<u32>,
    advmss: Option<u32>,
    priority: Option<u32>,
    table: Option<u32>,
    scope: Option<u8>,
    /// For 0.1.0/0.2.0: file the route under the other family's `ip4`/`ip6`.
    cross: bool,
}

#[derive(Arbitrary, Debug)]
struct Iface {
    name: String,
    mac: Option<String>,
    sandbox: Option<String>,
    mtu: Option<u32>,
    socket_path: Option<String>,
    pci_id: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct DnsIn {
    nameservers: Vec<String>,
    domain: Option<String>,
    search: Vec<String>,
    options: Vec<String>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    start: u8,
    interfaces: Vec<Iface>,
    ips: Vec<Ip>,
    routes: Vec<RouteIn>,
    dns: DnsIn,
}

fn build(input: &Input) -> (CniResult, bool) {
    let start = SpecVersion::ALL[usize::from(input.start) % SpecVersion::ALL.len()];
    let v11 = start >= SpecVersion::V1_1_0;
    let interfaces: Vec<Interface> = input
        .interfaces
        .iter()
        .take(4)
        .map(|i| {
            let full = Interface {
                name: i.name.clone(),
                mac: i.mac.clone(),
                mtu: i.mtu,
                sandbox: i.sandbox.clone(),
                socket_path: i.socket_path.clone(),
                pci_id: i.pci_id.clone(),
            };
            if v11 {
                full
            } else {
                full.basic()
            }
        })
        .collect();
    let ips: Vec<IpConfig> = input
        .ips
        .iter()
        .take(6)
        .map(|ip| {
            let address = ip.addr.net();
            IpConfig {
                interface: match (ip.interface, interfaces.len()) {
                    (Some(i), n) if n > 0 => Some(usize::from(i) % n),
                    _ => None,
                },
                address,
                gateway: ip
                    .gateway
                    .map(|g| ip_of(matches!(address, IpNet::V6(_)), &g)),
            }
        })
        .collect();
    let routes: Vec<(Route, bool)> = input
        .routes
        .iter()
        .take(6)
        .map(|r| {
            let route = Route {
                dst: r.dst.net(),
                gw: r.gw.map(|(v6, b)| ip_of(v6, &b)),
                mtu: r.mtu,
                advmss: r.advmss,
                priority: r.priority,
                table: r.table,
                scope: r.scope,
            };
            (if v11 { route } else { route.basic() }, r.cross)
        })
        .collect();
    let few = |v: &[String]| v.iter().take(4).cloned().collect::<Vec<_>>();
    let dns = Dns {
        nameservers: few(&input.dns.nameservers),
        domain: input.dns.domain.clone(),
        search: few(&input.dns.search),
        options: few(&input.dns.options),
    };

    let mut lossless = true;
    let result = match start.family() {
        ResultFamily::V1 => CniResult::V1(Result100 {
            cni_version: start,
            interfaces,
            ips,
            routes: routes.into_iter().map(|(r, _)| r).collect(),
            dns,
        }),
        ResultFamily::V04 => CniResult::V04(Result040 {
            cni_version: start,
            interfaces,
            ips: ips
                .into_iter()
                .map(|ip| IpConfig040 {
                    version: IpVersion::of(&ip.address),
                    interface: ip.interface,
                    address: ip.address,
                    gateway: ip.gateway,
                })
                .collect(),
            routes: routes.into_iter().map(|(r, _)| r).collect(),
            dns,
        }),
        ResultFamily::Legacy => {
            let first = |v4: bool| {
                ips.iter()
                    .find(|ip| matches!(ip.address, IpNet::V4(_)) == v4)
                    .map(|ip| LegacyIpConfig {
                        ip: ip.address,
                        gateway: ip.gateway,
                        routes: Vec::new(),
                    })
            };
            let mut ip4 = first(true);
            let mut ip6 = first(false);
            for (route, cross) in routes {
                let v4 = matches!(route.dst, IpNet::V4(_)) != cross;
                if cross {
                    // A v6 route filed under ip4 (or the reverse) is not something a newer
                    // version can say; only the addresses are expected to come back.
                    lossless = false;
                }
                if let Some(cfg) = if v4 { ip4.as_mut() } else { ip6.as_mut() } {
                    cfg.routes.push(route);
                }
            }
            CniResult::Legacy(Result020 {
                cni_version: start,
                ip4,
                ip6,
                dns,
            })
        }
    };
    (result, lossless)
}

/// Every (address, gateway) pair of a result, in order.
fn addresses(r: &CniResult) -> Vec<(IpNet, Option<IpAddr>)> {
    match r {
        CniResult::V1(r) => r.ips.iter().map(|ip| (ip.address, ip.gateway)).collect(),
        CniResult::V04(r) => r.ips.iter().map(|ip| (ip.address, ip.gateway)).collect(),
        CniResult::Legacy(r) => [&r.ip4, &r.ip6]
            .into_iter()
            .flatten()
            .map(|c| (c.ip, c.gateway))
            .collect(),
    }
}

/// The oracle of the `version_convert` target: `data` decoded as libfuzzer-sys decodes a
/// typed input (inputs that do not decode are skipped).
///
/// On the inputs [`crate::full_checks_for`] picks (every seed in the replay, one input in
/// eight in a fuzz run) the result is converted to all seven versions; on the others to one,
/// picked by the input's length, with the same checks.
pub fn version_convert(data: &[u8]) {
    if let Some(input) = crate::structured::<Input>(data) {
        let targets = if crate::full_checks_for(data) {
            Targets::All
        } else {
            Targets::One(SpecVersion::ALL[data.len() % SpecVersion::ALL.len()])
        };
        check(&input, targets);
    }
}

/// The versions one input is converted to.
enum Targets {
    All,
    One(SpecVersion),
}

/// `original` converted to `target`; a success is valid, labelled `target` and reads back from
/// its JSON unchanged (what [`convert_to_all`] checks for each version).
fn convert_one(original: &CniResult, target: SpecVersion) -> Result<CniResult, ResultError> {
    let start = original.version();
    let converted = original.convert_to(target);
    if let Ok(c) = &converted {
        if let Err(e) = c.validate() {
            panic!("{start} -> {target} gave an invalid result ({e}): {c:?}");
        }
        assert_eq!(c.version(), target, "{start} -> {target}: wrong label");
        json_round_trip(c, format_args!("{start} -> {target}"));
    }
    converted
}

fn check(input: &Input, targets: Targets) {
    let (original, lossless) = build(input);
    let start = original.version();
    if let Err(e) = original.validate() {
        panic!("the builder made an invalid {start} result ({e}): {original:?}");
    }
    // The builder only sets fields the start version has, so converting to it changes
    // nothing; then the JSON round trip convert_to_all does for that version covers this
    // result too.
    assert_eq!(
        original.convert_to(start).as_ref(),
        Ok(&original),
        "converting a {start} result to {start} changed it"
    );

    // Each success is valid, labelled and survives its JSON round trip (checked there).
    let conversions = match targets {
        Targets::All => convert_to_all(&original),
        Targets::One(target) => vec![(target, convert_one(&original, target))],
    };
    for (target, converted) in conversions {
        let converted = match converted {
            Ok(c) => c,
            Err(_) => {
                // Only a legacy target may refuse, and only a result without addresses.
                assert_eq!(target.family(), ResultFamily::Legacy);
                assert!(addresses(&original).is_empty());
                continue;
            }
        };
        if target < start {
            continue;
        }
        // Up, then back down to where it started.
        let down = match converted.convert_to(start) {
            Ok(d) => d,
            Err(e) => {
                assert!(
                    addresses(&original).is_empty(),
                    "{start} -> {target} -> {start}: {e}"
                );
                continue;
            }
        };
        assert_eq!(
            addresses(&down),
            addresses(&original),
            "{start} -> {target} -> {start} changed the addresses"
        );
        if lossless {
            assert_eq!(down, original, "{start} -> {target} -> {start} lost data");
        }
    }
}
