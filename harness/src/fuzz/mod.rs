//! `cni-conformance fuzz`: black-box fuzzing of a plugin binary. Workers ([`rig::Rig`], one
//! reusable world each) run generated calls ([`generate`]: the base config's request for
//! every verb with structure-aware and environment mutations, deterministic from the seed and
//! the call's index) and judge each with the [`oracle`] and a state compare; every failure
//! kind found is minimized ([`minimize`]) on a fresh world and written as a reproducer
//! ([`reproducer`]); [`report`] turns the run into the certify report's JSON and JUnit.
//!
//! Plugins run with their working directory in a nested scratch directory (relative paths a
//! mutated config names land there) and their `/var/lib/cni` private to their world.

pub mod cli;
pub mod generate;
pub mod minimize;
pub mod oracle;
pub mod reproducer;
pub mod rig;
pub mod rng;

mod report;
pub use report::report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use cni::version::SpecVersion;

use crate::target::Target;
use generate::Request;
use oracle::Violation;
use rig::Rig;
use rng::Rng;

/// How a fuzz run goes.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Stop generating after this long.
    pub duration: Duration,
    /// Stop after this many generated calls (whichever comes first).
    pub calls: Option<u64>,
    pub jobs: usize,
    /// Where reproducers go (none written without).
    pub out: Option<PathBuf>,
    /// Calls the minimizer may spend per finding.
    pub minimize_budget: usize,
}

/// One kind of failure found: its first occurrence, minimized.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub violation: Violation,
    /// The generated call's index (with the seed, it regenerates the request).
    pub index: u64,
    /// Generated calls that failed this way.
    pub count: u64,
    pub request: Request,
    pub minimized: Request,
    /// The violation as the minimized request shows it.
    pub minimized_violation: Violation,
    pub minimize_calls: usize,
    pub reproducer: Option<PathBuf>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub plugin: String,
    pub seed: u64,
    pub version: String,
    pub jobs: usize,
    /// Generated calls judged.
    pub generated: u64,
    /// Plugin calls made while generating (DELs after ADD and restoring calls included).
    pub plugin_calls: u64,
    pub seconds: f64,
    pub calls_per_second: f64,
    pub findings: Vec<Finding>,
    pub harness_errors: Vec<String>,
    /// Seconds spent minimizing and writing reproducers.
    pub minimize_seconds: f64,
}

/// The first occurrence of each failure kind, and how often it came.
type Seen = BTreeMap<(String, String), (u64, Violation, Request, u64)>;

/// Makes a path absolute against the current directory.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Restores the working directory when dropped.
struct Cwd {
    before: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cwd {
    fn enter() -> std::io::Result<Cwd> {
        let before = std::env::current_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("cnirs-fuzz-cwd-")
            .tempdir()?;
        let nested = dir.path().join("a/b/c");
        std::fs::create_dir_all(&nested)?;
        std::env::set_current_dir(&nested)?;
        Ok(Cwd { before, _dir: dir })
    }
}

impl Drop for Cwd {
    fn drop(&mut self) {
        let _ = std::env::set_current_dir(&self.before);
    }
}

/// The version requests are made at: the base config's, else 1.0.0.
fn request_version(target: &Target) -> SpecVersion {
    target
        .config_version
        .as_deref()
        .and_then(SpecVersion::from_exact)
        .unwrap_or(SpecVersion::V1_0_0)
}

/// Generates and judges calls until the duration or the call count is reached.
fn generate_and_judge(
    target: &Target,
    version: SpecVersion,
    opts: &Options,
) -> Result<(Seen, u64, u64, Vec<String>), String> {
    let next = AtomicU64::new(0);
    let plugin_calls = AtomicU64::new(0);
    let seen: Mutex<Seen> = Mutex::new(BTreeMap::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let deadline = Instant::now() + opts.duration;
    let setup: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for w in 0..opts.jobs.max(1) {
            let (next, plugin_calls, seen, errors, setup) =
                (&next, &plugin_calls, &seen, &errors, &setup);
            s.spawn(move || {
                let mut rig = match Rig::new(target, version, &format!("fz{w}")) {
                    Ok(r) => r,
                    Err(e) => {
                        *setup.lock().expect("lock") = Some(e);
                        return;
                    }
                };
                loop {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if opts.calls.is_some_and(|n| index >= n) {
                        break;
                    }
                    let mut rng = Rng::for_call(opts.seed, index);
                    let verb = generate::verb(&mut rng);
                    let base = rig.base_request(verb);
                    let req = generate::request(&mut rng, verb, &base);
                    let out = rig.run(&req);
                    plugin_calls.fetch_add(out.calls as u64, Ordering::Relaxed);
                    if let Some(e) = out.harness_error {
                        errors
                            .lock()
                            .expect("lock")
                            .push(format!("call {index}: {e}"));
                    }
                    let mut seen = seen.lock().expect("lock");
                    for v in out.violations {
                        let key = (v.requirement.clone(), v.kind.clone());
                        let e = seen
                            .entry(key)
                            .or_insert_with(|| (index, v.clone(), req.clone(), 0));
                        e.3 += 1;
                        if index < e.0 {
                            (e.0, e.1, e.2) = (index, v, req.clone());
                        }
                    }
                }
                rig.finish();
            });
        }
    });
    if let Some(e) = setup.into_inner().expect("lock") {
        return Err(format!("cannot set up a fuzz world: {e}"));
    }
    let generated = next.into_inner().min(opts.calls.unwrap_or(u64::MAX));
    Ok((
        seen.into_inner().expect("lock"),
        generated,
        plugin_calls.into_inner(),
        errors.into_inner().expect("lock"),
    ))
}

