//! Drives the example plugin `cni-test-plugin` (built on `cni::skel`) as a runtime would: a
//! fresh environment, the request on stdin, and strict checks of exit status, stdout and stderr.
//! Requirement IDs of `conformance-cases/requirements.toml` are named in the test names and
//! comments.

mod support;
use support::test_plugin;

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use rstest::rstest;
use serde_json::{json, Map, Value};
use tempfile::TempDir;

const ALL_VERSIONS: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];
const TEST_ADDRESS: &str = "10.1.2.3/24";

/// A scratch area: a log file for the plugin and a plain file standing in for the netns (the
/// plugin never enters it).
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("netns"), b"").unwrap();
        Fixture { dir }
    }

    fn netns(&self) -> String {
        self.dir.path().join("netns").to_str().unwrap().to_string()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("plugin.log")
    }

    /// A request configuration with the plugin's log file and `extra` keys merged in.
    fn conf(&self, version: &str, extra: Value) -> String {
        let mut c = json!({
            "cniVersion": version,
            "name": "testnet",
            "type": "cni-test-plugin",
            "logFile": self.log_path(),
        });
        for (k, v) in extra.as_object().expect("extra is an object") {
            c[k] = v.clone();
        }
        c.to_string()
    }

    /// The plugin with an empty environment (except `PATH`) and `CNI_COMMAND` set if given.
    fn plugin(&self, verb: Option<&str>) -> Command {
        let mut c = Command::new(test_plugin());
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        if let Some(v) = verb {
            c.env("CNI_COMMAND", v);
        }
        c
    }

    /// The plugin with every attachment variable of ADD/CHECK/DEL set to valid values.
    fn attached(&self, verb: &str) -> Command {
        let mut c = self.plugin(Some(verb));
        c.env("CNI_CONTAINERID", "ctr-1")
            .env("CNI_NETNS", self.netns())
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/opt/cni/bin:/usr/lib/cni");
        c
    }

    /// The log lines written so far (none if the plugin was never reached).
    fn log(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.log_path()) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).expect("log line is JSON"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn run(cmd: &mut Command, stdin: &str) -> Output {
    cmd.write_stdin(stdin).output().expect("plugin runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Stdout parsed strictly as one JSON value (ADD-2: no log lines, no trailing garbage).
fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not exactly one JSON value ({e}):\n{}",
            text(&out.stdout)
        )
    })
}

fn assert_success_silent(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}; stdout {}; stderr {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout not empty: {}",
        text(&out.stdout)
    );
}

/// ERR-1/2/3, ERR-17: exit 1 and stdout is exactly one error object with a known `cniVersion`,
/// a numeric `code` and a non-empty `msg` (and nothing else but `details`). Returns it.
fn error_object(out: &Output) -> Map<String, Value> {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout {}; stderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let v = stdout_json(out);
    let obj = v.as_object().expect("error is a JSON object").clone();
    for k in obj.keys() {
        assert!(
            ["cniVersion", "code", "msg", "details"].contains(&k.as_str()),
            "unexpected key {k} in {v}"
        );
    }
    assert!(obj["cniVersion"].is_string(), "{v}");
    assert!(obj["code"].is_u64(), "{v}");
    assert!(obj["msg"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    obj
}

/// An error from a check done before stdin is read still names a spec version.
fn assert_known_version(err: &Map<String, Value>) {
    let v = err["cniVersion"].as_str().unwrap();
    assert!(ALL_VERSIONS.contains(&v), "error cniVersion {v:?}");
}

fn prev_result_v1(netns: &str) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "veth0"}, {"name": "eth0", "sandbox": netns}],
        "ips": [{"interface": 1, "address": "10.0.0.9/24"}],
    })
}

// ---------------------------------------------------------------------------------------------
// Dispatch of every verb

