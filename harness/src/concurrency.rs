//! Concurrency (`certify --concurrency N`): what a node starting many pods at once does to a
//! plugin, in one world (one node namespace, one network, N container namespaces).
//!
//! - `concurrency-parallel`: N ADDs of different containers at once, then N DELs at once.
//!   Every ADD succeeds, the addresses the results give are distinct (loopback addresses
//!   aside), every DEL succeeds, and
//!   the world is then as before (RT-3: plugins tolerate parallel runs for different
//!   containers and lock shared state).
//! - `concurrency-interleaved-<a>-<b>`: the same attachment's verbs `a` and `b` from two
//!   runtimes at once (which RT-2 forbids a runtime to do, so this is robustness): the end
//!   state must be one a serial order could give (the world as before, or an attachment
//!   CHECK accepts), every call answers a result or an error object, DEL succeeds (as in any
//!   serial order), one of two ADDs succeeds, and DEL twice leaves nothing (RT-22). An ADD
//!   that a concurrent DEL makes fail is no finding when it fails with an error object and
//!   leaves a serial state.

use std::sync::Barrier;
use std::time::Instant;

use cni::result::CniResult;
use cni::version::SpecVersion;

use crate::cases::Kind;
use crate::faults::bench::Answer;
use crate::faults::Bench;
use crate::runner::{CaseRun, Skipped};

use crate::target::{Target, PRIMARY_ATTACHMENT};

/// Requirement IDs the concurrency runs give evidence for.
pub const REQUIREMENTS: &[&str] = &["RT-3", "RT-22"];

/// The same attachment's verbs run at once, each from a state: `true` when the attachment is
/// added first.
const PAIRS: &[(&str, &str, bool)] = &[
    ("ADD", "ADD", false),
    ("ADD", "DEL", false),
    ("ADD", "CHECK", false),
    ("DEL", "DEL", true),
    ("DEL", "ADD", true),
    ("DEL", "CHECK", true),
];

/// How many times each interleaved pair runs (races are a matter of chance).
const ROUNDS: usize = 3;

/// The concurrency case runs whose id contains `filter` (all without one), at the newest
/// version; `progress` as in [`crate::pool::run_all`].
/// A config with an attachment patch needs a changed config for a second attachment on the
/// node (vlan: one link per master and VLAN id), so N attachments of the one base config at
/// once are not something it can do; the parallel run is then skipped with this reason.
pub fn run(
    target: &Target,
    versions: &[SpecVersion],
    kind: Kind,
    n: usize,
    filter: Option<&str>,
    progress: &(dyn Fn(usize, usize, &CaseRun) + Sync),
) -> (Vec<CaseRun>, Vec<Skipped>) {
    let Some(&version) = versions.last() else {
        return (Vec::new(), Vec::new());
    };
    let wanted = |id: &str| filter.is_none_or(|f| id.contains(f));
    let mut ids: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    if wanted("concurrency-parallel") {
        if target.attachment_patch.is_some() {
            skipped.push(Skipped {
                case: "concurrency-parallel".into(),
                reason: "the config carries an attachment patch: a second attachment on the node \
                         needs a changed config, so N attachments of one config cannot exist at \
                         once"
                    .into(),
            });
        } else {
            ids.push("concurrency-parallel".into());
        }
    }
    for (x, y, _) in PAIRS {
        let id = pair_id(x, y);
        if (*y != "CHECK" || version >= SpecVersion::V0_4_0) && wanted(&id) {
            ids.push(id);
        }
    }
    let total = ids.len();
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let run = if id == "concurrency-parallel" {
            parallel(target, version, kind, n)
        } else {
            let (x, y, added) = PAIRS
                .iter()
                .find(|(x, y, _)| pair_id(x, y) == *id)
                .copied()
                .expect("pair");
            interleaved(target, version, kind, id, x, y, added)
        };
        progress(i + 1, total, &run);
        out.push(run);
    }
    (out, skipped)
}

fn pair_id(x: &str, y: &str) -> String {
    format!(
        "concurrency-interleaved-{}-{}",
        x.to_lowercase(),
        y.to_lowercase()
    )
}

fn case_run(id: &str, title: String, version: SpecVersion, reqs: &[&str]) -> CaseRun {
    CaseRun {
        case: id.into(),
        title,
        version: version.as_str().into(),
        requirements: reqs.iter().map(|s| s.to_string()).collect(),
        passed: false,
        error: None,
        millis: 0,
        findings: Vec::new(),
        calls: Vec::new(),
        patched_attachments: Vec::new(),
        not_applicable: None,
    }
}

