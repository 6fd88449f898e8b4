//! The runtime end to end: `cnitool` loads a two-plugin list from a configuration directory and
//! runs the example plugin `cni-test-plugin` twice per verb. Both entries log every call to one
//! file, told apart by their `tag` key, so order, environment and `prevResult` are visible.
//! Requirement IDs of `conformance-cases/requirements.toml` are named in the test names and
//! comments.

#[path = "../../cni/tests/support/mod.rs"]
mod support;
use support::test_plugin;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use base64::Engine;
use rstest::rstest;
use serde_json::{json, Value};
use tempfile::TempDir;

const NETWORK: &str = "net";
const ADDRESS: &str = "10.9.0.2/24";

fn plugin_dir() -> PathBuf {
    test_plugin().parent().unwrap().to_path_buf()
}

/// A runtime's world in a temporary directory: configuration dir, cache dir, plugin log.
struct Runtime {
    dir: TempDir,
}

impl Runtime {
    /// A runtime with the standard list: plugin "one" assigns [`ADDRESS`], plugin "two" carries
    /// its own `name`/`cniVersion` (which the runtime must overwrite, CHAIN-9).
    fn new() -> Runtime {
        Runtime::with_list(json!({}), json!({}), json!({}))
    }

    /// Like [`Runtime::new`], with extra keys for the list and for each plugin object.
    fn with_list(list_extra: Value, one_extra: Value, two_extra: Value) -> Runtime {
        let rt = Runtime {
            dir: tempfile::tempdir().unwrap(),
        };
        rt.write_list(list_extra, one_extra, two_extra);
        rt
    }

    fn write_list(&self, list_extra: Value, one_extra: Value, two_extra: Value) {
        let log = self.log_path();
        let mut one = json!({
            "type": "cni-test-plugin",
            "tag": "one",
            "testAddress": ADDRESS,
            "logFile": log,
            "custom": {"nested": [1, "ü", {"deep": null}], "n": 1.5},
        });
        let mut two = json!({
            "type": "cni-test-plugin",
            "tag": "two",
            "logFile": log,
            "name": "not-the-network",
            "cniVersion": "0.1.0",
        });
        merge(&mut one, one_extra);
        merge(&mut two, two_extra);
        let mut list = json!({
            "cniVersion": "1.1.0",
            "name": NETWORK,
            "plugins": [one, two],
        });
        merge(&mut list, list_extra);
        let dir = self.conf_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("10-net.conflist"), list.to_string()).unwrap();
    }

    fn conf_dir(&self) -> PathBuf {
        self.dir.path().join("net.d")
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("plugins.log")
    }

    fn netns(&self) -> String {
        self.dir.path().join("netns").to_str().unwrap().to_string()
    }

    fn cache_file(&self, container_id: &str) -> PathBuf {
        self.cache_dir()
            .join("results")
            .join(format!("{NETWORK}-{container_id}-eth0"))
    }

    fn cnitool_for(&self, container_id: &str, args: &[&str]) -> Output {
        Command::new(assert_cmd::cargo::cargo_bin!("cnitool"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NETCONFPATH", self.conf_dir())
            .env("CNI_PATH", plugin_dir())
            .env("CNI_CACHE_DIR", self.cache_dir())
            .env("CNI_CONTAINERID", container_id)
            .env("CNI_IFNAME", "eth0")
            .args(args)
            .output()
            .expect("cnitool runs")
    }

    /// `cnitool VERB net <netns>` for container `ctr-1`.
    fn attachment(&self, verb: &str) -> Output {
        self.cnitool_for("ctr-1", &[verb, NETWORK, &self.netns()])
    }

    fn log(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.log_path()) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).expect("log line is JSON"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn clear_log(&self) {
        let _ = std::fs::remove_file(self.log_path());
    }

    /// `cnitool add` that must succeed; returns the printed result.
    fn add(&self, container_id: &str) -> Value {
        let out = self.cnitool_for(container_id, &["add", NETWORK, &self.netns()]);
        assert_ok(&out);
        stdout_json(&out)
    }
}

fn merge(target: &mut Value, extra: Value) {
    for (k, v) in extra.as_object().expect("object").clone() {
        target[k] = v;
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "cnitool failed: {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn assert_ok_silent(out: &Output) {
    assert_ok(out);
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {}", text(&out.stdout)))
}

/// `(command, tag)` of every logged call, in order.
fn calls(log: &[Value]) -> Vec<(String, String)> {
    log.iter()
        .map(|l| {
            (
                l["command"].as_str().unwrap().to_string(),
                l["stdin"]["tag"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(c, t)| (c.to_string(), t.to_string()))
        .collect()
}

/// What plugin "one" prints on ADD for `netns`.
fn first_result(netns: &str) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "sandbox": netns}],
        "ips": [{"interface": 0, "address": ADDRESS}],
    })
}

