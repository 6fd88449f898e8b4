//! Crash consistency (`certify --faults`): for each verb that changes state (ADD, DEL, and GC
//! from 1.1.0), the plugin is killed with SIGKILL to its process group at points inside the
//! call, then the harness does what a runtime does next, and the world must come back to the
//! state before the ADD. Also ADDs with a config error, which must leave nothing behind.
//!
//! Kill points ([`plan`]): one traced calibration run per verb lists the state-changing system
//! calls the plugin makes ([`tracer`]: file writes, file creation and renames, socket sends
//! such as netlink requests); each becomes a point "after the Nth such call returned" (all of
//! them by default; a seeded sample when `max_points` caps them), and `timed_points` more points are spread
//! over the call's measured (untraced) duration at seeded fractions. The same seed gives the
//! same plan for the same plugin, so a reported point replays with `--faults-seed`.
//!
//! What each trial checks (on a warmed-up [`bench::Bench`], recreated after a dirty trial):
//! - ADD killed: DEL succeeds (DEL-7), DEL again succeeds (DEL-6), nothing is left (RT-17);
//!   then ADD killed again at the same point and ADD retried: it succeeds or fails with an
//!   error object, and when it failed, an ADD after a DEL succeeds (RT-19); DEL, DEL, nothing
//!   left (RT-17).
//! - DEL killed: CHECK does not report success while the attachment is half removed (RT-20);
//!   DEL succeeds (DEL-4), again (DEL-6), nothing left (RT-18).
//! - GC killed (the container gone, every attachment stale, as in `gc-removes-stale`): GC
//!   again succeeds, and the node is as before the ADD (RT-18).
//! - ADD with one key of the config (or of its `ipam` object) given a value of the wrong type:
//!   when it fails, the world is as before the call, before any DEL (RT-21); DEL twice brings
//!   it back in any case (DEL-1).

pub(crate) mod bench;
pub mod tracer;

pub(crate) use bench::Bench;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use cni::version::SpecVersion;

use crate::cases::Kind;
use crate::runner::{CaseRun, Skipped};
use crate::target::{Target, PRIMARY_ATTACHMENT};
use tracer::{KillAt, Observed};

/// Requirement IDs the fault trials give evidence for (besides DEL-1, DEL-4, DEL-6, DEL-7).
pub const REQUIREMENTS: &[&str] = &["RT-17", "RT-18", "RT-19", "RT-20", "RT-21"];

/// How many kill points, and from which seed.
#[derive(Debug, Clone, Copy)]
pub struct FaultOptions {
    pub seed: u64,
    /// At most this many observed-call points per verb (a seeded sample beyond); by default
    /// every one.
    pub max_points: usize,
    /// Points per verb at seeded fractions of the call's measured duration.
    pub timed_points: usize,
}

impl Default for FaultOptions {
    fn default() -> Self {
        FaultOptions {
            seed: 0x5eed,
            max_points: usize::MAX,
            timed_points: 3,
        }
    }
}

/// One trial.
#[derive(Debug, Clone)]
enum Trial {
    /// `verb` killed at `at`; `of` observed calls in the calibration run, `seen` the one the
    /// point follows.
    Kill {
        verb: &'static str,
        at: KillAt,
        of: usize,
        seen: Option<Observed>,
        /// The call's measured duration, for timed points.
        measured: Duration,
        /// For timed points: the seeded fraction of `measured`, in per mille.
        permille: u64,
    },
    /// ADD with `path` (`key` or `ipam.key`) set to `value`, of the wrong type.
    BadConfig { path: String, value: Value },
}

impl Trial {
    fn id(&self) -> String {
        match self {
            Trial::Kill {
                verb,
                at: KillAt::Observed(n),
                ..
            } => format!("fault-{}#{n}", verb.to_lowercase()),
            Trial::Kill {
                verb,
                at: KillAt::After(_),
                permille,
                ..
            } => format!(
                "fault-{}#at-{}.{}%",
                verb.to_lowercase(),
                permille / 10,
                permille % 10
            ),
            Trial::Kill { verb, .. } => format!("fault-{}", verb.to_lowercase()),
            Trial::BadConfig { path, .. } => format!("fault-config#{path}"),
        }
    }

