//! Scenario tables: the data model of `conformance-cases/cases/*.toml` and its loader.
//!
//! A case is a list of steps run in one fresh world (see [`crate::world`]). A step either
//! invokes the plugin with one verb, with optional changes to the environment and request, and
//! states what must happen; or acts on the world (tamper with the container, take or compare a
//! snapshot). Each expectation names the requirement IDs it gives evidence for, so a failure is
//! reported against the right rule. Adding a case needs no Rust.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What kind of plugin a case applies to; found by probing the plugin (see the runner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Creates `CNI_IFNAME` inside the container (bridge, ptp, macvlan, ...).
    Interface,
    /// Returns addresses but no interfaces (host-local, dhcp as delegates).
    Ipam,
    /// Works on a prevResult from earlier plugins of a list (portmap, tuning).
    Chained,
    /// Anything else (loopback: changes an interface it did not create).
    Other,
}

/// Which request versions a case runs at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Versions {
    /// Once per version the plugin advertises (and the spec knows).
    Each,
    /// Once, at the newest advertised version.
    #[default]
    Latest,
    /// Once, at the oldest advertised version.
    Oldest,
}

/// What `prevResult` a step sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prev {
    /// ADD: the result of earlier plugins of the list, if any. CHECK/DEL: the last ADD result
    /// of this attachment (from 0.4.0 on, as runtimes do).
    #[default]
    Auto,
    /// No `prevResult` key.
    None,
    /// `prevResult: {}`.
    Empty,
}

/// The outcome a step requires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Ok,
    Fail,
    /// Either; only the checks apply (property-style steps).
    Any,
}

/// A world action instead of a plugin call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Record the state of node and container namespaces and the state directory.
    Snapshot(String),
    /// The state must equal the named snapshot (fails the step's `req`).
    Compare(String),
    /// Set the attachment's interface down in the container.
    IfnameDown,
    /// Delete the attachment's interface from the container.
    DeleteIfname,
    /// Remove the IPv4/IPv6 addresses of the attachment's interface.
    FlushAddresses,
    /// Create a link named `CNI_IFNAME` in the container before ADD (a veth pair).
    CreateIfname,
    /// Delete the attachment's container namespace (its path no longer exists).
    DeleteNetns,
    /// Remove every file under the state directory (IPAM stores). With no file there the
    /// case does not apply (the plugin keeps no state to lose).
    WipeState,
    /// From now on, put the delegate recorder (the harness itself, see `crate::recorder`) first
    /// on the plugin's `CNI_PATH` under the name of its IPAM type: every delegate call is
    /// recorded (env, stdin, verb) and then forwarded.
    RecordDelegate,
    /// Make the recorded delegate fail the next ADDs (code 11) without forwarding them.
    FailDelegateAdd,
    /// Make the recorded delegate forward the next ADDs and answer a successful one with a
    /// result the caller cannot parse (an address that is none): the delegate has reserved,
    /// the caller fails after it.
    UnusableDelegateAdd,
    /// Make the recorded delegate answer the next STATUS calls with code 50 (it cannot serve
    /// ADD) without forwarding them.
    FailDelegateStatus,
}

/// A check run on a step's outcome; a name, optionally with the requirement IDs it stands for
/// in this case (otherwise the check's own).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CheckRef {
    Name(String),
    WithReq { name: String, req: Vec<String> },
}

impl CheckRef {
    pub fn name(&self) -> &str {
        match self {
            CheckRef::Name(n) | CheckRef::WithReq { name: n, .. } => n,
        }
    }
    pub fn req(&self) -> Option<&[String]> {
        match self {
            CheckRef::Name(_) => None,
            CheckRef::WithReq { req, .. } => Some(req),
        }
    }
}