// ---------------------------------------------------------------------------------------------
// ADD

/// CHAIN-1, CHAIN-2, CHAIN-3, CHAIN-9, CHAIN-10, CFG-14, ENV-9: ADD runs the list front to
/// back, hands each result on as `prevResult`, and gives every plugin the list's name/version,
/// its untouched own keys, and the same environment.
#[test]
fn add_chains_both_plugins_chain3() {
    let rt = Runtime::new();
    let result = rt.add("ctr-1");

    let log = rt.log();
    assert_eq!(calls(&log), pairs(&[("ADD", "one"), ("ADD", "two")]));
    let (one, two) = (&log[0], &log[1]);
    assert!(one["stdin"].get("prevResult").is_none(), "CHAIN-2");
    assert_eq!(
        two["stdin"]["prevResult"],
        first_result(&rt.netns()),
        "CHAIN-3"
    );
    for call in &log {
        assert_eq!(call["stdin"]["name"], NETWORK, "CHAIN-9");
        assert_eq!(call["stdin"]["cniVersion"], "1.1.0", "CHAIN-9");
        assert_eq!(call["containerID"], "ctr-1", "CHAIN-10");
        assert_eq!(call["netns"], rt.netns());
        assert_eq!(call["ifname"], "eth0");
        assert_eq!(call["path"], json!([plugin_dir()]), "ENV-9");
    }
    assert_eq!(
        one["stdin"]["custom"],
        json!({"nested": [1, "ü", {"deep": null}], "n": 1.5}),
        "CFG-14"
    );

    // The printed result is plugin two's: plugin one's result plus one more interface.
    let mut expected = first_result(&rt.netns());
    expected["interfaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "eth0", "sandbox": rt.netns()}));
    assert_eq!(result, expected);
    assert_eq!(result["interfaces"].as_array().unwrap().len(), 2);
}

/// RT-6, CHAIN-5: the final result is cached in libcni's format, owner-only.
#[test]
fn add_caches_the_result_rt6() {
    let rt = Runtime::new();
    let result = rt.add("ctr-1");
    let file = rt.cache_file("ctr-1");
    let meta = std::fs::metadata(&file).expect("cache file exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir_meta = std::fs::metadata(file.parent().unwrap()).unwrap();
    assert_eq!(dir_meta.permissions().mode() & 0o777, 0o700);

    let entry: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(entry["kind"], "cniCacheV1");
    assert_eq!(entry["containerId"], "ctr-1");
    assert_eq!(entry["ifName"], "eth0");
    assert_eq!(entry["networkName"], NETWORK);
    assert_eq!(entry["netns"], rt.netns());
    assert_eq!(entry["result"], result);
    let config = base64::engine::general_purpose::STANDARD
        .decode(entry["config"].as_str().unwrap())
        .unwrap();
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["name"], NETWORK);
    assert_eq!(config["plugins"].as_array().unwrap().len(), 2);
}

/// CHAIN-1, RT-4: a failing plugin stops ADD; later plugins never run and nothing is cached.
#[test]
fn failing_add_stops_the_chain_chain1() {
    let rt = Runtime::with_list(json!({}), json!({"failOn": "ADD"}), json!({}));
    let out = rt.attachment("add");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cni-test-plugin: injected failure on ADD"),
        "{stderr}"
    );
    assert_eq!(calls(&rt.log()), pairs(&[("ADD", "one")]));
    assert!(!rt.cache_file("ctr-1").exists());
}

