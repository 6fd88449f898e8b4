//! Certifies our dhcp IPAM plugin under `certify --strict` as the IPAM of our bridge
//! (`bridge-dhcp.json`) and of our macvlan (`macvlan-dhcp.json`): the configs' `x-conformance.dhcp`
//! makes the harness start dnsmasq and our `dhcp daemon` in every world (see
//! `harness/src/dhcp_fixture.rs`). Requires a conformant verdict with no failure or warning, the
//! crash-consistency and concurrency runs among the passed case runs, addresses from the
//! fixture's server in the results, and nothing of the fixture left behind: no server or daemon
//! process, no fixture directory, no namespace.
//!
//! Needs root and dnsmasq (scripts/setup.sh).

mod support;
use support::{build_plugins, workspace};

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Processes whose command line names a fixture directory (`cnirs-dhcp-fixture-…`): the
/// fixture's servers and daemons.
fn fixture_processes() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("cnirs-dhcp-fixture-") {
                out.push(cmd);
            }
        }
    }
    out
}

fn fixture_dirs() -> Vec<String> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cnirs-dhcp-fixture-"))
        .collect()
}

/// `certify --strict` of our `plugin` with `config`; asserts the verdict and what the fixture
/// served: the ADD results carry addresses of `subnet_prefix`.
fn certify_with_dhcp(plugin: &str, config: &str, subnet_prefix: &str) {
    // One at a time: what is left behind is looked for after each run.
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        Path::new("/usr/sbin/dnsmasq").exists(),
        "dnsmasq is missing: run scripts/setup.sh"
    );
    // What an earlier, killed run may have left is not this run's doing.
    let (procs_before, dirs_before) = (fixture_processes(), fixture_dirs());
    let new_since = |before: &[String], now: Vec<String>| -> Vec<String> {
        now.into_iter().filter(|x| !before.contains(x)).collect()
    };
    let dir = build_plugins();
    let reports = tempfile::tempdir().unwrap();
    let json = reports.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
        .args(["certify", "--strict", "--plugin"])
        .arg(dir.join(plugin))
        .arg("--config")
        .arg(workspace().join("conformance-cases/configs").join(config))
        .arg("--cni-path")
        .arg(&dir)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("cni-conformance runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{plugin} with {config}:\n{text}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let not_pass: Vec<&Value> = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail" || r["verdict"] == "warn")
        .collect();
    assert!(not_pass.is_empty(), "{plugin} with {config}: {not_pass:#?}");
    let cases = report["cases"].as_array().unwrap();
    for kind in ["fault-", "concurrency-"] {
        let runs: Vec<&Value> = cases
            .iter()
            .filter(|c| c["case"].as_str().unwrap().starts_with(kind))
            .collect();
        assert!(
            !runs.is_empty(),
            "{plugin} with {config}: no {kind}* case run"
        );
        assert!(
            runs.iter().all(|c| c["passed"] == true),
            "{plugin} with {config}: a {kind}* run failed"
        );
    }
    // The results the cases saw hold addresses the fixture's server handed out.
    let served = report.to_string().matches(subnet_prefix).count();
    assert!(
        served > 0,
        "{plugin} with {config}: no address of {subnet_prefix}* in the report"
    );
    let running = new_since(&procs_before, fixture_processes());
    assert!(running.is_empty(), "left running: {running:?}");
    let dirs = new_since(&dirs_before, fixture_dirs());
    assert!(dirs.is_empty(), "left: {dirs:?}");
    let leaked = netns_sandbox::sweep();
    assert!(leaked.is_empty(), "namespaces left behind: {leaked:?}");
}

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn bridge_with_dhcp_certifies_strictly() {
    certify_with_dhcp("bridge", "bridge-dhcp.json", "10.85.");
}

#[test]
fn macvlan_with_dhcp_certifies_strictly() {
    certify_with_dhcp("macvlan", "macvlan-dhcp.json", "10.84.");
}