/// One step of a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// ADD, CHECK, DEL, VERSION, STATUS or GC (or a raw string to send as CNI_COMMAND).
    pub verb: Option<String>,
    pub action: Option<Action>,
    /// Which attachment: "a" (default) or "b" (another container).
    #[serde(default)]
    pub attachment: Option<String>,
    /// Environment overrides (applied after the defaults).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables removed from the environment.
    #[serde(default)]
    pub unset: Vec<String>,
    /// Request `cniVersion` override.
    pub version: Option<String>,
    /// Raw stdin instead of the request configuration.
    pub stdin: Option<String>,
    /// A JSON merge patch (RFC 7386) applied to the request configuration.
    pub patch: Option<toml::Value>,
    /// Top-level keys removed from the request configuration after the patch (TOML has no
    /// null to remove them with a patch), e.g. `cniVersion`.
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub prev: Prev,
    #[serde(default)]
    pub expect: Expect,
    /// Required error code when `expect = "fail"`.
    pub code: Option<u32>,
    /// Requirement IDs the expectation (and an action's comparison) stands for.
    #[serde(default)]
    pub req: Vec<String>,
    /// Requirement IDs the error `code` stands for (default: `req`).
    #[serde(default)]
    pub code_req: Vec<String>,
    /// `compare` only: requirement IDs that leftovers (items present now but not in the
    /// snapshot) stand for; then `req` stands for the other differences (items gone or
    /// changed). Default: `req` stands for every difference.
    #[serde(default)]
    pub leftover_req: Vec<String>,
    #[serde(default)]
    pub checks: Vec<CheckRef>,
    /// GC only: the attachments listed as valid ("a", "b").
    pub valid: Option<Vec<String>>,
}

/// One scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub title: String,
    /// Every requirement the case gives evidence for (the union of its steps').
    pub requirements: Vec<String>,
    /// Kinds it applies to; empty = all.
    #[serde(default)]
    pub applies: Vec<Kind>,
    #[serde(default)]
    pub versions: Versions,
    /// Lowest request version at which the case makes sense (e.g. "0.4.0" for CHECK).
    pub min_version: Option<String>,
    /// Why the case is skipped for some plugins, shown in reports.
    pub note: Option<String>,
    /// Only for plugins whose config names an IPAM delegate (`ipam.type`).
    #[serde(default)]
    pub requires_ipam: bool,
    /// Only for plugins whose config enables this capability (`capabilities: {name: true}`);
    /// its calls then carry the harness's arguments for it (see `crate::capabilities`).
    pub capability: Option<String>,
    /// Only for lists with plugins after the tested one (see `crate::postlude`).
    #[serde(default)]
    pub requires_later_plugins: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
struct CaseFile {
    #[serde(default, rename = "case")]
    cases: Vec<Case>,
}

/// Why the case tables could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{path}: case {case}: {reason}")]
    Invalid {
        path: PathBuf,
        case: String,
        reason: String,
    },
}

/// Loads every `*.toml` file of `dir` in lexical order and checks each case against the
/// catalogue (`known` = requirement IDs).
pub fn load_dir(dir: &Path, known: &dyn Fn(&str) -> bool) -> Result<Vec<Case>, CasesError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CasesError::Io { path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut out: Vec<Case> = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let cases = parse_file(&text, &path, known, &out)?;
        out.extend(cases);
    }
    Ok(out)
}

