//! The HTML report (`certify --html FILE`): one self-contained page built from a [`Report`],
//! meant to be published beside a plugin binary. It loads nothing (a Content-Security-Policy
//! forbids every fetch; styles and one small script are inline, the script allowed by its
//! hash only) and shows, top to bottom: the verdict; the plugin's identity (path, SHA-256,
//! VERSION answer) and the harness version; a requirement × spec-version matrix whose cells
//! are colored by verdict; every failed, warned or informational requirement as a
//! `<details>` element holding its evidence (case run, step, the finding, the plugin calls of
//! that step with environment, request, stdout and stderr, a state diff as lines); the setup
//! failures, the cases that did not apply and the list of case runs.
//!
//! Every text that reaches the page goes through [`escape`]: plugin output, requests and
//! paths are hostile input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::report::{Report, RequirementResult, Verdict};
use crate::runner::{CallLog, CaseRun, Finding};

/// The label of the probe's findings (its VERSION answer), in the matrix and the evidence.
const PROBE: &str = "probe";

/// At most this many failing findings are shown per requirement; the rest are counted.
const MAX_EVIDENCE: usize = 25;

/// The page's only script: opens the `<details>` a link or the address names, and the two
/// buttons that open or close every requirement's evidence.
const SCRIPT: &str = r#"(function () {
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  function setAll(open) {
    document.querySelectorAll("details.requirement").forEach(function (d) { d.open = open; });
  }
  document.getElementById("expand-all").addEventListener("click", function () { setAll(true); });
  document.getElementById("collapse-all").addEventListener("click", function () { setAll(false); });
})();"#;

