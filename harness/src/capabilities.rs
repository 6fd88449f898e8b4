//! Capability arguments, passed as libcni passes them. A runtime holds capability arguments
//! for an attachment (port mappings, a MAC, addresses...); for each plugin object of a list it
//! puts under `runtimeConfig` the ones the object enables (`capabilities: {name: true}`),
//! replacing any `runtimeConfig` the object had, on ADD, CHECK and DEL only, the same values on
//! each. This module owns which capabilities an object enables, the harness's fixed argument
//! values per attachment (chosen to fit the world: host ports nothing else uses, addresses
//! inside the base config's subnets, a locally administered MAC), the generated ones of the
//! proptest variants, and the injection into a request. Shapes are `cni::conventions`'.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use cni::conventions::{Bandwidth, DnsCapability, IpRange, PortMapping, RuntimeConfig};

use crate::cases::Case;
use crate::checks::{CheckFailure, StepView, Verdict};
use crate::session::Session;
use crate::target::Target;

/// The capability arguments the harness knows values for (CONVENTIONS' well-known names, and
/// the CRI pod annotations containerd passes).
pub const KNOWN: &[&str] = &[
    "portMappings",
    "ipRanges",
    "bandwidth",
    "dns",
    "ips",
    "mac",
    "aliases",
    "infinibandGUID",
    "deviceID",
    "cgroupPath",
    "io.kubernetes.cri.pod-annotations",
];

/// The verbs that get `runtimeConfig` (the others never do).
fn carries_runtime_config(verb: &str) -> bool {
    matches!(verb, "ADD" | "CHECK" | "DEL")
}

