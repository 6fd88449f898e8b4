//! Scheduling the certification: expanding each case into the versions it runs at (or the
//! reason it does not apply), and running every (case, version) on a pool of worker threads,
//! each in its own world, reporting progress as runs finish and returning them in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cni::version::SpecVersion;

use crate::cases::{Case, Kind, Versions};
use crate::runner::{run_case, CaseRun, Skipped};
use crate::target::Target;

/// Expands a case into the versions it runs at, or says why it does not apply.
pub fn expand(
    case: &Case,
    versions: &[SpecVersion],
    kind: Kind,
    has_ipam: bool,
) -> Result<Vec<SpecVersion>, String> {
    if case.requires_ipam && !has_ipam {
        return Err("needs a config that names an IPAM delegate".into());
    }
    if !case.applies.is_empty() && !case.applies.contains(&kind) {
        return Err(format!(
            "applies to {:?}, the plugin is {kind:?}",
            case.applies
        ));
    }
    let min = case
        .min_version
        .as_deref()
        .and_then(SpecVersion::from_exact);
    let eligible: Vec<SpecVersion> = versions
        .iter()
        .copied()
        .filter(|v| min.is_none_or(|m| *v >= m))
        .collect();
    if eligible.is_empty() {
        return Err(format!(
            "needs cniVersion {} or later, the versions tested go up to {}",
            case.min_version.as_deref().unwrap_or("?"),
            versions.last().map(|v| v.as_str()).unwrap_or("none")
        ));
    }
    Ok(match case.versions {
        Versions::Each => eligible,
        Versions::Latest => vec![*eligible.last().expect("non-empty")],
        Versions::Oldest => vec![eligible[0]],
    })
}

/// Runs every applicable (case, version) on `jobs` worker threads; `progress` is called after
/// each run with (done, total, run). Runs that found their case not applicable to the plugin
/// (see [`CaseRun::not_applicable`]) are returned among the skipped cases, not the runs.
pub fn run_all(
    target: &Target,
    cases: &[Case],
    versions: &[SpecVersion],
    kind: Kind,
    jobs: usize,
    progress: &(dyn Fn(usize, usize, &CaseRun) + Sync),
) -> (Vec<CaseRun>, Vec<Skipped>) {
    let mut work = Vec::new();
    let mut skipped = Vec::new();
    for case in cases {
        let not_here = crate::capabilities::not_applicable(case, target)
            .or_else(|| crate::postlude::not_applicable(case, target));
        let applies = match not_here {
            Some(reason) => Err(reason),
            None => expand(case, versions, kind, target.ipam_type().is_some()),
        };
        match applies {
            Ok(vs) => work.extend(vs.into_iter().map(|v| (case, v))),
            Err(reason) => skipped.push(Skipped {
                case: case.id.clone(),
                reason,
            }),
        }
    }
    let total = work.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((case, v)) = work.get(i) else { break };
                let label = format!("{i}");
                let run = run_case(target, case, *v, kind, &label);
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                progress(n, total, &run);
                results.lock().expect("lock").push((i, run));
            });
        }
    });
    let mut results = results.into_inner().expect("lock");
    results.sort_by_key(|(i, _)| *i);
    let (runs, not_applicable): (Vec<CaseRun>, Vec<CaseRun>) = results
        .into_iter()
        .map(|(_, r)| r)
        .partition(|r| r.not_applicable.is_none());
    skipped.extend(found_not_applicable(not_applicable));
    (runs, skipped)
}

/// The runs that showed their case does not apply, one entry per case: the first run's reason
/// and the versions it was found at.
fn found_not_applicable(runs: Vec<CaseRun>) -> Vec<Skipped> {
    let mut out: Vec<(String, String, Vec<String>)> = Vec::new();
    for r in runs {
        match out.iter_mut().find(|(case, _, _)| *case == r.case) {
            Some((_, _, versions)) => versions.push(r.version),
            None => out.push((
                r.case,
                r.not_applicable.unwrap_or_default(),
                vec![r.version],
            )),
        }
    }
    out.into_iter()
        .map(|(case, reason, versions)| Skipped {
            case,
            reason: format!("{reason} (found at {})", versions.join(", ")),
        })
        .collect()
}
