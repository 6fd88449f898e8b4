//! The `ipvlan` and `vlan` binaries end to end. This machine's kernel has neither link kind, so
//! these tests run inside the VM lane's VM (Debian's kernel; `scripts/vm/README.md`), driven
//! from this same file:
//!
//! - in an ordinary (dynamically linked) build, `driver::ipvlan_and_vlan_tests_pass_inside_the_vm`
//!   builds this target statically (`-C target-feature=+crt-static`, which makes the plugin
//!   binaries it uses static too, in `target/vm-build/` as the `vm-lane` crate does), boots the VM with
//!   `scripts/vm/run.sh` (the workspace is shared at the same path) and requires every other
//!   test of this file to report `ok` there (all of it `vm_lane::SelfDriven`, a dev-dependency).
//!   The other tests are reported as *ignored* here, naming the VM: a skip is never counted as
//!   a pass;
//! - in the static build the driver does not exist and the tests run; each first checks that
//!   it is inside the VM ([`in_vm`]), so a static build run elsewhere fails.
//!
//! Each test has a node namespace (the plugin's "host", a `support::Node`) with a dummy master,
//! container namespaces, and host-local with a temporary `dataDir`. Besides each plugin's own
//! tests, the rules every interface plugin shares (`support::verb_rules`, run for the others
//! by `tests/common_verb_rules.rs`) are checked here for ipvlan and vlan: DEL with
//! `CNI_NETNS` not a namespace, CHECK with dash-form MACs. One test by hand, once the driver
//! has built everything:
//!
//! ```text
//! scripts/vm/run.sh target/vm-build/x86_64-unknown-linux-gnu/debug/deps/in_vm_ipvlan_vlan-<hash> \
//!     vlan_add_check_del --nocapture
//! ```
//!
//! The tests are slow in the VM (every plugin run is an emulated process start, 0.2-1 s under
//! load), so the driver allows the VM 900 s (`CNIRS_VM_TIMEOUT` overrides).

mod support;
use support::{assert_silent_ok, error_code, ip, merged, text, verb_rules, LinkKind, Node};

use netns_sandbox::fixtures::tcp_round_trip;
use netns_sandbox::Netns;
use reference_plugins::netlink::{IpvlanMode, Link, LinkData, Netlink};
use serde_json::{json, Value};

const MASTER: &str = "d0";

/// Fails the test unless it runs inside the VM (its init sets `CNIRS_IN_VM=1`).
fn in_vm() {
    assert_eq!(
        std::env::var("CNIRS_IN_VM").as_deref(),
        Ok("1"),
        "this test needs the VM lane's kernel (ipvlan, 802.1q, dummy); it runs inside the VM \
         through `cargo test -p reference-plugins --test in_vm_ipvlan_vlan`"
    );
}

// ----- the driver (host side) ------------------------------------------------------------

/// The host side: absent from the static build that runs in the VM.
#[cfg(not(target_feature = "crt-static"))]
mod driver {
    use vm_lane::SelfDriven;

    /// Builds the VM image, builds this target statically, runs it in the VM and requires every
    /// listed test (at least 7) to be `ok` there, with the `vm-lane` crate (what
    /// `tests/vm_lane.rs` does for `in_vm_kernel_features`). Anything missing fails with the
    /// reason.
    #[test]
    fn ipvlan_and_vlan_tests_pass_inside_the_vm() {
        SelfDriven::new(env!("CARGO_PKG_NAME"), "in_vm_ipvlan_vlan")
            .min_tests(11)
            .env_default("CNIRS_VM_TIMEOUT", "900")
            .run()
            .assert_all_ok();
    }
}

// ----- helpers (inside the VM) -----------------------------------------------------------

/// A node namespace for `plugin` with a dummy master `d0` (up); the network is
/// `<plugin>net`.
fn sub_node(plugin: &'static str, label: &str) -> Node {
    Node::new(label, plugin, &format!("{plugin}net")).with_master(MASTER, LinkKind::Dummy)
}