/// CHAIN-11: in a 0.3.1 list the result is handed on in 0.3.1, and DEL carries no
/// `prevResult` because it only exists from 0.4.0 on (DEL-2, VER-7).
#[test]
fn old_list_version_chain11() {
    let rt = Runtime::with_list(json!({"cniVersion": "0.3.1"}), json!({}), json!({}));
    let result = rt.add("ctr-1");
    assert_eq!(result["cniVersion"], "0.3.1");
    let log = rt.log();
    assert_eq!(log[1]["stdin"]["cniVersion"], "0.3.1");
    assert_eq!(log[1]["stdin"]["prevResult"]["cniVersion"], "0.3.1");
    assert_eq!(log[1]["stdin"]["prevResult"]["ips"][0]["version"], "4");

    rt.clear_log();
    assert_ok_silent(&rt.attachment("del"));
    let log = rt.log();
    assert_eq!(calls(&log), pairs(&[("DEL", "two"), ("DEL", "one")]));
    assert!(log.iter().all(|l| l["stdin"].get("prevResult").is_none()));
}

// ---------------------------------------------------------------------------------------------
// CHECK

/// CHAIN-7, CHECK-12, ENV-16, RT-10: CHECK runs front to back, every plugin getting the cached
/// final result and the parameters ADD got.
#[test]
fn check_uses_cached_result_chain7() {
    let rt = Runtime::new();
    let result = rt.add("ctr-1");
    let add_log = rt.log();
    rt.clear_log();

    assert_ok_silent(&rt.attachment("check"));
    let log = rt.log();
    assert_eq!(calls(&log), pairs(&[("CHECK", "one"), ("CHECK", "two")]));
    for (check, add) in log.iter().zip(&add_log) {
        assert_eq!(check["stdin"]["prevResult"], result);
        for key in ["containerID", "netns", "ifname", "args"] {
            assert_eq!(check[key], add[key], "ENV-16: {key}");
        }
    }
}

/// CHECK-11, RT-10: no CHECK before ADD or after DEL; no plugin runs.
#[test]
fn check_needs_a_prior_add_check11() {
    let rt = Runtime::new();
    let out = rt.attachment("check");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no cached result"));
    assert!(rt.log().is_empty());

    rt.add("ctr-1");
    assert_ok_silent(&rt.attachment("del"));
    rt.clear_log();
    assert_eq!(rt.attachment("check").status.code(), Some(1));
    assert!(rt.log().is_empty());
}

/// CFG-4, CFG-6: with `disableCheck` CHECK succeeds without running any plugin.
#[rstest]
#[case::boolean(json!(true))]
#[case::string(json!("TRUE"))]
fn disable_check_runs_nothing_cfg4(#[case] flag: Value) {
    let rt = Runtime::with_list(json!({"disableCheck": flag}), json!({}), json!({}));
    rt.add("ctr-1");
    rt.clear_log();
    assert_ok_silent(&rt.attachment("check"));
    assert!(rt.log().is_empty(), "{:?}", rt.log());
}

// ---------------------------------------------------------------------------------------------
// DEL

