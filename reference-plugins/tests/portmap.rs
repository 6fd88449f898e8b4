//! The `portmap` binary end to end. Every plugin process runs inside a per-test node
//! namespace; containers are made by our bridge with our host-local, then portmap is
//! chained after it with bridge's result as `prevResult`, as a runtime runs a list. Traffic
//! comes from namespaces of the test's own: an "outside" client behind one uplink of the
//! node, a "far" host behind another, containers, the node itself.
//!
//! Addresses (all inside the test's namespaces): containers on 10.77.0.0/24 and
//! fd00:77::/64 (bridge `pm0`), the outside client 10.78.0.2 / fd00:78::2 behind the node's
//! 10.78.0.1 / fd00:78::1, the far host 10.79.0.2 / fd00:79::2 behind 10.79.0.1 / fd00:79::1.

mod support;
use support::{error_code, merged, run_plugin, spawn_plugin, text, Call};

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Output};
use std::time::Duration;

use netns_sandbox::fixtures::{tcp_forwarded, udp_forwarded};
use netns_sandbox::Netns;
use reference_plugins::plugins::portmap::nftables::Tag;
use serde_json::{json, Value};

const NET: &str = "pmnet";
const UDP_PATIENCE: Duration = Duration::from_secs(3);
/// How long a UDP probe that must not get through waits.
const UDP_SILENCE: Duration = Duration::from_millis(800);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip_of(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Runs `program args` inside `ns`; fails the test if it fails; returns stdout.
fn run_in(ns: &Netns, program: &str, args: &[&str]) -> String {
    let out = ns.command(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ruleset(ns: &Netns) -> String {
    run_in(ns, "nft", &["list", "ruleset"])
}

/// A portmap configuration of network `name` with `maps` as `runtimeConfig.portMappings`
/// and `extra` keys merged in (`null` removes a key).
fn portmap_conf(name: &str, maps: Value, extra: Value) -> Value {
    merged(
        json!({
            "cniVersion": "1.0.0", "name": name, "type": "portmap",
            "capabilities": {"portMappings": true},
            "runtimeConfig": {"portMappings": maps},
        }),
        extra,
    )
}

fn with_prev(conf: &Value, prev: &Value) -> Value {
    merged(conf.clone(), json!({ "prevResult": prev }))
}

fn ok(out: Output, what: &str) -> Output {
    assert!(out.status.success(), "{what}: {}", text(&out));
    out
}

/// A `prevResult` as bridge would give it: container `ifname` in a sandbox with `addrs`.
fn prev_result(ifname: &str, addrs: &[&str]) -> Value {
    let ips: Vec<Value> = addrs
        .iter()
        .map(|a| json!({"address": a, "interface": 1}))
        .collect();
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "pm0", "mac": "02:00:00:00:00:01"},
            {"name": ifname, "mac": "02:00:00:00:00:02", "sandbox": "/run/netns/x"},
        ],
        "ips": ips,
    })
}

/// The node, with two uplinks to namespaces of its own, and IPAM's data directory.
struct World {
    node: Netns,
    outside: Netns,
    far: Netns,
    /// `CNI_NETNS` of calls that need no container (portmap does not enter it).
    sandbox: Netns,
    data: tempfile::TempDir,
}

/// Connects `node` and `other` with a veth pair (`node_if` in the node, `other_if` in the
/// other namespace), addresses on both ends, and the node as the other's default gateway.
fn wire(node: &Netns, other: &Netns, node_if: &str, other_if: &str, v4: [&str; 2], v6: [&str; 2]) {
    run_in(
        node,
        "ip",
        &[
            "link", "add", node_if, "type", "veth", "peer", "name", other_if,
        ],
    );
    run_in(
        node,
        "ip",
        &["link", "set", other_if, "netns", other.name()],
    );
    run_in(node, "ip", &["addr", "add", v4[0], "dev", node_if]);
    run_in(node, "ip", &["addr", "add", v6[0], "dev", node_if, "nodad"]);
    run_in(node, "ip", &["link", "set", node_if, "up"]);
    run_in(other, "ip", &["link", "set", "lo", "up"]);
    run_in(other, "ip", &["addr", "add", v4[1], "dev", other_if]);
    run_in(
        other,
        "ip",
        &["addr", "add", v6[1], "dev", other_if, "nodad"],
    );
    run_in(other, "ip", &["link", "set", other_if, "up"]);
    let gw4 = v4[0].split('/').next().unwrap();
    let gw6 = v6[0].split('/').next().unwrap();
    run_in(other, "ip", &["route", "add", "default", "via", gw4]);
    run_in(other, "ip", &["-6", "route", "add", "default", "via", gw6]);
}

impl World {
    fn new(label: &str) -> World {
        let node = Netns::new(label).unwrap();
        run_in(&node, "ip", &["link", "set", "lo", "up"]);
        run_in(
            &node,
            "sysctl",
            &[
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ],
        );
        let outside = Netns::new(&format!("{label}-out")).unwrap();
        let far = Netns::new(&format!("{label}-far")).unwrap();
        wire(
            &node,
            &outside,
            "up0",
            "upc",
            ["10.78.0.1/24", "10.78.0.2/24"],
            ["fd00:78::1/64", "fd00:78::2/64"],
        );
        wire(
            &node,
            &far,
            "far0",
            "farc",
            ["10.79.0.1/24", "10.79.0.2/24"],
            ["fd00:79::1/64", "fd00:79::2/64"],
        );
        World {
            node,
            outside,
            far,
            sandbox: Netns::new(&format!("{label}-sbx")).unwrap(),
            data: tempfile::tempdir().unwrap(),
        }
    }

    /// Our bridge on `br` with host-local over `v4` (and `v6`), default routes via the
    /// bridge, for network `name`. Hairpin mode is on: with `br_netfilter` (loaded here), a
    /// hairpin connection DNATed back to its own container is bridged out of the port it
    /// came in on, which the bridge only allows with it (as upstream's README says).
    fn bridge_conf(&self, name: &str, br: &str, v4: &str, v6: Option<&str>) -> Value {
        let mut ranges = vec![json!([{ "subnet": v4 }])];
        let mut routes = vec![json!({"dst": "0.0.0.0/0"})];
        if let Some(v6) = v6 {
            ranges.push(json!([{ "subnet": v6 }]));
            routes.push(json!({"dst": "::/0"}));
        }
        json!({
            "cniVersion": "1.0.0", "name": name, "type": "bridge", "bridge": br,
            "isGateway": true, "hairpinMode": true,
            "ipam": {"type": "host-local", "dataDir": self.data.path(),
                     "ranges": ranges, "routes": routes},
        })
    }

    fn container(&self, label: &str) -> Netns {
        let c = Netns::new(label).unwrap();
        run_in(&c, "ip", &["link", "set", "lo", "up"]);
        c
    }

    fn call(
        &self,
        plugin: &str,
        verb: &str,
        id: &str,
        ifname: &str,
        netns: Option<&Path>,
        conf: &Value,
    ) -> Output {
        let call = Call {
            verb,
            id,
            ifname,
            netns,
            cni_args: None,
        };
        run_plugin(&self.node, plugin, &call, conf)
    }

    /// bridge ADD, then portmap ADD with bridge's result as `prevResult`, which portmap
    /// must pass through unchanged. Returns the result.
    fn attach(&self, bridge: &Value, pm: &Value, id: &str, ifname: &str, c: &Netns) -> Value {
        let out = ok(
            self.call("bridge", "ADD", id, ifname, Some(c.path()), bridge),
            "bridge ADD",
        );
        let prev: Value = serde_json::from_slice(&out.stdout).unwrap();
        let out = ok(
            self.call(
                "portmap",
                "ADD",
                id,
                ifname,
                Some(c.path()),
                &with_prev(pm, &prev),
            ),
            "portmap ADD",
        );
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(result, prev, "portmap passes prevResult through");
        result
    }

    /// portmap DEL (with `pm` as given: it may lack the mappings), then bridge DEL.
    fn detach(&self, bridge: &Value, pm: &Value, id: &str, ifname: &str, c: &Netns) {
        ok(
            self.call("portmap", "DEL", id, ifname, Some(c.path()), pm),
            "portmap DEL",
        );
        ok(
            self.call("bridge", "DEL", id, ifname, Some(c.path()), bridge),
            "bridge DEL",
        );
    }

    fn portmap(&self, verb: &str, id: &str, ifname: &str, conf: &Value) -> Output {
        self.call("portmap", verb, id, ifname, Some(self.sandbox.path()), conf)
    }
}