    /// The kill point (or config fault) in words, with the seed.
    fn point(&self, seed: u64) -> String {
        match self {
            Trial::Kill {
                verb,
                at: KillAt::Observed(n),
                of,
                seen,
                ..
            } => format!(
                "{verb} killed after state-changing call {n} of {of} (faults seed {seed}{})",
                seen.as_ref()
                    .map(|o| format!("; in the calibration run: {o}"))
                    .unwrap_or_default()
            ),
            Trial::Kill {
                verb,
                at: KillAt::After(d),
                measured,
                permille,
                ..
            } => format!(
                "{verb} killed at {}.{}% of the call's measured duration (faults seed {seed}; {} \
                 of {} ms)",
                permille / 10,
                permille % 10,
                d.as_millis(),
                measured.as_millis()
            ),
            Trial::Kill { verb, .. } => format!("{verb} traced"),
            Trial::BadConfig { path, value } => {
                format!("ADD with {path:?} set to {value} (a value of the wrong type)")
            }
        }
    }

    fn requirements(&self) -> Vec<String> {
        let ids: &[&str] = match self {
            Trial::Kill { verb: "ADD", .. } => &["RT-17", "RT-19", "DEL-6", "DEL-7"],
            Trial::Kill { .. } => &["RT-18", "RT-20", "DEL-4", "DEL-6"],
            Trial::BadConfig { .. } => &["RT-21", "DEL-1"],
        };
        ids.iter().map(|s| s.to_string()).collect()
    }
}

/// A small deterministic generator (splitmix64) for the plan.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What the calibration run of one verb showed.
struct Calibration {
    verb: &'static str,
    observed: Vec<Observed>,
    measured: Duration,
}

/// The kill points of one verb: every observed call when there are at most `max_points`,
/// else the first and last, the first of each kind of call, and a seeded sample of the
/// rest; then `timed_points` seeded fractions of the measured duration.
fn plan(c: &Calibration, o: &FaultOptions) -> Vec<Trial> {
    let n = c.observed.len();
    let mut rng = Rng(o.seed ^ c.verb.bytes().fold(0u64, |h, b| h * 31 + b as u64));
    let mut picked: Vec<usize> = if n <= o.max_points {
        (1..=n).collect()
    } else {
        let mut p: Vec<usize> = vec![1, n];
        p.truncate(o.max_points);
        let mut kinds = std::collections::BTreeSet::new();
        for (i, ob) in c.observed.iter().enumerate() {
            if kinds.insert((ob.syscall, ob.detail.clone()))
                && p.len() < o.max_points
                && !p.contains(&(i + 1))
            {
                p.push(i + 1);
            }
        }
        while p.len() < o.max_points {
            let i = 1 + rng.below(n);
            if !p.contains(&i) {
                p.push(i);
            }
        }
        p
    };
    picked.sort_unstable();
    picked.dedup();
    let mut trials: Vec<Trial> = picked
        .into_iter()
        .map(|i| Trial::Kill {
            verb: c.verb,
            at: KillAt::Observed(i),
            of: n,
            seen: c.observed.get(i - 1).cloned(),
            measured: c.measured,
            permille: 0,
        })
        .collect();
    let micros = c.measured.as_micros().max(1) as u64;
    let mut fractions: Vec<u64> = Vec::new();
    while fractions.len() < o.timed_points {
        // A fraction in [5%, 95%) of the measured duration, in per mille.
        let frac = 50 + rng.below(900) as u64;
        if !fractions.contains(&frac) {
            fractions.push(frac);
        }
    }
    for frac in fractions {
        let at = Duration::from_micros(micros * frac / 1000);
        trials.push(Trial::Kill {
            verb: c.verb,
            at: KillAt::After(at.max(Duration::from_micros(200))),
            of: n,
            seen: None,
            measured: c.measured,
            permille: frac,
        });
    }
    trials
}

/// A value of another JSON type than `v`.
fn wrong_type(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::from(17),
        Value::Number(_) => Value::from("17"),
        Value::Bool(_) => Value::from("yes"),
        Value::Array(_) => serde_json::json!({"x": 1}),
        Value::Object(_) => Value::from("x"),
        Value::Null => serde_json::json!([]),
    }
}

/// Keys that are the runtime's, not the plugin's own configuration.
const RUNTIME_KEYS: &[&str] = &[
    "cniVersion",
    "name",
    "type",
    "prevResult",
    "runtimeConfig",
    "capabilities",
    "args",
];