/// ADD-6, VER-4, VERSION-5: the result carries the requested version, in that version's layout.
#[rstest]
fn add_result_version_equals_request_add6(
    #[values("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")] version: &str,
) {
    let f = Fixture::new();
    let out = run(
        &mut f.attached("ADD"),
        &f.conf(version, json!({"testAddress": TEST_ADDRESS})),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = stdout_json(&out);
    assert_eq!(r["cniVersion"], version);
    match version {
        "0.1.0" | "0.2.0" => {
            assert_eq!(r["ip4"]["ip"], TEST_ADDRESS);
            assert!(r.get("interfaces").is_none() && r.get("ips").is_none());
        }
        _ => {
            // ADD-11: the interface reports the CNI_NETNS value as its sandbox.
            assert_eq!(
                r["interfaces"],
                json!([{"name": "eth0", "sandbox": f.netns()}])
            );
            assert_eq!(r["ips"][0]["address"], TEST_ADDRESS);
            assert_eq!(r["ips"][0]["interface"], 0);
            // VER-10: only the 0.3.x/0.4.0 layout labels the address family.
            let has_family = r["ips"][0].get("version").is_some();
            assert_eq!(has_family, version.starts_with("0."), "{r}");
        }
    }
    let log = f.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["command"], "ADD");
    assert_eq!(log[0]["containerID"], "ctr-1");
    assert_eq!(log[0]["netns"], f.netns());
    assert_eq!(log[0]["ifname"], "eth0");
    assert_eq!(log[0]["path"], json!(["/opt/cni/bin", "/usr/lib/cni"]));
    assert_eq!(log[0]["stdin"]["cniVersion"], version);
}

