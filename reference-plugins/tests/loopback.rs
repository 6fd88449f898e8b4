//! The `loopback` binary end to end, in real network namespaces: each test runs it (and, for
//! comparison, the upstream plugin when installed) inside a node namespace of its own
//! (`support::Node`).

mod support;
use support::{assert_silent_ok, error_json, ip, ok_json, run_program, Call, Node};

use std::path::Path;

use netns_sandbox::Netns;
use reference_plugins::netlink::Netlink;
use serde_json::{json, Value};

const UPSTREAM: &str = "/usr/lib/cni/loopback";
const NET: &str = "lo-test";
/// The container ID of every call.
const ID: &str = "ctr-lo-1";

fn conf(version: &str) -> Value {
    json!({"cniVersion": version, "name": NET, "type": "loopback"})
}

/// A node namespace our loopback runs in.
fn loopback_node(label: &str) -> Node {
    Node::new(label, "loopback", NET)
}

fn lo_up(ns: &Netns) -> bool {
    Netlink::open_in(ns.path())
        .unwrap()
        .link("lo")
        .unwrap()
        .is_up()
}

#[test]
fn add_brings_lo_up_and_reports_it_per_version() {
    let node = loopback_node("lo-add-brings-lo");
    for version in ["1.1.0", "1.0.0"] {
        let ns = Netns::new("lo-add-v1").unwrap();
        assert!(!lo_up(&ns));
        let r = ok_json(&node.run("ADD", ID, Some(ns.path()), &conf(version)));
        assert!(lo_up(&ns));
        let sandbox = ns.path().to_str().unwrap();
        assert_eq!(
            r,
            json!({
                "cniVersion": version,
                "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": sandbox}],
                "ips": [
                    {"interface": 0, "address": "127.0.0.1/8"},
                    {"interface": 0, "address": "::1/128"}
                ]
            }),
            "{version}"
        );
    }

    let ns = Netns::new("lo-add-040").unwrap();
    let r = ok_json(&node.run("ADD", ID, Some(ns.path()), &conf("0.4.0")));
    assert!(lo_up(&ns));
    assert_eq!(r["cniVersion"], "0.4.0");
    assert_eq!(r["interfaces"][0]["name"], "lo");
    assert_eq!(
        r["ips"],
        json!([
            {"version": "4", "interface": 0, "address": "127.0.0.1/8"},
            {"version": "6", "interface": 0, "address": "::1/128"}
        ])
    );

    let ns = Netns::new("lo-add-020").unwrap();
    let r = ok_json(&node.run("ADD", ID, Some(ns.path()), &conf("0.2.0")));
    assert!(lo_up(&ns));
    assert_eq!(
        r,
        json!({"cniVersion": "0.2.0", "ip4": {"ip": "127.0.0.1/8"}, "ip6": {"ip": "::1/128"}})
    );
}

#[test]
fn add_is_repeatable() {
    let node = loopback_node("lo-add-is-repeatable");
    let ns = Netns::new("lo-add-twice").unwrap();
    let first = ok_json(&node.run("ADD", ID, Some(ns.path()), &conf("1.0.0")));
    let second = ok_json(&node.run("ADD", ID, Some(ns.path()), &conf("1.0.0")));
    assert_eq!(first, second);
    assert!(lo_up(&ns));
}

#[test]
fn prev_result_passes_through() {
    let node = loopback_node("lo-prev-result-passes");
    let prev = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mac": "0a:58:0a:01:00:05", "sandbox": "/x"}],
        "ips": [{"interface": 0, "address": "10.1.0.5/24", "gateway": "10.1.0.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
        "dns": {"nameservers": ["10.1.0.1"]}
    });
    let ns = Netns::new("lo-prev").unwrap();
    let stdin = json!({
        "cniVersion": "1.0.0", "name": "lo-test", "type": "loopback", "prevResult": prev
    });
    let r = ok_json(&node.run("ADD", ID, Some(ns.path()), &stdin));
    assert_eq!(r, prev);
    assert!(lo_up(&ns), "lo is brought up even with a prevResult");

    // A 0.4.0 prevResult in a 0.4.0 request comes back as it went in.
    let prev040 = json!({
        "cniVersion": "0.4.0",
        "ips": [{"version": "4", "address": "10.1.0.5/24"}]
    });
    let stdin = json!({
        "cniVersion": "0.4.0", "name": "lo-test", "type": "loopback", "prevResult": prev040
    });
    let r = ok_json(&node.run("ADD", ID, Some(ns.path()), &stdin));
    assert_eq!(r, prev040);
}

