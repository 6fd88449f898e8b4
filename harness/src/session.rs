//! One case run in progress: its [`World`], what each attachment has been through (the
//! prelude's result, the tested plugin's last ADD result), the named snapshots, and what the
//! run records (findings, plugin calls, the attachments that got the attachment patch). Owns
//! the environment and request every plugin call starts from (with the capability arguments a
//! plugin object enables, see [`crate::capabilities`]), the prelude plugins' ADD and DEL
//! (run as a runtime runs a list), and the best-effort teardown at the end. The steps run on
//! it: plugin calls in [`crate::step`], actions on the world in [`crate::action`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Map, Value};

use cni::result::CniResult;
use cni::version::SpecVersion;

use crate::cases::Kind;
use crate::runner::{CallLog, Finding};
use crate::target::Target;
use crate::world::{World, WorldSnapshot};

/// What one attachment has been through.
pub(crate) struct AttachmentState {
    /// The prelude plugins' result, the tested plugin's `prevResult` on ADD.
    pub(crate) prelude_result: Option<CniResult>,
    /// Whether the prelude plugins' ADD is in force (a DEL of the list undoes it).
    pub(crate) prelude_active: bool,
    /// The tested plugin's last ADD result, its `prevResult` on CHECK and DEL.
    pub(crate) last_add: Option<CniResult>,
    pub(crate) added: bool,
}

/// A case run's world and state across its steps.
pub(crate) struct Session<'t> {
    pub(crate) target: &'t Target,
    pub(crate) world: World,
    /// The version requests are made at unless a step says otherwise.
    pub(crate) version: SpecVersion,
    pub(crate) kind: Kind,
    pub(crate) states: BTreeMap<String, AttachmentState>,
    pub(crate) snapshots: BTreeMap<String, WorldSnapshot>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) calls: Vec<CallLog>,
    /// The delegate recorder's directory (see `crate::recorder`) when recording is on.
    pub(crate) recorder: Option<PathBuf>,
    /// Attachments whose requests the attachment patch changed.
    pub(crate) patched: BTreeSet<String>,
    /// Set when a step showed the case does not apply to the plugin: why.
    pub(crate) not_applicable: Option<String>,
}

impl<'t> Session<'t> {
    pub(crate) fn new(target: &'t Target, world: World, version: SpecVersion, kind: Kind) -> Self {
        Session {
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
            not_applicable: None,
        }
    }

    /// Records a finding.
    pub(crate) fn finding(&mut self, reqs: &[String], passed: bool, message: String) {
        self.findings.push(Finding {
            requirements: reqs.to_vec(),
            passed,
            message,
        });
    }

