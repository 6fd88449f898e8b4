//! The `macvlan` binary end to end: each test has a node namespace (the plugin's "host") with
//! a master link (`up0`, one end of a veth pair, up), container namespaces, and runs the plugin
//! inside the node namespace with host-local as IPAM (a temporary `dataDir`); the kernel and
//! the IPAM store are read back.

mod support;
use support::{assert_silent_ok, error_code, ip, merged, ok_json, sysctl, text, LinkKind, Node};

use std::path::Path;

use ipnet::IpNet;
use netns_sandbox::fixtures::tcp_round_trip;
use netns_sandbox::Netns;
use reference_plugins::netlink::{Family, Link, LinkData, MacvlanMode, Netlink};
use serde_json::{json, Value};

const NET: &str = "mvnet";
const MASTER: &str = "up0";

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// A node namespace with the master link (`up0`, one end of a veth pair, up).
fn macvlan_node(label: &str) -> Node {
    Node::new(label, "macvlan", NET).with_master(MASTER, LinkKind::Veth)
}

/// What macvlan's tests ask of a node beyond `support::Node`.
trait MacvlanNode {
    /// The macvlan config on `up0` with host-local over 10.96.0.0/24 and a default route,
    /// plus `extra` keys (a `null` removes the key).
    fn conf(&self, version: &str, extra: Value) -> Value;
}

impl MacvlanNode for Node {
    fn conf(&self, version: &str, extra: Value) -> Value {
        let mut ipam = self.host_local("10.96.0.0/24");
        ipam["routes"] = json!([{"dst": "0.0.0.0/0"}]);
        let c = self.net_conf(version, json!({"master": MASTER, "ipam": ipam}));
        merged(c, extra)
    }
}

fn links(ns: &Netns) -> Vec<Link> {
    Netlink::open_in(ns.path()).unwrap().links().unwrap()
}

/// The names of the links in `ns` other than `lo`.
fn link_names(ns: &Netns) -> Vec<String> {
    links(ns)
        .into_iter()
        .filter(|l| l.name != "lo")
        .map(|l| l.name)
        .collect()
}

fn eth0(ns: &Netns) -> Link {
    Netlink::open_in(ns.path()).unwrap().link("eth0").unwrap()
}

fn mode_of(l: &Link) -> Option<MacvlanMode> {
    match l.data {
        Some(LinkData::Macvlan { mode }) => mode,
        _ => None,
    }
}

/// The global addresses of link `index` in `ns`, sorted.
fn global_addrs(ns: &Netns, index: u32) -> Vec<IpNet> {
    support::global_addrs(&mut Netlink::open_in(ns.path()).unwrap(), index)
}

