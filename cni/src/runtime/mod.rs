//! The runtime side of CNI (what libcni does for a container runtime): run a network
//! configuration list for one attachment, ADD front to back passing `prevResult`, DEL back to
//! front, CHECK with the cached result, GC with the valid attachments, STATUS; keep the final
//! ADD result in a cache on disk so CHECK and DEL work after a restart.

pub mod cache;
pub mod confdir;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{
    is_valid_identifier, Attachment, NetConfList, LEGACY_ATTACHMENTS_KEY, VALID_ATTACHMENTS_KEY,
};
use crate::conventions::runtime_config_for;
use crate::env::{validate_container_id, validate_ifname, Command};
use crate::invoke::{self, find_in_path, Invocation, InvokeError};
use crate::result::CniResult;
use crate::version::SpecVersion;
use cache::{CachedAttachment, ResultCache};

/// Default cache directory, as libcni's.
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/cni";

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid network configuration: {0}")]
    /// The list or a plugin object is invalid.
    Config(#[from] crate::config::ConfigError),
    #[error("invalid attachment: {0}")]
    /// The container ID or interface name is invalid.
    Attachment(crate::error::Error),
    #[error("plugin {plugin} ({command}): {source}")]
    /// A plugin of the list failed.
    Plugin {
        /// The plugin's type.
        plugin: String,
        /// The verb it failed.
        command: Command,
        /// How it failed.
        source: Box<InvokeError>,
    },
    #[error("no cached result for {network}/{container_id}/{ifname}: CHECK needs a prior ADD")]
    /// CHECK without a cached ADD result.
    NotCached {
        /// The network.
        network: String,
        /// The container.
        container_id: String,
        /// The interface.
        ifname: String,
    },
    #[error("configuration version {version} does not support {command}")]
    /// The list's version lacks this verb (CHECK before 0.4.0, STATUS and GC before 1.1.0).
    VerbUnsupported {
        /// The list's version.
        version: SpecVersion,
        /// The verb.
        command: Command,
    },
    #[error("cannot write result cache: {0}")]
    /// The result cache could not be written.
    Cache(std::io::Error),
    #[error("cannot convert cached result: {0}")]
    /// The cached result could not be converted.
    Result(#[from] crate::result::ResultError),
}

/// One attachment: the container and interface a runtime is wiring.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConf {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS`: the namespace path.
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS` pairs.
    pub args: Vec<(String, String)>,
    /// Capability arguments; each plugin gets those its `capabilities` enables, as `runtimeConfig`.
    pub capability_args: Map<String, Value>,
}

impl RuntimeConf {
    fn cni_args(&self) -> String {
        self.args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// A runtime: where plugins are found, where results are cached, how long a plugin may run.
#[derive(Debug, Clone)]
pub struct CniConfig {
    /// Where plugin executables are looked for, in order.
    pub plugin_dirs: Vec<PathBuf>,
    /// Where ADD results are cached for CHECK and DEL.
    pub cache: ResultCache,
    /// How long one plugin run may take; `None`: no limit.
    pub timeout: Option<Duration>,
}

impl CniConfig {
    /// A runtime over these directories and cache, without a timeout.
    pub fn new(plugin_dirs: Vec<PathBuf>, cache_dir: impl Into<PathBuf>) -> CniConfig {
        CniConfig {
            plugin_dirs,
            cache: ResultCache::new(cache_dir),
            timeout: None,
        }
    }

    fn invocation(&self, rt: &RuntimeConf) -> Invocation {
        Invocation {
            container_id: rt.container_id.clone(),
            netns: rt.netns.clone(),
            ifname: rt.ifname.clone(),
            args: rt.cni_args(),
            path: self.plugin_dirs.clone(),
        }
    }

    /// The request for one plugin of `list`: its object plus `name`, `cniVersion`,
    /// `runtimeConfig` (filtered by its capabilities) and `prevResult` (libcni's buildOneConfig).
    pub fn request_config(
        list: &NetConfList,
        version: SpecVersion,
        plugin: &Map<String, Value>,
        capability_args: &Map<String, Value>,
        prev_result: Option<&CniResult>,
    ) -> Result<Vec<u8>, RuntimeError> {
        let mut obj = plugin.clone();
        obj.insert("name".into(), list.name.clone().into());
        obj.insert("cniVersion".into(), version.as_str().into());
        let caps = plugin.get("capabilities").and_then(Value::as_object);
        let rc = runtime_config_for(caps, capability_args);
        if !rc.is_empty() {
            obj.insert("runtimeConfig".into(), Value::Object(rc));
        }
        if let Some(prev) = prev_result {
            obj.insert("prevResult".into(), prev.convert_to(version)?.to_value());
        }
        Ok(serde_json::to_vec(&obj).expect("config serializes"))
    }

    fn validate_attachment(list: &NetConfList, rt: &RuntimeConf) -> Result<(), RuntimeError> {
        list.validate()?;
        validate_container_id(&rt.container_id).map_err(RuntimeError::Attachment)?;
        validate_ifname(&rt.ifname).map_err(RuntimeError::Attachment)?;
        Ok(())
    }

    fn run_plugin(
        &self,
        plugin: &Map<String, Value>,
        command: Command,
        inv: &Invocation,
        stdin: &[u8],
    ) -> Result<Vec<u8>, RuntimeError> {
        let name = plugin_type(plugin);
        let wrap = |source| RuntimeError::Plugin {
            plugin: name.to_string(),
            command,
            source: Box::new(source),
        };
        let path = find_in_path(name, &self.plugin_dirs).map_err(wrap)?;
        invoke::exec(&path, command, inv, stdin, self.timeout).map_err(wrap)
    }

    /// ADD: every plugin front to back, each getting the previous result; the final result is
    /// cached and returned. A failure stops the chain; the runtime must still call DEL (RT-4).
    pub fn add_network_list(
        &self,
        list: &NetConfList,
        rt: &RuntimeConf,
    ) -> Result<CniResult, RuntimeError> {
        Self::validate_attachment(list, rt)?;
        let version = list.negotiated_version()?;
        let inv = self.invocation(rt);
        let mut prev: Option<CniResult> = None;
        for plugin in list.plugins() {
            let stdin =
                Self::request_config(list, version, plugin, &rt.capability_args, prev.as_ref())?;
            let out = self.run_plugin(plugin, Command::Add, &inv, &stdin)?;
            let result =
                CniResult::parse(&out, Some(version)).map_err(|e| RuntimeError::Plugin {
                    plugin: plugin_type(plugin).to_string(),
                    command: Command::Add,
                    source: Box::new(InvokeError::BadOutput {
                        path: PathBuf::from(plugin_type(plugin)),
                        reason: e.to_string(),
                    }),
                })?;
            prev = Some(result);
        }
        let result = prev.ok_or(crate::config::ConfigError::NoPlugins)?;
        let mut entry = CachedAttachment::new(&list.name, &rt.container_id, &rt.ifname);
        entry.config = serde_json::to_vec(list).expect("list serializes");
        entry.netns = rt.netns.clone();
        entry.cni_args = rt
            .args
            .iter()
            .map(|(k, v)| [k.clone(), v.clone()])
            .collect();
        entry.capability_args = rt.capability_args.clone();
        entry.result = Some(result.to_value());
        self.cache.write(&entry).map_err(RuntimeError::Cache)?;
        Ok(result)
    }

    /// The cached final ADD result of an attachment.
    pub fn cached_result(&self, list: &NetConfList, rt: &RuntimeConf) -> Option<CniResult> {
        let entry = self.cache.read(&list.name, &rt.container_id, &rt.ifname)?;
        CniResult::from_value(entry.result?, None).ok()
    }

    /// CHECK: skipped when `disableCheck` (CFG-4); otherwise every plugin front to back with
    /// the cached result as `prevResult` (RT-10).
    pub fn check_network_list(
        &self,
        list: &NetConfList,
        rt: &RuntimeConf,
    ) -> Result<(), RuntimeError> {
        Self::validate_attachment(list, rt)?;
        let version = list.negotiated_version()?;
        if !version.has_check() {
            return Err(RuntimeError::VerbUnsupported {
                version,
                command: Command::Check,
            });
        }
        if list.disable_check {
            return Ok(());
        }
        let cached = self
            .cached_result(list, rt)
            .ok_or_else(|| RuntimeError::NotCached {
                network: list.name.clone(),
                container_id: rt.container_id.clone(),
                ifname: rt.ifname.clone(),
            })?;
        let inv = self.invocation(rt);
        for plugin in list.plugins() {
            let stdin =
                Self::request_config(list, version, plugin, &rt.capability_args, Some(&cached))?;
            self.run_plugin(plugin, Command::Check, &inv, &stdin)?;
        }
        Ok(())
    }

    /// DEL: every plugin back to front, with the cached result as `prevResult` from 0.4.0 on
    /// (DEL-2); the cache entry is removed after success (DEL-12).
    pub fn del_network_list(
        &self,
        list: &NetConfList,
        rt: &RuntimeConf,
    ) -> Result<(), RuntimeError> {
        Self::validate_attachment(list, rt)?;
        let version = list.negotiated_version()?;
        let cached = if version.has_check() {
            self.cached_result(list, rt)
        } else {
            None
        };
        let inv = self.invocation(rt);
        for plugin in list.plugins().iter().rev() {
            let stdin =
                Self::request_config(list, version, plugin, &rt.capability_args, cached.as_ref())?;
            self.run_plugin(plugin, Command::Del, &inv, &stdin)?;
        }
        self.cache
            .remove(&list.name, &rt.container_id, &rt.ifname)
            .map_err(RuntimeError::Cache)
    }

    /// GC: skipped when `disableGC` (CFG-5). Cached attachments not in `valid` are DELed with
    /// their cached parameters; then, from 1.1.0 on, every plugin gets GC with the valid
    /// attachments under both keys, `cni.dev/valid-attachments` and the name spec 1.1.0 first
    /// gave it, `cni.dev/attachments` (as libcni does).
    pub fn gc_network_list(
        &self,
        list: &NetConfList,
        valid: Option<&[Attachment]>,
    ) -> Result<(), RuntimeError> {
        list.validate()?;
        if list.disable_gc {
            return Ok(());
        }
        let version = list.negotiated_version()?;
        let mut first_error = None;
        if let Some(valid) = valid {
            for stale in self.cache.list(&list.name).into_iter().filter(|e| {
                !valid
                    .iter()
                    .any(|v| v.container_id == e.container_id && v.ifname == e.if_name)
            }) {
                let rt = RuntimeConf {
                    container_id: stale.container_id.clone(),
                    netns: stale.netns.clone(),
                    ifname: stale.if_name.clone(),
                    args: stale
                        .cni_args
                        .iter()
                        .map(|[k, v]| (k.clone(), v.clone()))
                        .collect(),
                    capability_args: stale.capability_args.clone(),
                };
                let cached_list = crate::config::from_json::<NetConfList>(&stale.config)
                    .unwrap_or_else(|_| list.clone());
                if let Err(e) = self.del_network_list(&cached_list, &rt) {
                    first_error.get_or_insert(e);
                }
            }
        }
        if version.has_status_and_gc() {
            let inv = Invocation {
                path: self.plugin_dirs.clone(),
                ..Invocation::default()
            };
            let attachments = serde_json::to_value(valid.unwrap_or_default()).expect("serializes");
            for plugin in list.plugins() {
                let mut obj: Map<String, Value> = serde_json::from_slice(&Self::request_config(
                    list,
                    version,
                    plugin,
                    &Map::new(),
                    None,
                )?)
                .expect("round trip");
                if valid.is_some() {
                    obj.insert(VALID_ATTACHMENTS_KEY.into(), attachments.clone());
                    obj.insert(LEGACY_ATTACHMENTS_KEY.into(), attachments.clone());
                }
                let stdin = serde_json::to_vec(&obj).expect("serializes");
                if let Err(e) = self.run_plugin(plugin, Command::Gc, &inv, &stdin) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// STATUS: from 1.1.0 on, every plugin in order; the first failure is the answer.
    pub fn status_network_list(&self, list: &NetConfList) -> Result<(), RuntimeError> {
        list.validate()?;
        let version = list.negotiated_version()?;
        if !version.has_status_and_gc() {
            return Ok(());
        }
        let inv = Invocation {
            path: self.plugin_dirs.clone(),
            ..Invocation::default()
        };
        for plugin in list.plugins() {
            let stdin = Self::request_config(list, version, plugin, &Map::new(), None)?;
            self.run_plugin(plugin, Command::Status, &inv, &stdin)?;
        }
        Ok(())
    }

    /// Cached attachments of a network, e.g. to build the GC list.
    pub fn cached_attachments(&self, network: &str) -> Vec<Attachment> {
        self.cache
            .list(network)
            .into_iter()
            .filter(|e| is_valid_identifier(&e.container_id))
            .map(|e| Attachment {
                container_id: e.container_id,
                ifname: e.if_name,
            })
            .collect()
    }
}

fn plugin_type(plugin: &Map<String, Value>) -> &str {
    plugin.get("type").and_then(Value::as_str).unwrap_or("")
}
