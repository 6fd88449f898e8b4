//! A fuzz run as the certify report ([`crate::report::Report`]): one case run per failure
//! kind found (its violation, where the reproducer is, the minimized request) and one for the
//! calls that were judged, with a passed finding for every rule the oracle checked on them, so
//! the terminal table, the JSON report and the JUnit file read as certify's do.

use crate::catalogue::Catalogue;
use crate::report::{Report, Subject};
use crate::runner::{CaseRun, Finding, Probe};

use super::generate::{short, Body};
use super::Summary;

/// Every requirement the oracle and the state compare can cite.
pub const CHECKED: &[&str] = &[
    "ERR-1",
    "ERR-2",
    "ERR-3",
    "ERR-4",
    "ERR-13",
    "ERR-17",
    "ERR-18",
    "ERR-10",
    "ENV-1",
    "ENV-13",
    "ADD-2",
    "ADD-6",
    "VERSION-1",
    "CHECK-8",
    "CHECK-15",
    "STATUS-10",
    "GC-4",
    "DEL-1",
];

fn run_of(case: String, title: String, version: &str, findings: Vec<Finding>) -> CaseRun {
    CaseRun {
        requirements: findings
            .iter()
            .flat_map(|f| f.requirements.clone())
            .collect(),
        passed: findings.iter().all(|f| f.passed),
        case,
        title,
        version: version.to_string(),
        error: None,
        millis: 0,
        findings,
        calls: Vec::new(),
        patched_attachments: Vec::new(),
        not_applicable: None,
    }
}

/// The report of `summary` (SHOULD-level failures fail it with `strict`).
pub fn report(catalogue: &Catalogue, summary: &Summary, config: &str, strict: bool) -> Report {
    let failed: std::collections::BTreeSet<&str> = summary
        .findings
        .iter()
        .map(|f| f.violation.requirement.as_str())
        .collect();
    let passed: Vec<Finding> = CHECKED
        .iter()
        .filter(|id| !failed.contains(**id))
        .map(|id| Finding {
            requirements: vec![id.to_string()],
            passed: true,
            message: format!(
                "{} generated calls (seed {:#x}) did not break it",
                summary.generated, summary.seed
            ),
        })
        .collect();
    let mut runs = vec![run_of(
        "fuzz".into(),
        format!("{} generated calls", summary.generated),
        &summary.version,
        passed,
    )];
    for (n, f) in summary.findings.iter().enumerate() {
        let body = match &f.minimized.body {
            Body::Json(v) => short(&v.to_string()),
            Body::Raw(t) => format!("raw {}", short(t)),
        };
        let env: Vec<String> = f.minimized.env.iter().map(super::cli::env_edit).collect();
        let message = format!(
            "fuzz call {} (seed {:#x}, {} such calls): {}; minimized to {} stdin {body} env [{}]{}",
            f.index,
            summary.seed,
            f.count,
            f.minimized_violation.detail,
            f.minimized.verb,
            env.join(", "),
            f.reproducer
                .as_ref()
                .map(|p| format!("; reproducer {}", p.display()))
                .unwrap_or_default()
        );
        runs.push(run_of(
            format!("fuzz-{:02}", n + 1),
            f.violation.kind.clone(),
            &summary.version,
            vec![Finding {
                requirements: vec![f.violation.requirement.clone()],
                passed: false,
                message,
            }],
        ));
    }
    let subject = Subject {
        plugin: summary.plugin.clone(),
        config: config.to_string(),
        strict,
        probe: Probe {
            advertised: Vec::new(),
            versions: vec![summary.version.clone()],
            kind: "fuzzed".into(),
            versions_from: Some(format!(
                "fuzz: requests at the base config's version {}, seed {:#x}",
                summary.version, summary.seed
            )),
            findings: Vec::new(),
            version_answer: None,
            plugin_sha256: crate::runner::file_sha256(std::path::Path::new(&summary.plugin)),
        },
        attachment_patch: None,
    };
    let mut setup = Vec::new();
    setup.extend(summary.harness_errors.iter().cloned());
    let mut r = Report::build(
        catalogue,
        subject,
        runs,
        Vec::new(),
        (summary.seconds * 1000.0) as u128,
    );
    r.setup_failures.extend(setup);
    if !r.setup_failures.is_empty() {
        r.passed = false;
    }
    r
}
