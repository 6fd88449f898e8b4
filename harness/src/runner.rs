//! Runs the case tables against one plugin binary: [`probe`] asks it for its versions (judging
//! the VERSION answer itself: a broken one is a set of findings, and without a usable version
//! list the cases run at the config's `cniVersion`) and classifies it with one ADD/DEL (an ADD
//! the plugin refuses with the base config is [`SetupError::BaseConfig`]); [`run_all`] expands each case over the versions it applies
//! to and runs the expansions on a worker pool ([`crate::pool`]); [`run_case`] runs one in its
//! own [`World`] and collects every expectation and check as a [`Finding`] tied to requirement
//! IDs. What a run is made of lives beside: the target and its config in [`crate::target`],
//! a run's state across steps in `session`, plugin calls in `step`, actions on the world in
//! `action`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use cni::result::CniResult;
use cni::version::SpecVersion;

use crate::action::Flow;
use crate::cases::{Case, Kind};
use crate::checks::{excerpt, one_json};
use crate::session::Session;
use crate::world::{Run, World};

pub use crate::pool::{expand, run_all};
pub use crate::target::{AttachmentPatch, SetupError, Target, CONFIG_KEY, PRIMARY_ATTACHMENT};

/// One expectation's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The requirement IDs it stands for (empty: a fixture or setup problem).
    pub requirements: Vec<String>,
    /// Whether the expectation held.
    pub passed: bool,
    /// What was expected and what happened.
    pub message: String,
}

/// One plugin call of a run, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct CallLog {
    /// The case step it belongs to (0-based).
    pub step: usize,
    /// The verb and attachment.
    pub command: String,
    /// The exit status, or how the call ended (timeout, spawn failure).
    pub exit: String,
    /// How long the call took.
    pub millis: u128,
    /// The plugin's stdout (an excerpt when long).
    pub stdout: String,
    /// The plugin's stderr (an excerpt when long).
    pub stderr: String,
    /// The `CNI_*` variables the call had, as `NAME=value`.
    pub env: Vec<String>,
    /// The request on stdin (cut after [`REQUEST_EXCERPT`] bytes).
    pub request: String,
}

/// How much of a request a [`CallLog`] keeps, in bytes.
pub const REQUEST_EXCERPT: usize = 4096;

impl CallLog {
    /// The `env` and `request` fields of a call's log from what was sent.
    pub fn sent(env: &[(String, String)], stdin: &[u8]) -> (Vec<String>, String) {
        let env = env
            .iter()
            .filter(|(k, _)| k.starts_with("CNI_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let text = String::from_utf8_lossy(stdin);
        let request = if text.len() > REQUEST_EXCERPT {
            let mut end = REQUEST_EXCERPT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &text[..end])
        } else {
            text.into_owned()
        };
        (env, request)
    }
}

/// One case at one version.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRun {
    /// The case ID.
    pub case: String,
    /// The case's title.
    pub title: String,
    /// The spec version it ran at.
    pub version: String,
    /// The requirement IDs the case names.
    pub requirements: Vec<String>,
    /// Whether every finding passed.
    pub passed: bool,
    /// Set when the case could not run (world setup failed); counts as failed.
    pub error: Option<String>,
    /// How long the run took.
    pub millis: u128,
    /// Every expectation's outcome, in step order.
    pub findings: Vec<Finding>,
    /// Every plugin call made.
    pub calls: Vec<CallLog>,
    /// Attachments whose requests carried the target's attachment patch (empty: none).
    pub patched_attachments: Vec<String>,
    /// Set when a step showed the case does not apply to the plugin (a tampering action found
    /// nothing to tamper with): why. Such runs are reported as not applicable, not as runs.
    pub not_applicable: Option<String>,
}

/// A case that did not apply, with the reason: found before running (kind, config, versions)
/// or by a run whose tampering step found nothing to tamper with.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The case ID.
    pub case: String,
    /// Why it does not apply.
    pub reason: String,
}

/// What probing found out about the plugin, as reports show it.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The versions the VERSION answer advertised.
    pub advertised: Vec<String>,
    /// The versions cases run at.
    pub versions: Vec<String>,
    /// The plugin's kind from the probe's ADD (`interface`, `ipam`, `chained`, `other`).
    pub kind: String,
    /// Where the versions tested come from when the VERSION answer gave no usable version
    /// list; `None`: from the list the plugin advertised.
    pub versions_from: Option<String>,
    /// What the probe's VERSION call showed about the answer itself (ENV-13: one JSON
    /// document; VERSION-1: its fields; VERSION-2 when it has no cniVersion at all). They
    /// count in the verdicts like a case's findings.
    pub findings: Vec<Finding>,
    /// The VERSION answer's stdout as the plugin wrote it (cut after [`REQUEST_EXCERPT`]
    /// bytes); `None` when the call timed out or could not run.
    pub version_answer: Option<String>,
    /// SHA-256 of the plugin binary (lowercase hex) when it could be read.
    pub plugin_sha256: Option<String>,
}

