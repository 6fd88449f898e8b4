//! The certification target: the plugin binary under test and the config it is tested with.
//! Owns reading the base config (a single plugin config, or a conflist whose plugins before the
//! tested one form the prelude), finding the tested plugin's object in it, taking the
//! harness-only [`CONFIG_KEY`] out of it, and the [`AttachmentPatch`]: its validation, where it
//! comes from and its merge into a request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::dhcp_fixture::DhcpSpec;

/// The harness-only key of a base config: removed before any request is built, so the plugin
/// never sees it. Its members: `attachmentPatch` (see [`AttachmentPatch`]) and `dhcp` (a DHCP
/// server and daemon per world, see [`crate::dhcp_fixture`]).
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
    /// The merge patch.
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

/// Applies a JSON merge patch (RFC 7386) to `target`: objects merge key by key, `null`
/// removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
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

/// The plugin under test and how to run it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The plugin binary.
    pub plugin: PathBuf,
    /// Directories for delegated plugins (IPAM, the other plugins of a list).
    pub cni_path: Vec<PathBuf>,
    /// The network name of the base config.
    pub network_name: String,
    /// The base config's own `cniVersion` (a list's top-level one) as written; `None` when it
    /// has none. Requests carry the version of the case run instead; this is the version to
    /// test at when the plugin's VERSION answer gives no usable list.
    pub config_version: Option<String>,
    /// Plugin objects that come before the tested one in the list (run as a runtime would).
    pub prelude: Vec<Map<String, Value>>,
    /// Plugin objects that come after the tested one in the list: run after its ADD with its
    /// result, and DELeted before it, as a runtime runs a list (see `crate::postlude`).
    pub postlude: Vec<Map<String, Value>>,
    /// The tested plugin's object.
    pub plugin_conf: Map<String, Value>,
    /// How long a plugin call may take.
    pub timeout: Duration,
    /// Applied to the tested plugin's config of every attachment but the main one.
    pub attachment_patch: Option<AttachmentPatch>,
    /// The program linked as the delegate recorder (the harness's own executable, see
    /// [`crate::recorder`]); `None` until the caller sets it up: cases that record delegate
    /// calls then fail as setup trouble.
    pub recorder: Option<PathBuf>,
    /// The DHCP server and daemon every world starts (`x-conformance.dhcp`).
    pub dhcp: Option<DhcpSpec>,
}

/// Why a target could not be set up (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read config {0}: {1}")]
    /// The config file cannot be read.
    Read(PathBuf, std::io::Error),
    #[error("config {0} is not a JSON object")]
    /// The config is not a JSON object.
    NotObject(PathBuf),
    #[error("config {path}: {reason}")]
    /// The config is not one the harness can use: why.
    Config {
        /// The config's path or label.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    #[error("plugin {0} is not an executable file")]
    /// The plugin is not an executable file.
    Plugin(PathBuf),
    #[error("probing the plugin failed: {0}")]
    /// The probe could not run (a sandbox could not be made, the VERSION answer is unusable).
    Probe(String),
    /// The plugin's ADD with the base config fails on this machine: no case could show
    /// anything but that.
    #[error(
        "the base config cannot ADD on this machine (cniVersion {version}): {detail}\n\
         the harness certifies a plugin with a config whose ADD works here: fix the config or \
         the machine (kernel features, modules, links the config names)"
    )]
    /// The base config cannot ADD here.
    BaseConfig {
        /// The cniVersion of the refused ADD.
        version: String,
        /// The plugin's error.
        detail: String,
    },
    #[error("{0}")]
    /// The attachment patch is unusable.
    AttachmentPatch(String),
}

/// A [`SetupError::Config`] for `config`.
fn config_error(config: &Path, reason: impl Into<String>) -> SetupError {
    SetupError::Config {
        path: config.into(),
        reason: reason.into(),
    }
}

/// Fails unless `plugin` is a file with an execute bit.
fn check_executable(plugin: &Path) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(plugin).map_err(|_| SetupError::Plugin(plugin.into()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(SetupError::Plugin(plugin.into()));
    }
    Ok(())
}

/// What the harness-only [`CONFIG_KEY`] of a base config carries.
type HarnessKey = (Option<AttachmentPatch>, Option<DhcpSpec>);

/// Removes the harness-only [`CONFIG_KEY`] from a base config and returns the attachment patch
/// and the DHCP fixture it carries, if any.
fn take_harness_key(obj: &mut Map<String, Value>, config: &Path) -> Result<HarnessKey, SetupError> {
    match obj.remove(CONFIG_KEY) {
        None => Ok((None, None)),
        Some(Value::Object(mut ext)) => {
            let patch = ext.remove("attachmentPatch");
            let dhcp = ext.remove("dhcp");
            if let Some(k) = ext.keys().next() {
                return Err(config_error(
                    config,
                    format!(
                        "unknown key {k:?} in {CONFIG_KEY:?} (known: \"attachmentPatch\", \"dhcp\")"
                    ),
                ));
            }
            let patch = patch
                .map(|p| {
                    AttachmentPatch::new(
                        p,
                        format!("{}: {CONFIG_KEY}.attachmentPatch", config.display()),
                    )
                    .map_err(|e| config_error(config, e))
                })
                .transpose()?;
            let dhcp = dhcp
                .map(|d| DhcpSpec::parse(&d).map_err(|e| config_error(config, e)))
                .transpose()?;
            Ok((patch, dhcp))
        }
        Some(_) => Err(config_error(
            config,
            format!("{CONFIG_KEY:?} must be an object"),
        )),
    }
}

