//! The `bridge` binary end to end: every plugin process runs inside a per-test node
//! namespace (the "host"), containers are namespaces of their own, and IPAM is our
//! host-local (next to the bridge binary) with a temporary data directory. Kernel state is
//! read back over netlink and with `nft`.

mod support;
use support::{merged, Node};

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::{Child, Output};
use std::time::Duration;

use netns_sandbox::fixtures::tcp_round_trip;
use netns_sandbox::snapshot::{Snapshot, Watch};
use netns_sandbox::Netns;
use reference_plugins::netlink::{Family, Link, Netlink};
use serde_json::{json, Value};

const NET: &str = "brtest";

/// What bridge's tests ask of a node beyond `support::Node`.
trait BridgeNode {
    /// A configuration on bridge `br` with `extra` keys merged in; `ipam: null` in `extra`
    /// drops IPAM (L2 only).
    fn conf(&self, br: &str, subnet: &str, extra: Value) -> Value;
    /// The global addresses of the node's link `name`.
    fn addrs(&self, name: &str) -> Vec<String>;
    /// `nft list ruleset` in the node.
    fn ruleset(&self) -> String;
    /// Reservation files of the network's host-local store.
    fn reservations(&self) -> BTreeSet<String>;
}

impl BridgeNode for Node {
    fn conf(&self, br: &str, subnet: &str, extra: Value) -> Value {
        let c = self.net_conf(
            "1.0.0",
            json!({"bridge": br, "ipam": self.host_local(subnet)}),
        );
        merged(c, extra)
    }

    fn addrs(&self, name: &str) -> Vec<String> {
        let mut nl = self.nl();
        let l = nl.link(name).unwrap();
        global_addrs(&mut nl, l.index)
    }

