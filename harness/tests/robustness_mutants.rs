//! Proves the robustness runs of `cni-conformance certify` (`--faults`, `--concurrency`) catch
//! what the case tables cannot: each defect of `examples/cni-robust-mutant.rs` fails its
//! requirement ID with the new runs, its correct form passes them, and with the new runs off
//! the defective and the correct form get the same verdicts (the old checks do not see it).
//!
//! Needs root (namespaces, ptrace of the plugin processes) and `ip`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// The built `cni-robust-mutant` example.
fn mutant_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| support::build_example("cni-robust-mutant"))
}

const LINK_CONFIG: &str =
    r#"{ "cniVersion": "1.0.0", "name": "robust-link", "type": "robust", "mtu": 1400 }"#;
const IPAM_CONFIG: &str = r#"{ "cniVersion": "1.0.0", "name": "robust-ipam", "type": "robust",
  "ipam": { "type": "robust-ipam", "subnet": "10.77.0.0/24" } }"#;

/// One certify run's outcome.
struct Outcome {
    status: i32,
    report: Value,
    junit: String,
    output: String,
}

impl Outcome {
    fn verdicts(&self) -> BTreeMap<String, String> {
        self.report["requirements"]
            .as_array()
            .expect("requirements")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["verdict"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn verdict(&self, id: &str) -> Option<String> {
        self.verdicts().get(id).cloned()
    }

    fn reason(&self, id: &str) -> String {
        self.report["requirements"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["id"] == id)
            .and_then(|r| r["reason"].as_str())
            .unwrap_or("")
            .to_string()
    }

    fn failed(&self) -> Vec<String> {
        self.verdicts()
            .into_iter()
            .filter(|(_, v)| v == "fail")
            .map(|(id, _)| id)
            .collect()
    }

    fn case_ids(&self) -> Vec<String> {
        self.report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Certifies `robust-<mode>` with `config` under `--strict` and `args`.
fn certify(mode: &str, config: &str, args: &[&str]) -> Outcome {
    let dir = tempfile::Builder::new()
        .prefix("cnirs-robust-")
        .tempdir()
        .unwrap();
    let plugin = dir.path().join(format!("robust-{mode}"));
    std::os::unix::fs::symlink(mutant_binary(), &plugin).unwrap();
    let conf = dir.path().join("config.json");
    std::fs::write(&conf, config).unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let out = Command::cargo_bin("cni-conformance")
        .unwrap()
        .arg("certify")
        .arg("--plugin")
        .arg(&plugin)
        .arg("--config")
        .arg(&conf)
        .args(["--strict", "--jobs", "2"])
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .timeout(Duration::from_secs(300))
        .output()
        .expect("run cni-conformance");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = out.status.code().unwrap_or(-1);
    assert!(
        status == 0 || status == 1,
        "certify {mode} exited {status}:\n{output}"
    );
    let report = serde_json::from_slice(&std::fs::read(&json).expect("JSON report")).unwrap();
    let junit = std::fs::read_to_string(&junit).expect("JUnit report");
    Outcome {
        status,
        report,
        junit,
        output,
    }
}

/// The defect fails `id` with the new runs (`new`), the correct form passes it, and with the
/// new runs off both forms get the same verdicts.
fn caught_only_by_new_checks(
    defect: &str,
    correct: &str,
    config: &str,
    new: &[&str],
    id: &str,
) -> Outcome {
    let m = certify(defect, config, new);
    assert_eq!(m.status, 1, "{defect} was not caught:\n{}", m.output);
    assert_eq!(
        m.verdict(id).as_deref(),
        Some("fail"),
        "{defect}: {id} should fail:\n{}",
        m.output
    );
    let b = certify(correct, config, new);
    assert_eq!(
        b.verdict(id).as_deref(),
        Some("pass"),
        "{correct}: {id} should pass ({}):\n{}",
        b.reason(id),
        b.output
    );
    assert_eq!(b.status, 0, "{correct} should pass:\n{}", b.output);
    let old = ["--no-faults", "--concurrency", "0"];
    let (m_old, b_old) = (
        certify(defect, config, &old),
        certify(correct, config, &old),
    );
    assert!(
        !m_old
            .case_ids()
            .iter()
            .any(|c| c.starts_with("fault-") || c.starts_with("concurrency-")),
        "the robustness runs were off:\n{}",
        m_old.output
    );
    assert_eq!(
        m_old.failed(),
        b_old.failed(),
        "the case tables alone must not tell {defect} from {correct}:\n{}\n---\n{}",
        m_old.output,
        b_old.output
    );
    assert_eq!(m_old.status, b_old.status, "{}", m_old.output);
    m
}

#[test]
fn link_created_before_its_state_leaks_when_killed_fails_rt_17() {
    let m = caught_only_by_new_checks(
        "link-then-state",
        "state-then-link",
        LINK_CONFIG,
        &["--filter", "fault-add"],
        "RT-17",
    );
    // The finding names the kill point and the seed, in JSON and JUnit alike.
    let reason = m.reason("RT-17");
    assert!(
        reason.contains("killed after state-changing call") && reason.contains("faults seed 24301"),
        "{reason}"
    );
    assert!(m.junit.contains("faults seed 24301"), "{}", m.junit);
    assert!(reason.contains("left behind: node: + link rm"), "{reason}");
}

#[test]
fn the_faults_seed_replays_the_same_kill_points() {
    let args = ["--filter", "fault-add", "--faults-seed", "7"];
    let a = certify("link-then-state", LINK_CONFIG, &args);
    let b = certify("link-then-state", LINK_CONFIG, &args);
    assert_eq!(a.case_ids(), b.case_ids());
    // The mutant names its link after the container ID, which comes from the sandbox of
    // whichever worker ran the trial; the kill points and what they left must be the same.
    assert_eq!(
        without_mutant_link_names(&a.reason("RT-17")),
        without_mutant_link_names(&b.reason("RT-17"))
    );
    assert!(a.reason("RT-17").contains("faults seed 7"), "{}", a.output);
}

/// `text` with every mutant link name (`rm` and eight hex digits) written as `rm<link>`.
fn without_mutant_link_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("rm") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let hex = tail
            .bytes()
            .take(8)
            .take_while(u8::is_ascii_hexdigit)
            .count();
        if hex == 8 && !tail[8..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
            out.push_str("rm<link>");
            rest = &tail[8..];
        } else {
            out.push_str("rm");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn mutant_link_names_are_masked_and_nothing_else() {
    assert_eq!(
        without_mutant_link_names("+ link rm4b87ebb6 kind=bridge; rmdir rm12; rmaffb4797x"),
        "+ link rm<link> kind=bridge; rmdir rm12; rmaffb4797x"
    );
}

#[test]
fn link_left_on_a_config_error_fails_rt_21() {
    caught_only_by_new_checks(
        "link-then-validate",
        "validate-then-link",
        LINK_CONFIG,
        &["--filter", "fault-config"],
        "RT-21",
    );
}

#[test]
fn unlocked_ipam_allocation_hands_out_duplicates_fails_rt_3() {
    let m = caught_only_by_new_checks(
        "ipam-racy",
        "ipam-locked",
        IPAM_CONFIG,
        &["--filter", "concurrency-parallel"],
        "RT-3",
    );
    assert!(
        m.reason("RT-3").contains("same address twice"),
        "{}",
        m.reason("RT-3")
    );
}