/// The RT-3 finding on `verb` run for every attachment at once: all succeeded, or which failed.
fn all_succeeded(b: &mut Bench, verb: &str, answers: &[Answer], atts: &[String]) {
    let n = atts.len();
    let failed: Vec<String> = answers
        .iter()
        .zip(atts)
        .filter(|(a, _)| !a.ok)
        .map(|(a, att)| format!("{att}: {}", a.describe()))
        .collect();
    b.finding(
        &["RT-3"],
        failed.is_empty(),
        if failed.is_empty() {
            format!("{n} parallel {verb}s all succeeded")
        } else {
            format!(
                "{} of {n} parallel {verb}s failed: {}",
                failed.len(),
                failed.join(" | ")
            )
        },
    );
}

/// Runs `verb` for each attachment at once (all threads start together).
fn all_at_once(b: &mut Bench, verb: &str, atts: &[String]) -> Vec<Answer> {
    let calls: Vec<(&str, &str)> = atts.iter().map(|a| (verb, a.as_str())).collect();
    at_once(b, &calls)
}

/// Runs each (verb, attachment) call from a thread of its own, all threads released
/// together; logs and tracks every answer, in the order of `calls`.
fn at_once(b: &mut Bench, calls: &[(&str, &str)]) -> Vec<Answer> {
    let requests: Vec<_> = calls.iter().map(|(v, a)| b.request(v, a)).collect();
    let barrier = Barrier::new(calls.len());
    let world = &b.s.world;
    let target = b.s.target;
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = requests
            .iter()
            .map(|(env, stdin)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let run = world.run_plugin(&target.plugin, env, stdin, target.timeout);
                    (run, start.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("plugin thread"))
            .collect()
    });
    runs.into_iter()
        .zip(calls)
        .zip(&requests)
        .map(|(((run, elapsed), (verb, att)), (env, stdin))| {
            let answer = Answer::from_output(&run.output);
            b.log(verb, (env, stdin), &answer, elapsed);
            b.track(verb, att, &answer);
            answer
        })
        .collect()
}

/// N parallel ADDs of different containers, then N parallel DELs.
fn parallel(target: &Target, version: SpecVersion, kind: Kind, n: usize) -> CaseRun {
    let start = Instant::now();
    let id = "concurrency-parallel";
    let mut out = case_run(
        id,
        format!("{n} ADDs of different containers at once, then {n} DELs at once"),
        version,
        &["RT-3"],
    );
    let atts: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let mut b = match Bench::new(target, version, kind, "cpar", &atts) {
        Ok(b) => b,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let adds = all_at_once(&mut b, "ADD", &atts);
    all_succeeded(&mut b, "ADD", &adds, &atts);
    let mut owners: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (a, att) in adds.iter().zip(&atts) {
        if !a.ok {
            continue;
        }
        if let Ok(r) = CniResult::parse(&a.stdout, Some(version)) {
            for ip in r.to_v1().ips {
                let addr = ip.address.to_string();
                let host = addr.split('/').next().unwrap_or("").to_string();
                // Loopback addresses are every container's own.
                if host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|h| h.is_loopback())
                {
                    continue;
                }
                owners.entry(host).or_default().push(att.clone());
            }
        }
    }
    let dups: Vec<String> = owners
        .iter()
        .filter(|(_, who)| who.len() > 1)
        .map(|(ip, who)| format!("{ip} given to {}", who.join(", ")))
        .collect();
    b.finding(
        &["RT-3"],
        dups.is_empty(),
        if dups.is_empty() {
            format!(
                "the parallel ADDs' results give {} distinct addresses",
                owners.len()
            )
        } else {
            format!(
                "parallel ADDs handed out the same address twice: {}",
                dups.join("; ")
            )
        },
    );
    let dels = all_at_once(&mut b, "DEL", &atts);
    all_succeeded(&mut b, "DEL", &dels, &atts);
    if !b.compare_warm(
        &["RT-3"],
        &format!("{n} parallel ADDs, then {n} parallel DELs"),
    ) {
        // What serial DELs clean up was a race of the parallel ones.
        for att in &atts {
            b.call("DEL", att, None);
        }
    }
    finish(out, b, start)
}

fn finish(mut out: CaseRun, mut b: Bench, start: Instant) -> CaseRun {
    let (findings, calls) = b.take();
    b.teardown();
    out.passed = findings.iter().all(|f| f.passed);
    out.findings = findings;
    out.calls = calls;
    out.millis = start.elapsed().as_millis();
    out
}

