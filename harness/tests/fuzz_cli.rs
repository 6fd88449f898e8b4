//! `cni-conformance fuzz` end to end: our reference plugins run clean for a fixed seed and
//! number of calls; mutants of our loopback (`examples/cni-fuzz-mutant.rs`) that abort on a
//! negative number in the config, panic on a non-ASCII network name, or hang on an interface
//! name longer than 15 bytes are found, tied to the right requirement, minimized to the input
//! that triggers them, and their reproducer script fails the same way on its own. Two more
//! leave a file in the plugin's state directory, after a failed ADD or past the DEL of a good
//! one: the state compare finds them (ERR-18, DEL-1). The same wrapper without a mutation runs
//! clean, so the findings are due to the mutation.
//!
//! Needs root (network namespaces).

mod support;
use support::{build_plugins, workspace};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

const SEED: &str = "7";

fn plugins() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_plugins)
}

/// The built `cni-fuzz-mutant` example.
fn mutant_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| support::build_example("cni-fuzz-mutant"))
        .clone()
}

fn config(name: &str) -> PathBuf {
    workspace().join("conformance-cases/configs").join(name)
}

/// One fuzz run's exit status, JSON report and output.
struct Fuzzed {
    status: i32,
    report: Value,
    output: String,
}

impl Fuzzed {
    fn findings(&self) -> &[Value] {
        self.report["fuzz"]["findings"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

fn fuzz(plugin: &Path, cfg: &str, calls: u32, out: &Path, extra: &[&str]) -> Fuzzed {
    let json = out.join("report.json");
    let junit = out.join("report.xml");
    let o = Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
        .arg("fuzz")
        .arg("--plugin")
        .arg(plugin)
        .arg("--config")
        .arg(config(cfg))
        .arg("--cni-path")
        .arg(plugins())
        .args([
            "--seed",
            SEED,
            "--calls",
            &calls.to_string(),
            "--duration",
            "120",
        ])
        .arg("--out")
        .arg(out.join("repro"))
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .args(extra)
        .output()
        .expect("cni-conformance runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let status = o.status.code().unwrap_or(-1);
    assert!(
        status == 0 || status == 1,
        "fuzz could not run ({status}):\n{output}"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("no JSON report: {e}\n{output}")),
    )
    .expect("JSON report");
    let xml = std::fs::read_to_string(&junit).expect("JUnit report");
    assert!(xml.contains("<testsuite"), "{xml}");
    assert_eq!(
        xml.contains("<failure"),
        status == 1,
        "JUnit failures and exit status disagree:\n{xml}"
    );
    Fuzzed {
        status,
        report,
        output,
    }
}

/// A symlink `fuzz-mutant-<mutation>` to the example wrapping our loopback.
fn mutant(dir: &Path, mutation: &str) -> PathBuf {
    let path = dir.join(format!("fuzz-mutant-{mutation}"));
    std::os::unix::fs::symlink(mutant_binary(), &path).unwrap();
    std::fs::write(
        dir.join(format!("fuzz-mutant-{mutation}.wraps")),
        plugins().join("loopback").to_string_lossy().as_bytes(),
    )
    .unwrap();
    path
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cnirs-fuzz-test-")
        .tempdir()
        .unwrap()
}

#[test]
fn reference_plugins_run_clean() {
    for (plugin, cfg) in [
        ("loopback", "loopback.json"),
        ("host-local", "host-local.json"),
        ("bridge", "host-local.json"),
        ("bridge", "bridge.json"),
    ] {
        let dir = tempdir();
        let f = fuzz(&plugins().join(plugin), cfg, 250, dir.path(), &["--strict"]);
        assert_eq!(
            (f.status, f.findings().len()),
            (0, 0),
            "{plugin} with {cfg} has findings:\n{}",
            f.output
        );
        assert_eq!(f.report["fuzz"]["generated"], 250, "{}", f.output);
        assert!(f.report["passed"].as_bool().unwrap());
    }
}

/// Runs the reproducer of the run's only finding; returns its exit status and stdout.
fn reproduce(finding: &Value, timeout: &str) -> (i32, String) {
    let script = finding["reproducer"].as_str().expect("a reproducer");
    let o = Command::new("bash")
        .arg(script)
        .env("TIMEOUT", timeout)
        .output()
        .expect("bash runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// The run of `mutation` must have exactly one finding, against `requirement` with `kind`.
fn only_finding<'a>(f: &'a Fuzzed, requirement: &str, kind: &str) -> &'a Value {
    assert_eq!(f.status, 1, "{}", f.output);
    let found = f.findings();
    assert_eq!(found.len(), 1, "{}", f.output);
    let v = &found[0]["violation"];
    assert_eq!(
        (v["requirement"].as_str(), v["kind"].as_str()),
        (Some(requirement), Some(kind)),
        "{}",
        f.output
    );
    let failed: Vec<&str> = f.report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail")
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(failed, [requirement], "{}", f.output);
    &found[0]
}

#[test]
fn the_unmutated_wrapper_runs_clean() {
    let dir = tempdir();
    let plugin = mutant(dir.path(), "none");
    let f = fuzz(&plugin, "loopback.json", 300, dir.path(), &["--strict"]);
    assert_eq!((f.status, f.findings().len()), (0, 0), "{}", f.output);
}

#[test]
fn an_abort_on_a_rare_config_shape_is_found_minimized_and_reproduced() {
    let dir = tempdir();
    let plugin = mutant(dir.path(), "abort-on-negative-number");
    let f = fuzz(&plugin, "loopback.json", 300, dir.path(), &[]);
    let finding = only_finding(&f, "ERR-1", "killed by SIGABRT");
    // Minimized: one key holding -1, nothing else, no environment edit.
    let min = &finding["minimized"];
    let body = &min["body"]["json"];
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{min}");
    assert_eq!(
        body.as_object().unwrap().values().next(),
        Some(&Value::from(-1))
    );
    assert_eq!(min["env"], Value::Array(vec![]), "{min}");
    let (status, _) = reproduce(finding, "10");
    assert_eq!(status, 128 + 6, "the reproducer does not abort");
}

#[test]
fn a_panic_on_a_rare_config_shape_is_found_minimized_and_reproduced() {
    let dir = tempdir();
    let plugin = mutant(dir.path(), "panic-on-non-ascii-name");
    let f = fuzz(&plugin, "loopback.json", 300, dir.path(), &["--strict"]);
    let finding = only_finding(&f, "ERR-2", "failure error-json");
    let min = &finding["minimized"];
    let name = min["body"]["json"]["name"].as_str().expect("a name");
    assert!(!name.is_ascii() && name.chars().count() == 1, "{min}");
    assert_eq!(min["body"]["json"].as_object().unwrap().len(), 1, "{min}");
    let (status, stdout) = reproduce(finding, "10");
    assert_eq!(
        (status, stdout.trim()),
        (101, ""),
        "the reproducer does not panic"
    );
}

#[test]
fn a_hang_on_an_odd_environment_value_is_found_minimized_and_reproduced() {
    let dir = tempdir();
    let plugin = mutant(dir.path(), "hang-on-long-ifname");
    let f = fuzz(
        &plugin,
        "loopback.json",
        300,
        dir.path(),
        &["--timeout", "1"],
    );
    let finding = only_finding(&f, "ERR-1", "hang");
    let min = &finding["minimized"];
    let env = min["env"].as_array().expect("env edits");
    assert_eq!(env.len(), 1, "{min}");
    assert_eq!(env[0]["key"], "CNI_IFNAME");
    // The shortest name that hangs: 16 bytes.
    let value = env[0]["value"]["text"].as_str().expect("a text value");
    assert_eq!(value.len(), 16, "{min}");
    let (status, _) = reproduce(finding, "2");
    assert_eq!(
        status,
        128 + 9,
        "the reproducer was not killed by its timeout"
    );
}

#[test]
fn state_left_by_a_failed_add_is_found_and_shown_by_the_reproducer() {
    let dir = tempdir();
    let plugin = mutant(dir.path(), "leak-on-failed-add");
    let f = fuzz(&plugin, "loopback.json", 300, dir.path(), &["--strict"]);
    let finding = only_finding(&f, "ERR-18", "state left by a failed ADD");
    let detail = finding["violation"]["detail"].as_str().unwrap();
    assert!(detail.contains("+ file fuzz-mutant/"), "{detail}");
    assert_eq!(finding["minimized"]["verb"], "ADD");
    let script = finding["reproducer"].as_str().unwrap();
    let o = Command::new("bash").arg(script).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the reproducer's ADD succeeded");
    assert!(stderr.contains("./fuzz-mutant/"), "{stderr}");
}

#[test]
fn state_a_del_does_not_undo_is_found() {
    let dir = tempdir();
    let plugin = mutant(dir.path(), "leak-on-del");
    let f = fuzz(&plugin, "loopback.json", 300, dir.path(), &["--strict"]);
    let finding = only_finding(&f, "DEL-1", "ADD not undone by DEL");
    let detail = finding["violation"]["detail"].as_str().unwrap();
    assert!(detail.contains("+ file fuzz-mutant/"), "{detail}");
}
