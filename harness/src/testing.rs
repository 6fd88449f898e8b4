//! One test per (case, spec version) in a vendor's `cargo test`, on `libtest-mimic`: a test
//! target with `harness = false` whose `main` is [`main`] (or which runs [`trials`] itself).
//!
//! ```toml
//! [[test]]
//! name = "conformance_cases"
//! harness = false
//! ```
//! ```ignore
//! // tests/conformance_cases.rs of a crate whose binary is `my-plugin`
//! fn main() -> std::process::ExitCode {
//!     harness::testing::main(
//!         harness::Certification::new(env!("CARGO_BIN_EXE_my-plugin"))
//!             .config_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/my-plugin.conflist")),
//!     )
//! }
//! ```
//!
//! Tests are named `<case>@<version>` (`add-second-ifname@1.0.0`), plus `version-answer` for
//! the findings on the plugin's VERSION answer, and filter as usual (`cargo test --
//! add-second-ifname`, `--exact`, `--list`, `--ignored`). Listing needs no privileges: the
//! versions are the plugin's VERSION answer (run directly), else the config's `cniVersion`.
//! The first test to run probes the plugin as a certification does (its kind decides which
//! cases apply) and the others share that probe.
//!
//! A test fails when its run fails a requirement at a level that fails a certification (MUST,
//! and SHOULD when strict), with each such requirement and its reason in the message. A case
//! that turns out not to apply to the plugin (another kind, a capability the config does not
//! enable, found by a tampering step) is reported ignored, with the reason. Without root every
//! test fails with "needs root": a certification that silently passed or was skipped in a CI
//! job that lost its privileges would certify nothing. The fault injection and concurrency
//! runs of a strict certification are not among these tests; a [`crate::Certification`] with
//! [`crate::Certification::strict`] and [`crate::Report::assert_conformant`] runs them.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use cni::version::SpecVersion;
use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::cases::{Case, Kind};
use crate::certification::{CaseOutcome, Certification, Error, Prepared};
use crate::data::CaseData;

/// The name of the test judging the plugin's VERSION answer.
pub const VERSION_ANSWER_TEST: &str = "version-answer";

/// What every trial says without root.
const NEEDS_ROOT: &str = "needs root: certification runs the plugin in network namespaces it \
                          creates; run the tests as root (e.g. `sudo -E cargo test`) or in a \
                          privileged container";

/// The certification the trials share, prepared by the first trial that runs.
struct Shared {
    certification: Certification,
    data: Arc<CaseData>,
    prepared: OnceLock<Result<Prepared, String>>,
}

impl Shared {
    /// The prepared certification, or why it could not be prepared (the same for every trial).
    fn prepared(&self) -> Result<&Prepared, Failed> {
        if !nix::unistd::geteuid().is_root() {
            return Err(NEEDS_ROOT.into());
        }
        self.prepared
            .get_or_init(|| {
                self.certification
                    .clone()
                    .prepare_with(Arc::clone(&self.data))
                    .map_err(|e: Error| format!("the harness cannot certify here: {e}"))
            })
            .as_ref()
            .map_err(|e| Failed::from(e.as_str()))
    }
}