/// CHAIN-6, DEL-2, DEL-12, DEL-6: DEL runs back to front with the cached result, removes the
/// cache entry, and can be repeated.
#[test]
fn del_runs_in_reverse_and_drops_cache_del2() {
    let rt = Runtime::new();
    let result = rt.add("ctr-1");
    rt.clear_log();

    assert_ok_silent(&rt.attachment("del"));
    let log = rt.log();
    assert_eq!(calls(&log), pairs(&[("DEL", "two"), ("DEL", "one")]));
    for call in &log {
        assert_eq!(call["stdin"]["prevResult"], result, "DEL-2");
        assert_eq!(call["stdin"]["name"], NETWORK);
        assert_eq!(call["containerID"], "ctr-1");
        assert_eq!(call["netns"], rt.netns());
    }
    assert!(!rt.cache_file("ctr-1").exists(), "DEL-12");

    // DEL-6, RT-5: again, now without a cached result to hand on.
    rt.clear_log();
    assert_ok_silent(&rt.attachment("del"));
    let log = rt.log();
    assert_eq!(calls(&log), pairs(&[("DEL", "two"), ("DEL", "one")]));
    assert!(log.iter().all(|l| l["stdin"].get("prevResult").is_none()));
}

/// DEL-7: DEL of an attachment that was never added succeeds.
#[test]
fn del_without_add_succeeds_del7() {
    let rt = Runtime::new();
    assert_ok_silent(&rt.attachment("del"));
    assert_eq!(calls(&rt.log()), pairs(&[("DEL", "two"), ("DEL", "one")]));
}

/// CHAIN-6: the first failing DEL stops the walk; the cache entry stays for a retry.
#[test]
fn failing_del_stops_and_keeps_cache_chain6() {
    let rt = Runtime::with_list(json!({}), json!({}), json!({"failOn": "DEL"}));
    rt.add("ctr-1");
    rt.clear_log();
    let out = rt.attachment("del");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("injected failure on DEL"));
    assert_eq!(calls(&rt.log()), pairs(&[("DEL", "two")]));
    assert!(rt.cache_file("ctr-1").exists());
}

// ---------------------------------------------------------------------------------------------
// STATUS

/// STATUS-1, STATUS-8, RT-14: STATUS asks every plugin in order, with no attachment data.
#[test]
fn status_asks_every_plugin_status1() {
    let rt = Runtime::new();
    assert_ok_silent(&rt.cnitool_for("ctr-1", &["status", NETWORK]));
    let log = rt.log();
    assert_eq!(calls(&log), pairs(&[("STATUS", "one"), ("STATUS", "two")]));
    for call in &log {
        assert_eq!(call["containerID"], "");
        assert_eq!(call["netns"], Value::Null);
        assert_eq!(call["ifname"], "");
        assert_eq!(call["path"], json!([plugin_dir()]));
        assert!(call["stdin"].get("prevResult").is_none());
        assert_eq!(call["stdin"]["name"], NETWORK);
    }
}

/// STATUS-2, STATUS-4, STATUS-9: an unavailable plugin fails STATUS with its code and message.
#[test]
fn status_reports_unavailable_plugin_status4() {
    let rt = Runtime::with_list(json!({}), json!({}), json!({"unavailable": true}));
    let out = rt.cnitool_for("ctr-1", &["status", NETWORK]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("configured as unavailable"), "{stderr}");
    assert!(stderr.contains("50"), "{stderr}");
}

/// STATUS-9: libcni skips STATUS for lists below 1.1.0.
#[test]
fn status_is_skipped_below_110_status9() {
    let rt = Runtime::with_list(json!({"cniVersion": "1.0.0"}), json!({}), json!({}));
    assert_ok_silent(&rt.cnitool_for("ctr-1", &["status", NETWORK]));
    assert!(rt.log().is_empty());
}

// ---------------------------------------------------------------------------------------------
// GC

