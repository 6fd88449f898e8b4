//! Runs the case tables against one plugin binary: probes it (VERSION, kind), expands each
//! case over the versions it applies to, runs each expansion in its own [`World`] on a pool of
//! worker threads, and records every expectation as a [`Finding`] tied to requirement IDs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use cni::result::CniResult;
use cni::version::{SpecVersion, VersionInfo};

use crate::cases::{Action, Case, Expect, Kind, Prev, Step, Versions};
use crate::checks::{self, excerpt, StepView};
use crate::world::{World, WorldSnapshot};

/// The harness-only key of a base config: removed before any request is built, so the plugin
/// never sees it. Its only member is `attachmentPatch` (see [`AttachmentPatch`]).
pub const CONFIG_KEY: &str = "x-conformance";

/// The attachment every case uses first; an [`AttachmentPatch`] applies to all the others.
pub const PRIMARY_ATTACHMENT: &str = "a";

/// A JSON merge patch (RFC 7386) applied to the tested plugin's config for every attachment of
/// a case other than its main one ([`PRIMARY_ATTACHMENT`]): the same container's second
/// ifname (`a2`) and other containers (`b`). Plugins whose kernel object is unique per config
/// need it for the cases with two attachments: the kernel allows one 802.1q link per (master,
/// VLAN id), so a vlan config's second attachment needs another `vlanId`. It changes what a
/// case tests (two attachments of *different* configs of one network), so reports name it and
/// the case runs that used it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachmentPatch {
    pub patch: Value,
    /// Where it came from: `--attachment-patch <...>` or the config's `x-conformance` key.
    pub source: String,
}

impl AttachmentPatch {
    /// Checks a patch: an object that leaves `cniVersion`, `name` and `type` alone (the other
    /// attachments stay on the same network, plugin and version).
    pub fn new(patch: Value, source: impl Into<String>) -> Result<AttachmentPatch, String> {
        let Some(obj) = patch.as_object() else {
            return Err("an attachment patch must be a JSON object (a merge patch)".into());
        };
        if let Some(k) = ["cniVersion", "name", "type", CONFIG_KEY]
            .into_iter()
            .find(|k| obj.contains_key(*k))
        {
            return Err(format!("an attachment patch may not change {k:?}"));
        }
        Ok(AttachmentPatch {
            patch,
            source: source.into(),
        })
    }

    /// Reads `--attachment-patch`'s value: inline JSON when it starts with `{`, else a file.
    pub fn from_arg(arg: &str) -> Result<AttachmentPatch, String> {
        let (text, source) = if arg.trim_start().starts_with('{') {
            (arg.to_string(), "--attachment-patch (inline)".to_string())
        } else {
            let text = std::fs::read_to_string(arg)
                .map_err(|e| format!("cannot read attachment patch {arg}: {e}"))?;
            (text, format!("--attachment-patch {arg}"))
        };
        let patch: Value = serde_json::from_str(&text)
            .map_err(|e| format!("attachment patch ({source}) is not JSON: {e}"))?;
        AttachmentPatch::new(patch, source)
    }

    /// Merges the patch into `request` when `attachment` is not the main one; returns whether
    /// it did.
    pub fn apply(&self, attachment: &str, request: &mut Value) -> bool {
        if attachment == PRIMARY_ATTACHMENT {
            return false;
        }
        merge_patch(request, &self.patch);
        true
    }
}

/// The plugin under test and how to run it.
#[derive(Debug, Clone)]
pub struct Target {
    pub plugin: PathBuf,
    /// Directories for delegated plugins (IPAM, the other plugins of a list).
    pub cni_path: Vec<PathBuf>,
    pub network_name: String,
    /// Plugin objects that come before the tested one in the list (run as a runtime would).
    pub prelude: Vec<Map<String, Value>>,
    /// The tested plugin's object.
    pub plugin_conf: Map<String, Value>,
    pub timeout: Duration,
    /// Applied to the tested plugin's config of every attachment but the main one.
    pub attachment_patch: Option<AttachmentPatch>,
}

