//! Rules every interface plugin follows the same way, because they share one implementation
//! (`reference_plugins::{netns, check}`), checked end to end on each plugin this kernel can
//! make (bridge, ptp, macvlan, loopback; ipvlan and vlan run the same checks inside the VM
//! lane, `in_vm_ipvlan_vlan.rs`):
//!
//! - DEL succeeds, and releases the IPAM reservation, when `CNI_NETNS` is a path that is no
//!   longer a namespace (a regular file: what a runtime that tore the namespace down first
//!   leaves at its bind-mount target) or a path that no longer exists (DEL-3, DEL-5);
//! - CHECK compares MAC addresses as addresses: a `prevResult` that writes them in the dash
//!   form Go's `net.ParseMAC` accepts (`aa-bb-cc-dd-ee-ff`) passes, a different MAC fails.

mod support;
use support::{assert_silent_ok, error_code, ip, Node};

use netns_sandbox::Netns;
use serde_json::{json, Value};

const NET: &str = "rulesnet";

/// A node ready for `plugin` and a config of it with host-local over `subnet`.
fn setup(label: &str, plugin: &'static str, subnet: &str) -> (Node, Value) {
    let node = Node::new(label, plugin);
    let mut conf = json!({
        "cniVersion": "1.0.0",
        "name": NET,
        "type": plugin,
        "ipam": node.host_local(subnet),
    });
    match plugin {
        "bridge" => conf["bridge"] = json!("rules-br0"),
        "macvlan" => {
            ip(
                &node.ns,
                &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
            );
            ip(&node.ns, &["link", "set", "up0", "up"]);
            conf["master"] = json!("up0");
        }
        "loopback" => {
            conf.as_object_mut().unwrap().remove("ipam");
        }
        _ => {}
    }
    (node, conf)
}

/// Every `mac` of `result`'s interfaces rewritten with dashes, in upper case.
fn dashed_macs(result: &Value) -> Value {
    let mut r = result.clone();
    for intf in r["interfaces"].as_array_mut().unwrap() {
        if let Some(mac) = intf["mac"].as_str() {
            intf["mac"] = json!(mac.replace(':', "-").to_uppercase());
        }
    }
    r
}

fn del_with_netns_not_a_namespace(label: &str, plugin: &'static str, subnet: &str) {
    let (node, conf) = setup(label, plugin, subnet);
    let c = Netns::new(&format!("{label}-c")).unwrap();
    node.add("ctr-file", &c, &conf);
    let with_ipam = conf.get("ipam").is_some();
    if with_ipam {
        assert_eq!(node.reserved(NET).len(), 1);
    }

    let stale = tempfile::NamedTempFile::new().unwrap();
    assert_silent_ok(&node.del("ctr-file", Some(stale.path()), &conf));
    if with_ipam {
        assert!(
            node.reserved(NET).is_empty(),
            "{plugin}: the reservation is released"
        );
    }
    let missing = stale.path().with_extension("gone");
    assert_silent_ok(&node.del("ctr-file", Some(&missing), &conf));
    let dir = tempfile::tempdir().unwrap();
    assert_silent_ok(&node.del("ctr-file", Some(dir.path()), &conf));

    // Another container, DEL with a path that does not exist at all.
    let c2 = Netns::new(&format!("{label}-c2")).unwrap();
    node.add("ctr-missing", &c2, &conf);
    let gone = c2.path().with_file_name("cnirs-no-such-namespace");
    assert_silent_ok(&node.del("ctr-missing", Some(&gone), &conf));
    if with_ipam {
        assert!(
            node.reserved(NET).is_empty(),
            "{plugin}: the reservation is released"
        );
    }
}

fn check_reads_dashed_macs(label: &str, plugin: &'static str, subnet: &str) {
    let (node, conf) = setup(label, plugin, subnet);
    let c = Netns::new(&format!("{label}-c")).unwrap();
    let result = node.add("ctr-mac", &c, &conf);
    let dashed = dashed_macs(&result);
    assert_ne!(dashed, result, "the result lists MACs");
    assert_silent_ok(&node.check("ctr-mac", &c, &conf, &dashed));

    // Another MAC in the same form still fails.
    let mut wrong = dashed.clone();
    let own = wrong["interfaces"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["sandbox"].is_string())
        .unwrap();
    own["mac"] = json!("02-00-00-00-00-01");
    assert_eq!(
        error_code(&node.check("ctr-mac", &c, &conf, &wrong)),
        999,
        "{plugin}"
    );
    assert_silent_ok(&node.del("ctr-mac", Some(c.path()), &conf));
}

#[test]
fn bridge_del_with_netns_not_a_namespace() {
    del_with_netns_not_a_namespace("rules-del-br", "bridge", "10.61.0.0/24");
}

#[test]
fn ptp_del_with_netns_not_a_namespace() {
    del_with_netns_not_a_namespace("rules-del-ptp", "ptp", "10.62.0.0/24");
}

#[test]
fn macvlan_del_with_netns_not_a_namespace() {
    del_with_netns_not_a_namespace("rules-del-mv", "macvlan", "10.63.0.0/24");
}

#[test]
fn loopback_del_with_netns_not_a_namespace() {
    del_with_netns_not_a_namespace("rules-del-lo", "loopback", "10.64.0.0/24");
}

#[test]
fn bridge_check_reads_dashed_macs() {
    check_reads_dashed_macs("rules-mac-br", "bridge", "10.65.0.0/24");
}

#[test]
fn ptp_check_reads_dashed_macs() {
    check_reads_dashed_macs("rules-mac-ptp", "ptp", "10.66.0.0/24");
}

#[test]
fn macvlan_check_reads_dashed_macs() {
    check_reads_dashed_macs("rules-mac-mv", "macvlan", "10.67.0.0/24");
}