/// The config faults: each plugin key, and each key of its `ipam` object but `type`, with a
/// value of the wrong type.
fn config_trials(target: &Target) -> Vec<Trial> {
    let mut out = Vec::new();
    for (k, v) in &target.plugin_conf {
        if RUNTIME_KEYS.contains(&k.as_str()) {
            continue;
        }
        out.push(Trial::BadConfig {
            path: k.clone(),
            value: wrong_type(v),
        });
        if k == "ipam" {
            for (ik, iv) in v.as_object().into_iter().flatten() {
                if ik != "type" {
                    out.push(Trial::BadConfig {
                        path: format!("ipam.{ik}"),
                        value: wrong_type(iv),
                    });
                }
            }
        }
    }
    out
}

/// Checks that this machine lets the harness trace and kill a plugin (ptrace, process
/// groups): `/bin/sh` writing a file in a throwaway world must be observed, then killed right
/// after that write. An error is a setup problem of the harness, not of any plugin.
pub fn self_test() -> Result<(), String> {
    let world =
        crate::world::World::new("fself").map_err(|e| format!("cannot create a sandbox: {e}"))?;
    let script = world.state_dir().join("fault-self-test.sh");
    let write = |p: &std::path::Path| -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(p, "#!/bin/sh\nprintf x > /var/lib/cni/fault-self-test\n")?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
    };
    write(&script).map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let timeout = Duration::from_secs(20);
    let t = tracer::run(&world, &script, &[], b"", timeout, KillAt::Observed(1))
        .map_err(|e| format!("cannot trace a process (ptrace): {e}"))?;
    if t.observed.is_empty() || !t.killed {
        return Err(format!(
            "tracing a test script observed {:?} and {} it",
            t.observed,
            if t.killed { "killed" } else { "did not kill" }
        ));
    }
    Ok(())
}

/// Runs the calibration of each verb in one bench: every observed call, and the untraced
/// duration.
fn calibrate(b: &mut Bench, gc: bool) -> Result<Vec<Calibration>, String> {
    let a = PRIMARY_ATTACHMENT;
    let timed = |b: &mut Bench, verb: &str| {
        let start = Instant::now();
        let ans = b.call(verb, a, None);
        (ans, start.elapsed())
    };
    let (add, d_add) = timed(b, "ADD");
    if !add.ok {
        return Err(format!("calibration ADD failed: {}", add.describe()));
    }
    let (_, d_del) = timed(b, "DEL");
    let t_add = b.killed("ADD", a, KillAt::Never)?;
    if !t_add.success() {
        return Err(format!(
            "calibration ADD under the tracer failed ({:?}): {}",
            t_add.exit_code,
            String::from_utf8_lossy(&t_add.stdout)
        ));
    }
    let t_del = b.killed("DEL", a, KillAt::Never)?;
    let mut out = vec![
        Calibration {
            verb: "ADD",
            observed: t_add.observed,
            measured: d_add,
        },
        Calibration {
            verb: "DEL",
            observed: t_del.observed,
            measured: d_del,
        },
    ];
    if gc {
        b.call("ADD", a, None);
        let (_, d_gc) = timed(b, "GC");
        b.call("DEL", a, None);
        b.call("ADD", a, None);
        let t_gc = b.killed("GC", a, KillAt::Never)?;
        b.call("DEL", a, None);
        out.push(Calibration {
            verb: "GC",
            observed: t_gc.observed,
            measured: d_gc,
        });
    }
    Ok(out)
}

