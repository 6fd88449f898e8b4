//! Certifies Debian's upstream Go plugins (/usr/lib/cni) with their base configs and requires
//! that the only failed requirements are the known, explained upstream violations:
//!
//! - VERSION-2 (all): the Go skel answers VERSION with its own newest version (1.0.0), not with
//!   the cniVersion the request carried.
//! - RES-13 (loopback): its 0.3.x/0.4.0 results lack `ips[].version`.
//! - CHECK-1, CHECK-6 (tuning with `tuning-ours.conflist`): CHECK looks for the sysctl file
//!   with `IFNAME` left in its path, so CHECK after a successful ADD fails.
//!
//! A new failure is a regression of the harness (or an upstream change to explain here); a
//! known violation that disappears means upstream fixed it and this list needs updating. Each
//! certify run makes its own namespaces, so the tests run in parallel.
//!
//! Upstream ipvlan and vlan need link kinds this kernel lacks; `tests/in_vm_certify.rs`
//! certifies them inside the VM lane's VM and asserts their findings there (VERSION-2, and the
//! warning DEL-1: a link left in the container when the IPAM delegate fails ADD).
//!
//! Needs root and Debian's containernetworking-plugins (scripts/setup.sh).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

const REAL_DIR: &str = "/usr/lib/cni";

fn certify(plugin: &str, config: &str, known: &[&str]) {
    let path = Path::new(REAL_DIR).join(plugin);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh (installs containernetworking-plugins)",
        path.display()
    );
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance-cases/configs")
        .join(config);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let start = Instant::now();
    let out = Command::cargo_bin("cni-conformance")
        .unwrap()
        .arg("certify")
        .arg("--plugin")
        .arg(&path)
        .arg("--config")
        .arg(&config)
        .args(["--jobs", "2", "--json"])
        .arg(&json)
        .timeout(Duration::from_secs(300))
        .output()
        .expect("run cni-conformance");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{plugin}: certified in {:?}", start.elapsed());
    let report: Value = serde_json::from_slice(
        &std::fs::read(&json).unwrap_or_else(|e| panic!("no JSON report ({e}):\n{output}")),
    )
    .expect("JSON report parses");
    let setup = report["setup_failures"].as_array().unwrap();
    assert!(setup.is_empty(), "{plugin}: setup failures:\n{output}");
    let failed: BTreeSet<&str> = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let known: BTreeSet<&str> = known.iter().copied().collect();
    assert_eq!(
        failed, known,
        "{plugin}: failed requirements differ from the known upstream violations:\n{output}"
    );
    // A known MUST violation fails the certification.
    assert_eq!(out.status.code(), Some(1), "{output}");
}

#[test]
fn loopback() {
    certify("loopback", "loopback.json", &["VERSION-2", "RES-13"]);
}

#[test]
fn host_local() {
    certify("host-local", "host-local.json", &["VERSION-2"]);
}

#[test]
fn bridge() {
    certify("bridge", "bridge.json", &["VERSION-2"]);
}

#[test]
fn ptp() {
    certify("ptp", "ptp.json", &["VERSION-2"]);
}

#[test]
fn macvlan() {
    certify("macvlan", "macvlan.json", &["VERSION-2"]);
}

#[test]
fn tuning() {
    certify("tuning", "tuning.conflist", &["VERSION-2"]);
}

/// The config our tuning is certified with (every key, `IFNAME` in a sysctl key, saved files
/// in the world's private state directory). 1.1.1's CHECK does not replace `IFNAME` in sysctl
/// keys (ADD does), so CHECK after ADD fails (CHECK-1, CHECK-6). The SHOULD findings (DEL with
/// the namespace gone leaves the saved file: DEL-5, DEL-8, DEL-9; ERR-3) are warnings here.
#[test]
fn tuning_every_key() {
    certify(
        "tuning",
        "tuning-ours.conflist",
        &["VERSION-2", "CHECK-1", "CHECK-6"],
    );
}

#[test]
fn portmap() {
    certify("portmap", "portmap.conflist", &["VERSION-2"]);
}
