//! Verdicts per requirement and the three report formats: a terminal table, a JSON report and
//! JUnit XML. A requirement fails when any finding citing it failed; whether that fails the
//! certification depends on its level (MUST/MUST NOT always, SHOULD/SHOULD NOT with
//! `--strict`, MAY and DE-FACTO never: they are shown for information).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::catalogue::{Catalogue, Level};
use crate::runner::{CaseRun, Probe, Skipped};
use crate::target::{AttachmentPatch, PRIMARY_ATTACHMENT};

/// The verdict on one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every finding citing it passed.
    Pass,
    /// Failed and fails the certification.
    Fail,
    /// Failed, but the level makes it a warning (SHOULD without --strict).
    Warn,
    /// Failed, informational only (MAY, DE-FACTO).
    Info,
}

#[derive(Debug, Clone, Serialize)]
/// The verdict on one requirement, with what decided it.
pub struct RequirementResult {
    /// The requirement ID (`ADD-3`, `RT-17`, ...).
    pub id: String,
    /// Its level as the catalogue says it (`MUST`, `SHOULD`, ...).
    pub level: String,
    /// The rule in one line (the catalogue's `summary`; empty for an ID the catalogue lacks).
    pub summary: String,
    /// Where the rule comes from (the catalogue's `section`; empty for an ID it lacks).
    pub section: String,
    /// The verdict by the failures and the level.
    pub verdict: Verdict,
    /// First failure reason, or how many checks passed.
    pub reason: String,
    /// The runs that checked it (`case@version`, or `probe`).
    pub cases: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
/// A certification's outcome: the verdict per requirement, the runs behind it, and the
/// formats it prints as ([`Report::terminal`], [`Report::json`], [`Report::junit`]).
pub struct Report {
    /// The plugin binary certified, as given.
    pub plugin: String,
    /// The harness's own version and build (`cni-conformance --version`).
    pub harness_version: String,
    /// Its base config: the file as given, or `<inline config>`.
    pub config: String,
    /// Whether SHOULD-level failures fail the certification.
    pub strict: bool,
    /// What the probe found (versions, kind, findings on the VERSION answer).
    pub probe: Probe,
    /// The merge patch given to attachments other than a case's main one, if any; the case
    /// runs that used it list `patched_attachments`.
    pub attachment_patch: Option<AttachmentPatch>,
    /// One verdict per requirement a finding cited, in ID order.
    pub requirements: Vec<RequirementResult>,
    /// Every (case, version) run, robustness runs included.
    pub cases: Vec<CaseRun>,
    /// The cases that did not apply, with the reason.
    pub skipped: Vec<Skipped>,
    /// Findings not tied to a requirement (fixture or setup trouble): they fail the run.
    pub setup_failures: Vec<String>,
    /// The verdict: no requirement failed and no setup failure.
    pub passed: bool,
    /// How long the certification took.
    pub millis: u128,
}

/// What was certified, and how.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Subject {
    /// The plugin binary, as given.
    pub plugin: String,
    /// The base config, as given.
    pub config: String,
    /// Whether SHOULD-level failures fail.
    pub strict: bool,
    /// What the probe found.
    pub probe: Probe,
    /// The attachment patch in force, if any.
    pub attachment_patch: Option<AttachmentPatch>,
}