/// SHA-256 of a file as lowercase hex, `None` when it cannot be read.
pub fn file_sha256(path: &std::path::Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The probe's outcome: the versions cases run at, the plugin's kind, and the report's view.
#[derive(Debug, Clone)]
pub struct Probed {
    /// The versions cases run at, oldest first.
    pub versions: Vec<SpecVersion>,
    /// The plugin's kind.
    pub kind: Kind,
    /// The report's view of the probe.
    pub probe: Probe,
}

/// The request version of the probe's VERSION call.
const PROBE_VERSION: &str = "1.0.0";

/// What the probe's VERSION call answered: the advertised list as far as it could be read,
/// the spec versions in it, and the findings about the answer.
#[derive(Debug, Default)]
struct VersionAnswer {
    advertised: Vec<String>,
    versions: Vec<SpecVersion>,
    findings: Vec<Finding>,
}

impl VersionAnswer {
    fn record(&mut self, ids: &[&str], passed: bool, message: String) {
        self.findings.push(Finding {
            requirements: ids.iter().map(|s| s.to_string()).collect(),
            passed,
            message: format!("VERSION {message}"),
        });
    }
}

/// Reads the probe's VERSION answer. A broken answer is the plugin's failure, recorded as
/// findings (an answer with no usable version list leaves `versions` empty); only a plugin
/// that cannot be run at all is a setup error.
fn read_version_answer(run: &Run, timeout: Duration) -> Result<VersionAnswer, SetupError> {
    let mut a = VersionAnswer::default();
    if run.timed_out {
        a.record(
            &["VERSION-1"],
            false,
            format!("did not finish within {timeout:?} and was killed"),
        );
        return Ok(a);
    }
    let out = run
        .output
        .as_ref()
        .map_err(|e| SetupError::Probe(format!("cannot run the plugin: {e}")))?;
    let stdout = excerpt(&String::from_utf8_lossy(&out.stdout));
    if !out.success {
        a.record(
            &["VERSION-1"],
            false,
            format!("failed ({}), stdout: {stdout}", out.status),
        );
        return Ok(a);
    }
    let json = match one_json(&out.stdout) {
        Ok(j) => j,
        Err(e) => {
            a.record(&["ENV-13", "VERSION-1"], false, e);
            return Ok(a);
        }
    };
    a.record(&["ENV-13"], true, "answered one JSON document".into());
    let mut problems = Vec::new();
    match json.get("supportedVersions").and_then(Value::as_array) {
        None => problems.push("no supportedVersions list".to_string()),
        Some(list) if list.is_empty() || !list.iter().all(Value::is_string) => {
            problems.push("supportedVersions is not a non-empty list of strings".into())
        }
        Some(_) => {}
    }
    a.advertised = json
        .get("supportedVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    a.versions = a
        .advertised
        .iter()
        .filter_map(|v| SpecVersion::from_exact(v))
        .collect();
    a.versions.sort();
    a.versions.dedup();
    if a.versions.is_empty() && !a.advertised.is_empty() {
        problems.push(format!(
            "supportedVersions {:?} names no spec version the harness knows",
            a.advertised
        ));
    }
    if !json.get("cniVersion").is_some_and(Value::is_string) {
        problems.push("no cniVersion".into());
        a.record(
            &["VERSION-2"],
            false,
            format!("answer has no cniVersion to echo the request's {PROBE_VERSION:?}: {stdout}"),
        );
    }
    if problems.is_empty() {
        a.record(
            &["VERSION-1"],
            true,
            "answer has cniVersion and supportedVersions".into(),
        );
    } else {
        a.record(
            &["VERSION-1"],
            false,
            format!("answer: {}: {stdout}", problems.join("; ")),
        );
    }
    Ok(a)
}

/// The version to test at when the VERSION answer gave no usable version list: the one the
/// base config names (0.1.0 when it names none, as runtimes read such a config), with the
/// sentence reports show. A config naming a version the harness does not know is a setup
/// error.
fn fallback_version(target: &Target) -> Result<(SpecVersion, String), SetupError> {
    let why = "the VERSION answer gave no usable version list";
    match target.config_version.as_deref() {
        None => Ok((
            SpecVersion::V0_1_0,
            format!("{why}; tested at 0.1.0 only, the version of a config without cniVersion"),
        )),
        Some(v) => match SpecVersion::from_exact(v) {
            Some(sv) => Ok((
                sv,
                format!("{why}; tested at the config's cniVersion {v} only"),
            )),
            None => Err(SetupError::Probe(format!(
                "{why}, and the config's cniVersion {v:?} is no spec version the harness \
                 knows: give the config one"
            ))),
        },
    }
}

/// Asks VERSION (in a world, as every call) and classifies the plugin with one ADD/DEL. A
/// VERSION answer that cannot be read is the plugin's failure: its findings go into the
/// report, and without a usable version list the cases run at the config's cniVersion only.
/// An ADD with the base config that the plugin (or the prelude) answers with a failure, at the
/// newest version and at the config's own, means the config cannot work on this machine: a
/// setup error ([`SetupError::BaseConfig`]) with the plugin's error, not a verdict. An ADD that
/// hangs or answers unreadably is the plugin's failure, left to the cases.
pub fn probe(target: &Target) -> Result<Probed, SetupError> {
    let world = World::for_target("probe", target).map_err(SetupError::Probe)?;
    let run = world.run_plugin(
        &target.plugin,
        &[("CNI_COMMAND".into(), "VERSION".into())],
        format!(r#"{{"cniVersion":"{PROBE_VERSION}"}}"#).as_bytes(),
        target.timeout,
    );
    let answer = read_version_answer(&run, target.timeout)?;
    let version_answer = match (&run.output, run.timed_out) {
        (Ok(out), false) => Some(CallLog::sent(&[], &out.stdout).1),
        _ => None,
    };
    let (versions, versions_from) = if answer.versions.is_empty() {
        let (v, why) = fallback_version(target)?;
        (vec![v], Some(why))
    } else {
        (answer.versions.clone(), None)
    };
    let latest = *versions.last().expect("non-empty");
    let kind = match classify(&mut Session::new(target, world, latest, Kind::Other)) {
        ProbeAdd::Kind(k) => k,
        ProbeAdd::Refused(why) => {
            // A plugin may refuse the newest version it advertises (VERSION-5, which cases
            // will show); the base config's own version is the one it must serve here.
            let own = target
                .config_version
                .as_deref()
                .and_then(SpecVersion::from_exact)
                .filter(|v| *v != latest && versions.contains(v));
            let Some(own) = own else {
                return Err(SetupError::BaseConfig {
                    version: latest.as_str().into(),
                    detail: why,
                });
            };
            let world = World::for_target("probe2", target).map_err(SetupError::Probe)?;
            match classify(&mut Session::new(target, world, own, Kind::Other)) {
                ProbeAdd::Kind(k) => k,
                ProbeAdd::Refused(why) => {
                    return Err(SetupError::BaseConfig {
                        version: own.as_str().into(),
                        detail: why,
                    })
                }
            }
        }
    };
    Ok(Probed {
        probe: Probe {
            advertised: answer.advertised,
            versions: versions.iter().map(|v| v.as_str().to_string()).collect(),
            kind: format!("{kind:?}").to_lowercase(),
            versions_from,
            findings: answer.findings,
            version_answer,
            plugin_sha256: file_sha256(&target.plugin),
        },
        versions,
        kind,
    })
}

/// Names of the links in the container namespace of `attachment`.
fn container_links(world: &World, attachment: &str) -> BTreeSet<String> {
    world
        .container_output(attachment, &["ip", "-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect()
}

/// How the probe's ADD with the base config went.
enum ProbeAdd {
    /// It ran (or hung, or answered something unreadable, which cases will show): the kind of
    /// plugin it showed.
    Kind(Kind),
    /// The plugin, or a plugin of the prelude, answered it with a failure: what it said.
    Refused(String),
}

/// One ADD and DEL at the session's version to find out what kind of plugin this is.
fn classify(s: &mut Session) -> ProbeAdd {
    s.ensure_prelude(PRIMARY_ATTACHMENT);
    if let Some(f) = s.findings.iter().find(|f| !f.passed) {
        let refused = ProbeAdd::Refused(f.message.clone());
        s.teardown();
        return refused;
    }
    let has_prelude = !s.target.prelude.is_empty();
    let _ = s.world.attachment(PRIMARY_ATTACHMENT);
    let links_before = container_links(&s.world, PRIMARY_ATTACHMENT);
    let env = s.env_for("ADD", PRIMARY_ATTACHMENT);
    let prev = s.states[PRIMARY_ATTACHMENT].prelude_result.clone();
    let mut stdin = s.plugin_request(PRIMARY_ATTACHMENT, s.version.as_str(), prev.as_ref());
    let conf = &s.target.plugin_conf;
    s.inject_capability_args(&mut stdin, conf, "ADD", PRIMARY_ATTACHMENT);
    let run = s.world.run_plugin(
        &s.target.plugin,
        &env,
        stdin.to_string().as_bytes(),
        s.target.timeout,
    );
    let ifname = s
        .world
        .get(PRIMARY_ATTACHMENT)
        .map(|a| a.ifname.clone())
        .unwrap_or_default();
    // A plugin that creates a link in the container is an interface plugin whatever its
    // result says: one that names the link wrongly or omits `sandbox` must still face the
    // interface checks (ENV-5, ADD-11), not escape them by looking like something else.
    let created_link = container_links(&s.world, PRIMARY_ATTACHMENT)
        .difference(&links_before)
        .next()
        .is_some();
    let outcome = match &run.output {
        Ok(o) if o.success => ProbeAdd::Kind(match CniResult::parse(&o.stdout, Some(s.version)) {
            Ok(r) => {
                let prev_has_if = prev
                    .as_ref()
                    .is_some_and(|p| p.to_v1().interfaces.iter().any(|i| i.name == ifname));
                kind_of_result(&r, &ifname, has_prelude && prev_has_if, created_link)
            }
            Err(_) => Kind::Other,
        }),
        Ok(_) => ProbeAdd::Refused(format!(
            "{} ADD failed: {}",
            s.target.plugin.display(),
            describe_output(&run.output)
        )),
        Err(_) => ProbeAdd::Kind(Kind::Other),
    };
    if let Some(st) = s.states.get_mut(PRIMARY_ATTACHMENT) {
        st.added = true;
    }
    s.teardown();
    outcome
}

/// A plugin run's outcome in one line: exit status, stdout and stderr (excerpts).
pub(crate) fn describe_output(output: &Result<cni::invoke::RawOutput, String>) -> String {
    match output {
        Ok(o) => {
            let mut d = format!(
                "{}, stdout: {}",
                o.status,
                excerpt(&String::from_utf8_lossy(&o.stdout))
            );
            let stderr = excerpt(&String::from_utf8_lossy(&o.stderr));
            if !stderr.is_empty() {
                d.push_str(&format!(", stderr: {stderr}"));
            }
            d.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        Err(e) => e.clone(),
    }
}

/// The kind of plugin a successful ADD's result shows: chained when the prelude's result
/// already had the interface, an interface plugin when it created a link in the container or
/// reports the interface in the sandbox, IPAM when it reports addresses without interfaces.
fn kind_of_result(r: &CniResult, ifname: &str, chained: bool, created_link: bool) -> Kind {
    let r1 = r.to_v1();
    if chained {
        Kind::Chained
    } else if created_link
        || r1
            .interfaces
            .iter()
            .any(|i| i.name == ifname && i.sandbox.is_some())
    {
        Kind::Interface
    } else if r1.interfaces.is_empty() && !r1.ips.is_empty() {
        Kind::Ipam
    } else {
        Kind::Other
    }
}

/// Runs one case at one version in a fresh world.
pub fn run_case(
    target: &Target,
    case: &Case,
    version: SpecVersion,
    kind: Kind,
    label: &str,
) -> CaseRun {
    let start = Instant::now();
    let mut out = CaseRun {
        case: case.id.clone(),
        title: case.title.clone(),
        version: version.as_str().into(),
        requirements: case.requirements.clone(),
        passed: false,
        error: None,
        millis: 0,
        findings: Vec::new(),
        calls: Vec::new(),
        patched_attachments: Vec::new(),
        not_applicable: None,
    };
    let world = match World::for_target(label, target) {
        Ok(w) => w,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let mut s = Session::new(target, world, version, kind);
    for (i, step) in case.steps.iter().enumerate() {
        let flow = match (&step.verb, &step.action) {
            (Some(v), _) => {
                s.run_verb(i, step, v);
                Flow::Continue
            }
            (None, Some(a)) => s.run_action(i, step, a),
            (None, None) => Flow::Continue,
        };
        if flow == Flow::Stop {
            break;
        }
    }
    s.teardown();
    out.not_applicable = s.not_applicable.take();
    out.passed = s.findings.iter().all(|f| f.passed);
    out.findings = s.findings;
    out.calls = s.calls;
    out.patched_attachments = s.patched.into_iter().collect();
    out.millis = start.elapsed().as_millis();
    out
}