/// Runs every fault trial at the newest version on `jobs` workers, each trial as one
/// [`CaseRun`] named after its kill point (those whose ID contains `filter`); `progress` as in [`crate::pool::run_all`]. A
/// calibration that cannot run is one failed run (a setup failure, tied to no requirement).
pub fn run(
    target: &Target,
    versions: &[SpecVersion],
    kind: Kind,
    opts: &FaultOptions,
    jobs: usize,
    filter: Option<&str>,
    progress: &(dyn Fn(usize, usize, &CaseRun) + Sync),
) -> (Vec<CaseRun>, Vec<Skipped>) {
    let Some(&version) = versions.last() else {
        return (Vec::new(), Vec::new());
    };
    let mut skipped = Vec::new();
    let gc = version >= SpecVersion::V1_1_0;
    if !gc {
        skipped.push(Skipped {
            case: "fault-gc".into(),
            reason: format!(
                "GC needs cniVersion 1.1.0, the newest version tested is {}",
                version.as_str()
            ),
        });
    }
    let start = Instant::now();
    let calibration = Bench::new(target, version, kind, "fcal", &[]).and_then(|mut b| {
        let c = calibrate(&mut b, gc);
        b.teardown();
        c
    });
    let calibration = match calibration {
        Ok(c) => c,
        Err(e) => {
            let run = CaseRun {
                case: "fault-calibration".into(),
                title: "traced calibration runs of ADD, DEL and GC".into(),
                version: version.as_str().into(),
                requirements: REQUIREMENTS.iter().map(|s| s.to_string()).collect(),
                passed: false,
                error: Some(e),
                millis: start.elapsed().as_millis(),
                findings: Vec::new(),
                calls: Vec::new(),
                patched_attachments: Vec::new(),
                not_applicable: None,
            };
            progress(1, 1, &run);
            return (vec![run], skipped);
        }
    };
    let mut trials: Vec<Trial> = calibration.iter().flat_map(|c| plan(c, opts)).collect();
    trials.extend(config_trials(target));
    trials.retain(|t| filter.is_none_or(|f| t.id().contains(f)));
    let total = trials.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|s| {
        for w in 0..jobs.max(1) {
            let (trials, next, done, results) = (&trials, &next, &done, &results);
            s.spawn(move || {
                let mut bench: Option<Bench> = None;
                let mut made = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(trial) = trials.get(i) else { break };
                    let run = run_trial(
                        target,
                        version,
                        kind,
                        trial,
                        opts.seed,
                        &mut bench,
                        &format!("f{w}-{made}"),
                    );
                    made += 1;
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    progress(n, total, &run);
                    results.lock().expect("lock").push((i, run));
                }
                if let Some(b) = bench {
                    b.teardown();
                }
            });
        }
    });
    let mut results = results.into_inner().expect("lock");
    results.sort_by_key(|(i, _)| *i);
    (results.into_iter().map(|(_, r)| r).collect(), skipped)
}

/// Runs one trial on the worker's bench (created, or recreated after a dirty trial).
fn run_trial<'t>(
    target: &'t Target,
    version: SpecVersion,
    kind: Kind,
    trial: &Trial,
    seed: u64,
    bench: &mut Option<Bench<'t>>,
    label: &str,
) -> CaseRun {
    let start = Instant::now();
    let point = trial.point(seed);
    let mut out = CaseRun {
        case: trial.id(),
        title: point.clone(),
        version: version.as_str().into(),
        requirements: trial.requirements(),
        passed: false,
        error: None,
        millis: 0,
        findings: Vec::new(),
        calls: Vec::new(),
        patched_attachments: Vec::new(),
        not_applicable: None,
    };
    if bench.as_ref().is_some_and(|b| b.dirty) {
        if let Some(b) = bench.take() {
            b.teardown();
        }
    }
    if bench.is_none() {
        match Bench::new(target, version, kind, label, &[]) {
            Ok(b) => *bench = Some(b),
            Err(e) => {
                out.error = Some(e);
                out.millis = start.elapsed().as_millis();
                return out;
            }
        }
    }
    let b = bench.as_mut().expect("bench");
    let r = match trial {
        Trial::Kill {
            verb: "ADD", at, ..
        } => killed_add(b, *at, &point),
        Trial::Kill {
            verb: "DEL", at, ..
        } => killed_del(b, *at, &point),
        Trial::Kill { at, .. } => killed_gc(b, *at, &point),
        Trial::BadConfig { path, value } => bad_config(b, path, value, &point),
    };
    if let Err(e) = r {
        b.finding(&[], false, format!("{point}: {e}"));
        b.dirty = true;
    }
    let (findings, calls) = b.take();
    out.passed = findings.iter().all(|f| f.passed);
    out.findings = findings;
    out.calls = calls;
    out.millis = start.elapsed().as_millis();
    out
}

/// What happened to the killed call, for messages.
fn kill_outcome(t: &tracer::Traced) -> &'static str {
    if t.killed {
        "killed"
    } else if t.success() {
        "finished before the kill point"
    } else {
        "failed before the kill point"
    }
}

