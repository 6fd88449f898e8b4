//! The `ptp` binary end to end: each test has a node namespace (the plugin's "host") and
//! container namespaces, runs the plugin inside the node namespace with host-local as IPAM
//! (a temporary `dataDir`), and reads the kernel, the firewall and the IPAM store back.

mod support;
use support::{assert_silent_ok, error_code, global_addrs, merged, Node};

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use netns_sandbox::fixtures::tcp_round_trip;
use netns_sandbox::Netns;
use reference_plugins::firewall::MasqSpec;
use reference_plugins::netlink::{Family, Netlink, Route, RT_SCOPE_HOST, RT_SCOPE_LINK};
use serde_json::{json, Value};

const NET: &str = "ptpnet";

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What ptp's tests ask of a node beyond `support::Node`.
trait PtpNode {
    /// The ptp config with host-local over `ranges` and IPAM `routes`, plus `extra` keys.
    fn conf(&self, version: &str, ranges: Value, routes: Value, extra: Value) -> Value;
    /// [`PtpNode::conf`] over 10.98.0.0/24 with a default route.
    fn v4_conf(&self, version: &str, extra: Value) -> Value;
    /// Comments of the rules in our nftables masquerade chain.
    fn nft_comments(&self) -> Vec<String>;
    /// How many masquerade rules of (id, eth0) are in the ruleset.
    fn has_masq(&self, id: &str) -> usize;
}

impl PtpNode for Node {
    fn conf(&self, version: &str, ranges: Value, routes: Value, extra: Value) -> Value {
        let mut ipam = self.host_local_ranges(ranges);
        ipam["routes"] = routes;
        let c = self.net_conf(version, json!({ "ipam": ipam }));
        merged(c, extra)
    }

    fn v4_conf(&self, version: &str, extra: Value) -> Value {
        self.conf(
            version,
            json!([[{"subnet": "10.98.0.0/24"}]]),
            json!([{"dst": "0.0.0.0/0"}]),
            extra,
        )
    }

