//! Proves `cni-conformance` catches broken plugins. Each test certifies a mutant of a real
//! upstream plugin (`examples/cni-mutant.rs`: a wrapper that breaks exactly one rule, chosen by
//! its file name) on the few cases that exercise the broken rule, and requires exit status 1
//! with the rule's requirement ID failed in the JSON report. The same certify run through the
//! same wrapper with mutation `none` must pass those IDs (the baseline), so the verdict is due
//! to the mutation, not to the wrapper or the plugin. Every run's JUnit file is checked too.
//!
//! Needs root and Debian's containernetworking-plugins in /usr/lib/cni (scripts/setup.sh).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

const REAL_DIR: &str = "/usr/lib/cni";

fn require_upstream() {
    for p in ["host-local", "ptp"] {
        assert!(
            Path::new(REAL_DIR).join(p).is_file(),
            "{REAL_DIR}/{p} is missing: run scripts/setup.sh (installs containernetworking-plugins)"
        );
    }
}

/// The built `cni-mutant` example.
fn mutant_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| support::build_example("cni-mutant"))
}

fn config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance-cases/configs")
        .join(name)
}

/// One certify run and what it produced.
struct Outcome {
    status: i32,
    report: Value,
    elapsed: Duration,
    /// The mutant's path (unique per run).
    plugin: PathBuf,
    output: String,
    _dir: tempfile::TempDir,
}

impl Outcome {
    fn verdicts(&self) -> BTreeMap<String, String> {
        self.report["requirements"]
            .as_array()
            .expect("requirements array")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().expect("id").to_string(),
                    r["verdict"].as_str().expect("verdict").to_string(),
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
            .unwrap_or("(not in the report)")
            .to_string()
    }
}

/// The arguments of one certify run.
#[derive(Clone, Copy)]
struct Run<'a> {
    config: &'a str,
    filter: &'a str,
    strict: bool,
    timeout: Option<&'a str>,
}

impl<'a> Run<'a> {
    fn new(config: &'a str, filter: &'a str) -> Self {
        Run {
            config,
            filter,
            strict: false,
            timeout: None,
        }
    }
    fn strict(self) -> Self {
        Run {
            strict: true,
            ..self
        }
    }
}

/// What a certify run left behind, whatever its exit status.
struct RawRun {
    status: i32,
    output: String,
    plugin: PathBuf,
    json: PathBuf,
    junit: PathBuf,
    elapsed: Duration,
    dir: tempfile::TempDir,
}

/// Runs `cni-conformance certify` on `mutant-<spec>` (a symlink to the example) with `run`'s
/// arguments.
fn run_certify(spec: &str, run: Run) -> RawRun {
    require_upstream();
    let dir = tempfile::Builder::new()
        .prefix("cnirs-mutant-")
        .tempdir()
        .unwrap();
    let plugin = dir.path().join(format!("mutant-{spec}"));
    std::os::unix::fs::symlink(mutant_binary(), &plugin).unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let mut cmd = Command::cargo_bin("cni-conformance").unwrap();
    cmd.arg("certify")
        .arg("--plugin")
        .arg(&plugin)
        .arg("--config")
        .arg(config(run.config))
        .args([
            "--cni-path",
            REAL_DIR,
            "--jobs",
            "2",
            "--filter",
            run.filter,
        ])
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .timeout(Duration::from_secs(180));
    if run.strict {
        cmd.arg("--strict");
    }
    if let Some(t) = run.timeout {
        cmd.args(["--timeout", t]);
    }
    let start = Instant::now();
    let out = cmd.output().expect("run cni-conformance");
    let elapsed = start.elapsed();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    RawRun {
        status: out.status.code().unwrap_or(-1),
        output,
        plugin,
        json,
        junit,
        elapsed,
        dir,
    }
}

/// Certifies `mutant-<spec>` with `run`'s arguments; the run must reach a verdict (exit 0 or
/// 1) and write both reports.
fn certify(spec: &str, run: Run) -> Outcome {
    let RawRun {
        status,
        output,
        plugin,
        json,
        junit,
        elapsed,
        dir,
    } = run_certify(spec, run);
    assert!(
        status == 0 || status == 1,
        "certify {spec} exited {status} (setup error?):\n{output}"
    );
    let report: Value = serde_json::from_slice(
        &std::fs::read(&json).unwrap_or_else(|e| panic!("no JSON report ({e}):\n{output}")),
    )
    .expect("JSON report parses");
    let xml = std::fs::read_to_string(&junit).expect("JUnit report written");
    check_junit(&xml, &report);
    Outcome {
        status,
        report,
        elapsed,
        plugin,
        output,
        _dir: dir,
    }
}