/// Why a target could not be set up (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read config {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("config {0} is not a JSON object")]
    NotObject(PathBuf),
    #[error("config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("plugin {0} is not an executable file")]
    Plugin(PathBuf),
    #[error("probing the plugin failed: {0}")]
    Probe(String),
    #[error("{0}")]
    AttachmentPatch(String),
}

impl Target {
    /// Reads a base config: a single plugin config, or a list in which the plugin appears
    /// (matched by `type` against the plugin's file name, else the last plugin). A top-level
    /// [`CONFIG_KEY`] object is the harness's, not the plugin's: it is removed, and its
    /// `attachmentPatch` becomes [`Target::attachment_patch`].
    pub fn from_config(
        plugin: &Path,
        config: &Path,
        cni_path: Vec<PathBuf>,
        timeout: Duration,
    ) -> Result<Target, SetupError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(plugin).map_err(|_| SetupError::Plugin(plugin.into()))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(SetupError::Plugin(plugin.into()));
        }
        let text = std::fs::read(config).map_err(|e| SetupError::Read(config.into(), e))?;
        let mut obj: Map<String, Value> =
            serde_json::from_slice(&text).map_err(|_| SetupError::NotObject(config.into()))?;
        let bad = |reason: &str| SetupError::Config {
            path: config.into(),
            reason: reason.into(),
        };
        let attachment_patch = match obj.remove(CONFIG_KEY) {
            None => None,
            Some(Value::Object(mut ext)) => {
                let patch = ext.remove("attachmentPatch");
                if let Some(k) = ext.keys().next() {
                    return Err(bad(&format!(
                        "unknown key {k:?} in {CONFIG_KEY:?} (known: \"attachmentPatch\")"
                    )));
                }
                patch
                    .map(|p| {
                        AttachmentPatch::new(
                            p,
                            format!("{}: {CONFIG_KEY}.attachmentPatch", config.display()),
                        )
                        .map_err(|e| bad(&e))
                    })
                    .transpose()?
            }
            Some(_) => return Err(bad(&format!("{CONFIG_KEY:?} must be an object"))),
        };
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no network name"))?
            .to_string();
        let (prelude, plugin_conf) = match obj.get("plugins") {
            Some(Value::Array(list)) => {
                let objs: Vec<Map<String, Value>> = list
                    .iter()
                    .map(|p| {
                        p.as_object()
                            .cloned()
                            .ok_or_else(|| bad("plugins must be objects"))
                    })
                    .collect::<Result<_, _>>()?;
                let file = plugin.file_name().and_then(|f| f.to_str()).unwrap_or("");
                let idx = objs
                    .iter()
                    .position(|p| p.get("type").and_then(Value::as_str) == Some(file))
                    .unwrap_or(objs.len().saturating_sub(1));
                if objs.is_empty() {
                    return Err(bad("empty plugins list"));
                }
                (objs[..idx].to_vec(), objs[idx].clone())
            }
            Some(_) => return Err(bad("plugins is not a list")),
            None => {
                let mut o = obj.clone();
                o.remove("cniVersion");
                o.remove("name");
                (Vec::new(), o)
            }
        };
        // Runtimes always pass CNI_PATH; by default it is the plugin's own directory.
        let cni_path = if cni_path.is_empty() {
            vec![crate::world::parent_dir(plugin)]
        } else {
            cni_path
        };
        Ok(Target {
            plugin: plugin.to_path_buf(),
            cni_path,
            network_name: name,
            prelude,
            plugin_conf,
            timeout,
            attachment_patch,
        })
    }

    /// Sets the attachment patch given on the command line; a config that brings its own
    /// (`x-conformance.attachmentPatch`) conflicts, rather than one silently winning.
    pub fn with_attachment_patch(mut self, patch: AttachmentPatch) -> Result<Target, SetupError> {
        if let Some(own) = &self.attachment_patch {
            return Err(SetupError::AttachmentPatch(format!(
                "two attachment patches: {} and {}; give one",
                own.source, patch.source
            )));
        }
        self.attachment_patch = Some(patch);
        Ok(self)
    }
}