/// GC-1, GC-2, GC-14, GC-15, CHAIN-8, RT-16: a cached attachment not listed is DELed (back to
/// front, with its cached result and parameters), then every plugin gets GC with the valid
/// attachments and nothing attachment-specific.
#[test]
fn gc_collects_unlisted_attachments_gc14() {
    let rt = Runtime::new();
    rt.add("ctr-1");
    let stale = rt.add("ctr-2");
    rt.clear_log();

    assert_ok_silent(&rt.cnitool_for("ctr-1", &["gc", NETWORK, "ctr-1/eth0"]));
    let log = rt.log();
    assert_eq!(
        calls(&log),
        pairs(&[("DEL", "two"), ("DEL", "one"), ("GC", "one"), ("GC", "two")])
    );
    for del in &log[..2] {
        assert_eq!(del["containerID"], "ctr-2");
        assert_eq!(del["ifname"], "eth0");
        assert_eq!(del["netns"], rt.netns());
        assert_eq!(del["stdin"]["prevResult"], stale);
    }
    let valid = json!([{"containerID": "ctr-1", "ifname": "eth0"}]);
    for gc in &log[2..] {
        assert_eq!(gc["validAttachments"], valid, "GC-1");
        assert_eq!(gc["stdin"]["cni.dev/valid-attachments"], valid, "GC-1");
        assert_eq!(gc["stdin"]["cni.dev/attachments"], valid, "GC-2");
        assert_eq!(gc["containerID"], "");
        assert_eq!(gc["netns"], Value::Null);
        assert!(gc["stdin"].get("prevResult").is_none(), "GC-15");
        assert!(gc["stdin"].get("runtimeConfig").is_none(), "GC-15");
        assert_eq!(gc["stdin"]["name"], NETWORK);
        assert_eq!(gc["stdin"]["cniVersion"], "1.1.0");
    }
    assert!(
        rt.cache_file("ctr-1").exists(),
        "GC-4: listed attachment kept"
    );
    assert!(
        !rt.cache_file("ctr-2").exists(),
        "stale attachment collected"
    );
}

/// CFG-5: with `disableGC` nothing runs and no cached attachment is touched.
#[test]
fn disable_gc_runs_nothing_cfg5() {
    let rt = Runtime::with_list(json!({"disableGC": true}), json!({}), json!({}));
    rt.add("ctr-1");
    rt.add("ctr-2");
    rt.clear_log();
    assert_ok_silent(&rt.cnitool_for("ctr-1", &["gc", NETWORK]));
    assert!(rt.log().is_empty(), "{:?}", rt.log());
    assert!(rt.cache_file("ctr-1").exists());
    assert!(rt.cache_file("ctr-2").exists());
}

/// GC-13, CHAIN-8: a failing GC does not stop the walk; the error is still reported.
#[test]
fn gc_continues_after_a_failure_gc13() {
    let rt = Runtime::with_list(json!({}), json!({"failOn": "GC"}), json!({}));
    let out = rt.cnitool_for("ctr-1", &["gc", NETWORK]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("injected failure on GC"));
    assert_eq!(calls(&rt.log()), pairs(&[("GC", "one"), ("GC", "two")]));
}

// ---------------------------------------------------------------------------------------------
// Failures reach the user

/// ERR-1, ERR-16: a failing plugin makes cnitool exit 1 with the plugin's code and message on
/// stderr, for every verb.
#[rstest]
#[case::add("add", "ADD")]
#[case::check("check", "CHECK")]
#[case::del("del", "DEL")]
#[case::status("status", "STATUS")]
#[case::gc("gc", "GC")]
fn plugin_failure_surfaces_err1(#[case] verb: &str, #[case] command: &str) {
    let rt = Runtime::with_list(json!({}), json!({}), json!({"failOn": command}));
    if command == "CHECK" {
        rt.add("ctr-1");
    }
    let netns = rt.netns();
    let args: Vec<&str> = match verb {
        "status" | "gc" => vec![verb, NETWORK],
        _ => vec![verb, NETWORK, &netns],
    };
    let out = rt.cnitool_for("ctr-1", &args);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cni-test-plugin: injected failure on {command}")),
        "{stderr}"
    );
    assert!(stderr.contains("100"), "{stderr}");
}

#[test]
fn version_flag_names_program_version_and_build() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cnitool"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("cnitool {} (build ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}