/// The JUnit file is one `<testsuite>` with one `<testcase>` per requirement (plus one per
/// setup failure), each opened and closed, and the failure count matches the verdicts.
fn check_junit(xml: &str, report: &Value) {
    assert!(xml.starts_with("<?xml"), "no XML declaration:\n{xml}");
    assert_eq!(xml.matches("<testsuite ").count(), 1, "{xml}");
    assert!(xml.trim_end().ends_with("</testsuite>"), "{xml}");
    let reqs = report["requirements"].as_array().unwrap();
    let setup = report["setup_failures"].as_array().unwrap();
    let cases = xml.matches("<testcase ").count();
    assert_eq!(cases, reqs.len() + setup.len(), "{xml}");
    let closed = xml.matches("</testcase>").count()
        + xml
            .lines()
            .filter(|l| l.trim_start().starts_with("<testcase ") && l.ends_with("/>"))
            .count();
    assert_eq!(closed, cases, "every testcase is closed:\n{xml}");
    for r in reqs {
        let name = format!(
            "name=\"{} ({})\"",
            r["id"].as_str().unwrap(),
            r["level"].as_str().unwrap()
        );
        assert_eq!(xml.matches(&name).count(), 1, "{name} once in:\n{xml}");
    }
    let fails = reqs.iter().filter(|r| r["verdict"] == "fail").count() + setup.len();
    assert!(
        xml.contains(&format!("failures=\"{fails}\"")),
        "failures={fails} in:\n{xml}"
    );
    assert_eq!(xml.matches("<failure ").count(), fails, "{xml}");
}

/// Certifies the mutant and the baseline; the mutant must fail with every ID of `caught`
/// failed, the baseline must pass with those IDs passed.
fn caught(mutation: &str, plugin: &str, run: Run, ids: &[&str]) -> Outcome {
    let m = certify(&format!("{mutation}@{plugin}"), run);
    assert_eq!(
        m.status, 1,
        "mutant {mutation}@{plugin} was not caught:\n{}",
        m.output
    );
    for id in ids {
        assert_eq!(
            m.verdict(id).as_deref(),
            Some("fail"),
            "mutant {mutation}@{plugin}: {id} should fail; report:\n{}",
            m.output
        );
    }
    let b = certify(&format!("none@{plugin}"), run);
    for id in ids {
        assert_eq!(
            b.verdict(id).as_deref(),
            Some("pass"),
            "baseline none@{plugin}: {id} should pass ({}); report:\n{}",
            b.reason(id),
            b.output
        );
    }
    assert_eq!(
        b.status, 0,
        "baseline none@{plugin} should certify on these cases:\n{}",
        b.output
    );
    m
}

/// Like [`caught`] for a mutant of a plugin that already fails some requirements of its own
/// on these cases (upstream's VERSION-2): the baseline must fail exactly `baseline_fails`
/// and pass every ID of `ids`, the mutant must fail every ID of `ids` with exit status 1.
fn caught_beside(
    mutation: &str,
    plugin: &str,
    run: Run,
    ids: &[&str],
    baseline_fails: &[&str],
) -> Outcome {
    let m = certify(&format!("{mutation}@{plugin}"), run);
    assert_eq!(
        m.status, 1,
        "mutant {mutation}@{plugin} was not caught:\n{}",
        m.output
    );
    for id in ids {
        assert_eq!(
            m.verdict(id).as_deref(),
            Some("fail"),
            "mutant {mutation}@{plugin}: {id} should fail; report:\n{}",
            m.output
        );
    }
    let b = certify(&format!("none@{plugin}"), run);
    for id in ids {
        assert_eq!(
            b.verdict(id).as_deref(),
            Some("pass"),
            "baseline none@{plugin}: {id} should pass ({}); report:\n{}",
            b.reason(id),
            b.output
        );
    }
    let failed: Vec<String> = b
        .verdicts()
        .into_iter()
        .filter(|(_, v)| v == "fail")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        failed, baseline_fails,
        "baseline none@{plugin}:\n{}",
        b.output
    );
    m
}

#[test]
fn wrong_result_version_fails_add_6() {
    caught(
        "wrong-result-version",
        "host-local",
        Run::new("host-local.json", "version-each-works"),
        &["ADD-6"],
    );
}