/// Verbs `x` and `y` of attachment `a` at once, [`ROUNDS`] times.
fn interleaved(
    target: &Target,
    version: SpecVersion,
    kind: Kind,
    id: &str,
    x: &str,
    y: &str,
    added: bool,
) -> CaseRun {
    let start = Instant::now();
    let from = if added {
        "an added attachment"
    } else {
        "a clean world"
    };
    let mut out = case_run(
        id,
        format!("{x} and {y} of the same attachment from two runtimes at once, from {from}"),
        version,
        &["RT-22"],
    );
    let mut b = match Bench::new(target, version, kind, "cint", &[]) {
        Ok(b) => b,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let a = PRIMARY_ATTACHMENT.to_string();
    for round in 1..=ROUNDS {
        let label = format!("{x} || {y} from {from}, round {round}");
        if added {
            let add = b.call("ADD", &a, None);
            if !add.ok {
                b.finding(
                    &[],
                    false,
                    format!("{label}: the ADD before failed: {}", add.describe()),
                );
                break;
            }
        }
        let prev = b.added.get(&a).cloned();
        let answers = pair(&mut b, x, y, &a);
        let mut results = Vec::new();
        for (verb, ans) in [(x, &answers[0]), (y, &answers[1])] {
            if ans.ok && verb == "ADD" {
                if let Ok(r) = CniResult::parse(&ans.stdout, Some(version)) {
                    results.push(r);
                }
            }
            let well_formed = ans.ok || ans.error_object();
            b.finding(
                &["RT-22"],
                well_formed,
                format!(
                    "{label}: {verb} {}",
                    if well_formed {
                        "answered a result or an error object".to_string()
                    } else {
                        format!("failed without an error object: {}", ans.describe())
                    }
                ),
            );
            // DEL succeeds in every serial order (DEL-6, DEL-7), so it must here too. An ADD
            // may fail (with an error object), as long as the state it leaves is a serial one.
            if verb == "DEL" {
                b.finding(
                    &["RT-22"],
                    ans.ok,
                    format!(
                        "{label}: {verb} {}",
                        if ans.ok {
                            "succeeded, as in either serial order".to_string()
                        } else {
                            format!(
                                "failed, though it succeeds in either serial order: {}",
                                ans.describe()
                            )
                        }
                    ),
                );
            }
        }
        if x == "ADD" && y == "ADD" {
            let one = answers.iter().any(|a| a.ok);
            b.finding(
                &["RT-22"],
                one,
                format!(
                    "{label}: {}",
                    if one {
                        "at least one ADD succeeded".to_string()
                    } else {
                        format!("both ADDs failed: {}", answers[0].describe())
                    }
                ),
            );
        }
        serial_outcome(&mut b, &a, &label, prev, results, version);
        for _ in 0..2 {
            b.call("DEL", &a, None);
        }
        if !b.compare_warm(&["RT-22"], &format!("{label}, then DEL twice")) {
            break;
        }
    }
    finish(out, b, start)
}

/// Runs `x` and `y` for attachment `a` from two threads at once.
fn pair(b: &mut Bench, x: &str, y: &str, a: &str) -> Vec<Answer> {
    at_once(b, &[(x, a), (y, a)])
}

/// The end state is a serial one: the world as before, or an attachment that CHECK accepts
/// with the result of one of the ADDs that succeeded (or, from an added attachment, the
/// first ADD's).
fn serial_outcome(
    b: &mut Bench,
    a: &str,
    label: &str,
    prev: Option<CniResult>,
    results: Vec<CniResult>,
    version: SpecVersion,
) {
    if b.diff_settled(&b.warm.clone(), std::time::Duration::ZERO)
        .is_empty()
    {
        b.finding(
            &["RT-22"],
            true,
            format!("{label}: the world is as before, as after ADD then DEL"),
        );
        return;
    }
    if version < SpecVersion::V0_4_0 {
        return;
    }
    let candidates: Vec<CniResult> = results.into_iter().chain(prev).collect();
    let mut accepted = false;
    for r in &candidates {
        b.added.insert(a.to_string(), r.clone());
        if b.call("CHECK", a, None).ok {
            accepted = true;
            break;
        }
    }
    b.finding(
        &["RT-22"],
        accepted,
        if accepted {
            format!("{label}: CHECK accepts the attachment left, as after a serial ADD")
        } else {
            let d = b.diff_settled(&b.warm.clone(), std::time::Duration::ZERO);
            format!(
                "{label}: the world is neither as before nor an attachment CHECK accepts \
                 ({} result(s) tried): {}",
                candidates.len(),
                d.join("; ")
            )
        },
    );
}