/// The prelude's plugin objects, the tested plugin's object and the postlude's.
type PluginObjects = (
    Vec<Map<String, Value>>,
    Map<String, Value>,
    Vec<Map<String, Value>>,
);

/// The prelude, the tested plugin's object and the postlude of a base config: in a list, the
/// plugin whose `type` is the plugin's file name (else the last) and the plugins before and
/// after it; a single plugin config is the tested object itself, without `cniVersion` and
/// `name`.
fn split_plugins(
    obj: &Map<String, Value>,
    file: &str,
    config: &Path,
) -> Result<PluginObjects, SetupError> {
    match obj.get("plugins") {
        Some(Value::Array(list)) => {
            let objs: Vec<Map<String, Value>> = list
                .iter()
                .map(|p| {
                    p.as_object()
                        .cloned()
                        .ok_or_else(|| config_error(config, "plugins must be objects"))
                })
                .collect::<Result<_, _>>()?;
            if objs.iter().any(|p| p.contains_key(CONFIG_KEY)) {
                return Err(config_error(
                    config,
                    format!("{CONFIG_KEY:?} belongs at the top level, not in a plugin object"),
                ));
            }
            let idx = objs
                .iter()
                .position(|p| p.get("type").and_then(Value::as_str) == Some(file))
                .unwrap_or(objs.len().saturating_sub(1));
            if objs.is_empty() {
                return Err(config_error(config, "empty plugins list"));
            }
            Ok((
                objs[..idx].to_vec(),
                objs[idx].clone(),
                objs[idx + 1..].to_vec(),
            ))
        }
        Some(_) => Err(config_error(config, "plugins is not a list")),
        None => {
            let mut o = obj.clone();
            o.remove("cniVersion");
            o.remove("name");
            Ok((Vec::new(), o, Vec::new()))
        }
    }
}

/// What the harness takes from a base config's text (see [`Target::from_config`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BaseConfig {
    /// The network name.
    pub network_name: String,
    /// The top-level `cniVersion` as written (a non-string as its JSON text).
    pub config_version: Option<String>,
    /// The plugins before the tested one in a list.
    pub prelude: Vec<Map<String, Value>>,
    /// The tested plugin's object.
    pub plugin_conf: Map<String, Value>,
    /// The plugins after the tested one in a list.
    pub postlude: Vec<Map<String, Value>>,
    /// The attachment patch of its `x-conformance` key.
    pub attachment_patch: Option<AttachmentPatch>,
    /// `x-conformance.dhcp`: a DHCP server and daemon in every world.
    pub dhcp: Option<DhcpSpec>,
}

impl BaseConfig {
    /// Reads a base config's text for the plugin file named `plugin_file`; `config` is the
    /// file's path, for errors. A top-level [`CONFIG_KEY`] object is removed and its
    /// `attachmentPatch` taken; one inside a plugin object of a list is refused.
    pub fn parse(text: &[u8], plugin_file: &str, config: &Path) -> Result<BaseConfig, SetupError> {
        let mut obj: Map<String, Value> =
            serde_json::from_slice(text).map_err(|_| SetupError::NotObject(config.into()))?;
        let (attachment_patch, dhcp) = take_harness_key(&mut obj, config)?;
        let network_name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| config_error(config, "no network name"))?
            .to_string();
        let config_version = obj.get("cniVersion").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let (prelude, plugin_conf, postlude) = split_plugins(&obj, plugin_file, config)?;
        Ok(BaseConfig {
            network_name,
            config_version,
            prelude,
            plugin_conf,
            postlude,
            attachment_patch,
            dhcp,
        })
    }
}

impl Target {
    /// Reads a base config: a single plugin config, or a list in which the plugin appears
    /// (matched by `type` against the plugin's file name, else the last plugin). A top-level
    /// [`CONFIG_KEY`] object is the harness's, not the plugin's: it is removed, and its
    /// `attachmentPatch` becomes [`Target::attachment_patch`] (see [`BaseConfig::parse`]).
    pub fn from_config(
        plugin: &Path,
        config: &Path,
        cni_path: Vec<PathBuf>,
        timeout: Duration,
    ) -> Result<Target, SetupError> {
        let text = std::fs::read(config).map_err(|e| SetupError::Read(config.into(), e))?;
        Target::from_text(plugin, &text, config, cni_path, timeout)
    }

    /// [`Target::from_config`] for a base config's text; `config` names it in errors and
    /// reports (a path, or a label such as `<inline config>`).
    pub fn from_text(
        plugin: &Path,
        text: &[u8],
        config: &Path,
        cni_path: Vec<PathBuf>,
        timeout: Duration,
    ) -> Result<Target, SetupError> {
        check_executable(plugin)?;
        let file = plugin.file_name().and_then(|f| f.to_str()).unwrap_or("");
        let base = BaseConfig::parse(text, file, config)?;
        // Runtimes always pass CNI_PATH; by default it is the plugin's own directory.
        let cni_path = if cni_path.is_empty() {
            vec![crate::world::parent_dir(plugin)]
        } else {
            cni_path
        };
        Ok(Target {
            plugin: plugin.to_path_buf(),
            cni_path,
            network_name: base.network_name,
            config_version: base.config_version,
            prelude: base.prelude,
            plugin_conf: base.plugin_conf,
            postlude: base.postlude,
            timeout,
            attachment_patch: base.attachment_patch,
            recorder: None,
            dhcp: base.dhcp,
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