#[test]
fn leak_on_del_fails_del_1_in_strict_mode() {
    caught(
        "leak-on-del",
        "host-local",
        Run::new("host-local.json", "del-leaves-no-trace").strict(),
        &["DEL-1"],
    );
}

/// A DEL that leaks its own attachment breaks DEL-1 (SHOULD), not DEL-13 (MUST NOT: others'
/// resources): without --strict the leak is a warning only.
#[test]
fn leak_on_del_is_not_blamed_on_other_attachments() {
    require_upstream();
    let run = Run::new("ptp.json", "del-only-own-attachment");
    let m = certify("leak-on-del@ptp", run);
    assert_eq!(m.verdict("DEL-1").as_deref(), Some("warn"), "{}", m.output);
    assert_eq!(m.verdict("DEL-13").as_deref(), Some("pass"), "{}", m.output);
    assert_eq!(m.status, 0, "{}", m.output);
    caught("leak-on-del", "ptp", run.strict(), &["DEL-1"]);
}

#[test]
fn del_not_idempotent_fails_del_6() {
    caught(
        "del-not-idempotent",
        "host-local",
        Run::new("host-local.json", "del-idempotent"),
        &["DEL-6"],
    );
}

#[test]
fn error_exit_zero_fails_err_1() {
    caught(
        "error-exit-zero",
        "host-local",
        Run::new("host-local.json", "add-bad-stdin"),
        &["ERR-1"],
    );
}

#[test]
fn junk_stdout_fails_add_2_and_env_13() {
    caught(
        "junk-stdout",
        "host-local",
        Run::new("host-local.json", "version-each-works"),
        &["ADD-2", "ENV-13"],
    );
}

#[test]
fn check_never_fails_fails_check_3_in_strict_mode() {
    let m = caught(
        "check-never-fails",
        "ptp",
        Run::new("ptp.json", "check-missing").strict(),
        &["CHECK-3"],
    );
    // check-missing-env: CHECK without CNI_NETNS must fail, a MUST.
    assert_eq!(m.verdict("CHECK-14").as_deref(), Some("fail"));
}

#[test]
fn check_never_fails_on_ipam_fails_check_4_in_strict_mode() {
    caught(
        "check-never-fails",
        "host-local",
        Run::new("host-local.json", "check-lost-reservation").strict(),
        &["CHECK-4"],
    );
}

#[test]
fn wrong_ifname_fails_env_5_add_1_add_11() {
    let run = Run::new("ptp.json", "version-each-works");
    let m = caught("wrong-ifname", "ptp", run, &["ENV-5"]);
    assert_eq!(m.report["probe"]["kind"], "interface", "{}", m.output);
    let m = caught(
        "wrong-ifname",
        "ptp",
        run.strict(),
        &["ENV-5", "ADD-1", "ADD-11"],
    );
    // The interface it did create has the right sandbox: RES-4 holds.
    assert_eq!(m.verdict("RES-4").as_deref(), Some("pass"), "{}", m.output);
}

#[test]
fn hang_is_killed_within_timeout_and_fails_the_add_step() {
    let m = caught(
        "hang",
        "host-local",
        Run {
            timeout: Some("2"),
            ..Run::new("host-local.json", "add-optional-env")
        },
        &["ADD-10"],
    );
    // Three ADDs hang (probe, and the case's two), 2 s each, plus the quick calls.
    assert!(
        m.elapsed < Duration::from_secs(20),
        "certify took {:?}",
        m.elapsed
    );
    assert!(m
        .reason("ADD-10")
        .contains("did not finish within 2s and was killed"));
    let calls: Vec<&Value> = m.report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["calls"].as_array().unwrap())
        .filter(|c| c["command"] == "ADD")
        .collect();
    assert!(!calls.is_empty());
    for c in calls {
        let ms = c["millis"].as_u64().unwrap();
        assert!((1900..3500).contains(&ms), "ADD ran {ms} ms: {c}");
    }
    // Nothing of the hung plugin survives the run.
    let me = m.plugin.to_string_lossy().into_owned();
    let survivors: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .filter(|c| c.starts_with(&me))
        .collect();
    assert!(survivors.is_empty(), "left running: {survivors:?}");
}

#[test]
fn no_error_json_fails_err_2_in_strict_mode() {
    caught(
        "no-error-json",
        "host-local",
        Run::new("host-local.json", "add-bad-stdin").strict(),
        &["ERR-2", "ERR-17"],
    );
}