const STYLE: &str = r#"
:root { --pass: #57ab5a; --fail: #d1352b; --warn: #f2cc60; --info: #8fb8de; --none: #eeeeee; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #1f2328; }
h1.verdict { padding: .4em .8em; border-radius: 6px; color: #fff; }
h1.verdict-pass { background: var(--pass); }
h1.verdict-fail { background: var(--fail); }
.summary { font-size: 1.1em; }
dl.identity { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }
dl.identity dt { font-weight: 600; }
dl.identity dd { margin: 0; word-break: break-all; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 4px; padding: .5em; margin: .3em 0;
      white-space: pre-wrap; word-break: break-all; max-height: 30em; overflow: auto; }
table { border-collapse: collapse; }
table.matrix th, table.matrix td { border: 1px solid #d0d7de; padding: .15em .5em; text-align: center; }
table.matrix td.id, table.matrix td.level { text-align: left; white-space: nowrap; }
td.cell { min-width: 3.5em; font-weight: 600; }
.v-pass { background: var(--pass); color: #fff; }
.v-fail { background: var(--fail); color: #fff; }
.v-warn { background: var(--warn); color: #1f2328; }
.v-info { background: var(--info); color: #1f2328; }
.v-none { background: var(--none); color: #8c959f; }
span.badge { padding: 0 .4em; border-radius: 3px; }
details.requirement { border: 1px solid #d0d7de; border-left: 6px solid var(--none); border-radius: 4px; margin: .5em 0; padding: .3em .6em; }
details.requirement.v-fail, details.requirement.v-warn, details.requirement.v-info { background: #fff; color: #1f2328; }
details.requirement.v-fail { border-left-color: var(--fail); }
details.requirement.v-warn { border-left-color: var(--warn); }
details.requirement.v-info { border-left-color: var(--info); }
details > summary { cursor: pointer; }
p.rule { font-style: italic; margin: .3em 0; }
.evidence-item { border-top: 1px dashed #d0d7de; margin-top: .5em; padding-top: .3em; }
.call { margin: .3em 0 .3em 1em; }
ul.diff { font-family: ui-monospace, monospace; list-style: none; padding-left: 1em; }
ul.diff li.added { color: #116329; }
ul.diff li.removed { color: #82071e; }
table.runs td, table.runs th { border-bottom: 1px solid #d0d7de; padding: .1em .6em; text-align: left; }
footer { margin-top: 2em; color: #59636e; }
"#;

/// The matrix's verdict for one cell, or `None` when the run had no finding for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    None,
    Pass(usize),
    Failed { passed: usize, failed: usize },
}

impl Report {
    /// The report as one self-contained HTML page.
    pub fn html(&self) -> String {
        render(self)
    }
}

/// Renders `report` as one self-contained HTML page.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let verdict = if report.passed {
        "CONFORMANT"
    } else {
        "NOT CONFORMANT"
    };
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{}'; \
         base-uri 'none'; form-action 'none'",
        base64(&Sha256::digest(SCRIPT.as_bytes()))
    );
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"cni-conformance {}\">\n\
         <title>{}: {verdict}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&report.harness_version),
        escape(&report.plugin),
    );
    let _ = writeln!(
        s,
        "<h1 id=\"verdict\" class=\"verdict verdict-{}\" data-verdict=\"{}\">{verdict}</h1>",
        if report.passed { "pass" } else { "fail" },
        if report.passed { "pass" } else { "fail" },
    );
    summary(&mut s, report);
    identity(&mut s, report);
    let matrix_columns = columns(report);
    matrix(&mut s, report, &matrix_columns);
    setup_failures(&mut s, report);
    evidence(&mut s, report);
    not_applicable(&mut s, report);
    case_runs(&mut s, report);
    let _ = writeln!(
        s,
        "<footer>cni-conformance {}; {:.1} s</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>",
        escape(&report.harness_version),
        report.millis as f64 / 1000.0
    );
    s
}

/// Text safe inside an element or a double- or single-quoted attribute: markup characters
/// become entities and control characters other than newline and tab are dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Warn => "warn",
        Verdict::Info => "info",
    }
}

fn summary(s: &mut String, r: &Report) {
    let runs = r.cases.len();
    let failed_runs = r.cases.iter().filter(|c| !c.passed).count();
    let _ = writeln!(
        s,
        "<p class=\"summary\" id=\"summary\">{} requirements: \
         <span class=\"badge v-pass\">{} pass</span> \
         <span class=\"badge v-fail\">{} fail</span> \
         <span class=\"badge v-warn\">{} warn</span> \
         <span class=\"badge v-info\">{} info</span>; \
         {runs} case runs ({failed_runs} with a failed check), {} cases not applicable{}{}.</p>",
        r.requirements.len(),
        r.count(Verdict::Pass),
        r.count(Verdict::Fail),
        r.count(Verdict::Warn),
        r.count(Verdict::Info),
        r.skipped.len(),
        if r.strict {
            "; strict: SHOULD counts as MUST"
        } else {
            "; not strict: SHOULD failures are warnings"
        },
        if r.setup_failures.is_empty() {
            String::new()
        } else {
            format!("; {} setup failure(s)", r.setup_failures.len())
        },
    );
}

fn identity(s: &mut String, r: &Report) {
    let p = &r.probe;
    let _ = writeln!(
        s,
        "<h2>Plugin</h2>\n<dl class=\"identity\" id=\"identity\">"
    );
    let mut row = |term: &str, id: &str, value: String| {
        let _ = writeln!(s, "<dt>{term}</dt><dd id=\"{id}\">{value}</dd>");
    };
    row("path", "plugin-path", code(&r.plugin));
    row(
        "SHA-256",
        "plugin-sha256",
        p.plugin_sha256
            .as_deref()
            .map(code)
            .unwrap_or_else(|| "(the binary could not be read)".into()),
    );
    row(
        "VERSION answer",
        "version-answer",
        match &p.version_answer {
            Some(a) => format!("<pre>{}</pre>", escape(a)),
            None => "(no answer: the call timed out or could not run)".into(),
        },
    );
    row("config", "config", code(&r.config));
    row("kind", "kind", escape(&p.kind));
    row(
        "versions tested",
        "versions-tested",
        escape(&p.versions.join(", ")),
    );
    row(
        "versions advertised",
        "versions-advertised",
        if p.advertised.is_empty() {
            "none readable".into()
        } else {
            escape(&p.advertised.join(", "))
        },
    );
    if let Some(from) = &p.versions_from {
        row("versions from", "versions-from", escape(from));
    }
    if let Some(line) = r.attachment_patch_line() {
        row("attachment patch", "attachment-patch", escape(&line));
    }
    row(
        "harness",
        "harness-version",
        format!("cni-conformance {}", escape(&r.harness_version)),
    );
    let _ = writeln!(s, "</dl>");
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// The matrix's columns: the probe (when it has findings), then every spec version a case
/// ran at or the probe tested, in version order.
fn columns(r: &Report) -> Vec<String> {
    let mut versions: BTreeSet<String> = r.probe.versions.iter().cloned().collect();
    versions.extend(
        r.cases
            .iter()
            .filter(|c| c.not_applicable.is_none())
            .map(|c| c.version.clone()),
    );
    let mut versions: Vec<String> = versions.into_iter().collect();
    versions.sort_by_key(|v| {
        v.split('.')
            .map(|n| n.parse::<u32>().unwrap_or(u32::MAX))
            .collect::<Vec<_>>()
    });
    let mut cols = Vec::new();
    if !r.probe.findings.is_empty() {
        cols.push(PROBE.to_string());
    }
    cols.extend(versions);
    cols
}

/// Every labelled group of findings: the probe's, then each case run's (`case@version`).
fn groups(r: &Report) -> impl Iterator<Item = (String, &str, Option<&CaseRun>, &[Finding])> {
    std::iter::once((PROBE.to_string(), PROBE, None, r.probe.findings.as_slice())).chain(
        r.cases
            .iter()
            .filter(|c| c.not_applicable.is_none())
            .map(|c| {
                (
                    format!("{}@{}", c.case, c.version),
                    c.version.as_str(),
                    Some(c),
                    c.findings.as_slice(),
                )
            }),
    )
}

fn cells(r: &Report) -> BTreeMap<(String, String), Cell> {
    let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
    for (_, column, _, findings) in groups(r) {
        for f in findings {
            for id in &f.requirements {
                let cell = cells
                    .entry((id.clone(), column.to_string()))
                    .or_insert(Cell::None);
                let (mut passed, mut failed) = match *cell {
                    Cell::None => (0, 0),
                    Cell::Pass(p) => (p, 0),
                    Cell::Failed { passed, failed } => (passed, failed),
                };
                if f.passed {
                    passed += 1;
                } else {
                    failed += 1;
                }
                *cell = if failed == 0 {
                    Cell::Pass(passed)
                } else {
                    Cell::Failed { passed, failed }
                };
            }
        }
    }
    cells
}

fn matrix(s: &mut String, r: &Report, cols: &[String]) {
    let cells = cells(r);
    let _ = writeln!(
        s,
        "<h2>Requirements by spec version</h2>\n<p>Each cell: the requirement's checks in the \
         case runs at that version. A failed cell has the requirement's verdict (by its level{}); \
         — means no check at that version.</p>\n<table class=\"matrix\" id=\"matrix\">\n<thead><tr>\
         <th>requirement</th><th>level</th><th>verdict</th>",
        if r.strict { ", strict" } else { "" }
    );
    for c in cols {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    let _ = writeln!(s, "</tr></thead>\n<tbody>");
    for req in &r.requirements {
        let class = verdict_class(req.verdict);
        let id = if req.verdict == Verdict::Pass {
            escape(&req.id)
        } else {
            format!(
                "<a href=\"#{}\">{}</a>",
                escape(&anchor(&req.id)),
                escape(&req.id)
            )
        };
        let _ = write!(
            s,
            "<tr data-req=\"{}\"><td class=\"id\" title=\"{}\">{id}</td>\
             <td class=\"level\">{}</td><td class=\"overall v-{class}\">{class}</td>",
            escape(&req.id),
            escape(&rule_line(req)),
            escape(&req.level),
        );
        for c in cols {
            let cell = cells
                .get(&(req.id.clone(), c.clone()))
                .copied()
                .unwrap_or(Cell::None);
            let (class, text, title) = match cell {
                Cell::None => ("none", "—".to_string(), "no check".to_string()),
                Cell::Pass(n) => ("pass", "✓".to_string(), format!("{n} check(s) passed")),
                Cell::Failed { passed, failed } => (
                    verdict_class(req.verdict),
                    match req.verdict {
                        Verdict::Fail => "✗",
                        Verdict::Warn => "!",
                        _ => "i",
                    }
                    .to_string(),
                    format!("{failed} failed, {passed} passed"),
                ),
            };
            let _ = write!(
                s,
                "<td class=\"cell v-{class}\" data-version=\"{}\" data-verdict=\"{class}\" \
                 title=\"{} at {}: {}\">{text}</td>",
                escape(c),
                escape(&req.id),
                escape(c),
                escape(&title)
            );
        }
        let _ = writeln!(s, "</tr>");
    }
    let _ = writeln!(s, "</tbody>\n</table>");
}

fn anchor(id: &str) -> String {
    format!("req-{id}")
}

fn setup_failures(s: &mut String, r: &Report) {
    if r.setup_failures.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<h2>Setup failures</h2>\n<p>Findings tied to no requirement (fixture or setup \
         trouble); they fail the run.</p>\n<ul id=\"setup-failures\">"
    );
    for f in &r.setup_failures {
        let _ = writeln!(s, "<li><pre>{}</pre></li>", escape(f));
    }
    let _ = writeln!(s, "</ul>");
}

fn evidence(s: &mut String, r: &Report) {
    let failed: Vec<&RequirementResult> = r
        .requirements
        .iter()
        .filter(|q| q.verdict != Verdict::Pass)
        .collect();
    let _ = writeln!(
        s,
        "<h2>Failures and warnings</h2>\n<p><button type=\"button\" id=\"expand-all\">open \
         all</button> <button type=\"button\" id=\"collapse-all\">close all</button></p>"
    );
    if failed.is_empty() {
        let _ = writeln!(s, "<p id=\"no-failures\">Every requirement passed.</p>");
        return;
    }
    for req in failed {
        let class = verdict_class(req.verdict);
        let _ = writeln!(
            s,
            "<details class=\"requirement v-{class}\" id=\"{}\" data-req=\"{}\">\n\
             <summary><strong>{}</strong> <span class=\"badge v-{class}\">{} {class}</span> \
             {}</summary>\n<div class=\"evidence\">\n<p class=\"rule\">{}</p>",
            escape(&anchor(&req.id)),
            escape(&req.id),
            escape(&req.id),
            escape(&req.level),
            escape(&first_line(&req.reason)),
            escape(&rule_line(req)),
        );
        let mut shown = 0;
        let mut more = 0;
        for (label, _, run, findings) in groups(r) {
            for f in findings
                .iter()
                .filter(|f| !f.passed && f.requirements.contains(&req.id))
            {
                if shown == MAX_EVIDENCE {
                    more += 1;
                    continue;
                }
                shown += 1;
                evidence_item(s, r, &label, run, f);
            }
        }
        if more > 0 {
            let _ = writeln!(
                s,
                "<p>… and {more} more failing check(s); the JSON report has them all.</p>"
            );
        }
        let _ = writeln!(s, "</div>\n</details>");
    }
}

/// The rule a requirement ID stands for, with its source (`section: summary`).
fn rule_line(req: &RequirementResult) -> String {
    match (req.section.is_empty(), req.summary.is_empty()) {
        (_, true) => "(not in the catalogue)".to_string(),
        (true, false) => req.summary.clone(),
        (false, false) => format!("{}: {}", req.section, req.summary),
    }
}

/// The text on one line (whitespace runs as one space), cut after 160 characters.
fn first_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The step number a finding's message starts with (`step N: …`).
fn step_of(message: &str) -> Option<usize> {
    message
        .strip_prefix("step ")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn evidence_item(s: &mut String, r: &Report, label: &str, run: Option<&CaseRun>, f: &Finding) {
    let step = step_of(&f.message);
    let _ = writeln!(s, "<div class=\"evidence-item\">");
    let _ = writeln!(
        s,
        "<p><strong class=\"case\">{}</strong>{}{}{}</p>",
        escape(label),
        run.map(|c| format!(" — {}", escape(&c.title)))
            .unwrap_or_default(),
        step.map(|n| format!(" · <span class=\"step\">step {n}</span>"))
            .unwrap_or_default(),
        if f.requirements.len() > 1 {
            format!(" · cites {}", escape(&f.requirements.join(", ")))
        } else {
            String::new()
        },
    );
    message(s, &f.message);
    match run {
        None => {
            if let Some(a) = &r.probe.version_answer {
                let _ = writeln!(
                    s,
                    "<p>The VERSION request was <code>{{\"cniVersion\":\"1.0.0\"}}</code>; \
                     the answer on stdout:</p>\n<pre class=\"output\">{}</pre>",
                    escape(a)
                );
            }
        }
        Some(c) => {
            let of_step: Vec<&CallLog> = c
                .calls
                .iter()
                .filter(|call| Some(call.step) == step)
                .collect();
            for call in &of_step {
                call_block(s, call);
            }
            if c.calls.len() > of_step.len() {
                let _ = writeln!(
                    s,
                    "<details class=\"all-calls\"><summary>every plugin call of {} ({})</summary>",
                    escape(label),
                    c.calls.len()
                );
                for call in &c.calls {
                    call_block(s, call);
                }
                let _ = writeln!(s, "</details>");
            }
        }
    }
    let _ = writeln!(s, "</div>");
}

/// A finding's message; a state comparison's differences (`…: node: + link x; …`) one per
/// line, added and removed state colored.
fn message(s: &mut String, text: &str) {
    let diff = ["state differs from snapshot", "left behind: "]
        .iter()
        .find_map(|marker| {
            let at = text.find(marker)?;
            let colon = text[at..].find(": ")? + at;
            Some((&text[..colon + 1], &text[colon + 2..]))
        });
    match diff {
        Some((head, items)) if items.contains("; ") || items.contains(": + ") => {
            let _ = writeln!(
                s,
                "<pre class=\"message\">{}</pre>\n<ul class=\"diff\">",
                escape(head)
            );
            for item in items.split("; ") {
                let class = if item.contains(": + ") || item.starts_with("+ ") {
                    "added"
                } else if item.contains(": - ") || item.starts_with("- ") {
                    "removed"
                } else {
                    "other"
                };
                let _ = writeln!(s, "<li class=\"{class}\">{}</li>", escape(item));
            }
            let _ = writeln!(s, "</ul>");
        }
        _ => {
            let _ = writeln!(s, "<pre class=\"message\">{}</pre>", escape(text));
        }
    }
}

fn call_block(s: &mut String, call: &CallLog) {
    let _ = writeln!(
        s,
        "<div class=\"call\"><p>step {}: <strong>{}</strong> → {} ({} ms)</p>",
        call.step,
        escape(&call.command),
        escape(&call.exit),
        call.millis
    );
    if !call.env.is_empty() {
        let _ = writeln!(
            s,
            "<p>environment</p><pre class=\"env\">{}</pre>",
            escape(&call.env.join("\n"))
        );
    }
    for (name, class, text) in [
        ("request (stdin)", "request", &call.request),
        ("stdout", "stdout", &call.stdout),
        ("stderr", "stderr", &call.stderr),
    ] {
        if !text.is_empty() {
            let _ = writeln!(
                s,
                "<p>{name}</p><pre class=\"{class}\">{}</pre>",
                escape(&pretty(text))
            );
        }
    }
    let _ = writeln!(s, "</div>");
}

/// JSON pretty-printed when the text is one JSON document, else as it is.
fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

fn not_applicable(s: &mut String, r: &Report) {
    if r.skipped.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<details id=\"not-applicable\"><summary>Not applicable ({} cases)</summary>\n\
         <table class=\"runs\"><tbody>",
        r.skipped.len()
    );
    for k in &r.skipped {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&k.case),
            escape(&k.reason)
        );
    }
    let _ = writeln!(s, "</tbody></table></details>");
}

fn case_runs(s: &mut String, r: &Report) {
    let runs: Vec<&CaseRun> = r
        .cases
        .iter()
        .filter(|c| c.not_applicable.is_none())
        .collect();
    let _ = writeln!(
        s,
        "<details id=\"case-runs\"><summary>Case runs ({})</summary>\n<table class=\"runs\">\
         <thead><tr><th>run</th><th>result</th><th>ms</th><th>title</th></tr></thead><tbody>",
        runs.len()
    );
    for c in runs {
        let (class, text) = if c.passed {
            ("pass", "ok")
        } else {
            ("fail", "failed")
        };
        let _ = writeln!(
            s,
            "<tr><td>{}@{}</td><td><span class=\"badge v-{class}\">{text}</span></td>\
             <td>{}</td><td>{}</td></tr>",
            escape(&c.case),
            escape(&c.version),
            c.millis,
            escape(&c.title)
        );
    }
    let _ = writeln!(s, "</tbody></table></details>");
}

/// Standard base64 with padding (for the script's CSP hash).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralizes_markup_and_controls() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\"\u{0}\u{1b}[31m\n"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;[31m\n"
        );
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn step_is_read_from_the_message() {
        assert_eq!(step_of("step 12: DEL failed"), Some(12));
        assert_eq!(step_of("VERSION answered"), None);
    }
}