    /// `CNI_PATH`: the recorder's directory first when recording, then the target's path.
    fn cni_path_value(&self) -> String {
        self.recorder
            .iter()
            .chain(self.target.cni_path.iter())
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The `CNI_*` environment of a `verb` call for `attachment` (no attachment variables for
    /// VERSION, STATUS and GC).
    pub(crate) fn env_for(&mut self, verb: &str, attachment: &str) -> Vec<(String, String)> {
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

    /// A plugin object as a request: with `cniVersion`, the network's `name` and, when given
    /// and convertible to `version`, `prevResult`.
    pub(crate) fn request(
        &self,
        obj: &Map<String, Value>,
        version: &str,
        prev: Option<&CniResult>,
    ) -> Value {
        let mut o = obj.clone();
        if let Some(dhcp) = self.world.dhcp() {
            dhcp.patch(&mut o);
        }
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
    pub(crate) fn plugin_request(
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
    pub(crate) fn ensure_prelude(&mut self, attachment: &str) {
        if self
            .states
            .get(attachment)
            .is_some_and(|s| s.prelude_active)
        {
            return;
        }
        let prev = self.prelude_add(attachment);
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

    /// The type of a prelude plugin object and its binary on `--cni-path`; a finding when it
    /// is not there.
    fn prelude_plugin(
        &mut self,
        obj: &serde_json::Map<String, Value>,
    ) -> Option<(String, std::path::PathBuf)> {
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
        match cni::invoke::find_in_path(ty, &self.target.cni_path) {
            Ok(path) => Some((ty.to_string(), path)),
            Err(_) => {
                self.finding(
                    &[],
                    false,
                    format!("prelude plugin {ty:?} not found on --cni-path"),
                );
                None
            }
        }
    }

    /// ADD of the prelude plugins in order, each given the previous one's result; returns the
    /// last result. A plugin missing or failing ends the prelude with a finding.
    fn prelude_add(&mut self, attachment: &str) -> Option<CniResult> {
        let mut prev: Option<CniResult> = None;
        for obj in self.target.prelude.clone() {
            let Some((ty, path)) = self.prelude_plugin(&obj) else {
                break;
            };
            let env = self.env_for("ADD", attachment);
            let mut req = self.request(&obj, self.version.as_str(), prev.as_ref());
            self.inject_capability_args(&mut req, &obj, "ADD", attachment);
            let stdin = req.to_string();
            let run = self
                .world
                .run_plugin(&path, &env, stdin.as_bytes(), self.target.timeout);
            match run.output {
                Ok(o) if o.success => {
                    prev = CniResult::parse(&o.stdout, Some(self.version)).ok();
                }
                other => {
                    self.finding(
                        &[],
                        false,
                        format!(
                            "prelude plugin {ty} failed ADD: {}",
                            crate::runner::describe_output(&other)
                        ),
                    );
                    break;
                }
            }
        }
        prev
    }

    /// DEL of the prelude plugins in reverse order, as a runtime's list DEL continues after
    /// the tested plugin.
    pub(crate) fn del_prelude(&mut self, attachment: &str) {
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
                let mut stdin = self.request(obj, self.version.as_str(), pr.as_ref());
                self.inject_capability_args(&mut stdin, obj, "DEL", attachment);
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

    /// GC of the prelude plugins in list order, each with the valid attachments of the
    /// tested plugin's GC request `plugin_stdin`, the environment `env` and at `version`. A
    /// prelude plugin missing or failing GC is a finding.
    pub(crate) fn prelude_gc(
        &mut self,
        env: &[(String, String)],
        version: &str,
        plugin_stdin: &[u8],
    ) {
        let valid = serde_json::from_slice::<Value>(plugin_stdin)
            .ok()
            .and_then(|v| v.get("cni.dev/valid-attachments").cloned());
        for obj in self.target.prelude.clone() {
            let Some((ty, path)) = self.prelude_plugin(&obj) else {
                return;
            };
            let mut req = self.request(&obj, version, None);
            if let Some(v) = &valid {
                req["cni.dev/valid-attachments"] = v.clone();
            }
            let run =
                self.world
                    .run_plugin(&path, env, req.to_string().as_bytes(), self.target.timeout);
            if !run.output.as_ref().is_ok_and(|o| o.success) {
                self.finding(
                    &[],
                    false,
                    format!("prelude plugin {ty} failed GC: {:?}", run.output),
                );
            }
        }
    }

    /// Best effort: DEL of the tested plugin then of the prelude, for every attachment used.
    pub(crate) fn teardown(&mut self) {
        let names: Vec<String> = self.states.keys().cloned().collect();
        for name in names {
            let env = self.env_for("DEL", &name);
            let prev = self.states[&name].last_add.clone();
            let version = self.version.as_str();
            self.postlude_del(&name, &env, version, prev.as_ref());
            let mut stdin = self.plugin_request(&name, self.version.as_str(), prev.as_ref());
            self.inject_capability_args(&mut stdin, &self.target.plugin_conf, "DEL", &name);
            self.world.run_plugin(
                &self.target.plugin,
                &env,
                stdin.to_string().as_bytes(),
                self.target.timeout,
            );
            self.del_prelude(&name);
        }
    }
}