impl Target {
    /// The IPAM delegate the tested plugin's config names, if any.
    pub fn ipam_type(&self) -> Option<String> {
        self.plugin_conf
            .get("ipam")
            .and_then(|i| i.get("type"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }
}

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
    let mut runner = CaseRunner::new(target, world, latest, Kind::Other);
    let kind = runner.classify();
    Ok((versions, info.supported_versions, kind))
}

struct AttachmentState {
    prelude_result: Option<CniResult>,
    /// Whether the prelude plugins' ADD is in force (a DEL of the list undoes it).
    prelude_active: bool,
    last_add: Option<CniResult>,
    added: bool,
}

struct CaseRunner<'t> {
    target: &'t Target,
    world: World,
    version: SpecVersion,
    kind: Kind,
    states: std::collections::BTreeMap<String, AttachmentState>,
    snapshots: std::collections::BTreeMap<String, WorldSnapshot>,
    findings: Vec<Finding>,
    calls: Vec<CallLog>,
    /// `cni-recorder`'s directory when delegate recording is on.
    recorder: Option<PathBuf>,
    /// Attachments whose requests the attachment patch changed.
    patched: std::collections::BTreeSet<String>,
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn toml_to_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl<'t> CaseRunner<'t> {
    fn new(target: &'t Target, world: World, version: SpecVersion, kind: Kind) -> Self {
        CaseRunner {
            target,
            world,
            version,
            kind,
            states: Default::default(),
            snapshots: Default::default(),
            findings: Vec::new(),
            calls: Vec::new(),
            recorder: None,
            patched: Default::default(),
        }
    }

    fn cni_path_value(&self) -> String {
        self.recorder
            .iter()
            .chain(self.target.cni_path.iter())
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":")
    }

