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
        let file: CaseFile = toml::from_str(&text).map_err(|e| CasesError::Parse {
            path: path.clone(),
            source: Box::new(e),
        })?;
        for case in file.cases {
            let bad = |reason: String| CasesError::Invalid {
                path: path.clone(),
                case: case.id.clone(),
                reason,
            };
            if out.iter().any(|c| c.id == case.id) {
                return Err(bad("duplicate case id".into()));
            }
            if case.steps.is_empty() {
                return Err(bad("no steps".into()));
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
                    return Err(bad(format!("unknown requirement {id}")));
                }
                if !case.requirements.contains(id) {
                    return Err(bad(format!(
                        "step cites {id}, missing from the case's requirements"
                    )));
                }
            }
            for (i, s) in case.steps.iter().enumerate() {
                if s.verb.is_some() == s.action.is_some() {
                    return Err(bad(format!("step {i}: exactly one of verb and action")));
                }
                if s.verb.is_some() && s.expect != Expect::Any && s.req.is_empty() {
                    return Err(bad(format!("step {i}: an expectation needs req")));
                }
            }
            out.push(case);
        }
    }
    Ok(out)
}

/// The default case directory of this checkout.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance-cases/cases")
}
