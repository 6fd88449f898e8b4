//! The attachment patch: a JSON merge patch for the tested plugin's config of every
//! attachment but a case's main one (`--attachment-patch`, or `x-conformance.attachmentPatch`
//! in the config). Unit tests of its parsing, where it applies, the config key's removal and
//! the reports; then the CLI end to end with host-local on a one-address range, where the
//! second attachment of `add-second-ifname` can only succeed if it really gets the patch,
//! through a wrapper that logs every request the plugin receives.
//!
//! The CLI tests need root (namespaces) and build the reference plugins.

mod support;
use support::workspace;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::catalogue::Catalogue;
use harness::report::{Report, Subject};
use harness::runner::{AttachmentPatch, CaseRun, Probe, Target, CONFIG_KEY};
use serde_json::{json, Value};

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

/// An executable file to stand in for a plugin (`from_config` checks the mode only).
fn fake_plugin(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("vlan");
    std::fs::write(&p, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn vlan_conf(extra: Value) -> Value {
    let mut c = json!({
        "cniVersion": "1.0.0", "name": "n", "type": "vlan", "master": "m0", "vlanId": 100,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.94.0.0/24"}]]},
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn target(conf: &Value) -> Result<Target, String> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.json", conf);
    Target::from_config(
        &fake_plugin(dir.path()),
        &cfg,
        vec![],
        Duration::from_secs(1),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn patch_applies_to_every_attachment_but_the_main_one() {
    let p = AttachmentPatch::new(json!({"vlanId": 101, "ipam": {"ranges": null}}), "test").unwrap();
    let base = vlan_conf(json!({}));
    let mut a = base.clone();
    assert!(!p.apply("a", &mut a));
    assert_eq!(a, base, "the main attachment keeps the base config");
    for name in ["a2", "b"] {
        let mut other = base.clone();
        assert!(p.apply(name, &mut other));
        assert_eq!(other["vlanId"], 101, "{name}");
        // A merge patch: `null` removes, other keys stay.
        assert_eq!(other["ipam"], json!({"type": "host-local"}), "{name}");
        assert_eq!(other["master"], "m0", "{name}");
    }
}

#[test]
fn patch_must_be_an_object_that_keeps_the_network() {
    for bad in [
        json!([1]),
        json!(101),
        json!({"name": "other"}),
        json!({"type": "macvlan"}),
        json!({"cniVersion": "0.4.0"}),
        json!({CONFIG_KEY: {}}),
    ] {
        assert!(
            AttachmentPatch::new(bad.clone(), "t").is_err(),
            "{bad} accepted"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "p.json", &json!({"vlanId": 101}));
    let from_file = AttachmentPatch::from_arg(f.to_str().unwrap()).unwrap();
    assert_eq!(from_file.patch, json!({"vlanId": 101}));
    assert!(from_file.source.contains("p.json"), "{}", from_file.source);
    let inline = AttachmentPatch::from_arg(r#"{"vlanId": 102}"#).unwrap();
    assert_eq!(inline.patch, json!({"vlanId": 102}));
    assert!(AttachmentPatch::from_arg("/nonexistent/patch.json").is_err());
    assert!(AttachmentPatch::from_arg("{not json").is_err());
}

#[test]
fn config_key_is_the_harness_s_and_never_reaches_the_plugin() {
    let t = target(&vlan_conf(
        json!({CONFIG_KEY: {"attachmentPatch": {"vlanId": 101}}}),
    ))
    .unwrap();
    assert!(
        !t.plugin_conf.contains_key(CONFIG_KEY),
        "{:?}",
        t.plugin_conf
    );
    let p = t
        .attachment_patch
        .as_ref()
        .expect("patch read from the config");
    assert_eq!(p.patch, json!({"vlanId": 101}));
    assert!(
        p.source.ends_with("x-conformance.attachmentPatch"),
        "{}",
        p.source
    );

    // Without the key: no patch; a second one from the command line conflicts.
    assert!(target(&vlan_conf(json!({})))
        .unwrap()
        .attachment_patch
        .is_none());
    let flag = AttachmentPatch::new(json!({"vlanId": 102}), "--attachment-patch").unwrap();
    assert!(t.clone().with_attachment_patch(flag.clone()).is_err());
    let t2 = target(&vlan_conf(json!({})))
        .unwrap()
        .with_attachment_patch(flag)
        .unwrap();
    assert_eq!(t2.attachment_patch.unwrap().patch, json!({"vlanId": 102}));

    // Typos and wrong shapes are setup errors, not silently ignored.
    for bad in [
        json!({CONFIG_KEY: {"attachmentPatches": {}}}),
        json!({CONFIG_KEY: [1]}),
        json!({CONFIG_KEY: {"attachmentPatch": {"name": "x"}}}),
    ] {
        assert!(target(&vlan_conf(bad.clone())).is_err(), "{bad} accepted");
    }

    // In a list the key sits at the top, beside `plugins`.
    let list = json!({"cniVersion": "1.0.0", "name": "n", CONFIG_KEY: {"attachmentPatch": {"vlanId": 103}},
        "plugins": [vlan_conf(json!({}))]});
    let t3 = target(&list).unwrap();
    assert_eq!(t3.attachment_patch.unwrap().patch, json!({"vlanId": 103}));
    assert!(!t3.plugin_conf.contains_key(CONFIG_KEY));

    // Inside a plugin object of a list it would reach that plugin: refused.
    let nested = json!({"cniVersion": "1.0.0", "name": "n",
        "plugins": [vlan_conf(json!({CONFIG_KEY: {"attachmentPatch": {"vlanId": 104}}}))]});
    let e = target(&nested).unwrap_err();
    assert!(e.contains("top level"), "{e}");
}

fn case_run(case: &str, patched: &[&str]) -> CaseRun {
    CaseRun {
        case: case.into(),
        title: case.into(),
        version: "1.0.0".into(),
        requirements: vec!["ADD-5".into()],
        passed: true,
        error: None,
        millis: 1,
        findings: vec![],
        calls: vec![],
        patched_attachments: patched.iter().map(|s| s.to_string()).collect(),
        not_applicable: None,
    }
}

fn report(patch: Option<AttachmentPatch>) -> Report {
    let patched: &[&str] = if patch.is_some() { &["a2"] } else { &[] };
    let catalogue =
        Catalogue::load(workspace().join("conformance-cases/requirements.toml")).unwrap();
    Report::build(
        &catalogue,
        Subject {
            plugin: "p".into(),
            config: "c".into(),
            strict: true,
            probe: Probe {
                advertised: vec![],
                versions: vec![],
                kind: "interface".into(),
                versions_from: None,
                findings: vec![],
                version_answer: None,
                plugin_sha256: None,
            },
            attachment_patch: patch,
        },
        vec![
            case_run("add-second-ifname", patched),
            case_run("add-ok", &[]),
        ],
        vec![],
        5,
    )
}

#[test]
fn reports_name_the_patch_and_the_runs_that_used_it() {
    let p = AttachmentPatch::new(json!({"vlanId": 101}), "vlan.json: x-conformance").unwrap();
    let r = report(Some(p));
    let term = r.terminal();
    assert!(
        term.contains(
            r#"attachment patch: {"vlanId":101} (from vlan.json: x-conformance) applied to attachments other than "a" in 1 case run(s): add-second-ifname@1.0.0"#
        ),
        "{term}"
    );
    assert!(
        term.contains("verdict: CONFORMANT (1 case run(s) with the attachment patch)"),
        "{term}"
    );
    let j: Value = serde_json::from_str(&r.json()).unwrap();
    assert_eq!(j["attachment_patch"]["patch"], json!({"vlanId": 101}));
    assert_eq!(j["attachment_patch"]["source"], "vlan.json: x-conformance");
    assert_eq!(j["cases"][0]["patched_attachments"], json!(["a2"]));
    assert_eq!(j["cases"][1]["patched_attachments"], json!([]));
    let junit = r.junit();
    assert!(
        junit
            .contains(r#"<property name="attachment-patch" value="{&quot;vlanId&quot;:101} (from"#),
        "{junit}"
    );

    // Without a patch none of it shows.
    let r = report(None);
    assert!(!r.terminal().contains("attachment patch"));
    assert!(!r.junit().contains("attachment-patch"));
    assert_eq!(
        serde_json::from_str::<Value>(&r.json()).unwrap()["attachment_patch"],
        Value::Null
    );
}

// ----- the CLI, end to end -----------------------------------------------------------------

fn plugins_dir() -> PathBuf {
    support::build_plugins()
}

/// A plugin that saves each request (with `CNI_COMMAND` and `CNI_IFNAME`) under `log` and
/// hands it to our host-local.
fn logging_host_local(dir: &Path, log: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let hl = plugins_dir().join("host-local");
    let p = dir.join("host-local");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nf=$(mktemp {log}/req-XXXXXX)\necho \"$CNI_COMMAND $CNI_IFNAME\" > \"$f.env\"\n\
             cat > \"$f\"\nexec {hl} < \"$f\"\n",
            log = log.display(),
            hl = hl.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// (verb, ifname, request) for every logged plugin call.
fn logged(log: &Path) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(log).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some() {
            continue;
        }
        let env = std::fs::read_to_string(p.with_extension("env")).unwrap();
        let (verb, ifname) = env.trim().split_once(' ').unwrap_or((env.trim(), ""));
        let req = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        out.push((verb.to_string(), ifname.to_string(), req));
    }
    out
}

struct Certified {
    status: Option<i32>,
    stdout: String,
    report: Value,
    junit: String,
    requests: Vec<(String, String, Value)>,
}

/// Certifies host-local on a one-address range (10.93.0.2) with `add-second-ifname` only:
/// the second ifname's ADD can only get an address from the patch's range.
fn certify_one_address(config_extra: Value, flag: Option<&str>) -> Certified {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    std::fs::create_dir(&log).unwrap();
    let plugin = logging_host_local(dir.path(), &log);
    let mut conf = json!({
        "cniVersion": "1.0.0", "name": "cnirs-patch", "type": "bridge",
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.93.0.0/30"}]]},
    });
    for (k, v) in config_extra.as_object().unwrap() {
        conf[k] = v.clone();
    }
    let cfg = write(dir.path(), "one-address.json", &conf);
    let (json_path, junit_path) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cni-conformance"));
    cmd.args(["certify", "--strict", "--jobs", "1", "--generated", "0"])
        .args(["--filter", "add-second-ifname", "--plugin"])
        .arg(&plugin)
        .arg("--config")
        .arg(&cfg)
        .arg("--json")
        .arg(&json_path)
        .arg("--junit")
        .arg(&junit_path);
    if let Some(f) = flag {
        cmd.args(["--attachment-patch", f]);
    }
    let out = cmd.output().expect("cni-conformance runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = std::fs::read(&json_path)
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(Value::Null);
    Certified {
        status: out.status.code(),
        stdout: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
        report,
        junit: std::fs::read_to_string(&junit_path).unwrap_or_default(),
        requests: logged(&log),
    }
}

fn verdict(report: &Value, id: &str) -> String {
    report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .map(|r| r["verdict"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

const OTHER_RANGE: &str = r#"{"ipam": {"ranges": [[{"subnet": "10.93.1.0/30"}]]}}"#;

#[test]
fn without_a_patch_the_second_attachment_fails() {
    // The baseline: the one-address range really makes the case fail, so the passes below
    // are the patch's doing.
    let c = certify_one_address(json!({}), None);
    assert_eq!(c.status, Some(1), "{}", c.stdout);
    assert_eq!(verdict(&c.report, "ADD-5"), "fail", "{}", c.stdout);
    assert!(!c.stdout.contains("attachment patch"), "{}", c.stdout);
    assert!(c.report["cases"][0]["patched_attachments"]
        .as_array()
        .unwrap()
        .is_empty());
}

fn assert_patched(c: &Certified, source: &str) {
    assert_eq!(c.status, Some(0), "{}", c.stdout);
    assert_eq!(verdict(&c.report, "ADD-5"), "pass", "{}", c.stdout);
    assert!(
        c.stdout.contains("attachment patch: ")
            && c.stdout.contains(source)
            && c.stdout.contains("add-second-ifname@"),
        "{}",
        c.stdout
    );
    assert!(
        c.report["attachment_patch"]["source"]
            .as_str()
            .unwrap()
            .contains(source),
        "{}",
        c.report["attachment_patch"]
    );
    assert_eq!(c.report["cases"][0]["patched_attachments"], json!(["a2"]));
    assert!(c.junit.contains("attachment-patch"), "{}", c.junit);
    // What the plugin received: eth0 (attachment a) the base range, eth1 (a2) the patched
    // one, and never the harness's own key.
    let subnet = |r: &Value| {
        r["ipam"]["ranges"][0][0]["subnet"]
            .as_str()
            .map(String::from)
    };
    let mut seen = (0, 0);
    for (verb, ifname, req) in &c.requests {
        assert!(req.get(CONFIG_KEY).is_none(), "{verb} {ifname}: {req}");
        match ifname.as_str() {
            "eth0" => {
                assert_eq!(
                    subnet(req).as_deref(),
                    Some("10.93.0.0/30"),
                    "{verb}: {req}"
                );
                seen.0 += 1;
            }
            "eth1" => {
                assert_eq!(
                    subnet(req).as_deref(),
                    Some("10.93.1.0/30"),
                    "{verb}: {req}"
                );
                seen.1 += 1;
            }
            _ => {}
        }
    }
    assert!(seen.0 >= 2 && seen.1 >= 2, "calls per ifname: {seen:?}");
}

#[test]
fn the_flag_patches_the_second_attachment() {
    let c = certify_one_address(json!({}), Some(OTHER_RANGE));
    assert_patched(&c, "--attachment-patch (inline)");
}

#[test]
fn the_config_key_patches_the_second_attachment() {
    let patch: Value = serde_json::from_str(OTHER_RANGE).unwrap();
    let c = certify_one_address(json!({CONFIG_KEY: {"attachmentPatch": patch}}), None);
    assert_patched(&c, "one-address.json: x-conformance.attachmentPatch");
}

#[test]
fn two_patches_are_a_usage_error() {
    let patch: Value = serde_json::from_str(OTHER_RANGE).unwrap();
    let c = certify_one_address(
        json!({CONFIG_KEY: {"attachmentPatch": patch}}),
        Some(OTHER_RANGE),
    );
    assert_eq!(c.status, Some(2), "{}", c.stdout);
    assert!(c.stdout.contains("two attachment patches"), "{}", c.stdout);
    assert!(c.requests.is_empty(), "the plugin ran: {:?}", c.requests);
}