/// The cases of one case file's text (`path` names it in errors), each checked with
/// [`validate`]; `loaded` are the cases of the files read before (ids are unique across
/// files).
pub fn parse_file(
    text: &str,
    path: &Path,
    known: &dyn Fn(&str) -> bool,
    loaded: &[Case],
) -> Result<Vec<Case>, CasesError> {
    let file: CaseFile = toml::from_str(text).map_err(|e| CasesError::Parse {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    let mut out: Vec<Case> = Vec::new();
    for case in file.cases {
        let bad = |reason: String| CasesError::Invalid {
            path: path.to_path_buf(),
            case: case.id.clone(),
            reason,
        };
        if loaded.iter().chain(&out).any(|c| c.id == case.id) {
            return Err(bad("duplicate case id".into()));
        }
        validate(&case, known).map_err(bad)?;
        out.push(case);
    }
    Ok(out)
}

/// Whether `name` can name an attachment: 1 to 8 lowercase ASCII letters and digits, starting
/// with a letter. The world names the attachment's container namespace after it (a file under
/// `/run/netns`) and its container ID too.
pub fn is_valid_attachment(name: &str) -> bool {
    (1..=8).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Whether `key` can be set or unset in a plugin's environment: not empty, without `=` or NUL.
fn is_valid_env_key(key: &str) -> bool {
    !key.is_empty() && !key.contains(['=', '\0'])
}

/// Checks what the runner relies on and would otherwise find only when the case runs (or
/// never): every requirement ID known and cited by the case; steps that are either a plugin
/// call or an action, with only the fields that kind of step reads; an expectation with its
/// `req`; known check names; a `min_version` the spec knows; attachment names the world can
/// create; environment entries a process can carry; a `compare` only of a snapshot taken in
/// an earlier step; a `patch` that is a table (a merge patch).
pub fn validate(case: &Case, known: &dyn Fn(&str) -> bool) -> Result<(), String> {
    if case.id.trim().is_empty() {
        return Err("empty case id".into());
    }
    if case.steps.is_empty() {
        return Err("no steps".into());
    }
    if case.requirements.is_empty() {
        return Err("no requirements".into());
    }
    if let Some(v) = &case.min_version {
        if cni::SpecVersion::from_exact(v).is_none() {
            return Err(format!("min_version {v:?} is no spec version"));
        }
    }
    let step_reqs = case.steps.iter().flat_map(|s| {
        s.req
            .iter()
            .chain(s.code_req.iter())
            .chain(s.leftover_req.iter())
            .chain(s.checks.iter().flat_map(|c| c.req().unwrap_or_default()))
    });
    for id in case.requirements.iter().chain(step_reqs) {
        if !known(id) {
            return Err(format!("unknown requirement {id}"));
        }
        if !case.requirements.contains(id) {
            return Err(format!(
                "step cites {id}, missing from the case's requirements"
            ));
        }
    }
    let mut snapshots: Vec<&str> = Vec::new();
    for (i, s) in case.steps.iter().enumerate() {
        validate_step(s, &snapshots).map_err(|e| format!("step {i}: {e}"))?;
        if let Some(Action::Snapshot(name)) = &s.action {
            snapshots.push(name);
        }
    }
    Ok(())
}

/// One step's checks (see [`validate`]); `snapshots` were taken by the steps before it.
fn validate_step(s: &Step, snapshots: &[&str]) -> Result<(), String> {
    if s.verb.is_some() == s.action.is_some() {
        return Err("exactly one of verb and action".into());
    }
    if let Some(a) = &s.attachment {
        if !is_valid_attachment(a) {
            return Err(format!(
                "attachment {a:?}: 1 to 8 of a-z, 0-9, from a letter"
            ));
        }
    }
    if !s.leftover_req.is_empty() && !matches!(s.action, Some(Action::Compare(_))) {
        return Err("leftover_req without compare".into());
    }
    if let Some(action) = &s.action {
        if let Action::Compare(name) = action {
            if !snapshots.contains(&name.as_str()) {
                return Err(format!(
                    "compare {name:?}: no earlier snapshot of that name"
                ));
            }
        }
        let call_only = !s.env.is_empty()
            || !s.unset.is_empty()
            || s.version.is_some()
            || s.stdin.is_some()
            || s.patch.is_some()
            || s.prev != Prev::Auto
            || s.expect != Expect::Ok
            || s.code.is_some()
            || !s.code_req.is_empty()
            || !s.checks.is_empty()
            || s.valid.is_some();
        if call_only {
            return Err("an action step with fields only a plugin call reads".into());
        }
        return Ok(());
    }
    let verb = s.verb.as_deref().unwrap_or_default();
    if verb.contains('\0') {
        return Err("verb with a NUL".into());
    }
    if s.expect != Expect::Any && s.req.is_empty() {
        return Err("an expectation needs req".into());
    }
    if s.code.is_some() && s.expect != Expect::Fail {
        return Err("code needs expect = \"fail\"".into());
    }
    if !s.code_req.is_empty() && s.code.is_none() {
        return Err("code_req without code".into());
    }
    if let Some((k, _)) = s
        .env
        .iter()
        .find(|(k, v)| !is_valid_env_key(k) || v.contains('\0'))
    {
        return Err(format!(
            "env {k:?}: a key without = or NUL, a value without NUL"
        ));
    }
    if let Some(k) = s.unset.iter().find(|k| !is_valid_env_key(k)) {
        return Err(format!("unset {k:?}: not a variable name"));
    }
    if let Some(c) = s
        .checks
        .iter()
        .find(|c| crate::checks::find(c.name()).is_none())
    {
        return Err(format!("unknown check {:?}", c.name()));
    }
    if s.checks
        .iter()
        .any(|c| c.req().is_some_and(<[String]>::is_empty))
    {
        return Err("a check with an empty req".into());
    }
    if let Some(valid) = &s.valid {
        if verb != "GC" {
            return Err("valid without verb = \"GC\"".into());
        }
        if let Some(a) = valid.iter().find(|a| !is_valid_attachment(a)) {
            return Err(format!(
                "valid attachment {a:?}: 1 to 8 of a-z, 0-9, from a letter"
            ));
        }
    }
    if s.patch.as_ref().is_some_and(|p| !p.is_table()) {
        return Err("patch is not a table (a merge patch)".into());
    }
    Ok(())
}

/// The default case directory of this checkout.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance-cases/cases")
}