/// What the ipvlan and vlan tests ask of a node beyond `support::Node`.
trait SubNode {
    /// The plugin's config on `d0` with host-local over 10.95.0.0/24 (vlan: `vlanId` 100),
    /// plus `extra` keys (a `null` removes the key).
    fn conf(&self, extra: Value) -> Value;
}

impl SubNode for Node {
    fn conf(&self, extra: Value) -> Value {
        let mut c = self.net_conf(
            "1.0.0",
            json!({"master": MASTER, "ipam": self.host_local("10.95.0.0/24")}),
        );
        if self.plugin == "vlan" {
            c["vlanId"] = json!(100);
        }
        merged(c, extra)
    }
}

fn eth0(ns: &Netns) -> Link {
    Netlink::open_in(ns.path()).unwrap().link("eth0").unwrap()
}

/// The names of the links in `ns` other than `lo`, sorted.
fn link_names(ns: &Netns) -> Vec<String> {
    let mut v: Vec<String> = Netlink::open_in(ns.path())
        .unwrap()
        .links()
        .unwrap()
        .into_iter()
        .filter(|l| l.name != "lo")
        .map(|l| l.name)
        .collect();
    v.sort();
    v
}

fn global_addrs(ns: &Netns) -> Vec<String> {
    let mut nl = Netlink::open_in(ns.path()).unwrap();
    let idx = nl.link("eth0").unwrap().index;
    nl.addresses(idx, None)
        .unwrap()
        .into_iter()
        .filter(|a| a.scope == 0)
        .map(|a| a.net().to_string())
        .collect()
}

// ----- ipvlan ----------------------------------------------------------------------------