/// DEL twice after something went wrong: the first must succeed (`first_req`), the second
/// too (DEL-6).
fn del_twice(b: &mut Bench, first_req: &str, point: &str, after: &str) {
    let a = PRIMARY_ATTACHMENT;
    for (n, req) in [(1, first_req), (2, "DEL-6")] {
        let d = b.call("DEL", a, None);
        let which = if n == 1 { "DEL" } else { "DEL again" };
        b.finding(
            &[req],
            d.ok,
            if d.ok {
                format!("{point}: {which} after {after} succeeded")
            } else {
                format!("{point}: {which} after {after} failed: {}", d.describe())
            },
        );
    }
}

fn killed_add(b: &mut Bench, at: KillAt, point: &str) -> Result<(), String> {
    let a = PRIMARY_ATTACHMENT;
    let t = b.killed("ADD", a, at)?;
    let after = format!("the ADD ({})", kill_outcome(&t));
    del_twice(b, "DEL-7", point, &after);
    if !b.compare_warm(&["RT-17"], &format!("{point}, then DEL twice")) {
        return Ok(());
    }
    // The retry: the same kill, then ADD again at once.
    let t = b.killed("ADD", a, at)?;
    let retry = b.call("ADD", a, None);
    if retry.ok {
        b.finding(
            &["RT-19"],
            true,
            format!("{point}: ADD again succeeded ({})", kill_outcome(&t)),
        );
    } else if !retry.error_object() {
        b.finding(
            &["RT-19"],
            false,
            format!(
                "{point}: ADD again failed without an error object: {}",
                retry.describe()
            ),
        );
    } else {
        let d = b.call("DEL", a, None);
        let again = b.call("ADD", a, None);
        b.finding(
            &["RT-19"],
            again.ok,
            if again.ok {
                format!("{point}: ADD again failed cleanly, and after DEL an ADD succeeded")
            } else {
                format!(
                    "{point}: ADD again failed ({}), and still after DEL ({}): {}",
                    retry.describe(),
                    d.exit,
                    again.describe()
                )
            },
        );
    }
    del_twice(b, "DEL-7", point, "the ADD retry");
    b.compare_warm(&["RT-17"], &format!("{point}, ADD again, then DEL twice"));
    Ok(())
}

/// The ADD of the primary attachment that a killed DEL or GC then acts on.
fn add_before_the_kill(b: &mut Bench) -> Result<(), String> {
    let add = b.call("ADD", PRIMARY_ATTACHMENT, None);
    if add.ok {
        Ok(())
    } else {
        Err(format!(
            "the ADD before the kill failed: {}",
            add.describe()
        ))
    }
}

fn killed_del(b: &mut Bench, at: KillAt, point: &str) -> Result<(), String> {
    let a = PRIMARY_ATTACHMENT;
    add_before_the_kill(b)?;
    let check = b.version() >= SpecVersion::V0_4_0;
    let added = check.then(|| b.s.world.snapshot());
    let t = b.killed("DEL", a, at)?;
    let outcome = kill_outcome(&t);
    if let Some(added) = added {
        if t.killed {
            let c = b.call("CHECK", a, None);
            if c.ok {
                let d = b.diff_settled(&added, Duration::ZERO);
                let gone: Vec<String> = d
                    .into_iter()
                    .filter(|l| l.split_once(": ").is_some_and(|(_, r)| r.starts_with("- ")))
                    .collect();
                b.finding(
                    &["RT-20"],
                    gone.is_empty(),
                    if gone.is_empty() {
                        format!("{point}: CHECK succeeded, and the attachment is whole")
                    } else {
                        format!(
                            "{point}: CHECK succeeded though the killed DEL had removed: {}",
                            gone.join("; ")
                        )
                    },
                );
            } else {
                b.finding(
                    &["RT-20"],
                    true,
                    format!("{point}: CHECK after the killed DEL failed"),
                );
            }
        }
    }
    del_twice(b, "DEL-4", point, &format!("the DEL ({outcome})"));
    b.compare_warm(&["RT-18"], &format!("{point}, then DEL twice"));
    Ok(())
}

