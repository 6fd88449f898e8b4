//! A plugin's stdout as the harness reads it (`harness::checks`): every check that needs no
//! world runs on one answer, for any verb, request version, exit status and plugin kind.
//!
//! Input: byte 0 picks the verb, the exit status and the plugin kind, byte 1 the request's
//! `cniVersion`, the rest is stdout. Never panics, and every reading agrees with the strict
//! one (`serde_json::from_slice` of the whole text):
//! - [`one_json`] accepts exactly what `serde_json::from_slice` accepts, with the same value
//!   (so invalid UTF-8 or non-JSON whitespace is never a JSON answer), and never a blank one;
//! - [`error_code`] is the `code` of that one object;
//! - a passing `single-json`, `result`, `outcome`, `error-json`, `version-info` or
//!   `stdout-empty` check means what it says: a document, a valid result (labelled with the
//!   request's version for `outcome`), an error object with a numeric code and a message, a
//!   non-empty list of version strings, nothing but whitespace;
//! - a result read as the runner keeps it (`CniResult::parse` with the request's version)
//!   is the one `one_json` reads.

use cni::result::CniResult;
use cni::SpecVersion;
use harness::cases::Kind;
use harness::checks::{error_code, is_blank, one_json, StepView, CHECKS};
use serde_json::Value;

const VERBS: [&str; 6] = ["ADD", "CHECK", "DEL", "VERSION", "STATUS", "GC"];
const KINDS: [Kind; 4] = [Kind::Interface, Kind::Ipam, Kind::Chained, Kind::Other];

/// The request's `cniVersion` for a selector byte: every spec version, none, one unknown.
fn version(b: u8) -> &'static str {
    const ALL: [&str; 9] = [
        "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", "", "9.9.9",
    ];
    ALL[usize::from(b) % ALL.len()]
}

/// The oracle of the `plugin_stdout` target.
pub fn plugin_stdout(data: &[u8]) {
    let (&sel, rest) = data.split_first().unwrap_or((&0, &[]));
    let (&ver, stdout) = rest.split_first().unwrap_or((&0, &[]));
    let verb = VERBS[usize::from(sel) % VERBS.len()];
    let exit_ok = sel & 0x40 == 0;
    let kind = KINDS[usize::from(sel >> 3) % KINDS.len()];
    let version = version(ver);

    let json = one_json(stdout);
    let strict = serde_json::from_slice::<Value>(stdout);
    match (&json, &strict) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "one_json and from_slice read different values"),
        (Ok(v), Err(e)) => panic!("one_json accepted what is no JSON text ({e}): {v}"),
        (Err(e), Ok(v)) => panic!("one_json refused a JSON text ({e}): {v}"),
        (Err(_), Err(_)) => {}
    }
    if json.is_ok() {
        assert!(std::str::from_utf8(stdout).is_ok(), "accepted non-UTF-8");
        assert!(!is_blank(stdout));
    }
    let code = error_code(stdout);
    if let Some(c) = code {
        let j = json.as_ref().expect("a code without a JSON document");
        assert_eq!(j["code"].as_u64(), Some(c));
    }

    // What the runner keeps as the attachment's last ADD result.
    if let Some(spec) = SpecVersion::from_exact(version) {
        if let Ok(r) = CniResult::parse(stdout, Some(spec)) {
            let j = json
                .clone()
                .expect("a result the harness cannot read as JSON");
            assert_eq!(CniResult::from_value(j, Some(spec)).as_ref(), Ok(&r));
        }
    }

    let prev = CniResult::parse(stdout, SpecVersion::from_exact(version)).ok();
    let view = StepView {
        verb,
        version,
        stdout,
        exit_ok,
        world: None,
        attachment: "a",
        ifname: "eth0",
        netns: "/run/netns/fuzz",
        prev_result: prev.as_ref(),
        kind,
        env: &[],
        stdin: b"{}",
        stderr: b"",
        delegate_calls: None,
    };
    for check in CHECKS {
        let passed = matches!((check.run)(&view), Some(Ok(())));
        if passed {
            meaning(check.name, &view, json.as_ref().ok(), code);
        }
    }
}

/// What a passing check guarantees about the answer.
fn meaning(check: &str, v: &StepView, json: Option<&Value>, code: Option<u64>) {
    let doc = || json.unwrap_or_else(|| panic!("{check} passed without a JSON document"));
    match check {
        "single-json" => {
            doc();
        }
        "result" => {
            assert!(v.exit_ok && v.verb == "ADD");
            let r = CniResult::from_value(doc().clone(), None)
                .unwrap_or_else(|e| panic!("result passed on an invalid result: {e}"));
            r.validate().expect("a parsed result validates");
        }
        "outcome" if v.exit_ok && v.verb == "ADD" => {
            let expected = if v.version.is_empty() {
                "0.1.0"
            } else {
                v.version
            };
            let r = CniResult::from_value(doc().clone(), None)
                .unwrap_or_else(|e| panic!("outcome passed on an invalid result: {e}"));
            assert_eq!(r.version().as_str(), expected, "outcome: wrong label");
        }
        "outcome" if !v.exit_ok => {
            assert!(code.is_some(), "outcome passed a failure without a code");
            assert!(doc()["msg"].is_string());
        }
        "error-json" => {
            assert!(!v.exit_ok);
            assert!(code.is_some(), "error-json passed without a numeric code");
            assert!(doc()["msg"].is_string());
        }
        "version-info" => {
            let list = doc()["supportedVersions"].as_array().expect("a list");
            assert!(!list.is_empty() && list.iter().all(Value::is_string));
            assert!(doc()["cniVersion"].is_string());
        }
        "stdout-empty" => assert!(is_blank(v.stdout), "stdout-empty passed on {:?}", v.stdout),
        _ => {}
    }
}