fn ipvlan_mode(l: &Link) -> Option<IpvlanMode> {
    match l.data {
        Some(LinkData::Ipvlan { mode, .. }) => mode,
        _ => None,
    }
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn ipvlan_add_check_del_in_each_mode() {
    in_vm();
    for (mode, want) in [
        ("l2", IpvlanMode::L2),
        ("l3", IpvlanMode::L3),
        ("l3s", IpvlanMode::L3s),
    ] {
        let node = sub_node("ipvlan", &format!("ipv-{mode}-node"));
        let master = node.master();
        let c1 = Netns::new(&format!("ipv-{mode}-c1")).unwrap();
        let c2 = Netns::new(&format!("ipv-{mode}-c2")).unwrap();
        let conf = node.conf(json!({"mode": mode, "dns": {"nameservers": ["10.95.0.53"]}}));
        let r1 = node.add("ctr-1", &c1, &conf);
        let r2 = node.add("ctr-2", &c2, &conf);
        let link = eth0(&c1);
        // The result: the link (sharing the master's MAC) and IPAM's address on it.
        assert_eq!(r1["interfaces"].as_array().unwrap().len(), 1, "{r1}");
        assert_eq!(r1["interfaces"][0]["name"], "eth0");
        assert_eq!(
            r1["interfaces"][0]["mac"].as_str(),
            master.mac_string().as_deref(),
            "{r1}"
        );
        assert_eq!(r1["interfaces"][0]["sandbox"].as_str(), c1.path().to_str());
        assert_eq!(
            r1["ips"],
            json!([{"interface": 0, "address": "10.95.0.2/24", "gateway": "10.95.0.1"}])
        );
        assert_eq!(r1["dns"], json!({"nameservers": ["10.95.0.53"]}));
        // The kernel.
        assert!(link.is_kind("ipvlan") && link.is_up(), "{link:?}");
        assert_eq!(ipvlan_mode(&link), Some(want), "{mode}");
        assert_eq!(link.parent, Some(master.index));
        assert_eq!(global_addrs(&c1), ["10.95.0.2/24"]);
        assert_eq!(link_names(&c1), ["eth0"], "no temporary name left");
        // The two containers reach each other through the master.
        tcp_round_trip(&c2, &c1, "10.95.0.3:7777".parse().unwrap()).unwrap();
        tcp_round_trip(&c1, &c2, "10.95.0.2:7777".parse().unwrap()).unwrap();
        // CHECK: fine, then with another mode configured it fails.
        assert_silent_ok(&node.check("ctr-1", &c1, &conf, &r1));
        let other = node.conf(json!({"mode": if mode == "l2" { "l3" } else { "l2" }}));
        let out = node.check("ctr-1", &c1, &other, &r1);
        assert_eq!(error_code(&out), 999, "{mode}");
        assert!(text(&out).contains("mode"), "{}", text(&out));
        // DEL twice, then the other.
        assert_silent_ok(&node.del("ctr-1", Some(c1.path()), &conf));
        assert_silent_ok(&node.del("ctr-1", Some(c1.path()), &conf));
        assert!(link_names(&c1).is_empty());
        assert_silent_ok(&node.check("ctr-2", &c2, &conf, &r2));
        assert_silent_ok(&node.del("ctr-2", Some(c2.path()), &conf));
        assert!(node.reserved().is_empty(), "{mode}");
    }
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn ipvlan_chained_on_prev_result_addresses() {
    in_vm();
    let node = sub_node("ipvlan", "ipv-chain-node");
    let c = Netns::new("ipv-chain-c").unwrap();
    // No master, no ipam: the master is prevResult's one interface, the addresses its ips.
    let mut conf = node.conf(json!({"master": null, "ipam": null}));
    conf["prevResult"] = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": MASTER}],
        "ips": [{"interface": 0, "address": "10.95.7.9/24", "gateway": "10.95.7.1"}],
        "routes": [{"dst": "10.200.0.0/16"}],
        "dns": {"domain": "prev.example"},
    });
    let r = node.add("ctr-ch", &c, &conf);
    // The earlier interface stays; the addresses moved to the ipvlan link (index 1).
    assert_eq!(
        r["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [MASTER, "eth0"],
        "{r}"
    );
    assert_eq!(
        r["ips"],
        json!([{"interface": 1, "address": "10.95.7.9/24", "gateway": "10.95.7.1"}])
    );
    assert_eq!(r["routes"], json!([{"dst": "10.200.0.0/16"}]));
    assert_eq!(r["dns"], json!({"domain": "prev.example"}));
    assert_eq!(eth0(&c).parent, Some(node.master().index));
    assert_eq!(global_addrs(&c), ["10.95.7.9/24"]);
    let mut nl = Netlink::open_in(c.path()).unwrap();
    assert!(nl
        .routes(None)
        .unwrap()
        .iter()
        .any(|rt| rt.dst.to_string() == "10.200.0.0/16"
            && rt.gateway == Some("10.95.7.1".parse().unwrap())));
    assert!(node.reserved().is_empty(), "IPAM was not called");
    // CHECK (without master in the config, the link itself is checked).
    let plain = node.conf(json!({"master": null, "ipam": null}));
    assert_silent_ok(&node.check("ctr-ch", &c, &plain, &r));
    assert_silent_ok(&node.del("ctr-ch", Some(c.path()), &plain));
    assert!(link_names(&c).is_empty());

    // Neither ipam nor prevResult addresses: code 7 before anything is made.
    let none = node.conf(json!({"ipam": null}));
    assert_eq!(
        error_code(&node.run("ADD", "ctr-ch", Some(c.path()), &none)),
        7
    );
    // Chained without master, and prevResult has two interfaces: code 7.
    let mut two = node.conf(json!({"master": null}));
    two["prevResult"] = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "a"}, {"name": "b"}],
        "ips": [{"interface": 0, "address": "10.95.8.2/24"}]});
    assert_eq!(
        error_code(&node.run("ADD", "ctr-ch", Some(c.path()), &two)),
        7
    );
    assert!(link_names(&c).is_empty());
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn ipvlan_master_choices_and_failures() {
    in_vm();
    let node = sub_node("ipvlan", "ipv-master-node");
    let c = Netns::new("ipv-master-c").unwrap();

    // Default route interface when master is unset.
    let dflt = node.conf(json!({"master": null}));
    let out = node.run("ADD", "ctr-m", Some(c.path()), &dflt);
    assert_eq!(error_code(&out), 999);
    assert!(text(&out).contains("default route"), "{}", text(&out));
    assert!(link_names(&c).is_empty());
    ip(&node.ns, &["addr", "add", "192.0.2.10/24", "dev", MASTER]);
    ip(&node.ns, &["route", "add", "default", "via", "192.0.2.1"]);
    let r = node.add("ctr-m", &c, &dflt);
    assert_eq!(eth0(&c).parent, Some(node.master().index));
    assert_silent_ok(&node.check("ctr-m", &c, &dflt, &r));
    assert_silent_ok(&node.del("ctr-m", Some(c.path()), &dflt));

    // linkInContainer: the master lives in the container.
    ip(&c, &["link", "add", "m0", "type", "dummy"]);
    ip(&c, &["link", "set", "m0", "up"]);
    let lic = node.conf(json!({"master": "m0", "linkInContainer": true}));
    let r = node.add("ctr-m", &c, &lic);
    let m0 = Netlink::open_in(c.path()).unwrap().link("m0").unwrap();
    assert_eq!(eth0(&c).parent, Some(m0.index));
    assert_silent_ok(&node.check("ctr-m", &c, &lic, &r));
    assert_silent_ok(&node.del("ctr-m", Some(c.path()), &lic));
    assert_eq!(link_names(&c), ["m0"]);

    // IPAM fails (unknown plugin): the link is removed (upstream leaves it, UPSTREAM-5).
    let bad_ipam = node.conf(json!({"ipam": {"type": "no-such-ipam"}}));
    let out = node.run("ADD", "ctr-m", Some(c.path()), &bad_ipam);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(link_names(&c), ["m0"]);
    // The ifname is taken: the temporary link goes, IPAM never ran.
    ip(&c, &["link", "add", "eth0", "type", "dummy"]);
    let conf = node.conf(json!({}));
    assert_eq!(
        error_code(&node.run("ADD", "ctr-m", Some(c.path()), &conf)),
        999
    );
    assert_eq!(link_names(&c), ["eth0", "m0"]);
    assert!(node.reserved().is_empty());
    ip(&c, &["link", "del", "eth0"]);

    // The `flag` extension.
    let flagged = node.conf(json!({"flag": "private"}));
    node.add("ctr-m", &c, &flagged);
    match eth0(&c).data {
        Some(LinkData::Ipvlan { flag, .. }) => {
            assert_eq!(flag, Some(reference_plugins::netlink::IpvlanFlag::Private))
        }
        other => panic!("{other:?}"),
    }
    assert_silent_ok(&node.del("ctr-m", Some(c.path()), &flagged));
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn ipvlan_del_when_things_are_gone() {
    in_vm();
    let node = sub_node("ipvlan", "ipv-gone-node");
    // Master unset and no default route: DEL never looks for the master (UPSTREAM-8).
    let conf = node.conf(json!({}));
    let unset = node.conf(json!({"master": null}));
    let c = Netns::new("ipv-gone-c").unwrap();
    node.add("ctr-g", &c, &conf);
    assert_silent_ok(&node.del("ctr-g", Some(c.path()), &unset));
    assert!(node.reserved().is_empty());
    assert!(link_names(&c).is_empty());
    // The master is deleted (its ipvlans go with it).
    node.add("ctr-g", &c, &conf);
    ip(&node.ns, &["link", "del", MASTER]);
    assert_silent_ok(&node.del("ctr-g", Some(c.path()), &conf));
    assert!(node.reserved().is_empty());
    // The namespace is gone.
    node.add_link(MASTER, LinkKind::Dummy);
    node.add("ctr-g", &c, &conf);
    let path = c.path().to_path_buf();
    drop(c);
    assert_silent_ok(&node.del("ctr-g", Some(&path), &conf));
    assert_silent_ok(&node.del("ctr-g", None, &conf));
    assert!(node.reserved().is_empty());
}

// ----- vlan ------------------------------------------------------------------------------

fn vlan_id(l: &Link) -> Option<u16> {
    match l.data {
        Some(LinkData::Vlan { id }) => Some(id),
        _ => None,
    }
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs 802.1q vlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn vlan_add_check_del() {
    in_vm();
    let node = sub_node("vlan", "vlan-basic-node");
    let master = node.master();
    let c1 = Netns::new("vlan-basic-c1").unwrap();
    let c2 = Netns::new("vlan-basic-c2").unwrap();
    let conf = node.conf(json!({"mtu": 1400, "dns": {"nameservers": ["10.95.0.53"]}}));
    let r = node.add("ctr-1", &c1, &conf);
    let link = eth0(&c1);
    assert_eq!(r["interfaces"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(
        r["interfaces"][0]["mac"].as_str(),
        link.mac_string().as_deref()
    );
    assert_eq!(r["interfaces"][0]["sandbox"].as_str(), c1.path().to_str());
    assert_eq!(
        r["ips"],
        json!([{"interface": 0, "address": "10.95.0.2/24", "gateway": "10.95.0.1"}])
    );
    assert_eq!(r["dns"], json!({"nameservers": ["10.95.0.53"]}));
    assert!(link.is_kind("vlan") && link.is_up(), "{link:?}");
    assert_eq!(vlan_id(&link), Some(100));
    assert_eq!(link.parent, Some(master.index));
    assert_eq!(link.mtu, Some(1400));
    assert_eq!(global_addrs(&c1), ["10.95.0.2/24"]);
    assert_eq!(link_names(&c1), ["eth0"]);
    assert_silent_ok(&node.check("ctr-1", &c1, &conf, &r));

    // CHECK notices another id, or an MTU that changed.
    let other_id = node.conf(json!({"mtu": 1400, "vlanId": 101}));
    assert_eq!(error_code(&node.check("ctr-1", &c1, &other_id, &r)), 999);
    ip(&c1, &["link", "set", "eth0", "mtu", "1300"]);
    assert_eq!(error_code(&node.check("ctr-1", &c1, &conf, &r)), 999);

    // The same (master, id) for a second container: the kernel refuses; nothing is left
    // behind and the address is released (neither upstream nor ours checks the pair first:
    // the kernel's refusal is the check).
    let out = node.run("ADD", "ctr-2", Some(c2.path()), &conf);
    assert_eq!(error_code(&out), 999);
    assert!(text(&out).contains("has VLAN 100"), "{}", text(&out));
    assert!(link_names(&c2).is_empty());
    assert_eq!(node.reserved(), ["10.95.0.2"]);
    // Another id works.
    let conf101 = node.conf(json!({"vlanId": 101}));
    let r2 = node.add("ctr-2", &c2, &conf101);
    assert_eq!(vlan_id(&eth0(&c2)), Some(101));
    assert_silent_ok(&node.check("ctr-2", &c2, &conf101, &r2));

    // MTU above the master's: code 7, nothing made.
    let c3 = Netns::new("vlan-basic-c3").unwrap();
    let too_big = node.conf(json!({"vlanId": 102, "mtu": 1501}));
    assert_eq!(
        error_code(&node.run("ADD", "ctr-3", Some(c3.path()), &too_big)),
        7
    );
    assert!(link_names(&c3).is_empty());
    // A missing vlanId or ipam: code 7, nothing made.
    for extra in [json!({"vlanId": null}), json!({"ipam": null})] {
        let bad = node.conf(extra);
        assert_eq!(
            error_code(&node.run("ADD", "ctr-3", Some(c3.path()), &bad)),
            7
        );
    }
    assert!(link_names(&c3).is_empty());

    assert_silent_ok(&node.del("ctr-1", Some(c1.path()), &conf));
    assert_silent_ok(&node.del("ctr-1", Some(c1.path()), &conf));
    assert_silent_ok(&node.del("ctr-2", Some(c2.path()), &conf101));
    assert!(link_names(&c1).is_empty() && link_names(&c2).is_empty());
    assert!(node.reserved().is_empty());
    // Only the master is left in the node.
    assert_eq!(link_names(&node.ns), [MASTER]);
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs 802.1q vlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn vlan_link_in_container_and_failures() {
    in_vm();
    let node = sub_node("vlan", "vlan-lic-node");
    let c = Netns::new("vlan-lic-c").unwrap();
    ip(&c, &["link", "add", "m0", "type", "dummy"]);
    ip(&c, &["link", "set", "m0", "up"]);
    let lic = node.conf(json!({"master": "m0", "linkInContainer": true, "vlanId": 7}));
    let r = node.add("ctr-l", &c, &lic);
    let m0 = Netlink::open_in(c.path()).unwrap().link("m0").unwrap();
    let link = eth0(&c);
    assert_eq!((link.parent, vlan_id(&link)), (Some(m0.index), Some(7)));
    assert_silent_ok(&node.check("ctr-l", &c, &lic, &r));
    assert_silent_ok(&node.del("ctr-l", Some(c.path()), &lic));
    assert_eq!(link_names(&c), ["m0"]);
    // Without linkInContainer, m0 is not in the node.
    let host = node.conf(json!({"master": "m0", "vlanId": 7}));
    assert_eq!(
        error_code(&node.run("ADD", "ctr-l", Some(c.path()), &host)),
        999
    );
    // IPAM fails: the link is removed (upstream leaves it, UPSTREAM-5).
    let bad_ipam = node.conf(json!({"ipam": {"type": "no-such-ipam"}}));
    let out = node.run("ADD", "ctr-l", Some(c.path()), &bad_ipam);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(link_names(&c), ["m0"]);
    assert_eq!(link_names(&node.ns), [MASTER]);
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs 802.1q vlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn vlan_del_when_things_are_gone() {
    in_vm();
    let node = sub_node("vlan", "vlan-gone-node");
    let conf = node.conf(json!({}));
    let c = Netns::new("vlan-gone-c").unwrap();
    // The master vanished: upstream's DEL fails here (it re-reads the master's MTU,
    // UPSTREAM-8).
    node.add("ctr-g", &c, &conf);
    ip(&node.ns, &["link", "del", MASTER]);
    assert_silent_ok(&node.del("ctr-g", Some(c.path()), &conf));
    assert!(node.reserved().is_empty());
    assert!(link_names(&c).is_empty());
    // The namespace is gone.
    node.add_link(MASTER, LinkKind::Dummy);
    node.add("ctr-g", &c, &conf);
    let path = c.path().to_path_buf();
    drop(c);
    assert_silent_ok(&node.del("ctr-g", Some(&path), &conf));
    assert_silent_ok(&node.del("ctr-g", Some(&path), &conf));
    assert!(node.reserved().is_empty());
    // STATUS and GC reach host-local (1.1.0).
    let c = Netns::new("vlan-gone-c2").unwrap();
    let v11 = node.conf(json!({"cniVersion": "1.1.0"}));
    node.add("ctr-a", &c, &v11);
    assert_silent_ok(&node.run("STATUS", "", None, &v11));
    let mut gc = v11.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    assert_silent_ok(&node.run("GC", "", None, &gc));
    assert!(node.reserved().is_empty());
    assert_silent_ok(&node.del("ctr-a", Some(c.path()), &v11));
}

// ----- the rules every interface plugin shares (tests/common_verb_rules.rs) --------------

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn ipvlan_del_with_netns_not_a_namespace() {
    in_vm();
    let node = sub_node("ipvlan", "ipv-rules-del-node");
    verb_rules::del_with_netns_not_a_namespace(&node, &node.conf(json!({})), "ipv-rules-del");
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs 802.1q vlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn vlan_del_with_netns_not_a_namespace() {
    in_vm();
    let node = sub_node("vlan", "vlan-rules-del-node");
    verb_rules::del_with_netns_not_a_namespace(&node, &node.conf(json!({})), "vlan-rules-del");
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn ipvlan_check_reads_dashed_macs() {
    in_vm();
    let node = sub_node("ipvlan", "ipv-rules-mac-node");
    verb_rules::check_reads_dashed_macs(&node, &node.conf(json!({})), "ipv-rules-mac");
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs 802.1q vlan links: runs inside the VM (driver: ipvlan_and_vlan_tests_pass_inside_the_vm)"
)]
fn vlan_check_reads_dashed_macs() {
    in_vm();
    let node = sub_node("vlan", "vlan-rules-mac-node");
    verb_rules::check_reads_dashed_macs(&node, &node.conf(json!({})), "vlan-rules-mac");
}