/// The trials of `certification`: `version-answer`, then one per (case, version) of the case
/// tables and of the generated variants, in table order. The certification's filter, fault
/// injection and concurrency settings are not used (libtest's filter selects trials).
///
/// Fails when the case data, the plugin or its base config cannot be read.
pub fn trials(certification: Certification) -> Result<Vec<Trial>, Error> {
    let certification = certification.faults(false).concurrency(0);
    let data = Arc::new(certification.data()?);
    let target = certification.target()?;
    let versions = listed_versions(&target);
    let generated = crate::generated::cases(
        certification.generated_count(),
        certification.generated_seed(),
        &versions,
        &target,
    );
    let mut listed: Vec<(Case, SpecVersion)> = Vec::new();
    for case in data.cases.iter().chain(&generated) {
        if crate::capabilities::not_applicable(case, &target)
            .or_else(|| crate::postlude::not_applicable(case, &target))
            .is_some()
        {
            continue;
        }
        // The plugin's kind is known only once a probe ran: list the case at the versions it
        // would run at for a kind it applies to.
        let kind = case.applies.first().copied().unwrap_or(Kind::Other);
        if let Ok(vs) = crate::pool::expand(case, &versions, kind, target.ipam_type().is_some()) {
            listed.extend(vs.into_iter().map(|v| (case.clone(), v)));
        }
    }
    let shared = Arc::new(Shared {
        certification,
        data,
        prepared: OnceLock::new(),
    });
    let mut out = Vec::with_capacity(listed.len() + 1);
    let s = Arc::clone(&shared);
    out.push(Trial::test(VERSION_ANSWER_TEST, move || {
        let report = s.prepared()?.probe_report();
        if report.passed {
            Ok(())
        } else {
            Err(report.failure_summary().into())
        }
    }));
    for (case, version) in listed {
        let s = Arc::clone(&shared);
        let name = format!("{}@{}", case.id, version.as_str());
        out.push(Trial::ignorable_test(name, move || {
            match s.prepared()?.run_one(&case, version) {
                CaseOutcome::NotApplicable(reason) => Ok(Completion::ignored_with(format!(
                    "not applicable: {reason}"
                ))),
                CaseOutcome::Ran(report) if report.passed => Ok(Completion::Completed),
                CaseOutcome::Ran(report) => Err(format!(
                    "{} ({}) failed:\n{}",
                    case.id,
                    case.title,
                    report.failure_summary()
                )
                .into()),
            }
        }));
    }
    Ok(out)
}

/// The versions trials are listed at, without privileges: the plugin's VERSION answer when it
/// gives a usable list, else the base config's `cniVersion`, else the newest version.
fn listed_versions(target: &crate::target::Target) -> Vec<SpecVersion> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let answer = Command::new(&target.plugin)
        .env_clear()
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(br#"{"cniVersion":"1.0.0"}"#);
            }
            child.wait_with_output()
        });
    let mut versions: Vec<SpecVersion> = answer
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v.get("supportedVersions").cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().and_then(SpecVersion::from_exact))
        .collect();
    versions.sort();
    versions.dedup();
    if versions.is_empty() {
        versions.push(
            target
                .config_version
                .as_deref()
                .and_then(SpecVersion::from_exact)
                .unwrap_or(SpecVersion::LATEST),
        );
    }
    versions
}

/// The `main` of a `harness = false` test target: reads libtest's arguments, runs
/// [`trials`] and exits with libtest's status (101 when a test failed). A certification that
/// cannot list its trials (case data, plugin or config unreadable) prints why and exits 101.
/// Started as the harness's delegate recorder, the program is the recorder instead.
pub fn main(certification: Certification) -> ExitCode {
    if crate::recorder::invoked_as_recorder() {
        return crate::recorder::main();
    }
    let args = Arguments::from_args();
    match trials(certification) {
        Ok(trials) => libtest_mimic::run(&args, trials).exit_code(),
        Err(e) => {
            eprintln!("cannot list the conformance tests: {e}");
            ExitCode::from(101)
        }
    }
}

/// The cases of the embedded case tables that check `requirement` (the IDs a case names and
/// those of the checks its steps run), in table order: the tests (`<case>@<version>`) a plugin
/// breaking only that requirement fails.
pub fn cases_citing(requirement: &str) -> Result<Vec<String>, Error> {
    let data = CaseData::embedded().map_err(Error::Data)?;
    let covering = crate::coverage::coverage(&data.cases)
        .remove(requirement)
        .unwrap_or_default();
    Ok(data
        .cases
        .iter()
        .filter(|c| covering.contains(&c.id))
        .map(|c| c.id.clone())
        .collect())
}
