//! Rules every interface plugin follows the same way, because they share one implementation
//! (`reference_plugins::{netns, check}`), as checks that take a ready [`Node`] and a config of
//! its plugin: `tests/common_verb_rules.rs` runs them for bridge, ptp, macvlan and loopback,
//! `tests/in_vm_ipvlan_vlan.rs` for ipvlan and vlan inside the VM lane.
//!
//! - [`del_with_netns_not_a_namespace`]: DEL succeeds, and releases the IPAM reservation, when
//!   `CNI_NETNS` is a path that is no longer a namespace (a regular file: what a runtime that
//!   tore the namespace down first leaves at its bind-mount target; a directory) or a path
//!   that no longer exists (DEL-3, DEL-5);
//! - [`check_reads_dashed_macs`]: CHECK compares MAC addresses as addresses: a `prevResult`
//!   that writes them in the dash form Go's `net.ParseMAC` accepts (`aa-bb-cc-dd-ee-ff`)
//!   passes, a different MAC fails.

use netns_sandbox::Netns;
use serde_json::{json, Value};

use super::{assert_silent_ok, error_code, Node};

/// Every `mac` of `result`'s interfaces rewritten with dashes, in upper case.
pub fn dashed_macs(result: &Value) -> Value {
    let mut r = result.clone();
    for intf in r["interfaces"].as_array_mut().unwrap() {
        if let Some(mac) = intf["mac"].as_str() {
            intf["mac"] = json!(mac.replace(':', "-").to_uppercase());
        }
    }
    r
}

/// Two attachments of `conf` on `node` (container namespaces labelled after `label`); DEL
/// with `CNI_NETNS` a regular file, a missing path and a directory for the first, a path that
/// never existed for the second: each succeeds and the reservation (if `conf` has `ipam`) is
/// released.
pub fn del_with_netns_not_a_namespace(node: &Node, conf: &Value, label: &str) {
    let plugin = node.plugin;
    let c = Netns::new(&format!("{label}-c")).unwrap();
    node.add("ctr-file", &c, conf);
    let with_ipam = conf.get("ipam").is_some();
    if with_ipam {
        assert_eq!(node.reserved().len(), 1);
    }

    let stale = tempfile::NamedTempFile::new().unwrap();
    assert_silent_ok(&node.del("ctr-file", Some(stale.path()), conf));
    if with_ipam {
        assert!(
            node.reserved().is_empty(),
            "{plugin}: the reservation is released"
        );
    }
    let missing = stale.path().with_extension("gone");
    assert_silent_ok(&node.del("ctr-file", Some(&missing), conf));
    let dir = tempfile::tempdir().unwrap();
    assert_silent_ok(&node.del("ctr-file", Some(dir.path()), conf));
    // Not part of the rule: the DEL a runtime would have made, which removes the link from
    // `c` (for vlan it holds the VLAN id on the master that the next ADD asks for again).
    node.del("ctr-file", Some(c.path()), conf);

    // Another container, DEL with a path that does not exist at all.
    let c2 = Netns::new(&format!("{label}-c2")).unwrap();
    node.add("ctr-missing", &c2, conf);
    let gone = c2.path().with_file_name("cnirs-no-such-namespace");
    assert_silent_ok(&node.del("ctr-missing", Some(&gone), conf));
    if with_ipam {
        assert!(
            node.reserved().is_empty(),
            "{plugin}: the reservation is released"
        );
    }
}

/// One attachment of `conf` on `node` (its container namespace labelled after `label`):
/// CHECK passes with the ADD result's MACs in dash form, upper case, and fails (999) with
/// another MAC in that form on the container's interface.
pub fn check_reads_dashed_macs(node: &Node, conf: &Value, label: &str) {
    let plugin = node.plugin;
    let c = Netns::new(&format!("{label}-c")).unwrap();
    let result = node.add("ctr-mac", &c, conf);
    let dashed = dashed_macs(&result);
    assert_ne!(dashed, result, "the result lists MACs");
    assert_silent_ok(&node.check("ctr-mac", &c, conf, &dashed));

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
        error_code(&node.check("ctr-mac", &c, conf, &wrong)),
        999,
        "{plugin}"
    );
    assert_silent_ok(&node.del("ctr-mac", Some(c.path()), conf));
}
