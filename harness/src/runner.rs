//! Runs the case tables against one plugin binary: [`probe`] asks it for its versions and
//! classifies it with one ADD/DEL; [`run_all`] expands each case over the versions it applies
//! to and runs the expansions on a worker pool ([`crate::pool`]); [`run_case`] runs one in its
//! own [`World`] and collects every expectation and check as a [`Finding`] tied to requirement
//! IDs. What a run is made of lives beside: the target and its config in [`crate::target`],
//! a run's state across steps in `session`, plugin calls in `step`, actions on the world in
//! `action`.

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use cni::result::CniResult;
use cni::version::{SpecVersion, VersionInfo};

use crate::cases::{Case, Kind};
use crate::checks::excerpt;
use crate::session::Session;
use crate::world::World;

pub use crate::pool::{expand, run_all};
pub use crate::target::{AttachmentPatch, SetupError, Target, CONFIG_KEY, PRIMARY_ATTACHMENT};

/// One expectation's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub requirements: Vec<String>,
    pub passed: bool,
    pub message: String,
}

/// One plugin call of a run, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct CallLog {
    pub step: usize,
    pub command: String,
    pub exit: String,
    pub millis: u128,
    pub stdout: String,
    pub stderr: String,
}

/// One case at one version.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRun {
    pub case: String,
    pub title: String,
    pub version: String,
    pub requirements: Vec<String>,
    pub passed: bool,
    /// Set when the case could not run (world setup failed); counts as failed.
    pub error: Option<String>,
    pub millis: u128,
    pub findings: Vec<Finding>,
    pub calls: Vec<CallLog>,
    /// Attachments whose requests carried the target's attachment patch (empty: none).
    pub patched_attachments: Vec<String>,
}

/// A case that did not apply, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub case: String,
    pub reason: String,
}

/// What probing found out about the plugin.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub advertised: Vec<String>,
    pub versions: Vec<String>,
    pub kind: String,
}

/// Asks VERSION (in a world, as every call) and classifies the plugin with one ADD/DEL.
pub fn probe(target: &Target) -> Result<(Vec<SpecVersion>, Vec<String>, Kind), SetupError> {
    let world = World::new("probe").map_err(|e| SetupError::Probe(e.to_string()))?;
    let run = world.run_plugin(
        &target.plugin,
        &[("CNI_COMMAND".into(), "VERSION".into())],
        br#"{"cniVersion":"1.0.0"}"#,
        target.timeout,
    );
    let out = run.output.map_err(SetupError::Probe)?;
    let info: VersionInfo = serde_json::from_slice(&out.stdout).map_err(|e| {
        SetupError::Probe(format!(
            "VERSION output unreadable ({e}): {}",
            excerpt(&String::from_utf8_lossy(&out.stdout))
        ))
    })?;
    let mut versions: Vec<SpecVersion> = info
        .supported_versions
        .iter()
        .filter_map(|v| SpecVersion::from_exact(v))
        .collect();
    versions.sort();
    versions.dedup();
    if versions.is_empty() {
        return Err(SetupError::Probe(
            "the plugin advertises no known spec version".into(),
        ));
    }
    if let Some(master) = target.plugin_conf.get("master").and_then(Value::as_str) {
        world
            .ensure_master(master)
            .map_err(|e| SetupError::Probe(format!("cannot create master link {master}: {e}")))?;
    }
    let latest = *versions.last().expect("non-empty");
    let mut session = Session::new(target, world, latest, Kind::Other);
    let kind = classify(&mut session);
    Ok((versions, info.supported_versions, kind))
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

/// One ADD and DEL at the session's version to find out what kind of plugin this is.
fn classify(s: &mut Session) -> Kind {
    s.ensure_prelude(PRIMARY_ATTACHMENT);
    let has_prelude = !s.target.prelude.is_empty();
    let _ = s.world.attachment(PRIMARY_ATTACHMENT);
    let links_before = container_links(&s.world, PRIMARY_ATTACHMENT);
    let env = s.env_for("ADD", PRIMARY_ATTACHMENT);
    let prev = s.states[PRIMARY_ATTACHMENT].prelude_result.clone();
    let stdin = s.plugin_request(PRIMARY_ATTACHMENT, s.version.as_str(), prev.as_ref());
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
    let kind = match run.output {
        Ok(o) if o.success => match CniResult::parse(&o.stdout, Some(s.version)) {
            Ok(r) => {
                let prev_has_if = prev
                    .as_ref()
                    .is_some_and(|p| p.to_v1().interfaces.iter().any(|i| i.name == ifname));
                kind_of_result(&r, &ifname, has_prelude && prev_has_if, created_link)
            }
            Err(_) => Kind::Other,
        },
        _ => Kind::Other,
    };
    if let Some(st) = s.states.get_mut(PRIMARY_ATTACHMENT) {
        st.added = true;
    }
    s.teardown();
    kind
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
    };
    let world = match World::new(label) {
        Ok(w) => w,
        Err(e) => {
            out.error = Some(format!("cannot create the sandbox: {e}"));
            return out;
        }
    };
    if let Some(master) = target.plugin_conf.get("master").and_then(Value::as_str) {
        if let Err(e) = world.ensure_master(master) {
            out.error = Some(format!("cannot create master link {master}: {e}"));
            return out;
        }
    }
    let mut s = Session::new(target, world, version, kind);
    for (i, step) in case.steps.iter().enumerate() {
        match (&step.verb, &step.action) {
            (Some(v), _) => s.run_verb(i, step, v),
            (None, Some(a)) => s.run_action(i, step, a),
            (None, None) => {}
        }
    }
    s.teardown();
    out.passed = s.findings.iter().all(|f| f.passed);
    out.findings = s.findings;
    out.calls = s.calls;
    out.patched_attachments = s.patched.into_iter().collect();
    out.millis = start.elapsed().as_millis();
    out
}