/// The container's address of each family on `ifname`, from a result.
fn addresses(result: &Value, ifname: &str) -> (IpAddr, Option<IpAddr>) {
    let index = result["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .position(|i| i["name"] == ifname && i.get("sandbox").is_some())
        .unwrap();
    let mut v4 = None;
    let mut v6 = None;
    for ip in result["ips"].as_array().unwrap() {
        if ip["interface"] != index {
            continue;
        }
        let a: IpAddr = ip["address"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        match a {
            IpAddr::V4(_) => v4 = v4.or(Some(a)),
            IpAddr::V6(_) => v6 = v6.or(Some(a)),
        }
    }
    (v4.unwrap(), v6)
}

fn at(addr: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(addr, port)
}

fn tcp(server: &Netns, listen: SocketAddr, client: &Netns, to: &str) -> IpAddr {
    tcp_forwarded(server, listen, client, sa(to))
        .unwrap_or_else(|e| panic!("tcp {to} -> {listen}: {e}"))
        .ip()
}

fn udp(server: &Netns, listen: SocketAddr, client: &Netns, to: &str) -> IpAddr {
    udp_forwarded(server, listen, client, sa(to), UDP_PATIENCE)
        .unwrap_or_else(|e| panic!("udp {to} -> {listen}: {e}"))
        .ip()
}

fn tcp_fails(server: &Netns, listen: SocketAddr, client: &Netns, to: &str) {
    assert!(
        tcp_forwarded(server, listen, client, sa(to)).is_err(),
        "tcp {to} reached {listen}"
    );
}

fn udp_fails(server: &Netns, listen: SocketAddr, client: &Netns, to: &str) {
    assert!(
        udp_forwarded(server, listen, client, sa(to), UDP_SILENCE).is_err(),
        "udp {to} reached {listen}"
    );
}

// ----- traffic ------------------------------------------------------------------------------

/// TCP and UDP through every mapping, IPv4 and IPv6: from outside the node, from the node to
/// its own address, to 127.0.0.1, from a container on another network, hairpin; mappings of
/// one host address only answer on that address.
#[test]
fn traffic_through_every_mapping() {
    let w = World::new("pm-traffic");
    let bridge = w.bridge_conf(NET, "pm0", "10.77.0.0/24", Some("fd00:77::/64"));
    let pm = portmap_conf(
        NET,
        json!([
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
            {"hostPort": 8053, "containerPort": 53, "protocol": "udp"},
            {"hostPort": 9090, "containerPort": 90, "hostIP": "10.78.0.1"},
            {"hostPort": 9091, "containerPort": 91, "hostIP": "fd00:78::1"},
            {"hostPort": 9092, "containerPort": 92, "hostIP": "0.0.0.0"},
        ]),
        json!({}),
    );
    let c1 = w.container("pm-traffic-c1");
    let result = w.attach(&bridge, &pm, "ctr-1", "eth0", &c1);
    let (c4, c6) = addresses(&result, "eth0");
    let c6 = c6.unwrap();
    assert_eq!(
        run_in(
            &w.node,
            "sysctl",
            &["-n", "net.ipv4.conf.pm0.route_localnet"]
        )
        .trim(),
        "1"
    );

    // From outside: no source translation.
    let out = &w.outside;
    assert_eq!(
        tcp(&c1, at(c4, 80), out, "10.78.0.1:8080"),
        ip_of("10.78.0.2")
    );
    assert_eq!(
        tcp(&c1, at(c6, 80), out, "[fd00:78::1]:8080"),
        ip_of("fd00:78::2")
    );
    assert_eq!(
        udp(&c1, at(c4, 53), out, "10.78.0.1:8053"),
        ip_of("10.78.0.2")
    );
    assert_eq!(
        udp(&c1, at(c6, 53), out, "[fd00:78::1]:8053"),
        ip_of("fd00:78::2")
    );
    // Any address of the node, not only the uplink's.
    assert_eq!(
        tcp(&c1, at(c4, 80), out, "10.79.0.1:8080"),
        ip_of("10.78.0.2")
    );
    assert_eq!(
        tcp(&c1, at(c6, 80), out, "[fd00:79::1]:8080"),
        ip_of("fd00:78::2")
    );

    // One host address: that one only, in its family only.
    tcp(&c1, at(c4, 90), out, "10.78.0.1:9090");
    tcp_fails(&c1, at(c4, 90), out, "10.79.0.1:9090");
    tcp(&c1, at(c6, 91), out, "[fd00:78::1]:9091");
    tcp_fails(&c1, at(c6, 91), out, "[fd00:79::1]:9091");
    tcp(&c1, at(c4, 92), out, "10.79.0.1:9092");
    tcp_fails(&c1, at(c6, 92), out, "[fd00:78::1]:9092");

    // The node to its own addresses (output hook).
    assert_eq!(
        tcp(&c1, at(c4, 80), &w.node, "10.78.0.1:8080"),
        ip_of("10.78.0.1")
    );
    assert_eq!(
        tcp(&c1, at(c6, 80), &w.node, "[fd00:78::1]:8080"),
        ip_of("fd00:78::1")
    );
    assert_eq!(
        udp(&c1, at(c4, 53), &w.node, "10.78.0.1:8053"),
        ip_of("10.78.0.1")
    );
    assert_eq!(
        udp(&c1, at(c6, 53), &w.node, "[fd00:78::1]:8053"),
        ip_of("fd00:78::1")
    );
    // To 127.0.0.1 (snat): masqueraded to the node's address on the bridge.
    assert_eq!(
        tcp(&c1, at(c4, 80), &w.node, "127.0.0.1:8080"),
        ip_of("10.77.0.1")
    );
    assert_eq!(
        udp(&c1, at(c4, 53), &w.node, "127.0.0.1:8053"),
        ip_of("10.77.0.1")
    );

    // Hairpin: the container to itself through the node, masqueraded.
    assert_eq!(
        tcp(&c1, at(c4, 80), &c1, "10.78.0.1:8080"),
        ip_of("10.77.0.1")
    );
    assert_eq!(
        tcp(&c1, at(c6, 80), &c1, "[fd00:78::1]:8080"),
        ip_of("fd00:77::1")
    );
    assert_eq!(
        udp(&c1, at(c4, 53), &c1, "10.78.0.1:8053"),
        ip_of("10.77.0.1")
    );
    assert_eq!(
        udp(&c1, at(c6, 53), &c1, "[fd00:78::1]:8053"),
        ip_of("fd00:77::1")
    );

    // From a container of another network (another bridge), routed through the node.
    let other_bridge = w.bridge_conf("pmother", "pm1", "10.76.0.0/24", Some("fd00:76::/64"));
    let c2 = w.container("pm-traffic-c2");
    let r2 = ok(
        w.call(
            "bridge",
            "ADD",
            "ctr-2",
            "eth0",
            Some(c2.path()),
            &other_bridge,
        ),
        "bridge ADD",
    );
    let r2: Value = serde_json::from_slice(&r2.stdout).unwrap();
    let (o4, o6) = addresses(&r2, "eth0");
    assert_eq!(tcp(&c1, at(c4, 80), &c2, "10.78.0.1:8080"), o4);
    assert_eq!(tcp(&c1, at(c6, 80), &c2, "[fd00:78::1]:8080"), o6.unwrap());
    assert_eq!(udp(&c1, at(c4, 53), &c2, "10.78.0.1:8053"), o4);
    assert_eq!(udp(&c1, at(c6, 53), &c2, "[fd00:78::1]:8053"), o6.unwrap());

    let check = w.call(
        "portmap",
        "CHECK",
        "ctr-1",
        "eth0",
        Some(c1.path()),
        &with_prev(&pm, &result),
    );
    ok(check, "CHECK");

    // After DEL the ports are the node's again.
    w.detach(&bridge, &pm, "ctr-1", "eth0", &c1);
    let c1b = w.container("pm-traffic-c1b");
    let again = w.attach(
        &bridge,
        &portmap_conf(NET, json!([]), json!({})),
        "ctr-3",
        "eth0",
        &c1b,
    );
    let (n4, _) = addresses(&again, "eth0");
    tcp_fails(&c1b, at(n4, 80), out, "10.78.0.1:8080");
    udp_fails(&c1b, at(n4, 53), out, "10.78.0.1:8053");
}

/// A container on the same bridge reaching another through the node, with `masqAll`: the
/// connection arrives from the node's bridge address.
#[test]
fn masq_all_masquerades_forwarded_connections() {
    let w = World::new("pm-masqall");
    let bridge = w.bridge_conf(NET, "pm0", "10.77.0.0/24", Some("fd00:77::/64"));
    let pm = portmap_conf(
        NET,
        json!([{"hostPort": 8080, "containerPort": 80}]),
        json!({"masqAll": true}),
    );
    let c1 = w.container("pm-masqall-c1");
    let c2 = w.container("pm-masqall-c2");
    let r1 = w.attach(&bridge, &pm, "ctr-1", "eth0", &c1);
    w.attach(
        &bridge,
        &portmap_conf(NET, json!([]), json!({})),
        "ctr-2",
        "eth0",
        &c2,
    );
    let (c4, c6) = addresses(&r1, "eth0");
    assert_eq!(
        tcp(&c1, at(c4, 80), &c2, "10.78.0.1:8080"),
        ip_of("10.77.0.1")
    );
    assert_eq!(
        tcp(&c1, at(c6.unwrap(), 80), &c2, "[fd00:78::1]:8080"),
        ip_of("fd00:77::1")
    );
    assert_eq!(
        tcp(&c1, at(c4, 80), &w.outside, "10.78.0.1:8080"),
        ip_of("10.77.0.1")
    );
    ok(
        w.call(
            "portmap",
            "CHECK",
            "ctr-1",
            "eth0",
            Some(c1.path()),
            &with_prev(&pm, &r1),
        ),
        "CHECK",
    );
}

/// CVE-2025-67499: traffic routed through the node to another host on a mapped port is left
/// alone; traffic to the node's own address on that port goes to the container.
#[test]
fn transit_traffic_is_not_rewritten() {
    let w = World::new("pm-transit");
    let bridge = w.bridge_conf(NET, "pm0", "10.77.0.0/24", Some("fd00:77::/64"));
    let pm = portmap_conf(
        NET,
        json!([
            {"hostPort": 53, "containerPort": 5353, "protocol": "udp"},
            {"hostPort": 53, "containerPort": 5353, "protocol": "tcp"},
        ]),
        json!({}),
    );
    let c1 = w.container("pm-transit-c1");
    let r = w.attach(&bridge, &pm, "ctr-1", "eth0", &c1);
    let (c4, c6) = addresses(&r, "eth0");
    let c6 = c6.unwrap();
    let (out, far) = (&w.outside, &w.far);

    // Through the node to the far host: the far host answers, seeing the client.
    assert_eq!(
        tcp(far, sa("10.79.0.2:53"), out, "10.79.0.2:53"),
        ip_of("10.78.0.2")
    );
    assert_eq!(
        udp(far, sa("10.79.0.2:53"), out, "10.79.0.2:53"),
        ip_of("10.78.0.2")
    );
    assert_eq!(
        tcp(far, sa("[fd00:79::2]:53"), out, "[fd00:79::2]:53"),
        ip_of("fd00:78::2")
    );
    assert_eq!(
        udp(far, sa("[fd00:79::2]:53"), out, "[fd00:79::2]:53"),
        ip_of("fd00:78::2")
    );
    // And the container never sees it.
    udp_fails(&c1, at(c4, 5353), out, "10.79.0.2:53");
    udp_fails(&c1, at(c6, 5353), out, "[fd00:79::2]:53");
    // To the node itself: forwarded.
    assert_eq!(
        udp(&c1, at(c4, 5353), out, "10.78.0.1:53"),
        ip_of("10.78.0.2")
    );
    assert_eq!(
        tcp(&c1, at(c6, 5353), out, "[fd00:78::1]:53"),
        ip_of("fd00:78::2")
    );
    // From a container through the node to the far host: not rewritten either.
    assert_eq!(tcp(far, sa("10.79.0.2:53"), &c1, "10.79.0.2:53"), c4);
}

/// Two interfaces of one container on one network keep separate mappings: DEL of one leaves
/// the other working and checkable.
#[test]
fn two_ifnames_of_one_container() {
    let w = World::new("pm-ifnames");
    let bridge = w.bridge_conf(NET, "pm0", "10.77.0.0/24", Some("fd00:77::/64"));
    let pm0 = portmap_conf(
        NET,
        json!([{"hostPort": 8080, "containerPort": 80}]),
        json!({}),
    );
    let pm1 = portmap_conf(
        NET,
        json!([{"hostPort": 8081, "containerPort": 81}]),
        json!({}),
    );
    let c = w.container("pm-ifnames-c");
    let r0 = w.attach(&bridge, &pm0, "ctr-1", "eth0", &c);
    let r1 = w.attach(&bridge, &pm1, "ctr-1", "eth1", &c);
    let (a0, _) = addresses(&r0, "eth0");
    let (a1, b1) = addresses(&r1, "eth1");
    let out = &w.outside;
    tcp(&c, at(a0, 80), out, "10.78.0.1:8080");
    tcp(&c, at(a1, 81), out, "10.78.0.1:8081");
    tcp(&c, at(b1.unwrap(), 81), out, "[fd00:78::1]:8081");

    w.detach(&bridge, &pm0, "ctr-1", "eth0", &c);
    tcp_fails(&c, at(a1, 80), out, "10.78.0.1:8080");
    tcp(&c, at(a1, 81), out, "10.78.0.1:8081");
    tcp(&c, at(b1.unwrap(), 81), out, "[fd00:78::1]:8081");
    ok(
        w.call(
            "portmap",
            "CHECK",
            "ctr-1",
            "eth1",
            Some(c.path()),
            &with_prev(&pm1, &r1),
        ),
        "CHECK eth1",
    );
    w.detach(&bridge, &pm1, "ctr-1", "eth1", &c);
    tcp_fails(&c, at(a1, 81), out, "10.78.0.1:8081");
}

// ----- DEL, CHECK, GC, STATUS without traffic ------------------------------------------

/// The attachment's rules as `nft -j` lists them (comment starting with its tag hashes).
fn tagged_rules(ns: &Netns, tag: &Tag) -> usize {
    let comment = tag.comment();
    let hashes = &comment[..comment.find(" net:").unwrap()];
    ruleset(ns).matches(hashes).count()
}

#[test]
fn del_without_mappings_and_after_a_rename() {
    let w = World::new("pm-del");
    let maps = json!([
        {"hostPort": 8080, "containerPort": 80},
        {"hostPort": 8053, "containerPort": 53, "protocol": "udp"},
    ]);
    let pm = portmap_conf(NET, maps.clone(), json!({}));
    let prev = prev_result("eth0", &["10.77.0.5/24", "fd00:77::5/64"]);
    let tag = Tag::new(NET, "ctr-del", "eth0");
    ok(
        w.portmap("ADD", "ctr-del", "eth0", &with_prev(&pm, &prev)),
        "ADD",
    );
    // 2 DNAT rules and 2 masquerade rules for IPv4, 2 and 1 for IPv6.
    assert_eq!(tagged_rules(&w.node, &tag), 7);

    // DEL without runtimeConfig (or with an empty list), and without prevResult.
    let bare = portmap_conf(NET, json!([]), json!({"runtimeConfig": null}));
    ok(w.portmap("DEL", "ctr-del", "eth0", &bare), "DEL");
    assert_eq!(tagged_rules(&w.node, &tag), 0, "{}", ruleset(&w.node));
    ok(w.portmap("DEL", "ctr-del", "eth0", &bare), "DEL again");

    // ADD under one name, DEL under another: found by container and interface.
    ok(
        w.portmap("ADD", "ctr-del", "eth0", &with_prev(&pm, &prev)),
        "ADD",
    );
    let renamed = portmap_conf("renamed", maps.clone(), json!({}));
    ok(w.portmap("DEL", "ctr-del", "eth0", &renamed), "DEL renamed");
    assert_eq!(tagged_rules(&w.node, &tag), 0, "{}", ruleset(&w.node));

    // A DEL of another interface or container leaves the rules.
    ok(
        w.portmap("ADD", "ctr-del", "eth0", &with_prev(&pm, &prev)),
        "ADD",
    );
    ok(w.portmap("DEL", "ctr-del", "eth1", &bare), "DEL eth1");
    ok(w.portmap("DEL", "ctr-other", "eth0", &bare), "DEL other");
    assert_eq!(tagged_rules(&w.node, &tag), 7);
    // An invalid configuration does not keep DEL from cleaning up.
    let broken = portmap_conf(NET, json!([{"hostPort": 0}]), json!({"markMasqBit": 99}));
    ok(w.portmap("DEL", "ctr-del", "eth0", &broken), "DEL broken");
    assert_eq!(tagged_rules(&w.node, &tag), 0);

    // Upstream v1.9's rules of the container (comment = container ID) go too.
    run_in(
        &w.node,
        "nft",
        &["add rule ip cni_hostport hostports tcp dport 7 dnat to 10.77.0.5:7 comment \"ctr-up\""],
    );
    ok(w.portmap("DEL", "ctr-up", "eth0", &bare), "DEL upstream's");
    assert!(!ruleset(&w.node).contains("ctr-up"));
}

/// CHECK right after ADD, IPv4 only (upstream 1.1.1 fails this, plugins#819); CHECK finds a
/// missing or changed rule, a flushed entry chain, and wants `prevResult`.
#[test]
fn check_after_add_and_after_tampering() {
    let w = World::new("pm-check");
    let pm = portmap_conf(
        NET,
        json!([
            {"hostPort": 8080, "containerPort": 80},
            {"hostPort": 8443, "containerPort": 443, "hostIP": "10.78.0.1"},
        ]),
        json!({}),
    );
    let prev = prev_result("eth0", &["10.77.0.5/24"]);
    let conf = with_prev(&pm, &prev);
    ok(w.portmap("ADD", "ctr-c", "eth0", &conf), "ADD");
    ok(w.portmap("CHECK", "ctr-c", "eth0", &conf), "CHECK v4 only");
    let dual = with_prev(
        &pm,
        &prev_result("eth0", &["10.77.0.6/24", "fd00:77::6/64"]),
    );
    ok(w.portmap("ADD", "ctr-d", "eth0", &dual), "ADD dual");
    ok(w.portmap("CHECK", "ctr-d", "eth0", &dual), "CHECK dual");

    // CHECK with other mappings than ADD's fails.
    let other = with_prev(
        &portmap_conf(
            NET,
            json!([{"hostPort": 8080, "containerPort": 81}]),
            json!({}),
        ),
        &prev,
    );
    assert_eq!(
        error_code(&w.portmap("CHECK", "ctr-c", "eth0", &other)),
        999
    );
    // Without prevResult: code 7.
    assert_eq!(error_code(&w.portmap("CHECK", "ctr-c", "eth0", &pm)), 7);

    // A rule of the attachment deleted by hand.
    let listing = run_in(
        &w.node,
        "nft",
        &[
            "-a",
            "list",
            "chain",
            "ip",
            "cni_hostport",
            "hostip_hostports",
        ],
    );
    let handle = listing
        .lines()
        .find(|l| l.contains("ctr-c"))
        .and_then(|l| l.rsplit("handle ").next())
        .unwrap()
        .trim()
        .to_string();
    run_in(
        &w.node,
        "nft",
        &[
            "delete",
            "rule",
            "ip",
            "cni_hostport",
            "hostip_hostports",
            "handle",
            &handle,
        ],
    );
    let out = w.portmap("CHECK", "ctr-c", "eth0", &conf);
    assert_eq!(error_code(&out), 999);
    assert!(text(&out).contains("hostip_hostports"), "{}", text(&out));
    ok(
        w.portmap("CHECK", "ctr-d", "eth0", &dual),
        "the other attachment",
    );
    // ADD again repairs it.
    ok(w.portmap("ADD", "ctr-c", "eth0", &conf), "ADD again");
    ok(w.portmap("CHECK", "ctr-c", "eth0", &conf), "CHECK repaired");

    // The entry chain flushed: every attachment's CHECK fails; the next ADD rewrites it.
    run_in(
        &w.node,
        "nft",
        &["flush", "chain", "ip", "cni_hostport", "prerouting"],
    );
    assert_eq!(error_code(&w.portmap("CHECK", "ctr-d", "eth0", &dual)), 999);
    ok(
        w.portmap("ADD", "ctr-c", "eth0", &conf),
        "ADD rewrites the skeleton",
    );
    ok(
        w.portmap("CHECK", "ctr-d", "eth0", &dual),
        "CHECK after the rewrite",
    );
}

#[test]
fn gc_removes_invalid_attachments_of_its_network_only() {
    let w = World::new("pm-gc");
    let pm = portmap_conf(
        NET,
        json!([{"hostPort": 8080, "containerPort": 80}]),
        json!({}),
    );
    let other_net = portmap_conf(
        "othernet",
        json!([{"hostPort": 8081, "containerPort": 80}]),
        json!({}),
    );
    let add = |id: &str, ifname: &str, conf: &Value, addr: &str| {
        let c = with_prev(conf, &prev_result(ifname, &[addr]));
        ok(w.portmap("ADD", id, ifname, &c), "ADD");
    };
    add("a", "eth0", &pm, "10.77.0.2/24");
    add("b", "eth0", &pm, "10.77.0.3/24");
    add("b", "eth1", &pm, "10.77.0.4/24");
    add("z", "eth0", &other_net, "10.77.0.9/24");
    let gc = json!({
        "cniVersion": "1.1.0", "name": NET, "type": "portmap",
        "cni.dev/valid-attachments": [{"containerID": "b", "ifname": "eth0"}],
    });
    let out = run_plugin(&w.node, "portmap", &Call::new("GC", "", None), &gc);
    ok(out, "GC");
    let count =
        |id: &str, ifname: &str, net: &str| tagged_rules(&w.node, &Tag::new(net, id, ifname));
    assert_eq!(count("a", "eth0", NET), 0);
    assert_eq!(count("b", "eth1", NET), 0);
    assert_eq!(count("b", "eth0", NET), 3);
    assert_eq!(count("z", "eth0", "othernet"), 3, "another network's");

    let status = json!({"cniVersion": "1.1.0", "name": NET, "type": "portmap"});
    ok(
        run_plugin(&w.node, "portmap", &Call::new("STATUS", "", None), &status),
        "STATUS",
    );
}

/// Everything is checked before the kernel is touched: a bad mapping or configuration
/// leaves the ruleset as it was.
#[test]
fn refusals_leave_nothing() {
    let w = World::new("pm-refuse");
    let prev = prev_result("eth0", &["10.77.0.5/24"]);
    let before = ruleset(&w.node);
    let cases: &[(Value, Value, u64)] = &[
        (
            json!([{"hostPort": 70000, "containerPort": 80}]),
            json!({}),
            7,
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}]),
            json!({}),
            7,
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80, "hostIP": "nope"}]),
            json!({}),
            7,
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80}, {"hostPort": 80, "containerPort": 81}]),
            json!({}),
            7,
        ),
        // A host address of a family the container has no address of.
        (
            json!([{"hostPort": 80, "containerPort": 80, "hostIP": "fd00::1"}]),
            json!({}),
            7,
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80}]),
            json!({"backend": "pf"}),
            2,
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80}]),
            json!({"conditionsV4": ["tcp sport 1"]}),
            2,
        ),
    ];
    for (maps, extra, code) in cases {
        let conf = with_prev(&portmap_conf(NET, maps.clone(), extra.clone()), &prev);
        let out = w.portmap("ADD", "ctr-r", "eth0", &conf);
        assert_eq!(error_code(&out), *code, "{maps} {extra}: {}", text(&out));
    }
    // Without prevResult: code 7.
    let conf = portmap_conf(
        NET,
        json!([{"hostPort": 80, "containerPort": 80}]),
        json!({}),
    );
    assert_eq!(error_code(&w.portmap("ADD", "ctr-r", "eth0", &conf)), 7);
    assert_eq!(ruleset(&w.node), before);
    // No mappings: prevResult passes through and nothing is written.
    let none = with_prev(&portmap_conf(NET, json!([]), json!({})), &prev);
    let out = ok(
        w.portmap("ADD", "ctr-r", "eth0", &none),
        "ADD without mappings",
    );
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), prev);
    assert_eq!(ruleset(&w.node), before);
}