impl Report {
    #[doc(hidden)]
    /// Judges the findings of the probe and of every run by the catalogue's levels.
    pub fn build(
        catalogue: &Catalogue,
        subject: Subject,
        cases: Vec<CaseRun>,
        skipped: Vec<Skipped>,
        millis: u128,
    ) -> Report {
        let Subject {
            plugin,
            config,
            strict,
            probe,
            attachment_patch,
        } = subject;
        struct Acc {
            passed: usize,
            failure: Option<String>,
            cases: Vec<String>,
        }
        let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
        let mut setup_failures = Vec::new();
        // The probe's findings (its VERSION answer) first, then each case run's.
        let labelled = std::iter::once(("probe".to_string(), None, probe.findings.as_slice()))
            .chain(cases.iter().map(|run| {
                (
                    format!("{}@{}", run.case, run.version),
                    run.error.as_deref(),
                    run.findings.as_slice(),
                )
            }));
        for (label, error, findings) in labelled {
            if let Some(e) = error {
                setup_failures.push(format!("{label}: {e}"));
            }
            for f in findings {
                if f.requirements.is_empty() {
                    if !f.passed {
                        setup_failures.push(format!("{label}: {}", f.message));
                    }
                    continue;
                }
                for id in &f.requirements {
                    let a = acc.entry(id.clone()).or_insert(Acc {
                        passed: 0,
                        failure: None,
                        cases: Vec::new(),
                    });
                    if !a.cases.contains(&label) {
                        a.cases.push(label.clone());
                    }
                    if f.passed {
                        a.passed += 1;
                    } else if a.failure.is_none() {
                        a.failure = Some(format!("{label}: {}", f.message));
                    }
                }
            }
        }
        let mut requirements = Vec::new();
        for (id, a) in acc {
            let rule = catalogue.get(&id);
            let level = rule.map(|r| r.level).unwrap_or(Level::DeFacto);
            let verdict = match (&a.failure, level) {
                (None, _) => Verdict::Pass,
                (Some(_), l) if l.is_mandatory() => Verdict::Fail,
                (Some(_), Level::Should | Level::ShouldNot) if strict => Verdict::Fail,
                (Some(_), Level::Should | Level::ShouldNot) => Verdict::Warn,
                (Some(_), _) => Verdict::Info,
            };
            requirements.push(RequirementResult {
                id,
                level: level.as_str().to_string(),
                summary: rule.map(|r| r.summary.clone()).unwrap_or_default(),
                section: rule.map(|r| r.section.clone()).unwrap_or_default(),
                verdict,
                reason: a
                    .failure
                    .unwrap_or_else(|| format!("{} check(s) passed", a.passed)),
                cases: a.cases,
            });
        }
        requirements.sort_by_key(|r| natural_key(&r.id));
        let passed =
            setup_failures.is_empty() && requirements.iter().all(|r| r.verdict != Verdict::Fail);
        Report {
            plugin,
            harness_version: cni::build_info::VERSION_AND_BUILD.to_string(),
            config,
            strict,
            probe,
            attachment_patch,
            requirements,
            cases,
            skipped,
            setup_failures,
            passed,
            millis,
        }
    }

    /// How many requirements have this verdict.
    pub fn count(&self, v: Verdict) -> usize {
        self.requirements.iter().filter(|r| r.verdict == v).count()
    }

    /// The case runs (`case@version`) whose requests carried the attachment patch.
    pub fn patched_runs(&self) -> Vec<String> {
        self.cases
            .iter()
            .filter(|c| !c.patched_attachments.is_empty())
            .map(|c| format!("{}@{}", c.case, c.version))
            .collect()
    }

    /// What the attachment patch was and where it applied, in one line (`None` without one).
    pub fn attachment_patch_line(&self) -> Option<String> {
        let p = self.attachment_patch.as_ref()?;
        let runs = self.patched_runs();
        Some(format!(
            "{} (from {}) applied to attachments other than {PRIMARY_ATTACHMENT:?} in {} case run(s){}",
            p.patch,
            p.source,
            runs.len(),
            if runs.is_empty() {
                String::new()
            } else {
                format!(": {}", runs.join(", "))
            }
        ))
    }