    fn env_for(&mut self, verb: &str, attachment: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("CNI_COMMAND".to_string(), verb.to_string()),
            ("CNI_PATH".to_string(), self.cni_path_value()),
        ];
        if !matches!(verb, "VERSION" | "STATUS" | "GC") {
            if let Ok(a) = self.world.attachment(attachment) {
                env.push(("CNI_CONTAINERID".into(), a.container_id.clone()));
                env.push(("CNI_NETNS".into(), a.netns_path.clone()));
                env.push(("CNI_IFNAME".into(), a.ifname.clone()));
            }
        }
        env
    }

    fn request(&self, obj: &Map<String, Value>, version: &str, prev: Option<&CniResult>) -> Value {
        let mut o = obj.clone();
        o.insert("cniVersion".into(), version.into());
        o.insert("name".into(), self.target.network_name.clone().into());
        if let Some(p) = prev {
            if let Some(sv) = SpecVersion::from_exact(version) {
                if let Ok(conv) = p.convert_to(sv) {
                    o.insert("prevResult".into(), conv.to_value());
                }
            }
        }
        Value::Object(o)
    }

    /// The tested plugin's request for `attachment`: [`Self::request`] of its config, with
    /// the attachment patch when `attachment` is not the main one.
    fn plugin_request(
        &mut self,
        attachment: &str,
        version: &str,
        prev: Option<&CniResult>,
    ) -> Value {
        let mut req = self.request(&self.target.plugin_conf, version, prev);
        if let Some(p) = &self.target.attachment_patch {
            if p.apply(attachment, &mut req) {
                self.patched.insert(attachment.to_string());
            }
        }
        req
    }

    /// Runs the prelude plugins' ADD for an attachment the first time it is used, and again
    /// on ADD after a DEL removed it.
    fn ensure_prelude(&mut self, attachment: &str) {
        if self
            .states
            .get(attachment)
            .is_some_and(|s| s.prelude_active)
        {
            return;
        }
        let mut prev: Option<CniResult> = None;
        for obj in self.target.prelude.clone() {
            let ty = obj
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let Ok(path) = cni::invoke::find_in_path(&ty, &self.target.cni_path) else {
                self.findings.push(Finding {
                    requirements: vec![],
                    passed: false,
                    message: format!("prelude plugin {ty:?} not found on --cni-path"),
                });
                break;
            };
            let env = self.env_for("ADD", attachment);
            let stdin = self
                .request(&obj, self.version.as_str(), prev.as_ref())
                .to_string();
            let run = self
                .world
                .run_plugin(&path, &env, stdin.as_bytes(), self.target.timeout);
            match run.output {
                Ok(o) if o.success => {
                    prev = CniResult::parse(&o.stdout, Some(self.version)).ok();
                }
                other => {
                    self.findings.push(Finding {
                        requirements: vec![],
                        passed: false,
                        message: format!("prelude plugin {ty} failed ADD: {other:?}"),
                    });
                    break;
                }
            }
        }
        let st = self
            .states
            .entry(attachment.to_string())
            .or_insert(AttachmentState {
                prelude_result: None,
                prelude_active: false,
                last_add: None,
                added: false,
            });
        st.prelude_result = prev;
        st.prelude_active = true;
    }

    /// DEL of the prelude plugins in reverse order, as a runtime's list DEL continues after
    /// the tested plugin.
    fn del_prelude(&mut self, attachment: &str) {
        let Some(st) = self.states.get(attachment) else {
            return;
        };
        if !st.prelude_active || self.target.prelude.is_empty() {
            return;
        }
        let pr = st.prelude_result.clone();
        let env = self.env_for("DEL", attachment);
        for obj in self.target.prelude.clone().iter().rev() {
            let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
            if let Ok(path) = cni::invoke::find_in_path(ty, &self.target.cni_path) {
                let stdin = self.request(obj, self.version.as_str(), pr.as_ref());
                self.world.run_plugin(
                    &path,
                    &env,
                    stdin.to_string().as_bytes(),
                    self.target.timeout,
                );
            }
        }
        if let Some(st) = self.states.get_mut(attachment) {
            st.prelude_active = false;
        }
    }

    fn teardown(&mut self) {
        // Best effort: DEL the tested plugin then the prelude, for every attachment used.
        let names: Vec<String> = self.states.keys().cloned().collect();
        for name in names {
            let env = self.env_for("DEL", &name);
            let prev = self.states[&name].last_add.clone();
            let stdin = self.plugin_request(&name, self.version.as_str(), prev.as_ref());
            self.world.run_plugin(
                &self.target.plugin,
                &env,
                stdin.to_string().as_bytes(),
                self.target.timeout,
            );
            self.del_prelude(&name);
        }
    }

    /// Names of the links in the container namespace of `attachment`.
    fn container_links(&self, attachment: &str) -> std::collections::BTreeSet<String> {
        self.world
            .container_output(attachment, &["ip", "-o", "link", "show"])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .collect()
    }

    /// One ADD and DEL at the newest version to find out what kind of plugin this is.
    fn classify(&mut self) -> Kind {
        self.ensure_prelude("a");
        let has_prelude = !self.target.prelude.is_empty();
        let _ = self.world.attachment("a");
        let links_before = self.container_links("a");
        let env = self.env_for("ADD", "a");
        let prev = self.states["a"].prelude_result.clone();
        let stdin = self.plugin_request("a", self.version.as_str(), prev.as_ref());
        let run = self.world.run_plugin(
            &self.target.plugin,
            &env,
            stdin.to_string().as_bytes(),
            self.target.timeout,
        );
        let ifname = self
            .world
            .get("a")
            .map(|a| a.ifname.clone())
            .unwrap_or_default();
        // A plugin that creates a link in the container is an interface plugin whatever its
        // result says: one that names the link wrongly or omits `sandbox` must still face the
        // interface checks (ENV-5, ADD-11), not escape them by looking like something else.
        let created_link = self
            .container_links("a")
            .difference(&links_before)
            .next()
            .is_some();
        let kind = match run.output {
            Ok(o) if o.success => match CniResult::parse(&o.stdout, Some(self.version)) {
                Ok(r) => {
                    let r1 = r.to_v1();
                    let prev_has_if = prev
                        .as_ref()
                        .is_some_and(|p| p.to_v1().interfaces.iter().any(|i| i.name == ifname));
                    if has_prelude && prev_has_if {
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
                Err(_) => Kind::Other,
            },
            _ => Kind::Other,
        };
        if let Some(s) = self.states.get_mut("a") {
            s.added = true;
        }
        self.teardown();
        kind
    }

    fn finding(&mut self, reqs: &[String], passed: bool, message: String) {
        self.findings.push(Finding {
            requirements: reqs.to_vec(),
            passed,
            message,
        });
    }

    fn run_action(&mut self, idx: usize, step: &Step, action: &Action) {
        let att = step.attachment.clone().unwrap_or_else(|| "a".into());
        let _ = self.world.attachment(&att);
        let observes = matches!(action, Action::Snapshot(_) | Action::Compare(_));
        if !observes && !self.states.contains_key(&att) {
            self.ensure_prelude(&att);
        }
        let ifname = self
            .world
            .get(&att)
            .map(|a| a.ifname.clone())
            .unwrap_or_default();
        let result = match action {
            Action::Snapshot(name) => {
                self.snapshots.insert(name.clone(), self.world.snapshot());
                Ok(())
            }
            Action::Compare(name) => {
                match self.snapshots.get(name) {
                    None => Err(format!("no snapshot named {name:?}")),
                    Some(before) => {
                        // The kernel tears a deleted namespace down asynchronously (its veth
                        // peers vanish a moment later): give state up to 3 s to settle.
                        let deadline = Instant::now() + Duration::from_secs(3);
                        let mut d = before.diff(&self.world.snapshot());
                        while !d.is_empty() && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(100));
                            d = before.diff(&self.world.snapshot());
                        }
                        // Leftovers ("+" lines) may stand for other rules than items that
                        // went away or changed: a DEL that leaks its own resources breaks
                        // DEL-1, one that takes another attachment's breaks DEL-13.
                        let groups: Vec<(&[String], Vec<String>)> = if step.leftover_req.is_empty()
                        {
                            vec![(&step.req, d)]
                        } else {
                            let (left, other): (Vec<String>, Vec<String>) =
                                d.into_iter().partition(|l| {
                                    l.split_once(": ").is_some_and(|(_, r)| r.starts_with("+ "))
                                });
                            vec![(&step.leftover_req, left), (&step.req, other)]
                        };
                        for (reqs, d) in groups {
                            let passed = d.is_empty();
                            let msg = if passed {
                                format!("state equals snapshot {name:?}")
                            } else {
                                format!("state differs from snapshot {name:?}: {}", d.join("; "))
                            };
                            self.finding(reqs, passed, format!("step {idx}: {msg}"));
                        }
                        return;
                    }
                }
            }
            Action::IfnameDown => self
                .world
                .container_cmd(&att, &["ip", "link", "set", &ifname, "down"])
                .map_err(|e| e.to_string()),
            Action::DeleteIfname => self
                .world
                .container_cmd(&att, &["ip", "link", "del", &ifname])
                .map_err(|e| e.to_string()),
            Action::FlushAddresses => self
                .world
                .container_cmd(
                    &att,
                    &["ip", "addr", "flush", "dev", &ifname, "scope", "global"],
                )
                .map_err(|e| e.to_string()),
            Action::CreateIfname => {
                let peer = format!("{ifname}x");
                self.world
                    .container_cmd(
                        &att,
                        &[
                            "ip", "link", "add", &ifname, "type", "veth", "peer", "name", &peer,
                        ],
                    )
                    .map_err(|e| e.to_string())
            }
            Action::DeleteNetns => {
                self.world.delete_netns(&att);
                Ok(())
            }
            Action::RecordDelegate => match self.target.ipam_type() {
                None => Err("the config names no IPAM delegate".to_string()),
                Some(t) => self
                    .world
                    .recorder_dir(&t)
                    .map(|d| self.recorder = Some(d))
                    .map_err(|e| e.to_string()),
            },
            Action::FailDelegateAdd => self.world.fail_delegate_add().map_err(|e| e.to_string()),
            Action::WipeState => {
                let dir = self.world.state_dir().to_path_buf();
                let mut r = Ok(());
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    for e in entries.flatten() {
                        let p = e.path();
                        let res = if p.is_dir() {
                            std::fs::remove_dir_all(&p)
                        } else {
                            std::fs::remove_file(&p)
                        };
                        if let Err(e) = res {
                            r = Err(e.to_string());
                        }
                    }
                }
                r
            }
        };
        if let Err(e) = result {
            // A failed fixture action makes the case unusable, not the plugin wrong.
            self.finding(
                &[],
                false,
                format!("step {idx}: action {action:?} failed: {e}"),
            );
        }
    }

    fn run_verb(&mut self, idx: usize, step: &Step, verb: &str) {
        let att = step.attachment.clone().unwrap_or_else(|| "a".into());
        if self.world.attachment(&att).is_err() {
            self.finding(
                &[],
                false,
                format!("step {idx}: cannot create attachment {att}"),
            );
            return;
        }
        self.ensure_prelude(&att);
        let version = step
            .version
            .clone()
            .unwrap_or_else(|| self.version.as_str().to_string());
        let state = &self.states[&att];
        let sv = SpecVersion::from_exact(&version);
        let prev: Option<CniResult> = match (step.prev, verb) {
            (Prev::None | Prev::Empty, _) => None,
            (Prev::Auto, "ADD") => state.prelude_result.clone(),
            (Prev::Auto, "CHECK" | "DEL") if sv.is_some_and(|v| v.has_check()) => state
                .last_add
                .clone()
                .or_else(|| state.prelude_result.clone()),
            _ => None,
        };
        let mut env = self.env_for(verb, &att);
        for (k, v) in &step.env {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        env.retain(|(k, _)| !step.unset.contains(k));
        // Raw stdin replaces the request: the attachment patch is only counted when sent.
        let mut req = if step.stdin.is_some() {
            self.request(&self.target.plugin_conf, &version, prev.as_ref())
        } else {
            self.plugin_request(&att, &version, prev.as_ref())
        };
        if step.prev == Prev::Empty {
            req["prevResult"] = Value::Object(Map::new());
        }
        if verb == "GC" {
            if let Some(valid) = &step.valid {
                let list: Vec<Value> = valid
                    .iter()
                    .filter_map(|n| {
                        let _ = self.world.attachment(n);
                        self.world.get(n).map(|a| {
                            serde_json::json!({"containerID": a.container_id, "ifname": a.ifname})
                        })
                    })
                    .collect();
                req["cni.dev/valid-attachments"] = Value::Array(list);
            }
        }
        if let Some(p) = &step.patch {
            merge_patch(&mut req, &toml_to_json(p));
        }
        let stdin = match &step.stdin {
            Some(raw) => raw.clone().into_bytes(),
            None => req.to_string().into_bytes(),
        };
        let recorded_before = self
            .recorder
            .as_ref()
            .map(|_| self.world.recorded_calls().len());
        let run = self
            .world
            .run_plugin(&self.target.plugin, &env, &stdin, self.target.timeout);
        let delegate_calls: Option<Vec<Value>> =
            recorded_before.map(|n| self.world.recorded_calls().into_iter().skip(n).collect());
        let (ok, stdout, stderr, exit) = match &run.output {
            Ok(o) => (
                o.success,
                o.stdout.clone(),
                o.stderr.clone(),
                o.status.clone(),
            ),
            Err(e) => (false, Vec::new(), Vec::new(), e.clone()),
        };
        self.calls.push(CallLog {
            step: idx,
            command: verb.to_string(),
            exit: exit.clone(),
            millis: run.elapsed.as_millis(),
            stdout: excerpt(&String::from_utf8_lossy(&stdout)),
            stderr: excerpt(&String::from_utf8_lossy(&stderr)),
        });
        if run.timed_out {
            let mut reqs = step.req.clone();
            if reqs.is_empty() {
                reqs = vec!["ERR-1".into()];
            }
            self.finding(
                &reqs,
                false,
                format!(
                    "step {idx}: {verb} did not finish within {:?} and was killed",
                    self.target.timeout
                ),
            );
            return;
        }
        if let Err(e) = &run.output {
            self.finding(
                &[],
                false,
                format!("step {idx}: could not run the plugin: {e}"),
            );
            return;
        }
        if ok && verb == "ADD" && step.stdin.is_none() {
            let parsed = sv.and_then(|v| CniResult::parse(&stdout, Some(v)).ok());
            let st = self.states.get_mut(&att).expect("state");
            st.added = true;
            if parsed.is_some() {
                st.last_add = parsed;
            }
        }
        // A runtime follows a failed ADD with DEL of the list (RT-4): undo the prelude.
        let failed_add = !ok && verb == "ADD";
        if (ok && verb == "DEL" && step.stdin.is_none()) || failed_add {
            self.del_prelude(&att);
            if let Some(st) = self.states.get_mut(&att) {
                st.last_add = None;
            }
        }
        // The expectation.
        let err_code = serde_json::from_slice::<Value>(&stdout)
            .ok()
            .and_then(|j| j.get("code").and_then(Value::as_u64));
        let what = format!(
            "step {idx}: {verb}{} exit {exit}{}",
            if step.version.is_some() {
                format!(" at {version}")
            } else {
                String::new()
            },
            if ok {
                String::new()
            } else {
                format!(", stdout: {}", excerpt(&String::from_utf8_lossy(&stdout)))
            }
        );
        match step.expect {
            Expect::Ok => self.finding(&step.req, ok, format!("{what} (expected success)")),
            Expect::Fail => {
                self.finding(&step.req, !ok, format!("{what} (expected failure)"));
                if let (Some(want), false) = (step.code, ok) {
                    let passed = err_code == Some(u64::from(want));
                    let reqs = if step.code_req.is_empty() {
                        &step.req
                    } else {
                        &step.code_req
                    };
                    self.finding(
                        reqs,
                        passed,
                        format!("{what} (expected error code {want}, got {err_code:?})"),
                    );
                }
            }
            Expect::Any => {}
        }
        // The checks.
        let a = self.world.get(&att).expect("attachment exists");
        let (ifname, netns) = (a.ifname.clone(), a.netns_path.clone());
        let view = StepView {
            verb,
            version: &version,
            stdout: &stdout,
            exit_ok: ok,
            world: &self.world,
            attachment: &att,
            ifname: &ifname,
            netns: &netns,
            prev_result: prev.as_ref(),
            kind: self.kind,
            env: &env,
            stdin: &stdin,
            stderr: &stderr,
            delegate_calls: delegate_calls.as_deref(),
        };
        let mut results = Vec::new();
        for c in &step.checks {
            let Some(check) = checks::find(c.name()) else {
                results.push((
                    vec![],
                    false,
                    format!("step {idx}: unknown check {:?}", c.name()),
                ));
                continue;
            };
            let reqs: Vec<String> = c
                .req()
                .map(|r| r.to_vec())
                .unwrap_or_else(|| check.req.iter().map(|s| s.to_string()).collect());
            if let Some(v) = (check.run)(&view) {
                let (reqs, msg) = match &v {
                    Ok(()) => (reqs, format!("step {idx}: {verb} {} ok", check.name)),
                    // A failure naming one of the IDs the check stands for here counts
                    // against that ID alone; otherwise against all, its ID in the message.
                    Err(f) => match f.requirement.filter(|id| reqs.iter().any(|r| r == id)) {
                        Some(id) => (
                            vec![id.to_string()],
                            format!("step {idx}: {verb} {}: {}", check.name, f.reason),
                        ),
                        None => (reqs, format!("step {idx}: {verb} {}: {f}", check.name)),
                    },
                };
                results.push((reqs, v.is_ok(), msg));
            }
        }
        for (r, p, m) in results {
            self.finding(&r, p, m);
        }
    }
}

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
            "needs cniVersion {} or later, the plugin advertises up to {}",
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
    let mut r = CaseRunner::new(target, world, version, kind);
    for (i, step) in case.steps.iter().enumerate() {
        match (&step.verb, &step.action) {
            (Some(v), _) => r.run_verb(i, step, v),
            (None, Some(a)) => r.run_action(i, step, a),
            (None, None) => {}
        }
    }
    r.teardown();
    out.passed = r.findings.iter().all(|f| f.passed);
    out.findings = r.findings;
    out.calls = r.calls;
    out.patched_attachments = r.patched.into_iter().collect();
    out.millis = start.elapsed().as_millis();
    out
}

/// Runs every applicable (case, version) on `jobs` worker threads; `progress` is called after
/// each run with (done, total, run).
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
        match expand(case, versions, kind, target.ipam_type().is_some()) {
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
    (results.into_iter().map(|(_, r)| r).collect(), skipped)
}
