//! Rules every interface plugin follows the same way, because they share one implementation
//! (`reference_plugins::{netns, check}`), checked end to end on each plugin this kernel can
//! make (bridge, ptp, macvlan, loopback; ipvlan and vlan run the same checks inside the VM
//! lane, `in_vm_ipvlan_vlan.rs`); the checks are `support::verb_rules`:
//!
//! - DEL succeeds, and releases the IPAM reservation, when `CNI_NETNS` is a path that is no
//!   longer a namespace (a regular file: what a runtime that tore the namespace down first
//!   leaves at its bind-mount target) or a path that no longer exists (DEL-3, DEL-5);
//! - CHECK compares MAC addresses as addresses: a `prevResult` that writes them in the dash
//!   form Go's `net.ParseMAC` accepts (`aa-bb-cc-dd-ee-ff`) passes, a different MAC fails.

mod support;
use support::{verb_rules, LinkKind, Node};

use serde_json::{json, Value};

const NET: &str = "rulesnet";

/// A node ready for `plugin` and a config of it with host-local over `subnet`.
fn setup(label: &str, plugin: &'static str, subnet: &str) -> (Node, Value) {
    let mut node = Node::new(label, plugin, NET);
    let mut conf = node.net_conf("1.0.0", json!({ "ipam": node.host_local(subnet) }));
    match plugin {
        "bridge" => conf["bridge"] = json!("rules-br0"),
        "macvlan" => {
            node = node.with_master("up0", LinkKind::Veth);
            conf["master"] = json!("up0");
        }
        "loopback" => {
            conf.as_object_mut().unwrap().remove("ipam");
        }
        _ => {}
    }
    (node, conf)
}

fn del_with_netns_not_a_namespace(label: &str, plugin: &'static str, subnet: &str) {
    let (node, conf) = setup(label, plugin, subnet);
    verb_rules::del_with_netns_not_a_namespace(&node, &conf, label);
}

fn check_reads_dashed_macs(label: &str, plugin: &'static str, subnet: &str) {
    let (node, conf) = setup(label, plugin, subnet);
    verb_rules::check_reads_dashed_macs(&node, &conf, label);
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
