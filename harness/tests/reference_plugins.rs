//! Runs `cni-conformance certify --strict` over every reference plugin that exists (those with
//! a binary in reference-plugins/src/bin and a base config in conformance-cases/configs) and
//! requires a conformant verdict with no failure and no warning (DE-FACTO/MAY rules, shown as
//! "info", describe the Go library's habits and may differ on purpose). A plugin's config is
//! `<name>-ours.json` or `<name>-ours.conflist` when there is one (tuning: every key, and its
//! saved files in the world's private state directory; portmap: after our bridge, dual-stack,
//! with the port mappings the harness passes for its `portMappings` capability), else
//! `<name>.json`/`.conflist`, the config upstream's plugin is certified with too. The configs
//! that enable other capabilities (`bridge-capabilities.json`, `bridge-ip-ranges.json`) are
//! certified the same way in [`extra_configs_certify_strictly`], as is ptp in a list with a later
//! plugin (`ptp-then-tuning.conflist`).

mod support;
use support::{build_plugins, workspace};

use std::path::PathBuf;
use std::process::Command;

fn reference_plugins() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let bins = workspace().join("reference-plugins/src/bin");
    for entry in std::fs::read_dir(bins).expect("bin dir").flatten() {
        let name = entry
            .path()
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for stem in [format!("{name}-ours"), name.clone()] {
            let found: Vec<PathBuf> = ["json", "conflist"]
                .iter()
                .map(|ext| workspace().join(format!("conformance-cases/configs/{stem}.{ext}")))
                .filter(|cfg| cfg.exists())
                .collect();
            if !found.is_empty() {
                out.extend(found.into_iter().map(|cfg| (name.clone(), cfg)));
                break;
            }
        }
    }
    out.sort();
    out
}

/// The link kind a plugin needs from the kernel, if this kernel might lack it.
fn needed_link_kind(plugin: &str) -> Option<&'static str> {
    match plugin {
        "ipvlan" => Some("ipvlan"),
        "vlan" => Some("vlan"),
        _ => None,
    }
}

/// Whether this kernel can create a `kind` link on a veth (probed in a throwaway namespace).
fn kernel_has(kind: &str) -> bool {
    let ns = netns_sandbox::Netns::new("probe").expect("namespace");
    let ip = |args: &[&str]| {
        ns.command("ip")
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(ip(&[
        "link", "add", "p0", "type", "veth", "peer", "name", "p1"
    ]));
    match kind {
        "ipvlan" => ip(&[
            "link", "add", "link", "p0", "name", "x0", "type", "ipvlan", "mode", "l2",
        ]),
        "vlan" => ip(&[
            "link", "add", "link", "p0", "name", "x0", "type", "vlan", "id", "5",
        ]),
        _ => true,
    }
}

#[test]
fn every_reference_plugin_certifies_strictly() {
    let dir = build_plugins();
    let mut plugins = reference_plugins();
    // Plugins whose link kind this kernel lacks are certified inside the VM lane's VM instead
    // (the same certify --strict with the same config); say so by name, and do not count them
    // here.
    plugins.retain(|(name, _)| match needed_link_kind(name) {
        Some(kind) if !kernel_has(kind) => {
            println!(
                "SKIPPED {name}: this kernel has no {kind} links; certified (--strict) inside the \
                 VM instead: harness/tests/in_vm_certify.rs (scripts/vm/)"
            );
            false
        }
        _ => true,
    });
    for expected in [
        "host-local",
        "loopback",
        "bridge",
        "ptp",
        "macvlan",
        "tuning",
        "portmap",
    ] {
        assert!(
            plugins.iter().any(|(n, _)| n == expected),
            "expected {expected} among the certified plugins, found {plugins:?}"
        );
    }
    // portmap with its own list: after our bridge, with mappings.
    assert!(
        plugins
            .iter()
            .any(|(n, c)| n == "portmap" && c.ends_with("portmap-ours.conflist")),
        "expected portmap with portmap-ours.conflist, found {plugins:?}"
    );
    let report_dir = tempfile::tempdir().unwrap();
    for (name, config) in plugins {
        let report = certify_strictly(&dir, &name, &config, report_dir.path());
        if name == "portmap" {
            // The harness passed the port mappings its config enables, and they forwarded.
            assert!(
                report["cases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| { c["case"] == "capability-port-mappings" && c["passed"] == true }),
                "portmap: capability-port-mappings did not run and pass"
            );
        }
    }
    // Every certify run has exited: any namespace of theirs still bound is a leak.
    let leaked = netns_sandbox::sweep();
    assert!(leaked.is_empty(), "namespaces left behind: {leaked:?}");
}

/// The configs that enable capabilities (`mac`, `ips`; `ipRanges` and `ips` with no ranges
/// of the config's own), certified strictly with the plugins that act on them, and ptp in a
/// list whose later plugin (tuning: a MAC, an MTU) changes its interface: the cases those
/// configs exist for run and pass.
#[test]
fn extra_configs_certify_strictly() {
    let dir = build_plugins();
    let report_dir = tempfile::tempdir().unwrap();
    let configs = workspace().join("conformance-cases/configs");
    for (name, config, cases) in [
        (
            "bridge",
            "bridge-capabilities.json",
            &["capability-ips", "capability-mac"][..],
        ),
        (
            "bridge",
            "bridge-ip-ranges.json",
            &["capability-ips", "capability-ip-ranges"][..],
        ),
        (
            "host-local",
            "bridge-ip-ranges.json",
            &["capability-ips", "capability-ip-ranges"][..],
        ),
        (
            "ptp",
            "ptp-then-tuning.conflist",
            &["check-after-later-plugins"][..],
        ),
    ] {
        let report = certify_strictly(&dir, name, &configs.join(config), report_dir.path());
        for case in cases {
            assert!(
                report["cases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["case"] == *case && c["passed"] == true),
                "{name} with {config}: {case} did not run and pass"
            );
        }
    }
    let leaked = netns_sandbox::sweep();
    assert!(leaked.is_empty(), "namespaces left behind: {leaked:?}");
}

/// `certify --strict` of our `name` with `config`: conformant, no failure or warning; the
/// JSON report.
fn certify_strictly(
    dir: &std::path::Path,
    name: &str,
    config: &std::path::Path,
    report_dir: &std::path::Path,
) -> serde_json::Value {
    let stem = config.file_stem().unwrap().to_string_lossy();
    let json = report_dir.join(format!("{name}-{stem}.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
        .args(["certify", "--strict", "--plugin"])
        .arg(dir.join(name))
        .arg("--config")
        .arg(config)
        .arg("--cni-path")
        .arg(dir)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("cni-conformance runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} is not conformant:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let not_pass: Vec<&serde_json::Value> = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail" || r["verdict"] == "warn")
        .collect();
    assert!(not_pass.is_empty(), "{name}: {not_pass:#?}");
    assert!(
        report["cases"].as_array().unwrap().len() >= 30,
        "{name}: too few case runs"
    );
    println!(
        "{name} with {}: conformant, {} requirements checked",
        config.display(),
        report["requirements"].as_array().unwrap().len()
    );
    report
}