/// ADD-4, CHAIN-4, CHAIN-14: a prevResult is passed on with only this plugin's interface added.
#[rstest]
#[case::v1("1.1.0")]
#[case::v04("0.4.0")]
fn add_extends_prev_result_chain4(#[case] version: &str) {
    let f = Fixture::new();
    let prev = json!({
        "cniVersion": version,
        "interfaces": [{"name": "host0", "mac": "aa:bb:cc:dd:ee:01"}],
        "dns": {"nameservers": ["10.0.0.53"]},
    });
    let out = run(
        &mut f.attached("ADD"),
        &f.conf(version, json!({"prevResult": prev})),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = stdout_json(&out);
    let mut expected = prev.clone();
    expected["interfaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "eth0", "sandbox": f.netns()}));
    assert_eq!(r, expected);
}

/// A legacy result cannot be formed without an address: the failure is code 1, not a panic.
#[test]
fn add_legacy_without_address_is_an_error() {
    let f = Fixture::new();
    let out = run(&mut f.attached("ADD"), &f.conf("0.2.0", json!({})));
    let err = error_object(&out);
    assert_eq!(err["code"], 1);
    assert_eq!(err["cniVersion"], "0.2.0");
}

/// CHECK-8, DEL-11, STATUS-1, GC-8: the other verbs succeed silently.
#[rstest]
#[case::check("CHECK")]
#[case::del("DEL")]
#[case::status("STATUS")]
#[case::gc("GC")]
fn other_verbs_exit_zero_with_empty_stdout(#[case] verb: &str) {
    let f = Fixture::new();
    let conf = f.conf("1.1.0", json!({"prevResult": prev_result_v1(&f.netns())}));
    let out = run(&mut f.attached(verb), &conf);
    assert_success_silent(&out);
    let log = f.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["command"], verb);
}

/// CHECK-10: CHECK without prevResult (absent or `{}`) fails with the plugin's own code.
#[rstest]
#[case::absent(json!({}))]
#[case::empty(json!({"prevResult": {}}))]
fn check_without_prev_result_fails_check10(#[case] extra: Value) {
    let f = Fixture::new();
    let err = error_object(&run(&mut f.attached("CHECK"), &f.conf("1.0.0", extra)));
    assert_eq!(err["code"], 101);
    assert_eq!(err["cniVersion"], "1.0.0");
    assert!(
        err["msg"].as_str().unwrap().contains("prevResult"),
        "{err:?}"
    );
}

/// DEL-3: DEL succeeds with or without prevResult.
#[test]
fn del_without_prev_result_succeeds_del3() {
    let f = Fixture::new();
    assert_success_silent(&run(&mut f.attached("DEL"), &f.conf("1.1.0", json!({}))));
    assert_success_silent(&run(
        &mut f.attached("DEL"),
        &f.conf("0.4.0", json!({"prevResult": {}})),
    ));
}

/// STATUS-2, STATUS-4: an unavailable plugin answers code 50.
#[test]
fn status_unavailable_is_code_50_status4() {
    let f = Fixture::new();
    let err = error_object(&run(
        &mut f.plugin(Some("STATUS")),
        &f.conf("1.1.0", json!({"unavailable": true})),
    ));
    assert_eq!(err["code"], 50);
    assert_eq!(err["cniVersion"], "1.1.0");
}

/// GC-1, GC-2: the plugin sees the valid attachments under the new key, or the old one alone.
#[rstest]
#[case::new_key("cni.dev/valid-attachments")]
#[case::old_key("cni.dev/attachments")]
fn gc_records_valid_attachments_gc1(#[case] key: &str) {
    let f = Fixture::new();
    let valid = json!([
        {"containerID": "ctr-1", "ifname": "eth0"},
        {"containerID": "ctr-2", "ifname": "net1"},
    ]);
    let out = run(
        &mut f.plugin(Some("GC")),
        &f.conf("1.1.0", json!({ key: valid.clone() })),
    );
    assert_success_silent(&out);
    let log = f.log();
    assert_eq!(log[0]["command"], "GC");
    assert_eq!(log[0]["validAttachments"], valid);
}

/// VERSION-1, VERSION-2, VERSION-7: exactly the input version and all seven versions.
#[rstest]
fn version_echoes_input_and_lists_all(
    #[values("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")] version: &str,
) {
    let f = Fixture::new();
    let out = run(
        &mut f.plugin(Some("VERSION")),
        &json!({"cniVersion": version}).to_string(),
    );
    assert!(out.status.success());
    assert_eq!(
        stdout_json(&out),
        json!({"cniVersion": version, "supportedVersions": ALL_VERSIONS})
    );
    assert!(f.log().is_empty(), "VERSION is answered by skel alone");
}

/// VERSION-3, VERSION-4: only CNI_COMMAND is needed, and unreadable stdin still gets an answer.
#[rstest]
#[case::empty("")]
#[case::garbage("{not json")]
#[case::unknown_version(r#"{"cniVersion":"9.9.9"}"#)]
fn version_tolerates_bad_stdin_version4(#[case] stdin: &str) {
    let f = Fixture::new();
    let out = run(&mut f.plugin(Some("VERSION")), stdin);
    assert!(out.status.success());
    assert_eq!(
        stdout_json(&out),
        json!({"cniVersion": "1.1.0", "supportedVersions": ALL_VERSIONS})
    );
}

// ---------------------------------------------------------------------------------------------
// Environment checks (code 4)

/// ENV-4, ENV-10, ADD-10, CHECK-14, DEL-10, ERR-8: every missing variable is named in one error.
#[rstest]
#[case::add_none("ADD", &[], &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])]
#[case::add_no_containerid("ADD", &["CNI_NETNS", "CNI_IFNAME"], &["CNI_CONTAINERID"])]
#[case::add_no_netns("ADD", &["CNI_CONTAINERID", "CNI_IFNAME"], &["CNI_NETNS"])]
#[case::add_no_ifname("ADD", &["CNI_CONTAINERID", "CNI_NETNS"], &["CNI_IFNAME"])]
#[case::add_only_netns("ADD", &["CNI_NETNS"], &["CNI_CONTAINERID", "CNI_IFNAME"])]
#[case::check_none("CHECK", &[], &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])]
#[case::check_no_netns("CHECK", &["CNI_CONTAINERID", "CNI_IFNAME"], &["CNI_NETNS"])]
#[case::del_none("DEL", &[], &["CNI_CONTAINERID", "CNI_IFNAME"])]
#[case::del_no_ifname("DEL", &["CNI_CONTAINERID", "CNI_NETNS"], &["CNI_IFNAME"])]
fn missing_variables_are_named_together_env10(
    #[case] verb: &str,
    #[case] present: &[&str],
    #[case] missing: &[&str],
) {
    let f = Fixture::new();
    let mut cmd = f.plugin(Some(verb));
    for var in present {
        let value = match *var {
            "CNI_CONTAINERID" => "ctr-1".to_string(),
            "CNI_NETNS" => f.netns(),
            _ => "eth0".to_string(),
        };
        cmd.env(var, value);
    }
    let prev = json!({"prevResult": prev_result_v1(&f.netns())});
    let err = error_object(&run(&mut cmd, &f.conf("1.1.0", prev)));
    assert_eq!(err["code"], 4);
    assert_known_version(&err);
    let msg = err["msg"].as_str().unwrap();
    for var in missing {
        assert!(msg.contains(var), "{msg:?} does not name {var}");
    }
    for var in present {
        assert!(!msg.contains(var), "{msg:?} names present {var}");
    }
    assert!(f.log().is_empty(), "plugin must not run");
}

/// RT-14, ENV-3: empty values count as absent; an empty container ID is a missing one (code 4).
#[test]
fn empty_variables_count_as_missing_rt14() {
    let f = Fixture::new();
    let mut cmd = f.attached("ADD");
    cmd.env("CNI_CONTAINERID", "")
        .env("CNI_NETNS", "")
        .env("CNI_IFNAME", "");
    let err = error_object(&run(&mut cmd, &f.conf("1.1.0", json!({}))));
    assert_eq!(err["code"], 4);
    let msg = err["msg"].as_str().unwrap();
    for var in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
        assert!(msg.contains(var), "{msg:?} does not name {var}");
    }
    let mut cmd = f.attached("DEL");
    cmd.env("CNI_CONTAINERID", "");
    let err = error_object(&run(&mut cmd, &f.conf("1.1.0", json!({}))));
    assert_eq!(err["code"], 4);
    assert!(err["msg"].as_str().unwrap().contains("CNI_CONTAINERID"));
    assert!(f.log().is_empty());
}