/// `ip -d -j link show dev eth0` in `ns`.
fn ip_details(ns: &Netns) -> Value {
    let out = ns
        .command("ip")
        .args(["-d", "-j", "link", "show", "dev", "eth0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone()
}

#[test]
fn add_check_del_with_host_local() {
    let node = macvlan_node("mv-basic-node");
    let c1 = Netns::new("mv-basic-c1").unwrap();
    let c2 = Netns::new("mv-basic-c2").unwrap();
    let conf = node.conf("1.0.0", json!({"dns": {"nameservers": ["10.96.0.53"]}}));

    let r = node.add("ctr-1", &c1, &conf);
    let link = eth0(&c1);
    // The result: the macvlan link with its MAC and sandbox; IPAM's address on it; IPAM's
    // routes; the configuration's dns.
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["interfaces"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["interfaces"][0]["name"], "eth0");
    assert_eq!(
        r["interfaces"][0]["mac"].as_str(),
        link.mac_string().as_deref()
    );
    assert_eq!(
        r["interfaces"][0]["sandbox"].as_str(),
        c1.path().to_str(),
        "{r}"
    );
    assert_eq!(
        r["ips"],
        json!([{"interface": 0, "address": "10.96.0.2/24", "gateway": "10.96.0.1"}])
    );
    assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0"}]));
    assert_eq!(r["dns"], json!({"nameservers": ["10.96.0.53"]}));

    // The kernel: a macvlan in bridge mode on up0, up, with the address and the routes.
    assert!(link.is_kind("macvlan") && link.is_up(), "{link:?}");
    assert_eq!(mode_of(&link), Some(MacvlanMode::Bridge));
    assert_eq!(link.parent, Some(node.master().index));
    assert_eq!(link.mtu, Some(1500));
    assert_eq!(global_addrs(&c1, link.index), vec![net("10.96.0.2/24")]);
    let mut nl = Netlink::open_in(c1.path()).unwrap();
    let routes = nl.routes(Some(Family::V4)).unwrap();
    assert!(
        routes.iter().any(|r| r.dst == net("0.0.0.0/0")
            && r.gateway == Some("10.96.0.1".parse().unwrap())
            && r.oif == Some(link.index)),
        "{routes:?}"
    );
    assert_eq!(sysctl(&c1, "net/ipv4/conf/eth0/arp_notify"), "1");
    assert_eq!(sysctl(&c1, "net/ipv6/conf/eth0/ndisc_notify"), "1");
    // No temporary name is left anywhere.
    assert_eq!(link_names(&c1), ["eth0"]);
    assert_eq!(link_names(&node.ns).len(), 2, "{:?}", link_names(&node.ns));
    assert_eq!(node.reserved(), ["10.96.0.2"]);

    assert_silent_ok(&node.check("ctr-1", &c1, &conf, &r));

    // A second container on the same master: the two reach each other (bridge mode).
    let r2 = node.add("ctr-2", &c2, &conf);
    assert_eq!(r2["ips"][0]["address"], "10.96.0.3/24");
    tcp_round_trip(&c2, &c1, "10.96.0.3:7777".parse().unwrap()).unwrap();
    tcp_round_trip(&c1, &c2, "10.96.0.2:7777".parse().unwrap()).unwrap();

    // DEL: link and reservation gone; twice is fine.
    let mut del_conf = conf.clone();
    del_conf["prevResult"] = r.clone();
    assert_silent_ok(&node.del("ctr-1", Some(c1.path()), &del_conf));
    assert!(link_names(&c1).is_empty());
    assert_eq!(node.reserved(), ["10.96.0.3"]);
    assert_silent_ok(&node.del("ctr-1", Some(c1.path()), &del_conf));
    assert_silent_ok(&node.del("ctr-1", Some(c1.path()), &conf));
    // The other attachment is untouched.
    assert_silent_ok(&node.check("ctr-2", &c2, &conf, &r2));
    assert_silent_ok(&node.del("ctr-2", Some(c2.path()), &conf));
    assert!(node.reserved().is_empty());
    assert_eq!(link_names(&node.ns).len(), 2);
}

#[test]
fn modes_and_check_of_the_mode() {
    let node = macvlan_node("mv-modes-node");
    for (mode, want) in [
        ("bridge", MacvlanMode::Bridge),
        ("private", MacvlanMode::Private),
        ("vepa", MacvlanMode::Vepa),
        ("passthru", MacvlanMode::Passthru),
    ] {
        let c = Netns::new(&format!("mv-mode-{mode}")).unwrap();
        let conf = node.conf("1.1.0", json!({"mode": mode}));
        let r = node.add("ctr-m", &c, &conf);
        let link = eth0(&c);
        assert_eq!(mode_of(&link), Some(want), "{mode}");
        assert_eq!(ip_details(&c)["linkinfo"]["info_data"]["mode"], mode);
        assert_silent_ok(&node.check("ctr-m", &c, &conf, &r));
        // CHECK with another mode configured fails.
        let other = if mode == "bridge" { "vepa" } else { "bridge" };
        let wrong = node.conf("1.1.0", json!({"mode": other}));
        let out = node.check("ctr-m", &c, &wrong, &r);
        assert_eq!(error_code(&out), 999, "{mode}");
        assert!(text(&out).contains("mode"), "{}", text(&out));
        assert_silent_ok(&node.del("ctr-m", Some(c.path()), &conf));
    }
    // "" is bridge; an unknown mode is refused (code 2) before anything is made.
    let c = Netns::new("mv-mode-empty").unwrap();
    let conf = node.conf("1.0.0", json!({"mode": ""}));
    node.add("ctr-e", &c, &conf);
    assert_eq!(mode_of(&eth0(&c)), Some(MacvlanMode::Bridge));
    assert_silent_ok(&node.del("ctr-e", Some(c.path()), &conf));
    let bad = node.conf("1.0.0", json!({"mode": "source"}));
    assert_eq!(
        error_code(&node.run("ADD", "ctr-e", Some(c.path()), &bad)),
        2
    );
    assert!(link_names(&c).is_empty());
    assert!(node.reserved().is_empty());
}

#[test]
fn mtu_within_the_masters() {
    let node = macvlan_node("mv-mtu-node");
    let c = Netns::new("mv-mtu-c").unwrap();
    let conf = node.conf("1.0.0", json!({"mtu": 1400}));
    let r = node.add("ctr-mtu", &c, &conf);
    assert_eq!(eth0(&c).mtu, Some(1400));
    assert_silent_ok(&node.check("ctr-mtu", &c, &conf, &r));
    // CHECK notices an MTU that changed.
    ip(&c, &["link", "set", "eth0", "mtu", "1300"]);
    assert_eq!(error_code(&node.check("ctr-mtu", &c, &conf, &r)), 999);
    assert_silent_ok(&node.del("ctr-mtu", Some(c.path()), &conf));

    // Above the master's MTU: code 7, nothing made, nothing reserved.
    let too_big = node.conf("1.0.0", json!({"mtu": 1501}));
    let out = node.run("ADD", "ctr-mtu", Some(c.path()), &too_big);
    assert_eq!(error_code(&out), 7, "{}", text(&out));
    assert!(text(&out).contains("1500"), "{}", text(&out));
    assert!(link_names(&c).is_empty());
    assert!(node.reserved().is_empty());
    // Equal to the master's is fine; 0 is the kernel's default (the master's).
    for (mtu, want) in [(1500, 1500), (0, 1500)] {
        let conf = node.conf("1.0.0", json!({"mtu": mtu}));
        node.add("ctr-mtu", &c, &conf);
        assert_eq!(eth0(&c).mtu, Some(want));
        assert_silent_ok(&node.del("ctr-mtu", Some(c.path()), &conf));
    }
}

#[test]
fn mac_from_config_cni_args_and_runtime_config() {
    let node = macvlan_node("mv-mac-node");
    let c = Netns::new("mv-mac-c").unwrap();
    let cfg_mac = "c2:00:00:00:00:01";
    let env_mac = "c2:00:00:00:00:02";
    let rc_mac = "c2:00:00:00:00:03";
    type Case<'a> = (Value, Option<&'a str>, &'a str);
    let cases: [Case; 3] = [
        (json!({"mac": cfg_mac}), None, cfg_mac),
        (json!({"mac": cfg_mac}), Some(env_mac), env_mac),
        (
            json!({"mac": cfg_mac, "runtimeConfig": {"mac": rc_mac}}),
            Some(env_mac),
            rc_mac,
        ),
    ];
    for (extra, env, want) in cases {
        let conf = node.conf("1.0.0", extra);
        let args = env.map(|m| format!("IgnoreUnknown=1;MAC={m}"));
        let r = ok_json(&node.run_env("ADD", "ctr-mac", Some(c.path()), &conf, args.as_deref()));
        assert_eq!(eth0(&c).mac_string().as_deref(), Some(want));
        assert_eq!(r["interfaces"][0]["mac"], want, "{r}");
        assert_silent_ok(&node.check("ctr-mac", &c, &conf, &r));
        // CHECK notices a MAC that changed.
        ip(&c, &["link", "set", "eth0", "address", "c2:00:00:00:00:99"]);
        assert_eq!(error_code(&node.check("ctr-mac", &c, &conf, &r)), 999);
        assert_silent_ok(&node.del("ctr-mac", Some(c.path()), &conf));
    }
    // A bad MAC is refused before anything is made (7 from the config, 4 from CNI_ARGS).
    let bad = node.conf("1.0.0", json!({"mac": "01:00:5e:00:00:01"}));
    assert_eq!(
        error_code(&node.run("ADD", "ctr-mac", Some(c.path()), &bad)),
        7
    );
    let conf = node.conf("1.0.0", json!({}));
    let out = node.run_env("ADD", "ctr-mac", Some(c.path()), &conf, Some("MAC=nope"));
    assert_eq!(error_code(&out), 4);
    assert!(link_names(&c).is_empty());
    assert!(node.reserved().is_empty());
}

#[test]
fn l2_only_without_ipam() {
    let node = macvlan_node("mv-l2-node");
    let c = Netns::new("mv-l2-c").unwrap();
    for ipam in [json!(null), json!({})] {
        let conf = node.conf("1.0.0", json!({"ipam": ipam, "mode": "private"}));
        let r = node.add("ctr-l2", &c, &conf);
        assert_eq!(r["interfaces"].as_array().unwrap().len(), 1, "{r}");
        assert!(r.get("ips").is_none() && r.get("routes").is_none(), "{r}");
        let link = eth0(&c);
        assert!(link.is_up());
        assert!(global_addrs(&c, link.index).is_empty());
        assert_silent_ok(&node.check("ctr-l2", &c, &conf, &r));
        assert_silent_ok(&node.del("ctr-l2", Some(c.path()), &conf));
        assert!(link_names(&c).is_empty());
    }
    // A 0.2.0 result needs an address: refused with code 1 before the link is made.
    let conf = node.conf("0.2.0", json!({"ipam": null}));
    let out = node.run("ADD", "ctr-l2", Some(c.path()), &conf);
    assert_eq!(error_code(&out), 1, "{}", text(&out));
    assert!(link_names(&c).is_empty());
    // With IPAM, 0.2.0 works (ip4).
    let conf = node.conf("0.2.0", json!({}));
    let r = node.add("ctr-l2", &c, &conf);
    assert_eq!(r["ip4"]["ip"], "10.96.0.2/24", "{r}");
    assert_silent_ok(&node.del("ctr-l2", Some(c.path()), &conf));
    assert!(node.reserved().is_empty());
}

#[test]
fn link_in_container() {
    let node = macvlan_node("mv-lic-node");
    let c = Netns::new("mv-lic-c").unwrap();
    // The master lives in the container.
    ip(
        &c,
        &["link", "add", "m0", "type", "veth", "peer", "name", "m0p"],
    );
    ip(&c, &["link", "set", "m0", "up"]);
    ip(&c, &["link", "set", "m0p", "up"]);
    let conf = node.conf("1.0.0", json!({"master": "m0", "linkInContainer": true}));
    let r = node.add("ctr-lic", &c, &conf);
    let mut nl = Netlink::open_in(c.path()).unwrap();
    let m0 = nl.link("m0").unwrap();
    let link = eth0(&c);
    assert_eq!(link.parent, Some(m0.index));
    assert_eq!(link.link_netnsid, None, "master in the same namespace");
    assert_silent_ok(&node.check("ctr-lic", &c, &conf, &r));
    assert_silent_ok(&node.del("ctr-lic", Some(c.path()), &conf));
    assert_eq!(link_names(&c).len(), 2);

    // Without linkInContainer m0 is looked up in the node, where it does not exist.
    let host_side = node.conf("1.0.0", json!({"master": "m0"}));
    let out = node.run("ADD", "ctr-lic", Some(c.path()), &host_side);
    assert_eq!(error_code(&out), 999);
    assert!(text(&out).contains("m0"), "{}", text(&out));
    // And up0 is not in the container: a clean error, no panic, nothing left (upstream
    // macvlan once panicked on a master missing from the container).
    let missing = node.conf("1.0.0", json!({"linkInContainer": true}));
    let out = node.run("ADD", "ctr-lic", Some(c.path()), &missing);
    assert_eq!(error_code(&out), 999);
    assert_eq!(link_names(&c).len(), 2);
    assert!(node.reserved().is_empty());
    // DEL does not need the master.
    assert_silent_ok(&node.del("ctr-lic", Some(c.path()), &missing));
}

#[test]
fn master_defaults_to_the_default_route_interface() {
    let node = macvlan_node("mv-dflt-node");
    let c = Netns::new("mv-dflt-c").unwrap();
    let conf = node.conf("1.0.0", json!({"master": null}));
    // No default route: an error, nothing made.
    let out = node.run("ADD", "ctr-d", Some(c.path()), &conf);
    assert_eq!(error_code(&out), 999);
    assert!(text(&out).contains("default route"), "{}", text(&out));
    assert!(link_names(&c).is_empty());
    // A second link carries the default route: it becomes the master.
    ip(
        &node.ns,
        &[
            "link", "add", "wan0", "type", "veth", "peer", "name", "wan0p",
        ],
    );
    ip(&node.ns, &["link", "set", "wan0", "up"]);
    ip(&node.ns, &["link", "set", "wan0p", "up"]);
    ip(&node.ns, &["addr", "add", "192.0.2.10/24", "dev", "wan0"]);
    ip(&node.ns, &["route", "add", "default", "via", "192.0.2.1"]);
    let r = node.add("ctr-d", &c, &conf);
    let wan0 = Netlink::open_in(node.ns.path())
        .unwrap()
        .link("wan0")
        .unwrap();
    assert_eq!(eth0(&c).parent, Some(wan0.index));
    assert_silent_ok(&node.check("ctr-d", &c, &conf, &r));
    // CHECK with up0 named as master notices the link is elsewhere.
    let named = node.conf("1.0.0", json!({}));
    assert_eq!(error_code(&node.check("ctr-d", &c, &named, &r)), 999);
    assert_silent_ok(&node.del("ctr-d", Some(c.path()), &conf));
}

#[test]
fn del_when_things_are_gone() {
    let node = macvlan_node("mv-gone-node");
    let conf = node.conf("1.0.0", json!({}));

    // The namespace is gone: IPAM is released, DEL succeeds (twice).
    let c = Netns::new("mv-gone-c").unwrap();
    let path = c.path().to_path_buf();
    node.add("ctr-g1", &c, &conf);
    assert_eq!(node.reserved().len(), 1);
    drop(c);
    assert_silent_ok(&node.del("ctr-g1", Some(&path), &conf));
    assert!(node.reserved().is_empty());
    assert_silent_ok(&node.del("ctr-g1", Some(&path), &conf));

    // CNI_NETNS unset: only IPAM.
    let c = Netns::new("mv-gone-c2").unwrap();
    node.add("ctr-g2", &c, &conf);
    assert_silent_ok(&node.del("ctr-g2", None, &conf));
    assert!(node.reserved().is_empty());
    assert_eq!(
        link_names(&c),
        ["eth0"],
        "no namespace given: the link stays"
    );
    assert_silent_ok(&node.del("ctr-g2", Some(c.path()), &conf));
    assert!(link_names(&c).is_empty());

    // The interface is gone.
    node.add("ctr-g3", &c, &conf);
    ip(&c, &["link", "del", "eth0"]);
    assert_silent_ok(&node.del("ctr-g3", Some(c.path()), &conf));
    assert!(node.reserved().is_empty());

    // The master is gone (the kernel removes its macvlans with it), and the config became
    // invalid: DEL still succeeds and releases the address (UPSTREAM-8: upstream macvlan's
    // DEL failed here until it stopped decoding more than the JSON; vlan's and ipvlan's still do).
    node.add("ctr-g4", &c, &conf);
    ip(&node.ns, &["link", "del", MASTER]);
    let mut broken = conf.clone();
    broken["mtu"] = json!(-5);
    broken["mode"] = json!("nonsense");
    assert_silent_ok(&node.del("ctr-g4", Some(c.path()), &broken));
    assert!(node.reserved().is_empty());
    assert!(link_names(&c).is_empty());
}

#[test]
fn failed_add_leaves_nothing() {
    let node = macvlan_node("mv-fail-node");
    let c = Netns::new("mv-fail-c").unwrap();
    let conf = node.conf("1.0.0", json!({}));

    // CNI_IFNAME is taken: the rename fails, the temporary link goes, IPAM never ran.
    ip(
        &c,
        &["link", "add", "eth0", "type", "veth", "peer", "name", "x0"],
    );
    let out = node.run("ADD", "ctr-f", Some(c.path()), &conf);
    assert_eq!(error_code(&out), 999);
    assert!(text(&out).contains("eth0"), "{}", text(&out));
    let mut names = link_names(&c);
    names.sort();
    assert_eq!(names, ["eth0", "x0"]);
    assert!(node.reserved().is_empty());
    ip(&c, &["link", "del", "eth0"]);

    // IPAM fails (an exhausted /30: one address, taken by ctr-a): the link is removed.
    let small = node.conf(
        "1.0.0",
        json!({"ipam": {"type": "host-local", "dataDir": node.data.path(),
                        "ranges": [[{"subnet": "10.96.9.0/30"}]]}}),
    );
    let other = Netns::new("mv-fail-o").unwrap();
    node.add("ctr-a", &other, &small);
    let out = node.run("ADD", "ctr-f", Some(c.path()), &small);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(link_names(&c).is_empty(), "{:?}", link_names(&c));
    assert_eq!(node.reserved(), ["10.96.9.2"]);

    // An IPAM plugin that does not exist: same.
    let missing = node.conf("1.0.0", json!({"ipam": {"type": "no-such-ipam"}}));
    let out = node.run("ADD", "ctr-f", Some(c.path()), &missing);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(link_names(&c).is_empty());
    // The namespace does not exist.
    let out = node.run(
        "ADD",
        "ctr-f",
        Some(Path::new("/run/netns/cnirs-none")),
        &conf,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(node.reserved(), ["10.96.9.2"]);
}

#[test]
fn check_failures() {
    let node = macvlan_node("mv-chk-node");
    let c = Netns::new("mv-chk-c").unwrap();
    let conf = node.conf("1.0.0", json!({}));
    let r = node.add("ctr-c", &c, &conf);
    assert_silent_ok(&node.check("ctr-c", &c, &conf, &r));
    // No prevResult.
    let out = node.run("CHECK", "ctr-c", Some(c.path()), &conf);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // prevResult names another sandbox.
    let mut other = r.clone();
    other["interfaces"][0]["sandbox"] = json!("/run/netns/elsewhere");
    assert_eq!(error_code(&node.check("ctr-c", &c, &conf, &other)), 999);
    // An address the link does not have (host-local's CHECK already fails on it).
    let mut more = r.clone();
    more["ips"]
        .as_array_mut()
        .unwrap()
        .push(json!({"interface": 0, "address": "10.96.0.77/24"}));
    let out = node.check("ctr-c", &c, &conf, &more);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // ... and without IPAM, macvlan's own CHECK does.
    let l2 = node.conf("1.0.0", json!({"ipam": null}));
    let out = node.check("ctr-c", &c, &l2, &more);
    assert_eq!(error_code(&out), 999);
    assert!(text(&out).contains("10.96.0.77"), "{}", text(&out));
    assert_silent_ok(&node.check("ctr-c", &c, &l2, &r));
    // A route that is not there.
    let mut route = r.clone();
    route["routes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"dst": "10.55.0.0/16", "gw": "10.96.0.1"}));
    assert_eq!(error_code(&node.check("ctr-c", &c, &conf, &route)), 999);
    // Addresses flushed.
    ip(&c, &["addr", "flush", "dev", "eth0"]);
    assert_eq!(error_code(&node.check("ctr-c", &c, &conf, &r)), 999);
    // Not a macvlan any more.
    ip(&c, &["link", "del", "eth0"]);
    ip(
        &c,
        &["link", "add", "eth0", "type", "veth", "peer", "name", "x0"],
    );
    let out = node.check("ctr-c", &c, &conf, &r);
    assert_eq!(error_code(&out), 999);
    assert!(text(&out).contains("macvlan"), "{}", text(&out));
    // IPAM's CHECK runs: the reservation is gone.
    ip(&c, &["link", "del", "eth0"]);
    let r = node.add("ctr-c2", &c, &conf);
    std::fs::remove_dir_all(node.data.path().join(NET)).unwrap();
    assert_eq!(node.check("ctr-c2", &c, &conf, &r).status.code(), Some(1));
    assert_silent_ok(&node.del("ctr-c2", Some(c.path()), &conf));
}

#[test]
fn bcqueuelen_is_applied() {
    let node = macvlan_node("mv-bcq-node");
    let c = Netns::new("mv-bcq-c").unwrap();
    let conf = node.conf("1.0.0", json!({"bcqueuelen": 2345}));
    node.add("ctr-b", &c, &conf);
    let d = ip_details(&c);
    assert_eq!(d["linkinfo"]["info_data"]["bcqueuelen"], 2345, "{d}");
    assert_silent_ok(&node.del("ctr-b", Some(c.path()), &conf));
}

#[test]
fn prev_result_is_kept() {
    let node = macvlan_node("mv-chain-node");
    let c = Netns::new("mv-chain-c").unwrap();
    let mut conf = node.conf("1.0.0", json!({}));
    let prev = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "net0", "sandbox": c.path()}],
        "ips": [{"interface": 0, "address": "192.0.2.5/24"}],
        "dns": {"domain": "prev.example"},
    });
    conf["prevResult"] = prev;
    let r = node.add("ctr-p", &c, &conf);
    let names: Vec<&str> = r["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["net0", "eth0"], "{r}");
    assert_eq!(
        r["ips"],
        json!([
            {"interface": 0, "address": "192.0.2.5/24"},
            {"interface": 1, "address": "10.96.0.2/24", "gateway": "10.96.0.1"},
        ])
    );
    assert_eq!(r["dns"], json!({"domain": "prev.example"}));
    // CHECK looks only at the addresses of its own interface.
    let plain = node.conf("1.0.0", json!({}));
    assert_silent_ok(&node.check("ctr-p", &c, &plain, &r));
    assert_silent_ok(&node.del("ctr-p", Some(c.path()), &plain));
}

#[test]
fn status_and_gc_reach_host_local() {
    let node = macvlan_node("mv-gc-node");
    let a = Netns::new("mv-gc-a").unwrap();
    let b = Netns::new("mv-gc-b").unwrap();
    let conf = node.conf("1.1.0", json!({}));
    node.add("ctr-a", &a, &conf);
    node.add("ctr-b", &b, &conf);
    assert_silent_ok(&node.run("STATUS", "", None, &conf));
    assert_eq!(node.reserved(), ["10.96.0.2", "10.96.0.3"]);
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "ctr-b", "ifname": "eth0"}]);
    assert_silent_ok(&node.run("GC", "", None, &gc));
    assert_eq!(node.reserved(), ["10.96.0.3"]);
    // Without ipam there is nothing to forward to.
    let l2 = node.conf("1.1.0", json!({"ipam": null}));
    assert_silent_ok(&node.run("STATUS", "", None, &l2));
    assert_silent_ok(&node.run("GC", "", None, &l2));
    assert_silent_ok(&node.del("ctr-a", Some(a.path()), &conf));
    assert_silent_ok(&node.del("ctr-b", Some(b.path()), &conf));
}