/// The capabilities a plugin object enables, in its order.
pub fn enabled(obj: &Map<String, Value>) -> Vec<String> {
    obj.get("capabilities")
        .and_then(Value::as_object)
        .map(|caps| {
            caps.iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Why `case` does not apply to `target`: it is for one capability and the tested plugin's
/// config does not enable it.
pub fn not_applicable(case: &Case, target: &Target) -> Option<String> {
    let cap = case.capability.as_deref()?;
    if enabled(&target.plugin_conf).iter().any(|c| c == cap) {
        return None;
    }
    Some(format!(
        "needs a config that enables the {cap:?} capability (capabilities: {{{cap:?}: true}})"
    ))
}

/// A small number per attachment name, so that attachments of one case get different values
/// ("a" 0, "a2" 1, "b" 2; the concurrency run's "p<i>" 3 + i, distinct for the 32 of its
/// default size; others from 3 on by a hash of the name).
fn ordinal(attachment: &str) -> u8 {
    match attachment {
        "a" => 0,
        "a2" => 1,
        "b" => 2,
        other => match other.strip_prefix('p').and_then(|i| i.parse::<u8>().ok()) {
            Some(i) => 3 + i % IPS_SLOTS,
            None => 3 + (other.bytes().fold(0u8, |s, b| s.wrapping_add(b)) % 16),
        },
    }
}

/// The subnets of the base config's IPAM ranges (`ipam.ranges`, else `ipam.subnet`), from
/// the tested plugin's object first, then the prelude's; one per range set.
pub fn subnets(target: &Target) -> Vec<IpNet> {
    std::iter::once(&target.plugin_conf)
        .chain(target.prelude.iter())
        .map(object_subnets)
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

fn object_subnets(obj: &Map<String, Value>) -> Vec<IpNet> {
    let Some(ipam) = obj.get("ipam") else {
        return Vec::new();
    };
    if let Some(sets) = ipam.get("ranges").and_then(Value::as_array) {
        return sets
            .iter()
            .filter_map(|set| {
                set.as_array()?
                    .first()?
                    .get("subnet")?
                    .as_str()?
                    .parse()
                    .ok()
            })
            .collect();
    }
    ipam.get("subnet")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .into_iter()
        .collect()
}

/// The subnets the harness gives as `ipRanges` (each world is a namespace of its own, so
/// they cannot meet anything outside it).
fn runtime_subnets() -> Vec<IpNet> {
    ["10.88.0.0/24", "fd88::/64"]
        .iter()
        .map(|s| s.parse().expect("a subnet"))
        .collect()
}

/// The address `host` places into `net` (its network address plus `host`).
fn host_in(net: &IpNet, host: u32) -> IpAddr {
    match net {
        IpNet::V4(n) => IpAddr::V4((u32::from(n.network()) + host).into()),
        IpNet::V6(n) => IpAddr::V6((u128::from(n.network()) + u128::from(host)).into()),
    }
}

/// The part of each subnet given as `ipRanges`: hosts 100 to 254 (the gateway, .1, stays
/// outside; `ips` fall inside).
const RANGE_FIRST: u32 = 100;
const RANGE_LAST: u32 = 254;
/// The host number of the first `ips` address; an attachment adds its ordinal.
const IPS_FIRST: u32 = 220;
/// How many "p<i>" attachments get distinct ordinals: hosts 223 to 254 of a /24 (beyond, the
/// ordinals repeat and so do `ips`).
const IPS_SLOTS: u8 = 32;
/// Host ports of the fixed port mappings (TCP, UDP); an attachment adds its ordinal.
const TCP_HOST_PORT: u16 = 18080;
const UDP_HOST_PORT: u16 = 18053;

/// The harness's fixed capability arguments for `attachment`, every known capability that has
/// a value fitting the world (`ips`, `ipRanges` only with a subnet in the base config).
pub fn fixed_args(target: &Target, attachment: &str) -> Map<String, Value> {
    let n = ordinal(attachment);
    let own = subnets(target);
    // ipRanges only when the config names no ranges: host-local puts the runtime's range
    // sets before its own, so with both an ADD takes one address from each.
    let ranges = if own.is_empty() {
        runtime_subnets()
    } else {
        Vec::new()
    };
    let nets = if own.is_empty() { ranges.clone() } else { own };
    let rc = RuntimeConfig {
        port_mappings: vec![
            PortMapping {
                host_port: TCP_HOST_PORT + u16::from(n),
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: None,
            },
            PortMapping {
                host_port: UDP_HOST_PORT + u16::from(n),
                container_port: 53,
                protocol: "udp".into(),
                host_ip: None,
            },
        ],
        ip_ranges: ranges
            .iter()
            .map(|net| {
                vec![IpRange {
                    subnet: *net,
                    range_start: Some(host_in(net, RANGE_FIRST)),
                    range_end: Some(host_in(net, RANGE_LAST)),
                    gateway: None,
                }]
            })
            .collect(),
        bandwidth: Some(Bandwidth {
            ingress_rate: 8_000_000,
            ingress_burst: 80_000_000,
            egress_rate: 8_000_000,
            egress_burst: 80_000_000,
        }),
        dns: Some(DnsCapability {
            servers: nets
                .first()
                .map(|net| vec![host_in(net, 53).to_string()])
                .unwrap_or_default(),
            searches: vec!["conformance.test".into()],
            options: vec!["ndots:2".into()],
        }),
        ips: nets
            .iter()
            .map(|net| {
                format!(
                    "{}/{}",
                    host_in(net, IPS_FIRST + u32::from(n)),
                    net.prefix_len()
                )
            })
            .collect(),
        mac: Some(format!("02:c0:ff:ee:00:{n:02x}")),
        aliases: vec![format!("cnirs-{attachment}")],
        infiniband_guid: Some(format!("c2:00:00:00:00:00:00:{n:02x}")),
        device_id: Some("0000:00:00.0".into()),
        cgroup_path: Some(format!("/kubepods/besteffort/pod-cnirs-{attachment}")),
        extra: Map::new(),
    };
    let mut args = match serde_json::to_value(rc) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    args.insert(
        "io.kubernetes.cri.pod-annotations".into(),
        json!({ "cni.dev/conformance-attachment": attachment }),
    );
    args
}

/// Puts `runtimeConfig` into `request` as libcni does for a plugin object `obj`: on ADD,
/// CHECK and DEL, the `args` the object's capabilities enable, replacing the object's own
/// `runtimeConfig`; nothing when no enabled capability has a value.
pub fn inject(
    request: &mut Value,
    obj: &Map<String, Value>,
    verb: &str,
    args: &Map<String, Value>,
) {
    if !carries_runtime_config(verb) {
        return;
    }
    let caps = obj.get("capabilities").and_then(Value::as_object);
    let rc = cni::conventions::runtime_config_for(caps, args);
    if !rc.is_empty() {
        request["runtimeConfig"] = Value::Object(rc);
    }
}

/// Generated capability arguments for a proptest variant: for each capability `enabled`
/// lists that the harness knows, a value of the convention's shape (port mappings on random
/// unprivileged host ports, addresses inside `nets`, a random locally administered MAC...).
pub fn generated_args(
    enabled: Vec<String>,
    own: Vec<IpNet>,
) -> impl Strategy<Value = Map<String, Value>> {
    // As in [`fixed_args`]: ipRanges only when the config names no ranges.
    let ranges = if own.is_empty() {
        runtime_subnets()
    } else {
        Vec::new()
    };
    let nets = if own.is_empty() { ranges.clone() } else { own };
    let mapping =
        (20000u16..30000, 1u16..=65535, prop::bool::ANY).prop_map(|(h, c, tcp)| PortMapping {
            host_port: h,
            container_port: c,
            protocol: if tcp { "tcp" } else { "udp" }.into(),
            host_ip: None,
        });
    let mappings = prop::collection::vec(mapping, 1..4).prop_map(|mut v| {
        // One host port per protocol carries one mapping.
        v.sort_by_key(|m| (m.host_port, m.protocol.clone()));
        v.dedup_by_key(|m| (m.host_port, m.protocol.clone()));
        v
    });
    let mac = any::<[u8; 5]>().prop_map(|b| {
        format!(
            "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4]
        )
    });
    let host = RANGE_FIRST..=RANGE_LAST;
    let rates = (1u64..1_000_000_000, 1u64..1_000_000_000);
    let names = prop::collection::vec("[a-z][a-z0-9-]{0,14}", 1..3);
    (mappings, mac, host, rates, names).prop_map(move |(mappings, mac, host, rates, names)| {
        let rc = RuntimeConfig {
            port_mappings: mappings,
            ip_ranges: ranges
                .iter()
                .map(|net| {
                    vec![IpRange {
                        subnet: *net,
                        range_start: Some(host_in(net, host.min(RANGE_LAST - 10))),
                        range_end: Some(host_in(net, RANGE_LAST)),
                        gateway: None,
                    }]
                })
                .collect(),
            bandwidth: Some(Bandwidth {
                ingress_rate: rates.0,
                ingress_burst: rates.1,
                egress_rate: rates.0,
                egress_burst: rates.1,
            }),
            dns: Some(DnsCapability {
                servers: nets.iter().map(|n| host_in(n, 53).to_string()).collect(),
                searches: names.clone(),
                options: vec![],
            }),
            ips: nets
                .iter()
                .map(|net| format!("{}/{}", host_in(net, host), net.prefix_len()))
                .collect(),
            mac: Some(mac.clone()),
            aliases: names.clone(),
            infiniband_guid: Some(format!("c2:00:00:00:{}", &mac[3..])),
            device_id: Some("0000:00:00.0".into()),
            cgroup_path: Some(format!("/kubepods/pod-{}", names[0])),
            extra: Map::new(),
        };
        let mut all = match serde_json::to_value(rc) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        all.insert(
            "io.kubernetes.cri.pod-annotations".into(),
            json!({ "cni.dev/conformance-name": names[0] }),
        );
        all.into_iter()
            .filter(|(k, _)| enabled.contains(k))
            .collect()
    })
}

impl Session<'_> {
    /// [`inject`] for a request of the plugin object `obj` on `attachment`, with the
    /// harness's fixed arguments for it.
    pub(crate) fn inject_capability_args(
        &self,
        request: &mut Value,
        obj: &Map<String, Value>,
        verb: &str,
        attachment: &str,
    ) {
        if enabled(obj).is_empty() {
            return;
        }
        inject(request, obj, verb, &fixed_args(self.target, attachment));
    }
}

/// The `runtimeConfig` a request carried, typed; `None` when it has none or it does not
/// parse.
fn sent_runtime_config(stdin: &[u8]) -> Option<RuntimeConfig> {
    let req: Value = serde_json::from_slice(stdin).ok()?;
    serde_json::from_value(req.get("runtimeConfig")?.clone()).ok()
}

/// The first IPv4 address of an ADD result with its gateway.
fn ipv4_with_gateway(stdout: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let result: Value = serde_json::from_slice(stdout).ok()?;
    result["ips"].as_array()?.iter().find_map(|ip| {
        let addr: IpNet = ip["address"].as_str()?.parse().ok()?;
        let gw: IpAddr = ip["gateway"].as_str()?.parse().ok()?;
        match (addr.addr(), gw) {
            (IpAddr::V4(a), IpAddr::V4(g)) => Some((a, g)),
            _ => None,
        }
    })
}

/// Check `port-mappings-forward`: after an ADD that carried `portMappings`, a TCP connection
/// from the node to the attachment's IPv4 gateway (an address of the node) at each TCP
/// `hostPort` reaches a listener on the container's address at `containerPort`. Not
/// applicable without TCP mappings, or without an IPv4 address with a gateway in the result.
pub(crate) fn port_mappings_forward(v: &StepView) -> Verdict {
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    let rc = sent_runtime_config(v.stdin)?;
    let tcp: Vec<&PortMapping> = rc
        .port_mappings
        .iter()
        .filter(|m| m.protocol.eq_ignore_ascii_case("tcp") && m.host_ip.is_none())
        .collect();
    if tcp.is_empty() {
        return None;
    }
    let (addr, gw) = ipv4_with_gateway(v.stdout)?;
    let world = v.world?;
    let container = world.container_ns(v.attachment)?;
    for m in tcp {
        let listen = SocketAddr::from((addr, m.container_port));
        let to = SocketAddr::from((gw, m.host_port));
        if let Err(e) = netns_sandbox::fixtures::tcp_forwarded(container, listen, &world.node, to) {
            return Some(Err(CheckFailure::of(
                "CAP-5",
                format!(
                    "runtimeConfig.portMappings {{hostPort {}, containerPort {}, tcp}}: a \
                     connection from the node to {to} did not reach {listen} in the container: {e}",
                    m.host_port, m.container_port
                ),
            )));
        }
    }
    Some(Ok(()))
}

/// The addresses of an ADD result (`ips[].address`), without prefix.
fn result_addresses(stdout: &[u8]) -> Vec<IpAddr> {
    let Ok(result) = serde_json::from_slice::<Value>(stdout) else {
        return Vec::new();
    };
    result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip["address"].as_str()?.parse::<IpNet>().ok())
        .map(|n| n.addr())
        .collect()
}

/// Check `capability-ips`: after an ADD that carried `ips`, each requested address is among
/// the result's addresses. Not applicable without `ips` in the request.
pub(crate) fn ips_assigned(v: &StepView) -> Verdict {
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    let rc = sent_runtime_config(v.stdin)?;
    if rc.ips.is_empty() {
        return None;
    }
    let got = result_addresses(v.stdout);
    for want in &rc.ips {
        let addr = want
            .parse::<IpNet>()
            .map(|n| n.addr())
            .or_else(|_| want.parse::<IpAddr>());
        if !addr.is_ok_and(|a| got.contains(&a)) {
            return Some(Err(CheckFailure::of(
                "CAP-9",
                format!("runtimeConfig.ips asked for {want}; the result has {got:?}"),
            )));
        }
    }
    Some(Ok(()))
}

/// Check `capability-ip-ranges`: after an ADD that carried `ipRanges`, each result address of
/// a family the ranges cover lies between the `rangeStart` and `rangeEnd` of one of them.
pub(crate) fn ip_ranges_used(v: &StepView) -> Verdict {
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    let rc = sent_runtime_config(v.stdin)?;
    let ranges: Vec<&IpRange> = rc.ip_ranges.iter().flatten().collect();
    if ranges.is_empty() {
        return None;
    }
    let inside = |a: &IpAddr, r: &IpRange| {
        r.subnet.contains(a)
            && r.range_start.is_none_or(|s| s <= *a)
            && r.range_end.is_none_or(|e| *a <= e)
    };
    for a in result_addresses(v.stdout) {
        let same_family = ranges
            .iter()
            .any(|r| r.subnet.addr().is_ipv4() == a.is_ipv4());
        if same_family && !ranges.iter().any(|r| inside(&a, r)) {
            return Some(Err(CheckFailure::of(
                "CAP-6",
                format!(
                    "{a} is outside every range runtimeConfig.ipRanges gave ({})",
                    ranges
                        .iter()
                        .map(|r| format!(
                            "{} {}-{}",
                            r.subnet,
                            r.range_start.map(|s| s.to_string()).unwrap_or_default(),
                            r.range_end.map(|e| e.to_string()).unwrap_or_default()
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )));
        }
    }
    Some(Ok(()))
}

/// Check `capability-mac`: after an ADD that carried `mac`, the attachment's interface in the
/// container has that MAC (read from the kernel).
pub(crate) fn mac_applied(v: &StepView) -> Verdict {
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    let want = sent_runtime_config(v.stdin)?.mac?;
    let out = v
        .world?
        .container_output(v.attachment, &["ip", "-j", "link", "show", "dev", v.ifname])?;
    let links: Value = serde_json::from_str(&out).ok()?;
    let have = links.get(0)?.get("address")?.as_str()?.to_string();
    if have.eq_ignore_ascii_case(&want) {
        Some(Ok(()))
    } else {
        Some(Err(CheckFailure::of(
            "CAP-10",
            format!(
                "runtimeConfig.mac asked for {want}; {} has {have}",
                v.ifname
            ),
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parallel_attachments_get_distinct_ordinals() {
        let ords: std::collections::BTreeSet<u8> =
            (0..32).map(|i| super::ordinal(&format!("p{i}"))).collect();
        assert_eq!(ords.len(), 32);
        assert!(ords
            .iter()
            .all(|&o| o >= 3 && super::IPS_FIRST + u32::from(o) <= 254));
    }

    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn target(conf: Value) -> Target {
        Target {
            plugin: PathBuf::from("/bin/true"),
            cni_path: vec![],
            network_name: "n".into(),
            config_version: None,
            prelude: vec![],
            postlude: vec![],
            plugin_conf: conf.as_object().unwrap().clone(),
            timeout: Duration::from_secs(1),
            attachment_patch: None,
            dhcp: None,
            recorder: None,
        }
    }

    #[test]
    fn only_enabled_capabilities_are_passed_and_only_on_add_check_del() {
        let t = target(json!({
            "type": "portmap",
            "capabilities": {"portMappings": true, "mac": false},
            "runtimeConfig": {"stale": 1}
        }));
        let args = fixed_args(&t, "a");
        for verb in ["ADD", "CHECK", "DEL"] {
            let mut req = json!({"type": "portmap", "runtimeConfig": {"stale": 1}});
            inject(&mut req, &t.plugin_conf, verb, &args);
            let rc = req["runtimeConfig"].as_object().unwrap();
            assert_eq!(rc.keys().collect::<Vec<_>>(), ["portMappings"], "{verb}");
            assert_eq!(rc["portMappings"][0]["hostPort"], 18080);
        }
        for verb in ["GC", "STATUS", "VERSION"] {
            let mut req = json!({"type": "portmap"});
            inject(&mut req, &t.plugin_conf, verb, &args);
            assert!(req.get("runtimeConfig").is_none(), "{verb}");
        }
    }

    #[test]
    fn no_capabilities_no_runtime_config() {
        let t = target(json!({"type": "bridge", "runtimeConfig": {"mac": "x"}}));
        let mut req = json!({"type": "bridge", "runtimeConfig": {"mac": "x"}});
        inject(&mut req, &t.plugin_conf, "ADD", &fixed_args(&t, "a"));
        assert_eq!(req["runtimeConfig"], json!({"mac": "x"}));
    }

    #[test]
    fn fixed_values_fit_the_config_and_differ_per_attachment() {
        let t = target(json!({
            "type": "bridge",
            "capabilities": {"ips": true, "ipRanges": true, "mac": true},
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}], [{"subnet": "fd99::/64"}]]}
        }));
        let a = fixed_args(&t, "a");
        let b = fixed_args(&t, "b");
        assert_eq!(a["ips"], json!(["10.99.0.220/24", "fd99::dc/64"]));
        assert_eq!(b["ips"], json!(["10.99.0.222/24", "fd99::de/64"]));
        assert_ne!(a["mac"], b["mac"]);
        // The config names ranges: no ipRanges of the runtime's.
        assert!(!a.contains_key("ipRanges"));
        // Without ranges in the config, ipRanges come from the harness's subnets and the ips
        // lie inside them; every known capability then has a value.
        let bare = target(json!({
            "type": "bridge",
            "capabilities": {"ips": true, "ipRanges": true},
            "ipam": {"type": "host-local"}
        }));
        let a = fixed_args(&bare, "a");
        assert_eq!(a["ipRanges"][0][0]["subnet"], "10.88.0.0/24");
        assert_eq!(a["ipRanges"][0][0]["rangeStart"], "10.88.0.100");
        assert_eq!(a["ips"][0], "10.88.0.220/24");
        for k in KNOWN {
            assert!(a.contains_key(*k), "{k}");
        }
        let rc: RuntimeConfig = serde_json::from_value(Value::Object(a)).unwrap();
        assert_eq!(rc.port_mappings.len(), 2);
    }

    #[test]
    fn generated_values_keep_the_shape() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let strategy = generated_args(KNOWN.iter().map(|s| s.to_string()).collect(), vec![]);
        let mut runner = TestRunner::deterministic();
        for _ in 0..50 {
            let args = strategy.new_tree(&mut runner).unwrap().current();
            let rc: RuntimeConfig = serde_json::from_value(Value::Object(args)).unwrap();
            assert!(!rc.port_mappings.is_empty());
            let ip: IpNet = rc.ips[0].parse().unwrap();
            let range = &rc.ip_ranges[0][0];
            assert!(range.subnet.contains(&ip.addr()));
            assert!(range.range_start.unwrap() <= ip.addr());
            assert!(ip.addr() <= range.range_end.unwrap());
        }
    }
}