/// ENV-4, DEL-5, DEL-10: DEL without CNI_NETNS (absent or empty) works.
#[rstest]
#[case::absent(None)]
#[case::empty(Some(""))]
fn del_without_netns_works_del10(#[case] netns: Option<&str>) {
    let f = Fixture::new();
    let mut cmd = f.plugin(Some("DEL"));
    cmd.env("CNI_CONTAINERID", "ctr-1")
        .env("CNI_IFNAME", "eth0");
    if let Some(n) = netns {
        cmd.env("CNI_NETNS", n);
    }
    assert_success_silent(&run(&mut cmd, &f.conf("1.1.0", json!({}))));
    let log = f.log();
    assert_eq!(log[0]["command"], "DEL");
    assert_eq!(log[0]["netns"], Value::Null);
}

/// GC-9, STATUS-8, RT-14: GC and STATUS need no attachment variables, and tolerate the empty
/// ones libcni sends.
#[rstest]
fn gc_and_status_need_no_attachment_gc9(
    #[values("GC", "STATUS")] verb: &str,
    #[values(false, true)] empty_vars: bool,
) {
    let f = Fixture::new();
    let mut cmd = f.plugin(Some(verb));
    if empty_vars {
        for var in [
            "CNI_CONTAINERID",
            "CNI_NETNS",
            "CNI_IFNAME",
            "CNI_ARGS",
            "CNI_PATH",
        ] {
            cmd.env(var, "");
        }
    }
    assert_success_silent(&run(&mut cmd, &f.conf("1.1.0", json!({}))));
    let log = f.log();
    assert_eq!(log[0]["command"], verb);
    assert_eq!(log[0]["containerID"], "");
    assert_eq!(log[0]["netns"], Value::Null);
}