/// 100 ADDs of different containers at once on a node with no table yet, then 100 DELs at
/// once; a second round on the now-existing table leaves the ruleset exactly as before.
#[test]
fn hundred_parallel_adds_then_dels() {
    const N: usize = 100;
    let w = World::new("pm-par");
    let conf = |i: usize| {
        let prev = prev_result(
            "eth0",
            &[
                &format!("10.80.{}.{}/16", i / 200, i % 200 + 2),
                &format!("fd00:80::{:x}/64", i + 2),
            ],
        );
        // Each container maps its own host ports.
        let maps = json!([
            {"hostPort": 10000 + i, "containerPort": 80},
            {"hostPort": 20000 + i, "containerPort": 53, "protocol": "udp"},
        ]);
        with_prev(&portmap_conf(NET, maps, json!({})), &prev)
    };
    let spawn = |verb: &str, i: usize| -> Child {
        let id = format!("par-{i}");
        let call = Call {
            verb,
            id: &id,
            ifname: "eth0",
            netns: Some(w.sandbox.path()),
            cni_args: None,
        };
        spawn_plugin(&w.node, "portmap", &call, &conf(i))
    };
    let round = |what: &str| {
        let adds: Vec<Child> = (0..N).map(|i| spawn("ADD", i)).collect();
        for ch in adds {
            ok(ch.wait_with_output().unwrap(), what);
        }
        let rs = ruleset(&w.node);
        // Per attachment: 2 DNAT and 2 masquerade rules (IPv4), 2 and 1 (IPv6).
        assert_eq!(rs.matches("cnirs-portmap ").count(), 7 * N, "{what}");
        // The shared chains once each, however many ADDs wrote them.
        assert_eq!(
            rs.matches("fib daddr type local jump hostports_all")
                .count(),
            4,
            "{rs}"
        );
        assert_eq!(rs.matches("jump hostip_hostports").count(), 2, "{rs}");
        for i in (0..N).step_by(17) {
            let c = conf(i);
            ok(w.portmap("CHECK", &format!("par-{i}"), "eth0", &c), "CHECK");
        }
        let dels: Vec<Child> = (0..N).map(|i| spawn("DEL", i)).collect();
        for ch in dels {
            ok(ch.wait_with_output().unwrap(), "DEL");
        }
        ruleset(&w.node)
    };
    let first = round("ADD on a fresh node");
    assert!(!first.contains("cnirs-portmap "), "{first}");
    assert!(first.contains("table ip cni_hostport") && first.contains("table ip6 cni_hostport"));
    let second = round("ADD on the existing table");
    assert_eq!(second, first, "the ruleset is as before");
}