/// A probe that runs candidates on a rig of its own.
struct RigProbe<'t> {
    rig: Rig<'t>,
    /// The last violation seen that matched.
    matched: Option<Violation>,
}

impl minimize::Probe for RigProbe<'_> {
    fn still_fails(&mut self, candidate: &Request, like: &Violation) -> bool {
        let out = self.rig.run(candidate);
        match out.violations.into_iter().find(|v| v.same_as(like)) {
            Some(v) => {
                self.matched = Some(v);
                true
            }
            None => false,
        }
    }
}

/// A file-name-safe slug of a failure kind.
fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(48);
    out.trim_matches('-').to_string()
}

/// Minimizes one finding and writes its reproducer.
fn settle_finding(
    target: &Target,
    version: SpecVersion,
    opts: &Options,
    n: usize,
    (index, violation, request, count): (u64, Violation, Request, u64),
) -> Result<Finding, String> {
    let rig = Rig::new(target, version, &format!("fm{n}"))?;
    let mut probe = RigProbe { rig, matched: None };
    let m = minimize::minimize(&mut probe, &request, &violation, opts.minimize_budget);
    let minimized_violation = probe.matched.clone().unwrap_or_else(|| violation.clone());
    let mut reproducer = None;
    if let Some(out) = &opts.out {
        let dir = out.join(format!(
            "{n:02}-{}-{}",
            violation.requirement,
            slug(&violation.kind)
        ));
        let scratch = probe
            .rig
            .special_path(&generate::EnvValue::NetnsFile)
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let env: Vec<(String, String)> = {
            let netns = probe.rig.netns_path();
            probe
                .rig
                .env(&m.request)
                .into_iter()
                .map(|(k, v)| {
                    let v = if !netns.is_empty() {
                        v.replace(&netns, reproducer::NETNS_MARK)
                    } else {
                        v
                    };
                    let v = v.replace(&*scratch.to_string_lossy(), reproducer::SCRATCH_MARK);
                    (k, v)
                })
                .collect()
        };
        let stdin = m.request.body.bytes();
        let r = reproducer::Reproducer {
            violation: &minimized_violation,
            seed: opts.seed,
            index,
            plugin: &target.plugin,
            env: &env,
            stdin: &stdin,
            request: &m.request,
            original: &request,
        };
        reproducer = Some(
            reproducer::write(&dir, &r)
                .map_err(|e| format!("cannot write {}: {e}", dir.display()))?,
        );
    }
    probe.rig.finish();
    Ok(Finding {
        violation,
        index,
        count,
        request,
        minimized: m.request,
        minimized_violation,
        minimize_calls: m.tries,
        reproducer,
    })
}

/// Fuzzes `target` (its plugin and cni_path are made absolute first).
pub fn run(target: &Target, opts: &Options) -> Result<Summary, String> {
    let mut target = target.clone();
    target.plugin = absolute(&target.plugin);
    target.cni_path = target.cni_path.iter().map(|p| absolute(p)).collect();
    let mut opts = opts.clone();
    opts.out = opts.out.as_deref().map(absolute);
    let version = request_version(&target);
    let _cwd = Cwd::enter().map_err(|e| format!("cannot enter a scratch directory: {e}"))?;
    let start = Instant::now();
    let (seen, generated, plugin_calls, harness_errors) =
        generate_and_judge(&target, version, &opts)?;
    let seconds = start.elapsed().as_secs_f64();
    let min_start = Instant::now();
    let mut firsts: Vec<_> = seen.into_values().collect();
    firsts.sort_by_key(|f| f.0);
    let mut findings = Vec::new();
    for (n, f) in firsts.into_iter().enumerate() {
        findings.push(settle_finding(&target, version, &opts, n + 1, f)?);
    }
    Ok(Summary {
        plugin: target.plugin.display().to_string(),
        seed: opts.seed,
        version: version.as_str().to_string(),
        jobs: opts.jobs.max(1),
        generated,
        plugin_calls,
        seconds,
        calls_per_second: if seconds > 0.0 {
            generated as f64 / seconds
        } else {
            0.0
        },
        findings,
        harness_errors,
        minimize_seconds: min_start.elapsed().as_secs_f64(),
    })
}