/// ENV-2: CNI_COMMAND is matched exactly; anything else is code 4.
#[rstest]
#[case::lower("add")]
#[case::unknown("FOO")]
#[case::mixed("Add")]
#[case::padded("ADD ")]
fn unknown_command_is_code_4_env2(#[case] verb: &str) {
    let f = Fixture::new();
    let err = error_object(&run(&mut f.attached(verb), &f.conf("1.1.0", json!({}))));
    assert_eq!(err["code"], 4);
    assert!(
        err["msg"].as_str().unwrap().contains(verb.trim()),
        "{err:?}"
    );
    assert!(f.log().is_empty());
}

/// ENV-3: a container ID with characters outside the identifier rule is refused.
#[rstest]
#[case::dotdot("../x")]
#[case::slash("a/b")]
#[case::dash_first("-a")]
#[case::space("a b")]
#[case::newline("a\n")]
fn bad_container_id_is_code_4_env3(#[case] id: &str, #[values("ADD", "DEL")] verb: &str) {
    let f = Fixture::new();
    let mut cmd = f.attached(verb);
    cmd.env("CNI_CONTAINERID", id);
    let err = error_object(&run(&mut cmd, &f.conf("1.1.0", json!({}))));
    assert_eq!(err["code"], 4);
    assert!(f.log().is_empty());
}

/// ENV-5, ENV-6: interface names the kernel would refuse never reach the plugin.
#[rstest]
#[case::sixteen_bytes("a234567890123456")]
#[case::sixteen_bytes_multibyte("éééééééé")]
#[case::slash("a/b")]
#[case::dotdot("..")]
#[case::dot(".")]
#[case::colon("a:b")]
#[case::space("a b")]
fn bad_ifname_is_code_4_env6(#[case] ifname: &str, #[values("ADD", "DEL")] verb: &str) {
    let f = Fixture::new();
    let mut cmd = f.attached(verb);
    cmd.env("CNI_IFNAME", ifname);
    let err = error_object(&run(&mut cmd, &f.conf("1.1.0", json!({}))));
    assert_eq!(err["code"], 4);
    assert!(f.log().is_empty());
}

/// ENV-6: fifteen bytes is the longest accepted name.
#[test]
fn fifteen_byte_ifname_is_accepted_env6() {
    let f = Fixture::new();
    let mut cmd = f.attached("ADD");
    cmd.env("CNI_IFNAME", "a23456789012345");
    let out = run(&mut cmd, &f.conf("1.1.0", json!({})));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        stdout_json(&out)["interfaces"][0]["name"],
        "a23456789012345"
    );
}

/// ENV-7, ENV-8: malformed CNI_ARGS is code 4; well-formed ones reach the plugin verbatim.
#[rstest]
#[case::no_equals("FOO")]
#[case::two_equals("A=B=C")]
#[case::empty_key("=B")]
fn bad_cni_args_is_code_4_env8(#[case] args: &str) {
    let f = Fixture::new();
    let mut cmd = f.attached("ADD");
    cmd.env("CNI_ARGS", args);
    let err = error_object(&run(&mut cmd, &f.conf("1.1.0", json!({}))));
    assert_eq!(err["code"], 4);
    assert!(f.log().is_empty());
}

#[test]
fn good_cni_args_reach_the_plugin_env7() {
    let f = Fixture::new();
    let mut cmd = f.attached("ADD");
    cmd.env("CNI_ARGS", "IgnoreUnknown=1;FOO=BAR;MAC=c2:11:22:33:44:55");
    assert!(run(&mut cmd, &f.conf("1.1.0", json!({}))).status.success());
    assert_eq!(
        f.log()[0]["args"],
        "IgnoreUnknown=1;FOO=BAR;MAC=c2:11:22:33:44:55"
    );
}