#[test]
fn version_lies_fails_version_5() {
    let m = caught(
        "version-lies",
        "host-local",
        Run::new("host-local.json", "version-each-works"),
        &["VERSION-5"],
    );
    assert!(m.report["probe"]["advertised"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "1.1.0"));
}

#[test]
fn del_without_netns_fails_fails_del_5_and_del_10() {
    caught(
        "del-without-netns-fails",
        "host-local",
        Run::new("host-local.json", "netns").strict(),
        &["DEL-5", "DEL-10"],
    );
}

#[test]
fn missing_sandbox_fails_add_11_in_strict_mode() {
    let m = caught(
        "missing-sandbox",
        "ptp",
        Run::new("ptp.json", "version-each-works").strict(),
        &["ADD-11", "RES-4"],
    );
    assert_eq!(m.report["probe"]["kind"], "interface", "{}", m.output);
}

#[test]
fn accepts_unknown_version_fails_err_1() {
    caught(
        "accepts-unknown-version",
        "host-local",
        Run::new("host-local.json", "version-unsupported"),
        &["ERR-1"],
    );
}

#[test]
fn del_overreaches_fails_del_13() {
    let m = caught(
        "del-overreaches",
        "host-local",
        Run::new("host-local.json", "del-only-own-attachment"),
        &["DEL-13"],
    );
    // Releasing others' reservations is no leak of its own.
    assert_eq!(m.verdict("DEL-1").as_deref(), Some("pass"), "{}", m.output);
}