#[test]
fn without_ipv6_only_the_ipv4_address_is_reported() {
    let node = loopback_node("lo-without-ipv6-only");
    let ns = Netns::new("lo-noipv6").unwrap();
    let st = ns
        .command("sysctl")
        .args(["-qw", "net.ipv6.conf.lo.disable_ipv6=1"])
        .status()
        .unwrap();
    assert!(st.success());
    let r = ok_json(&node.run("ADD", ID, Some(ns.path()), &conf("1.0.0")));
    assert_eq!(
        r["ips"],
        json!([{"interface": 0, "address": "127.0.0.1/8"}])
    );
    // Same observable outcome as the upstream plugin, when it is installed.
    if Path::new(UPSTREAM).exists() {
        let ns2 = Netns::new("lo-noipv6-up").unwrap();
        let st = ns2
            .command("sysctl")
            .args(["-qw", "net.ipv6.conf.lo.disable_ipv6=1"])
            .status()
            .unwrap();
        assert!(st.success());
        let up = ok_json(&run_program(
            &node.ns,
            Path::new(UPSTREAM),
            &Call::new("ADD", ID, Some(ns2.path())),
            &conf("1.0.0"),
        ));
        assert_eq!(up["ips"], r["ips"]);
    }
}

#[test]
fn non_loopback_address_on_lo_fails_add() {
    let node = loopback_node("lo-non-loopback-address");
    let ns = Netns::new("lo-foreign").unwrap();
    ip(&ns, &["addr", "add", "10.99.0.1/24", "dev", "lo"]);
    let e = error_json(&node.run("ADD", ID, Some(ns.path()), &conf("1.0.0")));
    assert!(e["msg"].as_str().unwrap().contains("10.99.0.1"), "{e}");
}

#[test]
fn check_passes_while_up_and_fails_once_down() {
    let node = loopback_node("lo-check-passes-while");
    let ns = Netns::new("lo-check").unwrap();
    ok_json(&node.run("ADD", ID, Some(ns.path()), &conf("1.0.0")));
    assert_silent_ok(&node.run("CHECK", ID, Some(ns.path()), &conf("1.0.0")));

    ip(&ns, &["link", "set", "lo", "down"]);
    let e = error_json(&node.run("CHECK", ID, Some(ns.path()), &conf("1.0.0")));
    assert_eq!(e["code"], 999);
    assert!(e["msg"].as_str().unwrap().contains("down"), "{e}");
}

#[test]
fn del_brings_lo_down() {
    let node = loopback_node("lo-del-brings-lo");
    let ns = Netns::new("lo-del").unwrap();
    ok_json(&node.run("ADD", ID, Some(ns.path()), &conf("1.0.0")));
    assert!(lo_up(&ns));
    assert_silent_ok(&node.run("DEL", ID, Some(ns.path()), &conf("1.0.0")));
    assert!(!lo_up(&ns));
    // Again: still fine.
    assert_silent_ok(&node.run("DEL", ID, Some(ns.path()), &conf("1.0.0")));
}

#[test]
fn del_succeeds_without_a_namespace() {
    let node = loopback_node("lo-del-succeeds-without");
    let ns = Netns::new("lo-del-gone").unwrap();
    let path = ns.path().to_path_buf();
    ok_json(&node.run("ADD", ID, Some(&path), &conf("1.0.0")));
    ns.delete();
    assert!(!path.exists());
    assert_silent_ok(&node.run("DEL", ID, Some(&path), &conf("1.0.0")));
    assert_silent_ok(&node.run("DEL", ID, None, &conf("1.0.0")));
}

#[test]
fn bad_namespace_paths_are_errors_for_add_and_check() {
    let node = loopback_node("lo-bad-namespace-paths");
    let missing = Path::new("/run/netns/cnirs-lo-test-never-existed");
    let e = error_json(&node.run("ADD", ID, Some(missing), &conf("1.0.0")));
    assert_eq!(e["code"], 999);
    assert!(e["msg"].as_str().unwrap().contains("does not exist"), "{e}");
    error_json(&node.run("CHECK", ID, Some(missing), &conf("1.0.0")));

    // A path that exists but is not a network namespace: ADD fails, DEL succeeds (there is
    // no namespace to clean up; a runtime whose namespace was torn down first leaves its
    // bind-mount target as a plain file).
    let file = std::env::temp_dir().join(format!("cnirs-lo-notns-{}", std::process::id()));
    std::fs::write(&file, b"").unwrap();
    let add = node.run("ADD", ID, Some(&file), &conf("1.0.0"));
    let del = node.run("DEL", ID, Some(&file), &conf("1.0.0"));
    std::fs::remove_file(&file).unwrap();
    error_json(&add);
    assert_silent_ok(&del);
}

#[test]
fn version_lists_every_spec_version() {
    let node = loopback_node("lo-version-lists-every");
    let out = node.run("VERSION", ID, None, &json!({}));
    let v = ok_json(&out);
    assert_eq!(
        v["supportedVersions"],
        json!(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    );
}
