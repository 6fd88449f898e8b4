//! Runs `cni-conformance certify --strict` over every reference plugin that exists (those with
//! a binary in reference-plugins/src/bin and a base config in conformance-cases/configs) and
//! requires a conformant verdict with no failure and no warning (DE-FACTO/MAY rules, shown as
//! "info", describe the Go library's habits and may differ on purpose).

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the reference plugins (debug profile) and returns their directory.
fn build_plugins() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "reference-plugins", "--bins"])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building reference-plugins failed");
    let exe = std::env::current_exe().expect("test exe");
    // target/debug/deps/<test> -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

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
        for ext in ["json", "conflist"] {
            let cfg = workspace().join(format!("conformance-cases/configs/{name}.{ext}"));
            if cfg.exists() {
                out.push((name.clone(), cfg));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_reference_plugin_certifies_strictly() {
    let dir = build_plugins();
    let plugins = reference_plugins();
    assert!(
        plugins.iter().any(|(n, _)| n == "host-local")
            && plugins.iter().any(|(n, _)| n == "loopback"),
        "expected at least host-local and loopback, found {plugins:?}"
    );
    let report_dir = tempfile::tempdir().unwrap();
    for (name, config) in plugins {
        let json = report_dir.path().join(format!("{name}.json"));
        let out = Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
            .args(["certify", "--strict", "--plugin"])
            .arg(dir.join(&name))
            .arg("--config")
            .arg(&config)
            .arg("--cni-path")
            .arg(&dir)
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
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
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
            "{name}: conformant, {} requirements checked",
            report["requirements"].as_array().unwrap().len()
        );
    }
    // Every certify run has exited: any namespace of theirs still bound is a leak.
    let leaked = netns_sandbox::sweep();
    assert!(leaked.is_empty(), "namespaces left behind: {leaked:?}");
}