/// ENV-12: ADD into the plugin's own network namespace is refused before the plugin runs,
/// unless CNI_NETNS_OVERRIDE says otherwise.
#[test]
fn own_netns_is_refused_for_add_env12() {
    let f = Fixture::new();
    let mut cmd = f.attached("ADD");
    cmd.env("CNI_NETNS", "/proc/self/ns/net");
    let err = error_object(&run(&mut cmd, &f.conf("1.1.0", json!({}))));
    assert_eq!(err["code"], 4);
    assert_eq!(err["cniVersion"], "1.1.0");
    assert!(f.log().is_empty(), "refused before any change");

    cmd.env("CNI_NETNS_OVERRIDE", "1");
    let out = run(&mut cmd, &f.conf("1.1.0", json!({})));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(f.log().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Configuration checks (codes 6, 7, 1)

/// ENV-14, ERR-10: stdin that is not a JSON object is code 6.
#[rstest]
#[case::truncated("{")]
#[case::array("[]")]
#[case::empty("")]
#[case::string(r#""x""#)]
#[case::not_json("cniVersion=1.1.0")]
#[case::wrong_type(r#"{"cniVersion":"1.1.0","name":1,"type":"t"}"#)]
fn malformed_stdin_is_code_6_env14(#[case] stdin: &str, #[values("ADD", "DEL")] verb: &str) {
    let f = Fixture::new();
    let err = error_object(&run(&mut f.attached(verb), stdin));
    assert_eq!(err["code"], 6, "{err:?}");
    assert_known_version(&err);
    assert!(f.log().is_empty());
}

/// CFG-2, CFG-11, ERR-11: an invalid network name (or plugin type) is code 7.
#[rstest]
#[case::dotdot(json!({"name": "../etc"}))]
#[case::slash(json!({"name": "a/b"}))]
#[case::dash_first(json!({"name": "-x"}))]
#[case::dot_first(json!({"name": ".hidden"}))]
#[case::missing(json!({"name": ""}))]
#[case::type_with_separator(json!({"type": "../bin/sh"}))]
fn invalid_network_name_is_code_7_cfg2(#[case] extra: Value) {
    let f = Fixture::new();
    let err = error_object(&run(&mut f.attached("ADD"), &f.conf("1.0.0", extra)));
    assert_eq!(err["code"], 7, "{err:?}");
    assert_eq!(err["cniVersion"], "1.0.0");
    assert!(f.log().is_empty());
}

/// ADD-7, VER-6, ERR-5: versions are matched exactly; anything else is code 1.
#[rstest]
#[case::future("9.9.9")]
#[case::short("1.0")]
#[case::prefixed("v1.0.0")]
#[case::ancient("0.0.1")]
fn unsupported_version_is_code_1_add7(
    #[case] version: &str,
    #[values("ADD", "DEL", "CHECK")] verb: &str,
) {
    let f = Fixture::new();
    let err = error_object(&run(
        &mut f.attached(verb),
        &f.conf(version, json!({"testAddress": TEST_ADDRESS})),
    ));
    assert_eq!(err["code"], 1, "{err:?}");
    assert!(f.log().is_empty(), "nothing created");
}

/// VER-7, CHECK-9, GC-10, STATUS-9: verbs below the version that introduced them are code 1.
#[rstest]
#[case::check_031("CHECK", "0.3.1")]
#[case::check_030("CHECK", "0.3.0")]
#[case::check_020("CHECK", "0.2.0")]
#[case::gc_100("GC", "1.0.0")]
#[case::gc_040("GC", "0.4.0")]
#[case::status_100("STATUS", "1.0.0")]
#[case::status_040("STATUS", "0.4.0")]
fn verb_below_its_version_is_code_1_ver7(#[case] verb: &str, #[case] version: &str) {
    let f = Fixture::new();
    let err = error_object(&run(&mut f.attached(verb), &f.conf(version, json!({}))));
    assert_eq!(err["code"], 1, "{err:?}");
    assert_eq!(err["cniVersion"], version);
    assert!(f.log().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Failures, panics and stray output inside the plugin

/// ERR-1, ERR-3, ERR-4: a plugin error keeps its code and carries the request's version.
#[rstest]
#[case::add_020("ADD", "0.2.0")]
#[case::add_100("ADD", "1.0.0")]
#[case::check_040("CHECK", "0.4.0")]
#[case::del_031("DEL", "0.3.1")]
#[case::del_110("DEL", "1.1.0")]
#[case::status_110("STATUS", "1.1.0")]
#[case::gc_110("GC", "1.1.0")]
fn fail_on_gives_code_100_in_request_version_err3(#[case] verb: &str, #[case] version: &str) {
    let f = Fixture::new();
    // failOn fires before the verb's own work, so no prevResult or address is needed.
    let conf = f.conf(version, json!({"failOn": verb}));
    let out = run(&mut f.attached(verb), &conf);
    let err = error_object(&out);
    assert_eq!(err["code"], 100);
    assert_eq!(err["cniVersion"], version);
    assert!(err["msg"].as_str().unwrap().contains(verb));
    assert!(text(&out.stderr).contains("injected failure"));
    assert_eq!(f.log().len(), 1);
}

/// ERR-14: a panic becomes error 999 on stdout; the panic report goes to stderr only.
#[rstest]
fn panic_becomes_code_999_err14(#[values("ADD", "CHECK", "DEL", "STATUS", "GC")] verb: &str) {
    let f = Fixture::new();
    let mut cmd = f.attached(verb);
    cmd.env("RUST_BACKTRACE", "1");
    let conf = f.conf(
        "1.1.0",
        json!({"panicOn": verb, "prevResult": prev_result_v1(&f.netns())}),
    );
    let out = run(&mut cmd, &conf);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("panicked at"), "{stdout}");
    assert!(!stdout.contains("backtrace"), "{stdout}");
    let err = error_object(&out);
    assert_eq!(err["code"], 999);
    assert_eq!(err["cniVersion"], "1.1.0");
    assert!(err["details"]
        .as_str()
        .unwrap()
        .contains(&format!("panicOn {verb}")));
    assert!(text(&out.stderr).contains(&format!("panicOn {verb}")));
}

/// ADD-2, ERR-15: junk written to stdout by the plugin (println!, print!, a child process)
/// ends up on stderr; stdout holds exactly the result, the same as without noise.
#[test]
fn noise_never_reaches_stdout_add2() {
    let f = Fixture::new();
    let quiet = run(
        &mut f.attached("ADD"),
        &f.conf("0.4.0", json!({"testAddress": TEST_ADDRESS})),
    );
    let noisy = run(
        &mut f.attached("ADD"),
        &f.conf(
            "0.4.0",
            json!({"testAddress": TEST_ADDRESS, "noiseOn": "ADD"}),
        ),
    );
    assert!(noisy.status.success(), "{}", text(&noisy.stderr));
    assert_eq!(stdout_json(&noisy), stdout_json(&quiet));
    assert!(!text(&noisy.stdout).contains("noise"));
    let stderr = text(&noisy.stderr);
    for what in ["println", "unterminated print", "child process"] {
        assert!(
            stderr.contains(&format!("noise: {what} during ADD")),
            "{stderr}"
        );
    }
}

/// CHECK-8, DEL-11, GC-8: noise does not turn a silent success into output either.
#[rstest]
fn noise_keeps_silent_verbs_silent(#[values("CHECK", "DEL", "STATUS", "GC")] verb: &str) {
    let f = Fixture::new();
    let conf = f.conf(
        "1.1.0",
        json!({"noiseOn": verb, "prevResult": prev_result_v1(&f.netns())}),
    );
    let out = run(&mut f.attached(verb), &conf);
    assert_success_silent(&out);
    assert!(text(&out.stderr).contains("noise: println"));
}

/// ENV-15: without CNI_COMMAND the plugin describes itself on stderr and exits 0.
#[rstest]
#[case::absent(None)]
#[case::empty(Some(""))]
fn no_command_prints_about_to_stderr_env15(#[case] command: Option<&str>) {
    let f = Fixture::new();
    let mut cmd = f.plugin(command);
    let out = run(&mut cmd, "");
    assert_success_silent(&out);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cni-test-plugin"), "{stderr}");
    assert!(stderr.contains(&ALL_VERSIONS.join(", ")), "{stderr}");
}