/// The wrapper finds its mutation by file name through a copy (current_exe) and by a sidecar
/// `<exe>.mutation` file, not only through a symlink (argv[0]).
#[test]
fn wrapper_identity_by_copy_and_sidecar() {
    require_upstream();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("mutant-version-lies");
    std::fs::copy(mutant_binary(), &copy).unwrap();
    let plain = dir.path().join("plain");
    std::fs::copy(mutant_binary(), &plain).unwrap();
    std::fs::write(
        dir.path().join("plain.mutation"),
        "version-lies@host-local\n",
    )
    .unwrap();
    let baseline = dir.path().join("mutant-none");
    std::os::unix::fs::symlink(mutant_binary(), &baseline).unwrap();
    let version = |p: &Path| -> Value {
        // A fresh copy may be briefly busy (ETXTBSY) while another test forks.
        let mut tries = 0;
        let out = loop {
            match std::process::Command::new(p)
                .env_clear()
                .env("CNI_COMMAND", "VERSION")
                .stdin(std::fs::File::open("/dev/null").unwrap())
                .output()
            {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 20 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => break other.unwrap(),
            }
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let lists_1_1 = |v: &Value| {
        v["supportedVersions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "1.1.0")
    };
    assert!(lists_1_1(&version(&copy)));
    assert!(lists_1_1(&version(&plain)));
    // The unmutated wrapper answers exactly what the real plugin answers.
    let real = version(&Path::new(REAL_DIR).join("host-local"));
    assert_eq!(version(&baseline), real);
}

/// The probe's findings (`probe.findings` of the JSON report) as (IDs, passed, message).
fn probe_findings(o: &Outcome) -> Vec<(Vec<String>, bool, String)> {
    o.report["probe"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no probe findings in the report:\n{}", o.output))
        .iter()
        .map(|f| {
            (
                f["requirements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
                f["passed"].as_bool().unwrap(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn probe_failed(o: &Outcome, id: &str) -> bool {
    probe_findings(o)
        .iter()
        .any(|(ids, passed, _)| !passed && ids.iter().any(|i| i == id))
}

/// A line of text before the VERSION JSON: stdout is not one JSON document. That is the
/// plugin's failure (ENV-13, a MUST; VERSION-1, a SHOULD), reported with exit status 1 and
/// both reports, not a setup error; without a readable version list the run goes on at the
/// config's cniVersion.
#[test]
fn version_text_line_fails_env_13_and_version_1() {
    let run = Run::new("bridge.json", "version-info");
    let m = caught_beside(
        "version-text-line",
        "bridge",
        run,
        &["ENV-13"],
        &["VERSION-2"],
    );
    assert_eq!(
        m.verdict("VERSION-1").as_deref(),
        Some("warn"),
        "{}",
        m.output
    );
    assert!(probe_failed(&m, "ENV-13"), "{:?}", probe_findings(&m));
    assert!(probe_failed(&m, "VERSION-1"), "{:?}", probe_findings(&m));
    assert_eq!(m.report["probe"]["versions"], serde_json::json!(["1.0.0"]));
    let from = m.report["probe"]["versions_from"].as_str().unwrap_or("");
    assert!(from.contains("config's cniVersion 1.0.0"), "{from}");
    assert!(
        m.output.contains("config's cniVersion 1.0.0"),
        "{}",
        m.output
    );
    let m = caught_beside(
        "version-text-line",
        "bridge",
        run.strict(),
        &["ENV-13", "VERSION-1"],
        &["VERSION-2"],
    );
    assert!(
        !m.output.contains("probing the plugin failed"),
        "{}",
        m.output
    );
}

/// A VERSION answer without `cniVersion`: VERSION-1 (the object's fields) and VERSION-2 (no
/// cniVersion echoes the request) fail; its version list is still used.
#[test]
fn version_without_cniversion_fails_version_1_and_version_2() {
    let m = certify(
        "version-no-cniversion@bridge",
        Run::new("bridge.json", "version-info"),
    );
    assert_eq!(m.status, 1, "{}", m.output);
    assert_eq!(
        m.verdict("VERSION-2").as_deref(),
        Some("fail"),
        "{}",
        m.output
    );
    assert_eq!(
        m.verdict("VERSION-1").as_deref(),
        Some("warn"),
        "{}",
        m.output
    );
    assert!(probe_failed(&m, "VERSION-2"), "{:?}", probe_findings(&m));
    assert!(
        probe_findings(&m)
            .iter()
            .any(|(_, passed, msg)| !passed && msg.contains("no cniVersion")),
        "{:?}",
        probe_findings(&m)
    );
    assert_eq!(m.report["probe"]["versions"].as_array().unwrap().len(), 6);
    assert!(m.report["probe"]["versions_from"].is_null());
    caught_beside(
        "version-no-cniversion",
        "bridge",
        Run::new("bridge.json", "version-info").strict(),
        &["VERSION-1"],
        &["VERSION-2"],
    );
}

/// A plugin whose ADD fails with the base config at every version cannot be certified here:
/// exit status 2 with the plugin's own error and what to do, and no verdict or report.
#[test]
fn a_base_config_that_cannot_add_stops_with_exit_2() {
    let r = run_certify("fail-add@ptp", Run::new("ptp.json", "version-info"));
    assert_eq!(r.status, 2, "{}", r.output);
    assert!(r.output.contains("operation not supported"), "{}", r.output);
    assert!(
        r.output.contains("fix the config or the machine"),
        "{}",
        r.output
    );
    assert!(!r.output.contains("verdict:"), "{}", r.output);
    assert!(!r.json.exists() && !r.junit.exists(), "{}", r.output);
}

/// Upstream portmap, which needs the mappings on DEL too, given none on DEL: the rules ADD
/// wrote for the harness's capability arguments stay (DEL-1). Before the harness passed
/// capability arguments, ADD wrote no rule and this mutant passed.
#[test]
fn port_mappings_ignored_on_del_fails_del_1_in_strict_mode() {
    caught(
        "ignore-runtime-config-del",
        "portmap",
        Run::new("portmap.conflist", "capability-port-mappings").strict(),
        &["DEL-1"],
    );
}

/// Upstream portmap given no mappings on ADD: the declared capability is not acted on, the
/// host port forwards nothing (CAP-5, the `port-mappings-forward` check).
#[test]
fn port_mappings_ignored_on_add_fails_cap_5_in_strict_mode() {
    let m = caught(
        "ignore-runtime-config-add",
        "portmap",
        Run::new("portmap.conflist", "capability-port-mappings").strict(),
        &["CAP-5"],
    );
    assert!(
        m.reason("CAP-5").contains("did not reach"),
        "{}",
        m.reason("CAP-5")
    );
}

/// Upstream bridge given no `runtimeConfig` on ADD with a config enabling `mac` and `ips`:
/// the interface keeps a random MAC (CAP-10) and host-local picks its own address (CAP-9).
#[test]
fn runtime_config_ignored_on_add_fails_cap_9_and_cap_10_in_strict_mode() {
    caught(
        "ignore-runtime-config-add",
        "bridge",
        Run::new("bridge-capabilities.json", "capability-").strict(),
        &["CAP-9", "CAP-10"],
    );
}