    fn nft_comments(&self) -> Vec<String> {
        let out = self
            .ns
            .command("nft")
            .args(["-j", "list", "ruleset"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["rule"]["chain"] == reference_plugins::firewall::NFT_CHAIN)
            .filter_map(|i| i["rule"]["comment"].as_str().map(str::to_string))
            .collect()
    }

    fn has_masq(&self, id: &str) -> usize {
        let prefix = MasqSpec::new(NET, id, "eth0", []).nft_comment_prefix();
        self.nft_comments()
            .iter()
            .filter(|c| c.starts_with(&prefix))
            .count()
    }
}

/// Main-table routes through link `index`: (dst, gateway, scope, prefsrc).
type RouteKey = (IpNet, Option<IpAddr>, Option<u8>, Option<IpAddr>);

fn routes_on(nl: &mut Netlink, family: Family, index: u32) -> Vec<RouteKey> {
    let mut out: Vec<RouteKey> = nl
        .routes(Some(family))
        .unwrap()
        .into_iter()
        .filter(|r: &Route| r.table == Some(254) && r.oif == Some(index))
        .filter(|r| !(family == Family::V6 && r.dst.addr().to_string().starts_with("fe80")))
        .map(|r| (r.dst, r.gateway, r.scope, r.prefsrc))
        .collect();
    out.sort_by_key(|k| format!("{k:?}"));
    out
}

fn sorted(mut v: Vec<RouteKey>) -> Vec<RouteKey> {
    v.sort_by_key(|k| format!("{k:?}"));
    v
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn add_check_del_ipv4_with_masquerade_and_mtu() {
    let node = Node::new("ptp-v4-node", "ptp", NET);
    let c = Netns::new("ptp-v4-c").unwrap();
    let conf = node.v4_conf(
        "1.0.0",
        json!({"ipMasq": true, "mtu": 1400, "dns": {"nameservers": ["10.98.0.53"]}}),
    );
    // The node namespace starts with the host's IPv4 forwarding (1 on a Docker or Kubernetes
    // node; see support::set_sysctl): start it from 0, so the plugin's change shows.
    let host_forward = support::host_sysctl("net/ipv4/ip_forward");
    node.set_sysctl("net/ipv4/ip_forward", "0");
    assert_eq!(node.sysctl("net/ipv4/ip_forward"), "0");

    let r = node.add("ctr-v4", &c, &conf);
    // The result: host end, container end, every address on the container end.
    let host_name = r["interfaces"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(host_name.len(), 12, "{r}");
    assert!(host_name.starts_with("veth"), "{r}");
    assert!(host_name[4..].chars().all(|c| c.is_ascii_hexdigit()), "{r}");
    assert!(r["interfaces"][0].get("sandbox").is_none(), "{r}");
    assert_eq!(r["interfaces"][1]["name"], "eth0");
    assert_eq!(r["interfaces"][1]["sandbox"], c.path().to_str().unwrap());
    assert_eq!(
        r["ips"],
        json!([{"interface": 1, "address": "10.98.0.2/24", "gateway": "10.98.0.1"}])
    );
    assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0"}]));
    assert_eq!(r["dns"], json!({"nameservers": ["10.98.0.53"]}));
    assert_eq!(r["cniVersion"], "1.0.0");

    // The container end.
    let mut cnl = Netlink::open_in(c.path()).unwrap();
    let eth0 = cnl.link("eth0").unwrap();
    assert!(eth0.is_up() && eth0.is_kind("veth"));
    assert_eq!(eth0.mtu, Some(1400));
    assert_eq!(
        eth0.mac_string().as_deref(),
        r["interfaces"][1]["mac"].as_str()
    );
    assert_eq!(global_addrs(&mut cnl, eth0.index), [net("10.98.0.2/24")]);
    let me = Some(ip("10.98.0.2"));
    let gw = Some(ip("10.98.0.1"));
    assert_eq!(
        routes_on(&mut cnl, Family::V4, eth0.index),
        sorted(vec![
            (net("10.98.0.1/32"), None, Some(RT_SCOPE_LINK), me),
            (net("10.98.0.0/24"), gw, Some(0), me),
            (net("0.0.0.0/0"), gw, Some(0), None),
        ]),
        "no connected route: everything goes via the gateway"
    );

    // The host end.
    let mut hnl = node.nl();
    let host = hnl.link(host_name.as_str()).unwrap();
    assert!(host.is_up());
    assert_eq!(host.mtu, Some(1400));
    assert_eq!(
        host.mac_string().as_deref(),
        r["interfaces"][0]["mac"].as_str()
    );
    assert_eq!(global_addrs(&mut hnl, host.index), [net("10.98.0.1/32")]);
    assert!(routes_on(&mut hnl, Family::V4, host.index).contains(&(
        net("10.98.0.2/32"),
        None,
        Some(RT_SCOPE_HOST),
        None
    )));
    assert_eq!(node.sysctl("net/ipv4/ip_forward"), "1");
    assert_eq!(
        support::host_sysctl("net/ipv4/ip_forward"),
        host_forward,
        "the host's forwarding is untouched"
    );
    assert_eq!(node.has_masq("ctr-v4"), 1);
    assert_eq!(node.reserved(), ["10.98.0.2"]);

    // Traffic from the container reaches the host end's address.
    tcp_round_trip(&node.ns, &c, "10.98.0.1:7001".parse().unwrap()).unwrap();

    assert_silent_ok(&node.check("ctr-v4", &c, &conf, &r));

    let mut del_conf = conf.clone();
    del_conf["prevResult"] = r.clone();
    assert_silent_ok(&node.del("ctr-v4", Some(c.path()), &del_conf));
    assert!(cnl.link("eth0").unwrap_err().is_not_found());
    assert!(hnl.link(host_name.as_str()).unwrap_err().is_not_found());
    assert!(!hnl
        .routes(Some(Family::V4))
        .unwrap()
        .iter()
        .any(|r| r.dst == net("10.98.0.2/32")));
    assert_eq!(node.has_masq("ctr-v4"), 0);
    assert!(node.reserved().is_empty());

    // DEL again (twice), with and without the prevResult: nothing left, still success.
    assert_silent_ok(&node.del("ctr-v4", Some(c.path()), &del_conf));
    assert_silent_ok(&node.del("ctr-v4", Some(c.path()), &conf));
}

#[test]
fn dual_stack_containers_reach_each_other_through_the_node() {
    let node = Node::new("ptp-ds-node", "ptp", NET);
    // Forwarding off to begin with, whatever the host's (see support::set_sysctl).
    node.set_sysctl("net/ipv4/ip_forward", "0");
    let a = Netns::new("ptp-ds-a").unwrap();
    let b = Netns::new("ptp-ds-b").unwrap();
    let conf = node.conf(
        "1.1.0",
        json!([[{"subnet": "10.99.0.0/24"}], [{"subnet": "fd00:99::/64"}]]),
        json!([{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]),
        json!({}),
    );
    let ra = node.add("ctr-a", &a, &conf);
    let rb = node.add("ctr-b", &b, &conf);
    assert_eq!(
        ra["ips"],
        json!([
            {"interface": 1, "address": "10.99.0.2/24", "gateway": "10.99.0.1"},
            {"interface": 1, "address": "fd00:99::2/64", "gateway": "fd00:99::1"},
        ])
    );
    assert_eq!(rb["ips"][1]["address"], "fd00:99::3/64");
    assert_eq!(node.sysctl("net/ipv4/ip_forward"), "1");
    assert_eq!(node.sysctl("net/ipv6/conf/all/forwarding"), "1");
    assert_eq!(node.has_masq("ctr-a"), 0, "no ipMasq asked for");

    let mut anl = Netlink::open_in(a.path()).unwrap();
    let eth0 = anl.link("eth0").unwrap();
    assert_eq!(
        global_addrs(&mut anl, eth0.index),
        [net("10.99.0.2/24"), net("fd00:99::2/64")]
    );
    let me6 = Some(ip("fd00:99::2"));
    let gw6 = Some(ip("fd00:99::1"));
    let v6: Vec<(IpNet, Option<IpAddr>, Option<IpAddr>)> =
        routes_on(&mut anl, Family::V6, eth0.index)
            .into_iter()
            .filter(|r| r.0 != net("ff00::/8"))
            .map(|(d, g, _, s)| (d, g, s))
            .collect();
    let mut want = vec![
        (net("fd00:99::1/128"), None, me6),
        (net("fd00:99::/64"), gw6, me6),
        (net("::/0"), gw6, None),
    ];
    want.sort_by_key(|k| format!("{k:?}"));
    let mut v6 = v6;
    v6.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(v6, want);

    let mut hnl = node.nl();
    let host_a = hnl
        .link(ra["interfaces"][0]["name"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        global_addrs(&mut hnl, host_a.index),
        [net("10.99.0.1/32"), net("fd00:99::1/128")]
    );
    let host_routes: Vec<IpNet> = routes_on(&mut hnl, Family::V6, host_a.index)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(
        host_routes.contains(&net("fd00:99::2/128")),
        "{host_routes:?}"
    );

    // a -> node -> b, both families: the host routes and forwarding do the work.
    tcp_round_trip(&b, &a, "10.99.0.3:7002".parse().unwrap()).unwrap();
    tcp_round_trip(&b, &a, "[fd00:99::3]:7003".parse().unwrap()).unwrap();

    assert_silent_ok(&node.check("ctr-a", &a, &conf, &ra));
    assert_silent_ok(&node.check("ctr-b", &b, &conf, &rb));

    assert_silent_ok(&node.del("ctr-a", Some(a.path()), &conf));
    assert!(anl.link("eth0").unwrap_err().is_not_found());
    assert_eq!(node.veths().len(), 1, "b's host end stays");
    assert_silent_ok(&node.check("ctr-b", &b, &conf, &rb));
    assert_silent_ok(&node.del("ctr-b", Some(b.path()), &conf));
    assert!(node.veths().is_empty());
    assert!(node.reserved().is_empty());
}

#[test]
fn check_notices_drift() {
    let node = Node::new("ptp-chk-node", "ptp", NET);
    let c = Netns::new("ptp-chk-c").unwrap();
    let conf = node.v4_conf("1.0.0", json!({"ipMasq": true}));
    let r = node.add("ctr-chk", &c, &conf);
    assert_silent_ok(&node.check("ctr-chk", &c, &conf, &r));

    // No prevResult, or one for another namespace or MAC.
    let out = node.run("CHECK", "ctr-chk", Some(c.path()), &conf);
    assert_eq!(error_code(&out), 7);
    let mut other = r.clone();
    other["interfaces"][1]["sandbox"] = json!("/run/netns/elsewhere");
    assert_eq!(error_code(&node.check("ctr-chk", &c, &conf, &other)), 999);
    let mut mac = r.clone();
    mac["interfaces"][1]["mac"] = json!("02:00:00:00:00:01");
    assert_eq!(error_code(&node.check("ctr-chk", &c, &conf, &mac)), 999);
    // A route the container does not have.
    let mut route = r.clone();
    route["routes"] = json!([{"dst": "10.50.0.0/16", "gw": "10.98.0.1"}]);
    assert_eq!(error_code(&node.check("ctr-chk", &c, &conf, &route)), 999);

    // The masquerade rule removed by hand.
    let out = node
        .ns
        .command("nft")
        .args([
            "flush",
            "chain",
            "inet",
            "cni_plugins_masquerade",
            "masq_checks",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(error_code(&node.check("ctr-chk", &c, &conf, &r)), 999);

    // The address flushed, then the interface gone.
    let st = c
        .command("ip")
        .args(["addr", "flush", "dev", "eth0"])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(error_code(&node.check("ctr-chk", &c, &conf, &r)), 999);
    let st = c.command("ip").args(["link", "del", "eth0"]).status();
    assert!(st.unwrap().success());
    assert_eq!(error_code(&node.check("ctr-chk", &c, &conf, &r)), 999);

    // DEL still cleans up what is left (the reservation).
    assert_silent_ok(&node.del("ctr-chk", Some(c.path()), &conf));
    assert!(node.reserved().is_empty());
}

#[test]
fn del_after_the_namespace_is_gone_releases_everything() {
    let node = Node::new("ptp-gone-node", "ptp", NET);
    let conf = node.v4_conf("1.0.0", json!({"ipMasq": true}));

    // The namespace deleted before DEL.
    let c = Netns::new("ptp-gone-c").unwrap();
    let path = c.path().to_path_buf();
    node.add("ctr-gone", &c, &conf);
    assert_eq!(node.has_masq("ctr-gone"), 1);
    drop(c);
    assert_silent_ok(&node.del("ctr-gone", Some(&path), &conf));
    assert!(node.reserved().is_empty());
    assert_eq!(
        node.has_masq("ctr-gone"),
        0,
        "torn down by name (UPSTREAM-6)"
    );
    wait_until("the host end goes with the namespace", || {
        node.veths().is_empty()
    });
    assert_silent_ok(&node.del("ctr-gone", Some(&path), &conf));

    // DEL without CNI_NETNS: IPAM and firewall released, the link stays until a DEL that
    // names the namespace.
    let c = Netns::new("ptp-nonet-c").unwrap();
    node.add("ctr-nonet", &c, &conf);
    assert_silent_ok(&node.del("ctr-nonet", None, &conf));
    assert!(node.reserved().is_empty());
    assert_eq!(node.has_masq("ctr-nonet"), 0);
    assert_eq!(node.veths().len(), 1);
    assert_silent_ok(&node.del("ctr-nonet", Some(c.path()), &conf));
    assert!(node.veths().is_empty());

    // CNI_NETNS naming a regular file: nothing to delete there, success.
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_silent_ok(&node.del("ctr-file", Some(file.path()), &conf));
}

#[test]
fn failed_add_leaves_nothing_behind() {
    let node = Node::new("ptp-fail-node", "ptp", NET);
    let c = Netns::new("ptp-fail-c").unwrap();

    // IPAM hands out an address and a route whose gateway is unreachable: ADD fails after
    // the veth pair, the addresses and the masquerade would exist, and undoes all of it.
    let conf = node.conf(
        "1.0.0",
        json!([[{"subnet": "10.97.0.0/24"}]]),
        json!([{"dst": "10.200.0.0/16", "gw": "10.250.0.1"}]),
        json!({"ipMasq": true}),
    );
    let out = node.run("ADD", "ctr-fail", Some(c.path()), &conf);
    assert_eq!(error_code(&out), 999);
    assert!(node.reserved().is_empty(), "IPAM DEL ran");
    assert!(node.veths().is_empty(), "the veth pair is gone");
    let mut cnl = Netlink::open_in(c.path()).unwrap();
    assert!(cnl.link("eth0").unwrap_err().is_not_found());
    assert_eq!(node.has_masq("ctr-fail"), 0);

    // The interface name is taken: refused before IPAM runs, the link is left alone.
    let st = c
        .command("ip")
        .args([
            "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
        ])
        .status();
    assert!(st.unwrap().success());
    let conf = node.v4_conf("1.0.0", json!({}));
    let out = node.run("ADD", "ctr-taken", Some(c.path()), &conf);
    assert_eq!(error_code(&out), 999);
    assert!(node.reserved().is_empty());
    let taken = cnl.link("eth0").unwrap();
    assert_eq!(
        taken.parent,
        Some(cnl.link("peer0").unwrap().index),
        "the same link"
    );
    assert!(node.veths().is_empty());

    // The namespace does not exist.
    let out = node.run(
        "ADD",
        "ctr-nons",
        Some(Path::new("/run/netns/cnirs-ptp-never-there")),
        &conf,
    );
    assert_eq!(error_code(&out), 999);
    assert!(node.reserved().is_empty());
}

#[test]
fn bad_configurations_are_refused_with_their_codes() {
    let node = Node::new("ptp-bad-node", "ptp", NET);
    let c = Netns::new("ptp-bad-c").unwrap();
    let base = node.v4_conf("1.0.0", json!({}));
    let mut no_ipam = base.clone();
    no_ipam.as_object_mut().unwrap().remove("ipam");
    let mut empty_ipam = base.clone();
    empty_ipam["ipam"] = json!({});
    let cases: Vec<(Value, u64)> = vec![
        (no_ipam, 7),
        (empty_ipam, 7),
        (node.v4_conf("1.0.0", json!({"mtu": -1})), 7),
        (node.v4_conf("1.0.0", json!({"mtu": "1500"})), 7),
        (node.v4_conf("1.0.0", json!({"ipMasq": "yes"})), 7),
        (
            node.v4_conf("1.0.0", json!({"ipMasq": true, "ipMasqBackend": "pf"})),
            2,
        ),
        (node.v4_conf("1.0.0", json!({"dns": []})), 7),
        (node.v4_conf("9.9.9", json!({})), 1),
    ];
    for (conf, code) in cases {
        let out = node.run("ADD", "ctr-bad", Some(c.path()), &conf);
        assert_eq!(error_code(&out), code, "{conf}");
        assert!(node.reserved().is_empty(), "{conf}");
        assert!(node.veths().is_empty(), "{conf}");
    }
    // Not JSON at all.
    let out = node.run("ADD", "ctr-bad", Some(c.path()), &Value::String("x".into()));
    assert_eq!(error_code(&out), 6);
    // A prevResult that cannot be read.
    let r = node.add("ctr-ok", &c, &base);
    let out = node.check(
        "ctr-ok",
        &c,
        &base,
        &json!({"cniVersion": "1.0.0", "ips": 5}),
    );
    assert_eq!(error_code(&out), 6);
    // DEL reads leniently: a config that became invalid still releases everything.
    let mut broken = base.clone();
    broken["mtu"] = json!("bad");
    broken["prevResult"] = r;
    assert_silent_ok(&node.del("ctr-ok", Some(c.path()), &broken));
    assert!(node.reserved().is_empty());
    assert!(node.veths().is_empty());
}

#[test]
fn older_versions_get_their_result_shapes() {
    let node = Node::new("ptp-ver-node", "ptp", NET);
    for (i, version) in ["0.4.0", "0.3.1", "0.2.0"].iter().enumerate() {
        let c = Netns::new("ptp-ver-c").unwrap();
        let id = format!("ctr-ver{i}");
        let conf = node.v4_conf(version, json!({}));
        let r = node.add(&id, &c, &conf);
        assert_eq!(r["cniVersion"], *version);
        if *version == "0.2.0" {
            // host-local's cursor moved on: the next free address.
            assert!(
                r["ip4"]["ip"].as_str().unwrap().starts_with("10.98.0."),
                "{r}"
            );
            assert_eq!(r["ip4"]["gateway"], "10.98.0.1", "{r}");
        } else {
            assert_eq!(r["ips"][0]["version"], "4", "{r}");
            assert_eq!(r["ips"][0]["interface"], 1, "{r}");
            assert_eq!(r["interfaces"][1]["name"], "eth0", "{r}");
        }
        if *version == "0.4.0" {
            assert_silent_ok(&node.check(&id, &c, &conf, &r));
        }
        assert_silent_ok(&node.del(&id, Some(c.path()), &conf));
        assert!(node.reserved().is_empty());
    }
}

#[test]
fn status_and_gc_go_to_ipam_and_gc_drops_stale_masquerade() {
    let node = Node::new("ptp-gc-node", "ptp", NET);
    let conf = node.v4_conf("1.1.0", json!({"ipMasq": true}));
    assert_silent_ok(&node.run("STATUS", "", None, &conf));
    // A bad config is reported by STATUS too.
    let mut no_ipam = conf.clone();
    no_ipam.as_object_mut().unwrap().remove("ipam");
    assert_eq!(error_code(&node.run("STATUS", "", None, &no_ipam)), 7);

    let a = Netns::new("ptp-gc-a").unwrap();
    let b = Netns::new("ptp-gc-b").unwrap();
    node.add("ctr-a", &a, &conf);
    node.add("ctr-b", &b, &conf);
    assert_eq!(node.reserved(), ["10.98.0.2", "10.98.0.3"]);
    assert_eq!((node.has_masq("ctr-a"), node.has_masq("ctr-b")), (1, 1));

    // a's container died without DEL.
    drop(a);
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "ctr-b", "ifname": "eth0"}]);
    assert_silent_ok(&node.run("GC", "", None, &gc));
    assert_eq!(node.reserved(), ["10.98.0.3"]);
    assert_eq!((node.has_masq("ctr-a"), node.has_masq("ctr-b")), (0, 1));
    assert_silent_ok(&node.del("ctr-b", Some(b.path()), &conf));
    assert!(node.nft_comments().is_empty());
}

#[test]
fn iptables_backend_when_asked_for() {
    let node = Node::new("ptp-ipt-node", "ptp", NET);
    let c = Netns::new("ptp-ipt-c").unwrap();
    let conf = node.v4_conf(
        "1.0.0",
        json!({"ipMasq": true, "ipMasqBackend": "iptables"}),
    );
    let chain = MasqSpec::new(NET, "ctr-ipt", "eth0", []).iptables_chain();
    let nat = || {
        let out = node
            .ns
            .command("iptables-save")
            .args(["-t", "nat"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let r = node.add("ctr-ipt", &c, &conf);
    let rules = nat();
    assert!(
        rules.contains("-A POSTROUTING -s 10.98.0.2/32") && rules.contains(&chain),
        "{rules}"
    );
    assert_eq!(node.has_masq("ctr-ipt"), 0, "no nftables rule");
    assert_silent_ok(&node.check("ctr-ipt", &c, &conf, &r));
    assert_silent_ok(&node.del("ctr-ipt", Some(c.path()), &conf));
    assert!(!nat().contains(&chain), "{}", nat());
}