/// UDP conntrack entries of a newly mapped host port are deleted by ADD, so a flow that hit
/// the node's port before goes to the container afterwards.
#[test]
fn add_flushes_udp_conntrack_of_its_host_ports() {
    use reference_plugins::netlink::nfnetlink::conntrack;
    let w = World::new("pm-ct");
    let bridge = w.bridge_conf(NET, "pm0", "10.77.0.0/24", None);
    // A first attachment makes the node track connections (its NAT rules need it).
    let c0 = w.container("pm-ct-c0");
    w.attach(
        &bridge,
        &portmap_conf(
            NET,
            json!([{"hostPort": 7000, "containerPort": 7000}]),
            json!({}),
        ),
        "ctr-0",
        "eth0",
        &c0,
    );
    // A flow from outside to the node's port 8053, before any mapping: nothing answers,
    // but the node tracks it (from a fixed source port, as a resolver would retry).
    let send = || {
        w.outside
            .run(|| {
                let s = std::net::UdpSocket::bind("10.78.0.2:40053").unwrap();
                s.send_to(b"x", "10.78.0.1:8053").unwrap();
            })
            .unwrap()
    };
    send();
    let tracked = || {
        w.node
            .run(|| conntrack::entries(conntrack::FAMILY_IPV4).unwrap())
            .unwrap()
            .into_iter()
            .filter(|e| e.proto == conntrack::PROTO_UDP && e.dport() == Some(8053))
            .count()
    };
    assert_eq!(tracked(), 1);

    let c1 = w.container("pm-ct-c1");
    let pm = portmap_conf(
        NET,
        json!([{"hostPort": 8053, "containerPort": 53, "protocol": "udp"}]),
        json!({}),
    );
    let r = w.attach(&bridge, &pm, "ctr-1", "eth0", &c1);
    assert_eq!(tracked(), 0, "ADD deleted the stale entry");
    let (c4, _) = addresses(&r, "eth0");
    // The same flow (same source port) now reaches the container.
    let server = c1
        .run(move || {
            let s = std::net::UdpSocket::bind(at(c4, 53)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s
        })
        .unwrap();
    let mut got = false;
    for _ in 0..10 {
        send();
        let mut b = [0u8; 4];
        if let Ok((_, peer)) = server.recv_from(&mut b) {
            assert_eq!(peer, sa("10.78.0.2:40053"));
            got = true;
            break;
        }
    }
    assert!(got, "the flow did not reach the container");
}

/// ADD, CHECK, DEL and GC start no process: traced with strace, the only program executed
/// is the plugin itself, on a node with no table yet (the first ADD writes it).
#[test]
fn no_process_is_started() {
    if support_strace().is_none() {
        eprintln!("strace is not installed: skipped");
        return;
    }
    let w = World::new("pm-exec");
    let prev = prev_result("eth0", &["10.77.0.5/24", "fd00:77::5/64"]);
    let pm = portmap_conf(
        NET,
        json!([{"hostPort": 8080, "containerPort": 80}, {"hostPort": 53, "containerPort": 53, "protocol": "udp"}]),
        json!({}),
    );
    let conf = with_prev(&pm, &prev);
    let gc = json!({"cniVersion": "1.1.0", "name": NET, "type": "portmap",
                    "cni.dev/valid-attachments": []});
    assert!(!ruleset(&w.node).contains("cni_hostport"));
    for (verb, conf) in [
        ("ADD", &conf),
        ("CHECK", &conf),
        ("DEL", &conf),
        ("ADD", &conf),
        ("GC", &gc),
        ("STATUS", &gc),
    ] {
        let trace = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = w.node.command("strace");
        cmd.args(["-f", "-qq", "-e", "trace=execve", "-o"])
            .arg(trace.path())
            .arg(support::plugin_bin("portmap"))
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", verb)
            .env("CNI_PATH", support::plugin_dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if verb != "GC" && verb != "STATUS" {
            cmd.env("CNI_CONTAINERID", "ctr-x")
                .env("CNI_IFNAME", "eth0")
                .env("CNI_NETNS", w.sandbox.path());
        }
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{verb}: {}", text(&out));
        let log = std::fs::read_to_string(trace.path()).unwrap();
        let execs: Vec<&str> = log.lines().filter(|l| l.contains("execve(")).collect();
        assert_eq!(
            execs.len(),
            1,
            "{verb} executed more than itself: {execs:#?}"
        );
        assert!(execs[0].contains("portmap"), "{execs:?}");
    }
    assert!(ruleset(&w.node).contains("table ip6 cni_hostport"));
}

fn support_strace() -> Option<std::path::PathBuf> {
    ["/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

// ----- the encoding -------------------------------------------------------------------------

/// Every rule of `family table`, grouped by chain, as `nft --debug=netlink` prints its
/// expressions and user data (one string per rule, in order).
fn bytecode(ns: &Netns, family: &str, table: &str) -> BTreeMap<String, Vec<String>> {
    let text = run_in(
        ns,
        "nft",
        &["--debug=netlink", "list", "table", family, table],
    );
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let flush = |out: &mut BTreeMap<String, Vec<String>>, cur: Option<(String, String)>| {
        if let Some((chain, rule)) = cur {
            out.entry(chain).or_default().push(rule);
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(&format!("{family} {table} ")) {
            flush(&mut out, current.take());
            let chain = rest.split_whitespace().next().unwrap().to_string();
            current = Some((chain, String::new()));
        } else if line.starts_with("  ") {
            if let Some((_, rule)) = current.as_mut() {
                rule.push_str(line.trim());
                rule.push('\n');
            }
        } else if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('\t') {
            // The ruleset listing after the bytecode.
            flush(&mut out, current.take());
        }
    }
    flush(&mut out, current);
    out
}

/// The rules the plugin writes are the bytes nft writes for the same rules given as text:
/// every encoding branch (any address, one address of each family, `0.0.0.0` and `::`,
/// tcp, udp and sctp, conditions with whole, byte-aligned and other prefixes, interface
/// names and marks, hairpin, localhost and `masqAll` masquerade), and the shared chains.
#[test]
fn rules_are_the_bytes_nft_writes() {
    let w = World::new("pm-bytes");
    let cond4 = json!([
        "ip saddr 10.0.0.0/12 iifname \"up0\"",
        "meta mark != 0x10",
        "ip daddr != 192.168.0.0/16 ip saddr != 10.1.2.3"
    ]);
    let cond6 = json!(["ip6 saddr fd00::/52", "oifname lo ip6 daddr fd00:1::/64"]);
    let pm = portmap_conf(
        NET,
        json!([
            {"hostPort": 8080, "containerPort": 80},
            {"hostPort": 53, "containerPort": 5353, "protocol": "udp", "hostIP": "192.0.2.1"},
            {"hostPort": 53, "containerPort": 5353, "protocol": "udp", "hostIP": "2001:db8::1"},
            {"hostPort": 9, "containerPort": 9, "protocol": "sctp", "hostIP": "0.0.0.0"},
            {"hostPort": 10, "containerPort": 10, "hostIP": "::"},
        ]),
        json!({"conditionsV4": cond4, "conditionsV6": cond6}),
    );
    let prev = prev_result("eth0", &["10.90.0.5/24", "fd00:90::5/64"]);
    ok(
        w.portmap("ADD", "ctr-bytes", "eth0", &with_prev(&pm, &prev)),
        "ADD",
    );
    let all = portmap_conf(
        NET,
        json!([{"hostPort": 7000, "containerPort": 7001}]),
        json!({"masqAll": true}),
    );
    let prev_all = prev_result("eth0", &["10.90.0.6/24", "fd00:90::6/64"]);
    ok(
        w.portmap("ADD", "ctr-all", "eth0", &with_prev(&all, &prev_all)),
        "ADD masqAll",
    );

    let c = Tag::new(NET, "ctr-bytes", "eth0").comment();
    let a = Tag::new(NET, "ctr-all", "eth0").comment();
    let c4 = "ip saddr 10.0.0.0/12 iifname \"up0\" meta mark != 0x10 ip daddr != 192.168.0.0/16 ip saddr != 10.1.2.3";
    let c6 = "ip6 saddr fd00::/52 oifname lo ip6 daddr fd00:1::/64";
    let mut text = String::new();
    for family in ["ip", "ip6"] {
        text.push_str(&format!(
            "add table {family} theirs {{ comment \"CNI portmap plugin\" ; }}
             add chain {family} theirs hostports
             add chain {family} theirs hostip_hostports
             add chain {family} theirs hostports_all
             add chain {family} theirs prerouting {{ type nat hook prerouting priority -100 ; }}
             add chain {family} theirs output {{ type nat hook output priority -100 ; }}
             add chain {family} theirs masquerading {{ type nat hook postrouting priority 100 ; }}
             add rule {family} theirs hostports_all jump hostip_hostports
             add rule {family} theirs hostports_all jump hostports
             add rule {family} theirs prerouting fib daddr type local jump hostports_all
             add rule {family} theirs output fib daddr type local jump hostports_all
             "
        ));
    }
    text.push_str(&format!(
        "add rule ip theirs hostports {c4} tcp dport 8080 dnat to 10.90.0.5:80 comment \"{c}\"
         add rule ip theirs hostip_hostports {c4} ip daddr 192.0.2.1 udp dport 53 dnat to 10.90.0.5:5353 comment \"{c}\"
         add rule ip theirs hostports {c4} sctp dport 9 dnat to 10.90.0.5:9 comment \"{c}\"
         add rule ip theirs masquerading ip saddr 10.90.0.0/24 ip daddr 10.90.0.5 masquerade comment \"{c}\"
         add rule ip theirs masquerading ip saddr 127.0.0.1 ip daddr 10.90.0.5 masquerade comment \"{c}\"
         add rule ip6 theirs hostports {c6} tcp dport 8080 dnat to [fd00:90::5]:80 comment \"{c}\"
         add rule ip6 theirs hostip_hostports {c6} ip6 daddr 2001:db8::1 udp dport 53 dnat to [fd00:90::5]:5353 comment \"{c}\"
         add rule ip6 theirs hostports {c6} tcp dport 10 dnat to [fd00:90::5]:10 comment \"{c}\"
         add rule ip6 theirs masquerading ip6 saddr fd00:90::/64 ip6 daddr fd00:90::5 masquerade comment \"{c}\"
         add rule ip theirs hostports tcp dport 7000 dnat to 10.90.0.6:7001 comment \"{a}\"
         add rule ip theirs masquerading ip daddr 10.90.0.6 ct status dnat masquerade comment \"{a}\"
         add rule ip6 theirs hostports tcp dport 7000 dnat to [fd00:90::6]:7001 comment \"{a}\"
         add rule ip6 theirs masquerading ip6 daddr fd00:90::6 ct status dnat masquerade comment \"{a}\"
         "
    ));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    run_in(&w.node, "nft", &["-f", file.path().to_str().unwrap()]);

    for family in ["ip", "ip6"] {
        let ours = bytecode(&w.node, family, "cni_hostport");
        let theirs = bytecode(&w.node, family, "theirs");
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            [
                "hostip_hostports",
                "hostports",
                "hostports_all",
                "masquerading",
                "output",
                "prerouting"
            ]
        );
        assert_eq!(ours, theirs, "{family}");
        // Same chains, hooks and priorities.
        let listing = |t: &str| {
            run_in(&w.node, "nft", &["list", "table", family, t])
                .replace(&format!("table {family} {t} "), "table ")
        };
        assert_eq!(listing("cni_hostport"), listing("theirs"));
    }
}

// ----- the iptables backend -------------------------------------------------------------------

fn iptables_save(ns: &Netns, v6: bool) -> String {
    run_in(
        ns,
        if v6 {
            "ip6tables-save"
        } else {
            "iptables-save"
        },
        &["-t", "nat"],
    )
}

/// The `CNI-DN-` chains and the rules that mention them, in both families.
fn dn_lines(ns: &Netns) -> Vec<String> {
    [false, true]
        .iter()
        .flat_map(|&v6| {
            iptables_save(ns, v6)
                .lines()
                .filter(|l| l.contains("CNI-DN-"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs a plugin binary given by path inside the node, as a runtime would.
fn run_binary(
    node: &Netns,
    bin: &Path,
    verb: &str,
    id: &str,
    ifname: &str,
    netns: &Path,
    conf: &Value,
) -> Output {
    use std::io::Write;
    let mut child = node
        .command(bin)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("CNI_COMMAND", verb)
        .env("CNI_CONTAINERID", id)
        .env("CNI_IFNAME", ifname)
        .env("CNI_NETNS", netns)
        .env("CNI_PATH", support::plugin_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The iptables backend forwards the same traffic, one restore per family per call, and its
/// DEL leaves the shared chains only.
#[test]
fn iptables_backend_traffic_and_teardown() {
    let w = World::new("pm-ipt");
    let bridge = w.bridge_conf(NET, "pm0", "10.77.0.0/24", Some("fd00:77::/64"));
    let pm = portmap_conf(
        NET,
        json!([
            {"hostPort": 8080, "containerPort": 80},
            {"hostPort": 8053, "containerPort": 53, "protocol": "udp"},
            {"hostPort": 9090, "containerPort": 90, "hostIP": "10.78.0.1"},
        ]),
        json!({"backend": "iptables"}),
    );
    let c1 = w.container("pm-ipt-c1");
    let r = w.attach(&bridge, &pm, "ctr-1", "eth0", &c1);
    let (c4, c6) = addresses(&r, "eth0");
    let c6 = c6.unwrap();
    let out = &w.outside;
    assert_eq!(
        tcp(&c1, at(c4, 80), out, "10.78.0.1:8080"),
        ip_of("10.78.0.2")
    );
    assert_eq!(
        tcp(&c1, at(c6, 80), out, "[fd00:78::1]:8080"),
        ip_of("fd00:78::2")
    );
    assert_eq!(
        udp(&c1, at(c4, 53), out, "10.78.0.1:8053"),
        ip_of("10.78.0.2")
    );
    assert_eq!(
        udp(&c1, at(c6, 53), out, "[fd00:78::1]:8053"),
        ip_of("fd00:78::2")
    );
    tcp(&c1, at(c4, 90), out, "10.78.0.1:9090");
    tcp_fails(&c1, at(c4, 90), out, "10.79.0.1:9090");
    assert_eq!(
        tcp(&c1, at(c4, 80), &w.node, "10.78.0.1:8080"),
        ip_of("10.78.0.1")
    );
    assert_eq!(
        tcp(&c1, at(c4, 80), &w.node, "127.0.0.1:8080"),
        ip_of("10.77.0.1")
    );
    assert_eq!(
        tcp(&c1, at(c4, 80), &c1, "10.78.0.1:8080"),
        ip_of("10.77.0.1")
    );
    assert_eq!(
        tcp(&c1, at(c6, 80), &c1, "[fd00:78::1]:8080"),
        ip_of("fd00:77::1")
    );
    // Transit is not rewritten (addrtype LOCAL).
    assert_eq!(
        tcp(&w.far, sa("10.79.0.2:8080"), out, "10.79.0.2:8080"),
        ip_of("10.78.0.2")
    );
    assert!(
        !ruleset(&w.node).contains("cni_hostport"),
        "no nftables layout"
    );

    let conf = with_prev(&pm, &r);
    ok(
        w.call("portmap", "CHECK", "ctr-1", "eth0", Some(c1.path()), &conf),
        "CHECK",
    );
    // CHECK finds a DNAT rule deleted by hand.
    let saved = iptables_save(&w.node, false);
    let dnat = saved
        .lines()
        .find(|l| l.contains("--dport 8080") && l.contains("-j DNAT"))
        .unwrap();
    let args = split_rule(&dnat.replacen("-A ", "-D ", 1));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_in(&w.node, "iptables", &args);
    let bad = w.call("portmap", "CHECK", "ctr-1", "eth0", Some(c1.path()), &conf);
    assert_eq!(error_code(&bad), 999, "{}", text(&bad));
    // ADD again repairs it; DEL without the mappings removes everything of the attachment.
    ok(
        w.call("portmap", "ADD", "ctr-1", "eth0", Some(c1.path()), &conf),
        "ADD again",
    );
    ok(
        w.call("portmap", "CHECK", "ctr-1", "eth0", Some(c1.path()), &conf),
        "CHECK",
    );
    assert_eq!(
        iptables_save(&w.node, false).matches("-j DNAT").count(),
        3,
        "replaced, not added twice"
    );
    let bare = portmap_conf(NET, json!([]), json!({"runtimeConfig": null}));
    ok(
        w.call("portmap", "DEL", "ctr-1", "eth0", Some(c1.path()), &bare),
        "DEL",
    );
    assert!(dn_lines(&w.node).is_empty(), "{:#?}", dn_lines(&w.node));
    let v4 = iptables_save(&w.node, false);
    assert!(
        v4.contains(":CNI-HOSTPORT-DNAT") && v4.contains("-j CNI-HOSTPORT-MASQ"),
        "{v4}"
    );
    tcp_fails(&c1, at(c4, 80), out, "10.78.0.1:8080");
}

/// Splits a saved rule into arguments (its comment quoted as one).
fn split_rule(line: &str) -> Vec<String> {
    let mut out = vec!["-t".to_string(), "nat".to_string()];
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => word.extend(chars.next()),
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn iptables_two_ifnames_and_rename() {
    let w = World::new("pm-ipt2");
    let pm0 = portmap_conf(
        NET,
        json!([{"hostPort": 8080, "containerPort": 80}]),
        json!({"backend": "iptables"}),
    );
    let pm1 = portmap_conf(
        NET,
        json!([{"hostPort": 8081, "containerPort": 81}]),
        json!({"backend": "iptables"}),
    );
    let p0 = with_prev(&pm0, &prev_result("eth0", &["10.77.0.2/24"]));
    let p1 = with_prev(&pm1, &prev_result("eth1", &["10.77.0.3/24"]));
    ok(w.portmap("ADD", "ctr-1", "eth0", &p0), "ADD eth0");
    ok(w.portmap("ADD", "ctr-1", "eth1", &p1), "ADD eth1");
    ok(w.portmap("CHECK", "ctr-1", "eth0", &p0), "CHECK eth0");
    ok(w.portmap("CHECK", "ctr-1", "eth1", &p1), "CHECK eth1");
    ok(w.portmap("DEL", "ctr-1", "eth0", &pm0), "DEL eth0");
    ok(
        w.portmap("CHECK", "ctr-1", "eth1", &p1),
        "CHECK eth1 after DEL eth0",
    );
    assert!(!dn_lines(&w.node).iter().any(|l| l.contains("10.77.0.2")));
    // DEL under another network name still finds eth1's chain through its jump.
    let renamed = portmap_conf("renamed", json!([]), json!({}));
    ok(w.portmap("DEL", "ctr-1", "eth1", &renamed), "DEL renamed");
    assert!(dn_lines(&w.node).is_empty(), "{:#?}", dn_lines(&w.node));
}

/// Counts the programs a plugin run executes (besides itself), with strace.
fn execs(w: &World, verb: &str, id: &str, ifname: &str, conf: &Value) -> Vec<String> {
    let trace = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = w.node.command("strace");
    cmd.args(["-f", "-qq", "-e", "trace=execve", "-o"])
        .arg(trace.path())
        .arg(support::plugin_bin("portmap"))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", verb)
        .env("CNI_CONTAINERID", id)
        .env("CNI_IFNAME", ifname)
        .env("CNI_NETNS", w.sandbox.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{verb}: {}", text(&out));
    let log = std::fs::read_to_string(trace.path()).unwrap();
    log.lines()
        .filter(|l| l.contains("execve(") && !l.contains("= -1"))
        .filter_map(|l| l.split('"').nth(1))
        .map(|p| p.rsplit('/').next().unwrap().to_string())
        .filter(|p| p != "portmap")
        .collect()
}

#[test]
fn iptables_one_restore_per_family() {
    if support_strace().is_none() {
        eprintln!("strace is not installed: skipped");
        return;
    }
    let w = World::new("pm-ipt3");
    let pm = portmap_conf(
        NET,
        json!([{"hostPort": 8080, "containerPort": 80}]),
        json!({"backend": "iptables"}),
    );
    let conf = with_prev(
        &pm,
        &prev_result("eth0", &["10.77.0.2/24", "fd00:77::2/64"]),
    );
    let mut add = execs(&w, "ADD", "ctr-1", "eth0", &conf);
    add.sort();
    assert_eq!(
        add,
        [
            "ip6tables-restore",
            "ip6tables-save",
            "iptables-restore",
            "iptables-save"
        ]
    );
    let mut del = execs(&w, "DEL", "ctr-1", "eth0", &conf);
    del.sort();
    assert_eq!(
        del,
        [
            "ip6tables-restore",
            "ip6tables-save",
            "iptables-restore",
            "iptables-save"
        ]
    );
    // Once nothing of the attachment is left, DEL still saves (the shared chains are
    // there) but restores nothing.
    let mut again = execs(&w, "DEL", "ctr-1", "eth0", &conf);
    again.sort();
    assert_eq!(again, ["ip6tables-save", "iptables-save"]);
}

/// The plugin Debian ships (upstream 1.1.1, iptables), when installed.
fn upstream_portmap() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from("/usr/lib/cni/portmap");
    p.exists().then_some(p)
}

/// A node moving from upstream's plugin to ours: our DEL (without mappings, whatever the
/// backend) removes what upstream's ADD wrote; and back: upstream's DEL removes what our
/// ADD wrote with the iptables backend.
#[test]
fn upstream_and_ours_clean_up_after_each_other() {
    // Upstream 1.1.1 needs the protocol spelt out.
    let Some(upstream) = upstream_portmap() else {
        eprintln!("/usr/lib/cni/portmap is not installed: skipped");
        return;
    };
    let w = World::new("pm-mig");
    let bridge = w.bridge_conf(NET, "pm0", "10.77.0.0/24", Some("fd00:77::/64"));
    let maps = json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8053, "containerPort": 53, "protocol": "udp"},
    ]);
    let c1 = w.container("pm-mig-c1");
    let out = ok(
        w.call("bridge", "ADD", "ctr-1", "eth0", Some(c1.path()), &bridge),
        "bridge ADD",
    );
    let prev: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (c4, _) = addresses(&prev, "eth0");

    // Upstream's ADD, then ours DEL.
    let upstream_conf = with_prev(&portmap_conf(NET, maps.clone(), json!({})), &prev);
    ok(
        run_binary(
            &w.node,
            &upstream,
            "ADD",
            "ctr-1",
            "eth0",
            c1.path(),
            &upstream_conf,
        ),
        "upstream ADD",
    );
    assert!(!dn_lines(&w.node).is_empty());
    tcp(&c1, at(c4, 80), &w.outside, "10.78.0.1:8080");
    let bare = portmap_conf(NET, json!([]), json!({"runtimeConfig": null}));
    ok(
        w.call("portmap", "DEL", "ctr-1", "eth0", Some(c1.path()), &bare),
        "our DEL",
    );
    assert!(dn_lines(&w.node).is_empty(), "{:#?}", dn_lines(&w.node));
    tcp_fails(&c1, at(c4, 80), &w.outside, "10.78.0.1:8080");

    // Ours (iptables) ADD, then upstream's DEL (which needs the mappings).
    let ours = with_prev(
        &portmap_conf(NET, maps.clone(), json!({"backend": "iptables"})),
        &prev,
    );
    ok(
        w.call("portmap", "ADD", "ctr-1", "eth0", Some(c1.path()), &ours),
        "our ADD",
    );
    tcp(&c1, at(c4, 80), &w.outside, "10.78.0.1:8080");
    ok(
        run_binary(&w.node, &upstream, "DEL", "ctr-1", "eth0", c1.path(), &ours),
        "upstream DEL",
    );
    assert!(dn_lines(&w.node).is_empty(), "{:#?}", dn_lines(&w.node));
    tcp_fails(&c1, at(c4, 80), &w.outside, "10.78.0.1:8080");

    // And ours again after upstream's shared chains: ADD, CHECK, DEL.
    ok(
        w.call("portmap", "ADD", "ctr-1", "eth0", Some(c1.path()), &ours),
        "our ADD again",
    );
    ok(
        w.call("portmap", "CHECK", "ctr-1", "eth0", Some(c1.path()), &ours),
        "our CHECK",
    );
    ok(
        w.call("portmap", "DEL", "ctr-1", "eth0", Some(c1.path()), &ours),
        "our DEL",
    );
    assert!(dn_lines(&w.node).is_empty());
}

/// An ADD that fails after it set `route_localnet` (here: the node's `prerouting` chain of
/// the table was made by someone else at another priority, which the kernel will not change)
/// gives the sysctl its old value back and writes no rule.
#[test]
fn failed_add_leaves_nothing_behind() {
    let w = World::new("pm-rollback");
    run_in(
        &w.node,
        "nft",
        &["add table ip cni_hostport; add chain ip cni_hostport prerouting { type nat hook prerouting priority 0 ; }"],
    );
    let key = "net.ipv4.conf.up0.route_localnet";
    assert_eq!(run_in(&w.node, "sysctl", &["-n", key]).trim(), "0");
    let before = ruleset(&w.node);
    // The container address is behind up0 as far as the node's routes go.
    let pm = portmap_conf(
        NET,
        json!([{"hostPort": 8080, "containerPort": 80}]),
        json!({}),
    );
    let conf = with_prev(&pm, &prev_result("eth0", &["10.78.0.50/24"]));
    let out = w.portmap("ADD", "ctr-rb", "eth0", &conf);
    assert_eq!(error_code(&out), 999, "{}", text(&out));
    assert!(text(&out).contains("nftables"), "{}", text(&out));
    assert_eq!(
        run_in(&w.node, "sysctl", &["-n", key]).trim(),
        "0",
        "restored"
    );
    assert_eq!(ruleset(&w.node), before);
    // Without the obstacle the same ADD works and sets it.
    run_in(&w.node, "nft", &["delete table ip cni_hostport"]);
    ok(w.portmap("ADD", "ctr-rb", "eth0", &conf), "ADD");
    assert_eq!(run_in(&w.node, "sysctl", &["-n", key]).trim(), "1");
}

// ----- differential: upstream's portmap and ours in twin worlds ------------------------------

/// The mappings both twin worlds get: one TCP and one UDP port for every node address of
/// both families, and one TCP port per family for one node address only.
fn differential_mappings() -> Value {
    json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8053, "containerPort": 53, "protocol": "udp"},
        {"hostPort": 9090, "containerPort": 90, "protocol": "tcp", "hostIP": "10.78.0.1"},
        {"hostPort": 9091, "containerPort": 91, "protocol": "tcp", "hostIP": "fd00:78::1"},
    ])
}

/// A world of [`World`] with a container `c1` whose ports are mapped (by upstream's portmap
/// or ours, after our bridge), a container `c2` on another network (another bridge, routed
/// through the node) and a container `c3` beside `c1` on the same bridge.
struct Twin {
    w: World,
    c1: Netns,
    c2: Netns,
    c3: Netns,
    /// `c1`'s addresses.
    c4: IpAddr,
    c6: IpAddr,
}

impl Twin {
    fn new(label: &str, upstream: Option<&Path>) -> Twin {
        let w = World::new(label);
        let bridge = w.bridge_conf(NET, "pm0", "10.77.0.0/24", Some("fd00:77::/64"));
        let c1 = w.container(&format!("{label}-c1"));
        let out = ok(
            w.call("bridge", "ADD", "ctr-1", "eth0", Some(c1.path()), &bridge),
            "bridge ADD",
        );
        let prev: Value = serde_json::from_slice(&out.stdout).unwrap();
        let conf = with_prev(
            &portmap_conf(NET, differential_mappings(), json!({})),
            &prev,
        );
        let out = match upstream {
            Some(bin) => run_binary(&w.node, bin, "ADD", "ctr-1", "eth0", c1.path(), &conf),
            None => w.call("portmap", "ADD", "ctr-1", "eth0", Some(c1.path()), &conf),
        };
        ok(out, "portmap ADD");
        let (c4, c6) = addresses(&prev, "eth0");
        let c3 = w.container(&format!("{label}-c3"));
        ok(
            w.call("bridge", "ADD", "ctr-3", "eth0", Some(c3.path()), &bridge),
            "bridge ADD c3",
        );
        let other = w.bridge_conf("pmother", "pm1", "10.76.0.0/24", Some("fd00:76::/64"));
        let c2 = w.container(&format!("{label}-c2"));
        ok(
            w.call("bridge", "ADD", "ctr-2", "eth0", Some(c2.path()), &other),
            "bridge ADD c2",
        );
        Twin {
            w,
            c1,
            c2,
            c3,
            c4,
            c6: c6.unwrap(),
        }
    }

    /// The reachability matrix: for every mapping, client and destination, the address the
    /// server saw the client come from, or `None` when nothing arrived. Clients: the outside
    /// client, the node itself, `c2` (another network), `c3` (the same bridge) and `c1`
    /// itself (hairpin), each to every node address of the mapping's family; the node to
    /// its loopback address; and transit: the outside client to the far host's address on
    /// the host port, once with the far host listening there, once with the container
    /// listening on the container port (only a rewrite could bring it there).
    fn matrix(&self) -> BTreeMap<String, Option<IpAddr>> {
        let w = &self.w;
        let clients = [
            ("outside", &w.outside),
            ("node", &w.node),
            ("c2", &self.c2),
            ("c3", &self.c3),
            ("c1-hairpin", &self.c1),
        ];
        let mut cells = BTreeMap::new();
        for (proto, host_port, port) in [
            ("tcp", 8080, 80),
            ("udp", 8053, 53),
            ("tcp", 9090, 90),
            ("tcp", 9091, 91),
        ] {
            for v6 in [false, true] {
                let (node_addrs, lo, far, c) = if v6 {
                    (
                        ["fd00:78::1", "fd00:79::1", "fd00:77::1"],
                        "::1",
                        "fd00:79::2",
                        self.c6,
                    )
                } else {
                    (
                        ["10.78.0.1", "10.79.0.1", "10.77.0.1"],
                        "127.0.0.1",
                        "10.79.0.2",
                        self.c4,
                    )
                };
                let listen = at(c, port);
                let probe = |server: &Netns, listen: SocketAddr, client: &Netns, to: IpAddr| {
                    let to = at(to, host_port);
                    let seen = if proto == "tcp" {
                        tcp_forwarded(server, listen, client, to)
                    } else {
                        udp_forwarded(server, listen, client, to, DIFFERENTIAL_UDP_PATIENCE)
                    };
                    seen.ok().map(|a| a.ip())
                };
                let mut cell = |what: String, seen: Option<IpAddr>| {
                    cells.insert(format!("{proto} {host_port} {what}"), seen);
                };
                for (name, client) in clients {
                    for to in node_addrs {
                        cell(
                            format!("{name} -> {to}"),
                            probe(&self.c1, listen, client, ip_of(to)),
                        );
                    }
                }
                cell(
                    format!("node -> {lo}"),
                    probe(&self.c1, listen, &w.node, ip_of(lo)),
                );
                let far_ip = ip_of(far);
                cell(
                    format!("transit outside -> {far} (far host listening)"),
                    probe(&w.far, at(far_ip, host_port), &w.outside, far_ip),
                );
                cell(
                    format!("transit outside -> {far} (container listening)"),
                    probe(&self.c1, listen, &w.outside, far_ip),
                );
            }
        }
        cells
    }
}

/// How long a UDP probe of the reachability matrix waits for an answer.
const DIFFERENTIAL_UDP_PATIENCE: Duration = Duration::from_millis(1500);

/// Upstream's portmap (Debian 1.1.1, iptables) and ours (nftables) in twin worlds, chained
/// after our bridge with the same mappings: the same reachability matrix (TCP and UDP, IPv4
/// and IPv6; from outside, from the node to each of its addresses and to loopback, from
/// another network, from the same bridge, hairpin, transit), cell by cell, including the
/// address each server saw; every cell is equal (a neighbour on the same bridge is
/// masqueraded by both, UPSTREAM-29).
///
/// Transit traffic is compared like the rest: upstream 1.1.1's iptables layout only DNATs
/// packets to local addresses (`-m addrtype --dst-type LOCAL`), as ours does; the rewrite of
/// transit traffic (CVE-2025-67499) was in upstream's later nftables backend, which this
/// upstream does not have.
#[test]
fn reachability_matches_upstream() {
    let Some(upstream) = upstream_portmap() else {
        eprintln!("/usr/lib/cni/portmap is not installed: skipped");
        return;
    };
    let theirs = Twin::new("pmd-up", Some(&upstream));
    let ours = Twin::new("pmd-ours", None);
    assert_eq!((theirs.c4, theirs.c6), (ours.c4, ours.c6), "twin addresses");
    let (mut m_up, mut m_ours) = (theirs.matrix(), ours.matrix());
    // The cells no bridge netfilter carries: a neighbour on the same bridge when bridged
    // packets do not pass the node's netfilter hooks (per namespace: the two sysctls).
    for (t, m) in [(&theirs, &mut m_up), (&ours, &mut m_ours)] {
        for v6 in [false, true] {
            let (to, c) = if v6 {
                ("fd00:78::1", t.c6)
            } else {
                ("10.78.0.1", t.c4)
            };
            run_in(
                &t.w.node,
                "sysctl",
                &[
                    "-qw",
                    "net.bridge.bridge-nf-call-iptables=0",
                    "net.bridge.bridge-nf-call-ip6tables=0",
                ],
            );
            let seen = tcp_forwarded(&t.c1, at(c, 80), &t.c3, at(ip_of(to), 8080)).ok();
            run_in(
                &t.w.node,
                "sysctl",
                &[
                    "-qw",
                    "net.bridge.bridge-nf-call-iptables=1",
                    "net.bridge.bridge-nf-call-ip6tables=1",
                ],
            );
            m.insert(
                format!("tcp 8080 c3 -> {to} (no bridge netfilter)"),
                seen.map(|a| a.ip()),
            );
        }
    }
    // The neighbour on the same bridge (c3) is masqueraded in both worlds (UPSTREAM-29): it
    // arrives from the node's bridge address, with and without bridge netfilter.
    let neighbour = |k: &str| k.contains(" c3 -> ");
    let masqueraded = m_up
        .iter()
        .filter(|(k, v)| neighbour(k) && v.is_some())
        .count();
    assert!(masqueraded > 0, "no neighbour cell got through upstream");
    for (k, v) in m_up.iter().filter(|(k, v)| neighbour(k) && v.is_some()) {
        let gateway = if k.contains(':') && !k.contains(" 10.") {
            ip_of("fd00:77::1")
        } else {
            ip_of("10.77.0.1")
        };
        assert_eq!(*v, Some(gateway), "{k}: upstream");
    }
    let differing: Vec<String> = m_up
        .iter()
        .filter(|(k, v)| m_ours.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: upstream {v:?}, ours {:?}", m_ours[k]))
        .collect();
    let report: Vec<String> = m_ours.iter().map(|(k, v)| format!("{k}: {v:?}")).collect();
    assert!(
        differing.is_empty(),
        "cells differ:\n{}\nours:\n{}",
        differing.join("\n"),
        report.join("\n")
    );
    // The matrix is not trivially equal: the mapped ports work, transit is not rewritten.
    let c = |k: &str| m_ours[k];
    assert_eq!(c("tcp 8080 outside -> 10.78.0.1"), Some(ip_of("10.78.0.2")));
    assert_eq!(
        c("udp 8053 outside -> fd00:79::1"),
        Some(ip_of("fd00:78::2"))
    );
    assert_eq!(c("tcp 9090 outside -> 10.79.0.1"), None);
    assert_eq!(
        c("udp 8053 transit outside -> 10.79.0.2 (far host listening)"),
        Some(ip_of("10.78.0.2"))
    );
    assert_eq!(
        c("udp 8053 transit outside -> 10.79.0.2 (container listening)"),
        None
    );
    eprintln!("{}", report.join("\n"));
}