    /// The table printed on the terminal: every requirement with its verdict and reason, then
    /// the totals and the verdict.
    pub fn terminal(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "plugin:   {}", self.plugin);
        let _ = writeln!(s, "config:   {}", self.config);
        if let Some(line) = self.attachment_patch_line() {
            let _ = writeln!(s, "attachment patch: {line}");
        }
        let _ = writeln!(
            s,
            "kind:     {}; versions tested: {} (advertised: {})",
            self.probe.kind,
            self.probe.versions.join(", "),
            if self.probe.advertised.is_empty() {
                "none readable".to_string()
            } else {
                self.probe.advertised.join(", ")
            }
        );
        if let Some(from) = &self.probe.versions_from {
            let _ = writeln!(s, "versions: {from}");
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<11} {:<10} {:<7} reason",
            "requirement", "level", "verdict"
        );
        for r in &self.requirements {
            let verdict = match r.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "FAIL",
                Verdict::Warn => "warn",
                Verdict::Info => "info",
            };
            let mut reason = r.reason.replace('\n', " ");
            if reason.len() > 150 {
                let mut end = 150;
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                reason.truncate(end);
                reason.push('…');
            }
            let _ = writeln!(s, "{:<11} {:<10} {:<7} {}", r.id, r.level, verdict, reason);
        }
        for f in &self.setup_failures {
            let _ = writeln!(s, "setup      -          FAIL    {f}");
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(s, "not applicable:");
            for k in &self.skipped {
                let _ = writeln!(s, "  {:<28} {}", k.case, k.reason);
            }
        }
        let runs = self.cases.len();
        let failed_runs = self.cases.iter().filter(|c| !c.passed).count();
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{} requirements: {} pass, {} fail, {} warn, {} info; {} case runs ({} with a failed check), {} cases not applicable; {:.1} s",
            self.requirements.len(),
            self.count(Verdict::Pass),
            self.count(Verdict::Fail),
            self.count(Verdict::Warn),
            self.count(Verdict::Info),
            runs,
            failed_runs,
            self.skipped.len(),
            self.millis as f64 / 1000.0
        );
        let patched = self.patched_runs().len();
        let _ = writeln!(
            s,
            "verdict: {}{}",
            if self.passed {
                "CONFORMANT"
            } else {
                "NOT CONFORMANT"
            },
            if patched > 0 {
                format!(" ({patched} case run(s) with the attachment patch)")
            } else {
                String::new()
            }
        );
        s
    }

    /// The JSON report: this structure serialized.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// JUnit XML: one testsuite, one testcase per requirement; FAIL is a failure, warn/info
    /// appear in system-out.
    pub fn junit(&self) -> String {
        let mut s = String::new();
        let failures = self.count(Verdict::Fail) + self.setup_failures.len();
        let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = writeln!(
            s,
            r#"<testsuite name="cni-conformance {}" tests="{}" failures="{}" time="{:.3}">"#,
            xml(&self.plugin),
            self.requirements.len() + self.setup_failures.len(),
            failures,
            self.millis as f64 / 1000.0
        );
        if let Some(line) = self.attachment_patch_line() {
            let _ = writeln!(
                s,
                "  <properties>\n    <property name=\"attachment-patch\" value=\"{}\"/>\n  </properties>",
                xml(&line)
            );
        }
        for r in &self.requirements {
            let _ = write!(
                s,
                r#"  <testcase classname="{}" name="{} ({})""#,
                xml(&self.plugin),
                xml(&r.id),
                xml(&r.level)
            );
            match r.verdict {
                Verdict::Pass => {
                    let _ = writeln!(s, "/>");
                }
                Verdict::Fail => {
                    let _ = writeln!(
                        s,
                        ">\n    <failure message=\"{}\"/>\n  </testcase>",
                        xml(&r.reason)
                    );
                }
                Verdict::Warn | Verdict::Info => {
                    let _ = writeln!(
                        s,
                        ">\n    <system-out>{:?}: {}</system-out>\n  </testcase>",
                        r.verdict,
                        xml(&r.reason)
                    );
                }
            }
        }
        for f in &self.setup_failures {
            let _ = writeln!(
                s,
                "  <testcase classname=\"{}\" name=\"setup\">\n    <failure message=\"{}\"/>\n  </testcase>",
                xml(&self.plugin),
                xml(f)
            );
        }
        let _ = writeln!(s, "</testsuite>");
        s
    }
}

fn natural_key(id: &str) -> (String, u32) {
    let (area, n) = id.split_once('-').unwrap_or((id, "0"));
    (area.to_string(), n.parse().unwrap_or(0))
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}