    fn ruleset(&self) -> String {
        let out = self
            .ns
            .command("nft")
            .args(["list", "ruleset"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn reservations(&self) -> BTreeSet<String> {
        self.reserved().into_iter().collect()
    }
}

fn ok(out: Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn global_addrs(nl: &mut Netlink, index: u32) -> Vec<String> {
    nl.addresses(index, None)
        .unwrap()
        .into_iter()
        .filter(|a| !(a.family() == Family::V6 && a.scope == 253))
        .map(|a| a.net().to_string())
        .collect()
}

fn container_link(ns: &Netns, name: &str) -> Option<Link> {
    Netlink::open_in(ns.path()).unwrap().link(name).ok()
}

fn container_addrs(ns: &Netns) -> Vec<String> {
    let mut nl = Netlink::open_in(ns.path()).unwrap();
    let l = nl.link("eth0").unwrap();
    global_addrs(&mut nl, l.index)
}

fn default_route(ns: &Netns, family: Family) -> Option<IpAddr> {
    Netlink::open_in(ns.path())
        .unwrap()
        .routes(Some(family))
        .unwrap()
        .into_iter()
        .find(|r| r.is_default() && r.table == Some(254))
        .and_then(|r| r.gateway)
}

fn mac_bytes(s: &str) -> Vec<u8> {
    s.split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

#[test]
fn add_check_del_with_gateway_and_masquerade() {
    let node = Node::new("br-node", "bridge", NET);
    // Forwarding off to begin with, whatever the host's (see support::set_sysctl).
    node.set_sysctl("net/ipv4/ip_forward", "0");
    let c1 = Netns::new("br-c1").unwrap();
    let c2 = Netns::new("br-c2").unwrap();
    let conf = node.conf(
        "cni-t0",
        "10.71.0.0/24",
        json!({"isGateway": true, "ipMasq": true}),
    );
    let r = node.add("ctr-1", &c1, &conf);

    // The result: bridge, host veth, container veth; every address on interface 2.
    let ifs = r["interfaces"].as_array().unwrap();
    assert_eq!(ifs.len(), 3, "{r}");
    assert_eq!(ifs[0]["name"], "cni-t0");
    assert!(ifs[0].get("sandbox").is_none());
    let host_veth = ifs[1]["name"].as_str().unwrap().to_string();
    assert!(host_veth.starts_with("veth") && host_veth.len() == 12);
    assert_eq!(ifs[2]["name"], "eth0");
    assert_eq!(ifs[2]["sandbox"], c1.path().to_str().unwrap());
    assert_eq!(r["ips"][0]["interface"], 2);
    assert_eq!(r["ips"][0]["address"], "10.71.0.2/24");
    assert_eq!(r["ips"][0]["gateway"], "10.71.0.1");

    // The kernel matches it.
    let br = node.link("cni-t0").expect("bridge");
    assert!(br.is_kind("bridge") && br.is_up());
    assert_eq!(br.mac_string().as_deref(), ifs[0]["mac"].as_str());
    assert_eq!(node.addrs("cni-t0"), vec!["10.71.0.1/24"]);
    let hv = node.link(&host_veth).expect("host veth");
    assert_eq!(hv.master, Some(br.index));
    assert!(hv.is_oper_up());
    assert_eq!(hv.mac_string().as_deref(), ifs[1]["mac"].as_str());
    let cv = container_link(&c1, "eth0").expect("container veth");
    assert!(cv.is_up());
    assert_eq!(cv.veth_peer_index(), Some(hv.index));
    assert_eq!(cv.mac_string().as_deref(), ifs[2]["mac"].as_str());
    assert_eq!(container_addrs(&c1), vec!["10.71.0.2/24"]);
    assert_eq!(node.sysctl("net/ipv4/ip_forward"), "1");
    let rules = node.ruleset();
    assert!(
        rules.contains("ip saddr 10.71.0.2 ip daddr != 10.71.0.0/24 masquerade"),
        "{rules}"
    );
    assert_eq!(node.reservations(), BTreeSet::from(["10.71.0.2".into()]));

    // A second container on the same bridge reaches the first over TCP.
    let r2 = node.add("ctr-2", &c2, &conf);
    assert_eq!(r2["ips"][0]["address"], "10.71.0.3/24");
    assert_eq!(
        r2["interfaces"][0]["mac"], ifs[0]["mac"],
        "bridge MAC pinned"
    );
    tcp_round_trip(&c1, &c2, "10.71.0.2:7777".parse().unwrap()).unwrap();
    // ...and the node reaches it through the gateway address.
    tcp_round_trip(&c2, &node.ns, "10.71.0.3:7777".parse().unwrap()).unwrap();

    // CHECK passes right after ADD, and fails once something it watches is gone.
    ok(node.check("ctr-1", &c1, &conf, &r), "CHECK");
    let out = c1
        .command("ip")
        .args(["addr", "flush", "dev", "eth0"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = node.check("ctr-1", &c1, &conf, &r);
    assert!(!out.status.success(), "CHECK must fail without the address");
    let out = node.check("ctr-2", &c2, &conf, &r);
    assert!(
        !out.status.success(),
        "CHECK must fail with another's result"
    );
    ok(node.check("ctr-2", &c2, &conf, &r2), "CHECK ctr-2");
    // Masquerade rules removed by hand: CHECK notices.
    let flushed = node
        .ns
        .command("nft")
        .args([
            "flush",
            "chain",
            "inet",
            "cni_plugins_masquerade",
            "masq_checks",
        ])
        .status()
        .unwrap();
    assert!(flushed.success());
    assert!(!node.check("ctr-2", &c2, &conf, &r2).status.success());

    // DEL: veth, reservation and rules go; the bridge and its address stay.
    let mut del_conf = conf.clone();
    del_conf["prevResult"] = r.clone();
    ok(node.del("ctr-1", Some(c1.path()), &del_conf), "DEL");
    assert!(container_link(&c1, "eth0").is_none());
    assert!(node.link(&host_veth).is_none());
    assert_eq!(node.reservations(), BTreeSet::from(["10.71.0.3".into()]));
    ok(node.del("ctr-1", Some(c1.path()), &del_conf), "DEL");
    ok(node.del("ctr-2", Some(c2.path()), &conf), "DEL");
    assert!(node.veths().is_empty());
    assert!(node.reservations().is_empty());
    assert!(!node.ruleset().contains("saddr"), "{}", node.ruleset());
    assert_eq!(node.addrs("cni-t0"), vec!["10.71.0.1/24"]);
    // CHECK after DEL fails.
    assert!(!node.check("ctr-1", &c1, &conf, &r).status.success());
}

#[test]
fn default_gateway_dual_stack() {
    let node = Node::new("br-dgw", "bridge", NET);
    // Forwarding off to begin with, whatever the host's (see support::set_sysctl).
    node.set_sysctl("net/ipv4/ip_forward", "0");
    let c = Netns::new("br-dgw-c").unwrap();
    let mut conf = node.conf("cni-t1", "10.72.0.0/24", json!({"isDefaultGateway": true}));
    conf["ipam"]["ranges"] = json!([[{"subnet": "10.72.0.0/24"}], [{"subnet": "fd72::/64"}]]);
    let r = node.add("ctr", &c, &conf);
    let routes = r["routes"].as_array().unwrap();
    assert!(
        routes.contains(&json!({"dst": "0.0.0.0/0", "gw": "10.72.0.1"})),
        "{r}"
    );
    assert!(
        routes.contains(&json!({"dst": "::/0", "gw": "fd72::1"})),
        "{r}"
    );
    assert_eq!(
        default_route(&c, Family::V4),
        Some("10.72.0.1".parse().unwrap())
    );
    assert_eq!(
        default_route(&c, Family::V6),
        Some("fd72::1".parse().unwrap())
    );
    let mut br = node.addrs("cni-t1");
    br.sort();
    assert_eq!(br, vec!["10.72.0.1/24", "fd72::1/64"]);
    assert_eq!(node.sysctl("net/ipv4/ip_forward"), "1");
    assert_eq!(node.sysctl("net/ipv6/conf/all/forwarding"), "1");
    // DAD is off on the container veth by default, ARP notification on.
    assert_eq!(
        String::from_utf8(
            c.command("cat")
                .arg("/proc/sys/net/ipv6/conf/eth0/accept_dad")
                .output()
                .unwrap()
                .stdout
        )
        .unwrap()
        .trim(),
        "0"
    );
    ok(node.check("ctr", &c, &conf, &r), "CHECK");
    ok(node.del("ctr", Some(c.path()), &conf), "DEL");
    assert!(node.veths().is_empty());
    assert!(node.reservations().is_empty());
}

#[test]
fn hairpin_isolation_mtu_and_mac_from_runtime_config() {
    let node = Node::new("br-hp", "bridge", NET);
    let c = Netns::new("br-hp-c").unwrap();
    let conf = node.conf(
        "cni-t2",
        "10.73.0.0/24",
        json!({"hairpinMode": true, "portIsolation": true, "mtu": 1400,
               "runtimeConfig": {"mac": "c2:11:22:33:44:55"},
               "args": {"cni": {"mac": "c2:00:00:00:00:01"}}}),
    );
    let r = node.add("ctr", &c, &conf);
    assert_eq!(r["interfaces"][2]["mac"], "c2:11:22:33:44:55");
    let cv = container_link(&c, "eth0").unwrap();
    assert_eq!(cv.mac, Some(mac_bytes("c2:11:22:33:44:55")));
    assert_eq!(cv.mtu, Some(1400));
    let br = node.link("cni-t2").unwrap();
    assert_eq!(br.mtu, Some(1400), "a new bridge gets the MTU");
    assert!(!br.is_promisc());
    let hv = node
        .link(r["interfaces"][1]["name"].as_str().unwrap())
        .unwrap();
    assert_eq!(hv.mtu, Some(1400));
    let port = hv.bridge_port.expect("bridge port settings");
    assert_eq!(port.hairpin, Some(true));
    assert_eq!(port.isolated, Some(true));
    ok(node.check("ctr", &c, &conf, &r), "CHECK");
    ok(node.del("ctr", Some(c.path()), &conf), "DEL");
    assert!(node.veths().is_empty());
}

#[test]
fn promiscuous_bridge_and_mac_from_cni_args() {
    let node = Node::new("br-pr", "bridge", NET);
    let c = Netns::new("br-pr-c").unwrap();
    let conf = node.conf("cni-t3", "10.74.0.0/24", json!({"promiscMode": true}));
    let args = Some("IgnoreUnknown=1;MAC=c2:aa:bb:cc:dd:01");
    let r = ok(
        node.run_env("ADD", "ctr", Some(c.path()), &conf, args),
        "ADD",
    );
    assert_eq!(r["interfaces"][2]["mac"], "c2:aa:bb:cc:dd:01");
    let br = node.link("cni-t3").unwrap();
    assert!(br.is_promisc());
    let hv = node
        .link(r["interfaces"][1]["name"].as_str().unwrap())
        .unwrap();
    assert_eq!(hv.bridge_port.and_then(|p| p.hairpin), Some(false));
    ok(node.check("ctr", &c, &conf, &r), "CHECK");
    // CHECK compares promiscMode with the bridge.
    let mut plain = conf.clone();
    plain["promiscMode"] = json!(false);
    assert!(!node.check("ctr", &c, &plain, &r).status.success());
    ok(node.del("ctr", Some(c.path()), &conf), "DEL");
}

#[test]
fn layer2_only() {
    let node = Node::new("br-l2", "bridge", NET);
    let c = Netns::new("br-l2-c").unwrap();
    let conf = node.conf("cni-t4", "10.75.0.0/24", json!({"ipam": {}}));
    let r = node.add("ctr", &c, &conf);
    assert!(r.get("ips").is_none(), "{r}");
    assert_eq!(r["interfaces"].as_array().unwrap().len(), 3);
    let cv = container_link(&c, "eth0").unwrap();
    assert!(cv.is_up());
    assert!(container_addrs(&c).is_empty());
    assert!(node.addrs("cni-t4").is_empty());
    ok(node.check("ctr", &c, &conf, &r), "CHECK");
    ok(node.del("ctr", Some(c.path()), &conf), "DEL");
    assert!(node.veths().is_empty());

    // Below 0.3.0 a result needs an address: ADD fails and leaves no veth behind.
    let mut old = conf.clone();
    old["cniVersion"] = json!("0.2.0");
    let out = node.run("ADD", "ctr", Some(c.path()), &old);
    assert!(!out.status.success());
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["code"], 1, "{e}");
    assert!(container_link(&c, "eth0").is_none());
    assert!(node.veths().is_empty());

    // disableContainerInterface: the veth stays down, ADD does not wait for it.
    let down = node.conf(
        "cni-t4",
        "10.75.0.0/24",
        json!({"ipam": null, "disableContainerInterface": true}),
    );
    let r = node.add("ctr", &c, &down);
    assert!(!container_link(&c, "eth0").unwrap().is_up());
    ok(node.check("ctr", &c, &down, &r), "CHECK");
    ok(node.del("ctr", Some(c.path()), &down), "DEL");
}

#[test]
fn del_with_the_namespace_gone_or_absent() {
    let node = Node::new("br-gone", "bridge", NET);
    let conf = node.conf(
        "cni-t5",
        "10.76.0.0/24",
        json!({"isGateway": true, "ipMasq": true, "macspoofchk": true}),
    );
    let c = Netns::new("br-gone-c").unwrap();
    let path = c.path().to_path_buf();
    let r = node.add("ctr", &c, &conf);
    let rules = node.ruleset();
    assert!(rules.contains("macspoofchk-ctr-eth0"), "{rules}");
    assert!(rules.contains(&format!(
        "ether saddr {} return",
        r["interfaces"][2]["mac"].as_str().unwrap()
    )));
    ok(node.check("ctr", &c, &conf, &r), "CHECK");
    drop(c);
    // The kernel removes the veth pair with the namespace.
    for _ in 0..50 {
        if node.veths().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ok(node.del("ctr", Some(&path), &conf), "DEL");
    assert!(node.reservations().is_empty());
    let rules = node.ruleset();
    assert!(!rules.contains("saddr 10.76"), "{rules}");
    assert!(!rules.contains("macspoofchk-ctr-eth0"), "{rules}");
    assert!(!rules.contains("cni-br-iface-ctr-eth0"), "{rules}");
    ok(node.del("ctr", Some(&path), &conf), "DEL");

    // No CNI_NETNS at all: IPAM and rules are still released.
    let c = Netns::new("br-gone-c2").unwrap();
    node.add("ctr2", &c, &conf);
    ok(node.del("ctr2", None, &conf), "DEL");
    assert!(node.reservations().is_empty());
    assert!(!node.ruleset().contains("saddr 10.76"));
    // A path that is not a namespace.
    let file = node.data.path().join("not-a-netns");
    std::fs::write(&file, b"").unwrap();
    ok(node.del("ctr3", Some(&file), &conf), "DEL");
}

#[test]
fn failures_roll_back_and_force_address() {
    let node = Node::new("br-rb", "bridge", NET);
    let c = Netns::new("br-rb-c").unwrap();
    let conf = node.conf("cni-t6", "10.78.0.0/24", json!({"isGateway": true}));

    // The ifname is taken: ADD fails before IPAM and leaves the existing link alone.
    let made = c
        .command("ip")
        .args([
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "taken-peer",
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let out = node.run("ADD", "ctr", Some(c.path()), &conf);
    assert!(!out.status.success());
    let kept = container_link(&c, "eth0").unwrap();
    assert_eq!(
        kept.veth_peer_index(),
        container_link(&c, "taken-peer").map(|l| l.index)
    );
    assert!(node.veths().is_empty());
    assert!(node.reservations().is_empty());
    c.command("ip")
        .args(["link", "del", "eth0"])
        .status()
        .unwrap();

    // The bridge the failed ADD made is gone with it (upstream keeps it).
    assert!(node.link("cni-t6").is_none());

    // An existing bridge with another IPv4 address: without forceAddress ADD fails after
    // IPAM and undoes the veth and the reservation, and the bridge it did not make stays.
    for args in [
        &["link", "add", "cni-t6", "type", "bridge"][..],
        &["addr", "add", "192.168.66.1/24", "dev", "cni-t6"],
    ] {
        assert!(node.ns.command("ip").args(args).status().unwrap().success());
    }
    let out = node.run("ADD", "ctr", Some(c.path()), &conf);
    assert!(!out.status.success());
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        e["msg"]
            .as_str()
            .unwrap()
            .contains("already has an IP address"),
        "{e}"
    );
    assert!(container_link(&c, "eth0").is_none());
    assert!(node.veths().is_empty());
    assert!(node.reservations().is_empty());
    assert!(node.link("cni-t6").is_some_and(|l| l.is_kind("bridge")));
    assert_eq!(node.addrs("cni-t6"), vec!["192.168.66.1/24"]);

    // forceAddress replaces it.
    let mut forced = conf.clone();
    forced["forceAddress"] = json!(true);
    node.add("ctr", &c, &forced);
    assert_eq!(node.addrs("cni-t6"), vec!["10.78.0.1/24"]);
    ok(node.del("ctr", Some(c.path()), &forced), "DEL");

    // A link of that name that is not a bridge.
    let other = node.conf("notabr0", "10.78.0.0/24", json!({}));
    node.ns
        .command("ip")
        .args([
            "link", "add", "notabr0", "type", "veth", "peer", "name", "notabr1",
        ])
        .status()
        .unwrap();
    let out = node.run("ADD", "ctr", Some(c.path()), &other);
    assert!(!out.status.success());
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(e["msg"].as_str().unwrap().contains("not a bridge"), "{e}");
}

#[test]
fn status_and_gc_go_to_ipam() {
    let node = Node::new("br-gc", "bridge", NET);
    let c = Netns::new("br-gc-c").unwrap();
    let c2 = Netns::new("br-gc-c2").unwrap();
    let mut conf = node.conf("cni-t7", "10.79.0.0/24", json!({"ipMasq": true}));
    conf["cniVersion"] = json!("1.1.0");
    node.add("ctr", &c, &conf);
    node.add("ctr2", &c2, &conf);
    assert_eq!(node.reservations().len(), 2);
    ok(node.run("STATUS", "", None, &conf), "STATUS");
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([
        {"containerID": "ctr", "ifname": "eth0"},
        {"containerID": "ctr2", "ifname": "eth0"},
    ]);
    ok(node.run("GC", "", None, &gc), "GC keeping both");
    assert_eq!(node.reservations().len(), 2);
    assert_eq!(node.ruleset().matches("masquerade comment").count(), 2);
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "ctr2", "ifname": "eth0"}]);
    ok(node.run("GC", "", None, &gc), "GC");
    assert_eq!(node.reservations(), BTreeSet::from(["10.79.0.3".into()]));
    let rules = node.ruleset();
    assert!(!rules.contains("saddr 10.79.0.2 "), "{rules}");
    assert!(rules.contains("saddr 10.79.0.3 "), "{rules}");
    ok(node.del("ctr", Some(c.path()), &conf), "DEL");
    ok(node.del("ctr2", Some(c2.path()), &conf), "DEL");
    assert!(!node.ruleset().contains("saddr"));
}

/// What a DEL may leave behind that an ADD made: the shared bridge, its gateway address
/// (and the kernel's routes for it), forwarding, and the masquerade table's skeleton (base chain, multicast exceptions).
fn shared(line: &str, br: &str) -> bool {
    let item = &line[2..];
    item.starts_with(&format!("link {br} "))
        || item.starts_with(&format!("address {br} "))
        || (item.starts_with("route ") && item.contains(&format!(" dev={br} ")))
        || item.starts_with("sysctl ")
        || (item.starts_with("firewall ") && !item.contains("saddr"))
}

/// 50 ADD processes at once on a bridge none of them finds (all race to create it and to
/// put the gateway address on it), then 50 DELs at once: afterwards nothing of the
/// attachments is left. A second round on the now-existing bridge leaves the node exactly
/// as it found it.
#[test]
fn fifty_parallel_adds_then_dels_leave_nothing() {
    const N: usize = 50;
    let node = Node::new("br-par", "bridge", NET);
    let conf = node.conf(
        "cni-par",
        "10.82.0.0/24",
        json!({"isGateway": true, "ipMasq": true}),
    );
    let watch = Watch {
        dirs: vec![node.data.path().to_path_buf()],
        ignore_files: vec!["lock".into(), "last_reserved_ip.0".into()],
    };
    let containers: Vec<Netns> = (0..N)
        .map(|i| Netns::new(&format!("br-par-{i}")).unwrap())
        .collect();

    let round = |what: &str| {
        let before = Snapshot::take(&node.ns, &watch);
        let children: Vec<Child> = containers
            .iter()
            .enumerate()
            .map(|(i, c)| node.spawn("ADD", &format!("par-{i}"), Some(c.path()), &conf))
            .collect();
        let results: Vec<Value> = children
            .into_iter()
            .map(|ch| ok(ch.wait_with_output().unwrap(), what))
            .collect();
        let addrs: BTreeSet<&str> = results
            .iter()
            .map(|r| r["ips"][0]["address"].as_str().unwrap())
            .collect();
        assert_eq!(addrs.len(), N, "addresses handed out twice");
        assert_eq!(node.veths().len(), N);
        assert_eq!(node.addrs("cni-par"), vec!["10.82.0.1/24"]);
        assert_eq!(node.reservations().len(), N);
        let rules = node.ruleset();
        assert_eq!(rules.matches("masquerade comment").count(), N, "{rules}");
        for (i, c) in containers.iter().enumerate() {
            ok(
                node.check(&format!("par-{i}"), c, &conf, &results[i]),
                "CHECK",
            );
        }

        let children: Vec<Child> = containers
            .iter()
            .enumerate()
            .map(|(i, c)| node.spawn("DEL", &format!("par-{i}"), Some(c.path()), &conf))
            .collect();
        for ch in children {
            ok(ch.wait_with_output().unwrap(), "DEL");
        }
        assert!(node.veths().is_empty());
        assert!(node.reservations().is_empty());
        before.diff(&Snapshot::take(&node.ns, &watch))
    };

    let first = round("ADD (first round)");
    let unexpected: Vec<&String> = first.iter().filter(|l| !shared(l, "cni-par")).collect();
    assert!(unexpected.is_empty(), "left after DEL: {unexpected:#?}");
    assert!(
        first.iter().any(|l| l.starts_with("+ link cni-par ")),
        "{first:#?}"
    );
    let second = round("ADD (second round)");
    assert!(second.is_empty(), "left after DEL: {second:#?}");
}

/// Whether this kernel can make VLAN-filtering bridges (the VM lane's can; this machine's
/// lacks CONFIG_BRIDGE_VLAN_FILTERING).
fn vlan_filtering_supported() -> bool {
    let probe = Netns::new("br-vlan-probe").unwrap();
    let mut nl = Netlink::open_in(probe.path()).unwrap();
    nl.create_link(&reference_plugins::netlink::LinkSpec::bridge(
        "probe0",
        Some(true),
    ))
    .is_ok()
}

/// `vlan` with `vlanTrunk` and `isGateway`: where the kernel filters VLANs, the host port
/// is an access port of VLAN 100 carrying trunk VLANs 200 and 300-302 without VLAN 1, and
/// the gateway address sits on the `<bridge>.100` port; elsewhere ADD fails cleanly (the
/// bridge cannot be made) and leaves nothing.
#[test]
fn vlans_or_a_clean_failure() {
    use reference_plugins::netlink::{BridgeVlan, LinkData};
    let node = Node::new("br-vlan", "bridge", NET);
    let c = Netns::new("br-vlan-c").unwrap();
    let conf = node.conf(
        "cni-t8",
        "10.83.0.0/24",
        json!({"vlan": 100, "vlanTrunk": [{"id": 200}, {"minID": 300, "maxID": 302}],
               "isGateway": true}),
    );
    if !vlan_filtering_supported() {
        let out = node.run("ADD", "ctr", Some(c.path()), &conf);
        assert!(!out.status.success());
        let e: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(e["msg"].as_str().unwrap().contains("not supported"), "{e}");
        assert!(node.link("cni-t8").is_none());
        assert!(container_link(&c, "eth0").is_none());
        assert!(node.reservations().is_empty());
        return;
    }
    let r = node.add("ctr", &c, &conf);
    let br = node.link("cni-t8").unwrap();
    assert_eq!(
        br.data,
        Some(LinkData::Bridge {
            vlan_filtering: Some(true)
        })
    );
    let ifs = r["interfaces"].as_array().unwrap();
    assert_eq!(ifs.len(), 4, "{r}");
    assert_eq!(ifs[3]["name"], "cni-t8.100");
    assert_eq!(node.addrs("cni-t8.100"), vec!["10.83.0.1/24"]);
    assert!(node.addrs("cni-t8").is_empty());
    let hv = node.link(ifs[1]["name"].as_str().unwrap()).unwrap();
    let mut vlans = node.nl().bridge_vlans(hv.index).unwrap();
    vlans.sort_by_key(|v| v.vid);
    assert_eq!(
        vlans,
        vec![
            BridgeVlan::access(100),
            BridgeVlan::tagged(200),
            BridgeVlan::tagged(300),
            BridgeVlan::tagged(301),
            BridgeVlan::tagged(302),
        ]
    );
    ok(node.check("ctr", &c, &conf, &r), "CHECK");
    ok(node.del("ctr", Some(c.path()), &conf), "DEL");
    assert!(container_link(&c, "eth0").is_none());
    assert!(node.reservations().is_empty());
}