/// GC's trial follows `gc-removes-stale`: the container is gone (its namespace deleted, as a
/// runtime that lost track of it leaves it), GC is killed, GC runs again and must succeed,
/// and the node must be as before the ADD (RT-18). The bench is rebuilt afterwards.
fn killed_gc(b: &mut Bench, at: KillAt, point: &str) -> Result<(), String> {
    let a = PRIMARY_ATTACHMENT;
    add_before_the_kill(b)?;
    b.s.world.delete_netns(a);
    let t = b.killed("GC", a, at)?;
    let outcome = kill_outcome(&t);
    let gc = b.call("GC", a, None);
    b.finding(
        &["RT-18"],
        gc.ok,
        if gc.ok {
            format!("{point}: GC again succeeded")
        } else {
            format!("{point}: GC again failed: {}", gc.describe())
        },
    );
    // The kernel tears the deleted namespace's links down asynchronously. What went away with
    // the container (a prelude's host-side link) is no leftover: only "+" lines count.
    let leftovers = |b: &Bench| -> Vec<String> {
        b.warm
            .diff(&b.s.world.snapshot())
            .into_iter()
            .filter(|l| l.split_once(": ").is_some_and(|(_, r)| r.starts_with("+ ")))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut d = leftovers(b);
    while !d.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        d = leftovers(b);
    }
    b.finding(
        &["RT-18"],
        d.is_empty(),
        if d.is_empty() {
            format!("{point}: after the GC ({outcome}) and GC again, the node is as before")
        } else {
            format!(
                "{point}, GC again (the container gone): left behind: {}",
                d.join("; ")
            )
        },
    );
    b.dirty = true;
    Ok(())
}

fn bad_config(b: &mut Bench, path: &str, value: &Value, point: &str) -> Result<(), String> {
    let a = PRIMARY_ATTACHMENT;
    let (env, stdin) = b.request("ADD", a);
    let mut req: Value = serde_json::from_slice(&stdin).map_err(|e| e.to_string())?;
    match path.split_once('.') {
        Some((outer, inner)) => req[outer][inner] = value.clone(),
        None => req[path] = value.clone(),
    }
    let stdin = req.to_string().into_bytes();
    let add = b.call_with("ADD", a, &env, &stdin);
    if !add.ok {
        b.compare_warm(
            &["RT-21"],
            &format!("{point}: the ADD failed ({}); before any DEL", add.exit),
        );
        let (env, _) = b.request("DEL", a);
        b.call_with("DEL", a, &env, &stdin);
    } else {
        let (env, _) = b.request("DEL", a);
        b.call_with("DEL", a, &env, &stdin);
    }
    b.call("DEL", a, None);
    b.compare_warm(
        &["DEL-1"],
        &format!(
            "{point}: ADD {}, then DEL twice",
            if add.ok { "succeeded" } else { "failed" }
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration(n: usize) -> Calibration {
        Calibration {
            verb: "ADD",
            observed: (0..n)
                .map(|i| Observed {
                    syscall: if i % 10 == 0 { "write" } else { "sendto" },
                    detail: String::new(),
                })
                .collect(),
            measured: Duration::from_millis(40),
        }
    }

    fn ids(trials: &[Trial]) -> Vec<String> {
        trials.iter().map(Trial::id).collect()
    }

    #[test]
    fn every_observed_call_is_a_kill_point_by_default() {
        let t = plan(&calibration(30), &FaultOptions::default());
        assert_eq!(t.len(), 33);
        for i in 1..=30 {
            assert!(ids(&t).contains(&format!("fault-add#{i}")), "{:?}", ids(&t));
        }
        assert_eq!(ids(&t).iter().filter(|i| i.contains("#at-")).count(), 3);
    }

    #[test]
    fn a_capped_plan_keeps_first_last_and_each_kind_and_replays_by_seed() {
        let o = FaultOptions {
            seed: 9,
            max_points: 6,
            timed_points: 2,
        };
        let a = ids(&plan(&calibration(50), &o));
        assert_eq!(a, ids(&plan(&calibration(50), &o)), "same seed, same plan");
        for must in ["fault-add#1", "fault-add#50", "fault-add#2"] {
            assert!(a.contains(&must.to_string()), "{a:?}");
        }
        assert_eq!(a.len(), 8, "{a:?}");
        let other = ids(&plan(&calibration(50), &FaultOptions { seed: 10, ..o }));
        assert_ne!(a, other, "another seed, another sample");
    }

    #[test]
    fn config_faults_change_each_key_to_another_type() {
        assert_eq!(wrong_type(&Value::from("x")), Value::from(17));
        assert_eq!(wrong_type(&Value::from(1)), Value::from("17"));
        assert!(wrong_type(&serde_json::json!({})).is_string());
        assert!(wrong_type(&serde_json::json!([])).is_object());
    }
}
