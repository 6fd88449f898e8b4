//! Network configuration: the plugin request object ([`NetConf`]) and the network
//! configuration list ([`NetConfList`]), with the validation rules of the spec.
//!
//! Plugin-specific keys are kept intact in `extra` (CFG-14), so a runtime forwards them
//! untouched and a plugin can read its own keys from the same bytes with its own struct.
//! Parsing is pure; loading files from a directory lives in [`crate::runtime::confdir`].

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::json_text::may_hold_surrogate_escape;
use crate::result::Dns;
use crate::version::{self, SpecVersion};

/// Reads `bytes`, JSON text, into `T`. serde_json checks two things only in the strings it
/// keeps: that the text is UTF-8 (RFC 8259), and that a `\u` escape of a UTF-16 surrogate is
/// one half of a pair. Inside a field it skips (an unknown key of a typed object) either would
/// pass, and the same bytes read as a `serde_json::Value` (as plugins read their own keys)
/// would not. So the text is checked whole for UTF-8, and text that may hold a surrogate
/// escape is read as a `Value` first.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ConfigError::Json(format!("the configuration is not UTF-8: {e}")))?;
    if may_hold_surrogate_escape(bytes) {
        serde_json::from_str::<Value>(text).map_err(|e| ConfigError::Json(e.to_string()))?;
    }
    serde_json::from_str(text).map_err(|e| ConfigError::Json(e.to_string()))
}

/// The `ipam` object of a plugin configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConf {
    /// The IPAM plugin's executable name.
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    /// Every other key, for the IPAM plugin to read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `cni.dev/valid-attachments` entry of a GC request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(rename = "containerID")]
    /// `containerID` of the attachment.
    pub container_id: String,
    /// `ifname` of the attachment.
    pub ifname: String,
}

/// The key under which GC requests list the attachments still in use.
pub const VALID_ATTACHMENTS_KEY: &str = "cni.dev/valid-attachments";
/// The key first used for the same purpose in 1.1.0 drafts; libcni still sends it too.
pub const LEGACY_ATTACHMENTS_KEY: &str = "cni.dev/attachments";

/// A plugin's request configuration: one plugin object plus what the runtime adds
/// (`name`, `cniVersion`, `runtimeConfig`, `prevResult`, GC attachments).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetConf {
    #[serde(rename = "cniVersion", default)]
    /// `cniVersion`: the spec version of the request.
    pub cni_version: String,
    #[serde(default)]
    /// `name`: the network's name.
    pub name: String,
    #[serde(rename = "type", default)]
    /// `type`: the plugin's executable name.
    pub plugin_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `capabilities`: the capability arguments the plugin object accepts.
    pub capabilities: Option<BTreeMap<String, bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `ipam`: the IPAM plugin to delegate addresses to.
    pub ipam: Option<IpamConf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `dns`: DNS settings for the container.
    pub dns: Option<Dns>,
    /// Free-form metadata; see [`crate::conventions::ArgsCni`] for the `args.cni` convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// Capability arguments from the runtime; see [`crate::conventions::RuntimeConfig`].
    #[serde(
        rename = "runtimeConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_config: Option<Value>,
    /// The previous plugin's result, decoded per version with [`crate::CniResult::from_value`].
    #[serde(
        rename = "prevResult",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_result: Option<Value>,
    #[serde(
        rename = "cni.dev/valid-attachments",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `cni.dev/valid-attachments` of a GC request: the attachments still in use.
    pub valid_attachments: Option<Vec<Attachment>>,
    /// Every key not named above, in input order.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a configuration is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid JSON: {0}")]
    /// The text is not JSON of the expected shape.
    Json(String),
    #[error("missing network name")]
    /// No `name`.
    MissingName,
    #[error("invalid network name {0:?}: must start with a letter or digit and contain only letters, digits, '_', '.' and '-'")]
    /// A `name` that breaks the identifier rule.
    InvalidName(String),
    #[error("missing plugin type")]
    /// No `type`.
    MissingType,
    #[error("invalid plugin type {0:?}: must not contain a path separator")]
    /// A `type` holding a path separator.
    TypeHasPathSeparator(String),
    #[error("missing ipam type")]
    /// An `ipam` object without `type`.
    MissingIpamType,
    #[error("missing cniVersion")]
    /// No `cniVersion`.
    MissingVersion,
    #[error("unsupported cniVersion {0:?}")]
    /// A `cniVersion` that names no spec version.
    UnknownVersion(String),
    #[error("invalid cniVersions entry {0:?}")]
    /// A `cniVersions` entry that is no version.
    InvalidVersionsEntry(String),
    #[error("network configuration list has no plugins")]
    /// A list with an empty `plugins` array.
    NoPlugins,
    #[error("loadOnlyInlinedPlugins is true but the list has no plugins key")]
    /// `loadOnlyInlinedPlugins` without a `plugins` key.
    OnlyInlinedWithoutPlugins,
    #[error("plugin {index}: {reason}")]
    /// A plugin object of the list is invalid.
    BadPlugin {
        /// The plugin's index in `plugins`.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    #[error("invalid value for {key}: {reason}")]
    /// A key has a value of the wrong shape.
    BadKey {
        /// The key.
        key: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

/// The identifier rule shared by network names and container IDs: a letter or digit, then
/// letters, digits, `_`, `.`, `-` (CFG-2, ENV-3).
pub fn is_valid_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Network name rule (CFG-2).
pub fn validate_network_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::MissingName);
    }
    if !is_valid_identifier(name) {
        return Err(ConfigError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Plugin `type` rule (CFG-11): non-empty, no `/` or `\`.
pub fn validate_plugin_type(t: &str) -> Result<(), ConfigError> {
    if t.is_empty() {
        return Err(ConfigError::MissingType);
    }
    if t.contains(['/', '\\']) {
        return Err(ConfigError::TypeHasPathSeparator(t.to_string()));
    }
    Ok(())
}

impl NetConf {
    /// Parses a request configuration (does not validate; see [`NetConf::validate`]).
    pub fn parse(bytes: &[u8]) -> Result<NetConf, ConfigError> {
        from_json(bytes)
    }

    /// Name, type and ipam type rules; the version is checked by whoever knows what it supports.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_network_name(&self.name)?;
        validate_plugin_type(&self.plugin_type)?;
        if let Some(ipam) = &self.ipam {
            // An empty `ipam: {}` means "no IPAM" for several plugins (IPAM-14).
            if !ipam.plugin_type.is_empty() || !ipam.extra.is_empty() {
                if ipam.plugin_type.is_empty() {
                    return Err(ConfigError::MissingIpamType);
                }
                validate_plugin_type(&ipam.plugin_type)?;
            }
        }
        Ok(())
    }

    /// The request's version; a config without one is read as 0.1.0, as libcni and skel do (VER-5).
    pub fn version_str(&self) -> &str {
        if self.cni_version.is_empty() {
            SpecVersion::V0_1_0.as_str()
        } else {
            &self.cni_version
        }
    }

    /// The attachments a GC request says are still valid, under either key (spec 1.1.0 first
    /// named it `cni.dev/attachments`, then renamed it `cni.dev/valid-attachments`; libcni
    /// sends both).
    /// `None` when neither key is present: "no information", remove nothing.
    pub fn gc_valid_attachments(&self) -> Option<Vec<Attachment>> {
        if let Some(v) = &self.valid_attachments {
            return Some(v.clone());
        }
        self.extra
            .get(LEGACY_ATTACHMENTS_KEY)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Whether `ipam` names an IPAM plugin (an empty `ipam: {}` does not).
    pub fn ipam_type(&self) -> Option<&str> {
        self.ipam
            .as_ref()
            .map(|i| i.plugin_type.as_str())
            .filter(|t| !t.is_empty())
    }
}

/// A flag of the list that libcni accepts as a boolean or the string "true"/"false" (CFG-6).
fn flexible_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean or \"true\"/\"false\", got {other}"
        ))),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A network configuration list (a `.conflist` file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetConfList {
    #[serde(rename = "cniVersion", default)]
    /// `cniVersion`: the list's spec version.
    pub cni_version: String,
    #[serde(
        rename = "cniVersions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `cniVersions`: versions the list supports (1.1.0); the highest one supported is used.
    pub cni_versions: Option<Vec<String>>,
    #[serde(default)]
    /// `name`: the network's name.
    pub name: String,
    #[serde(
        rename = "disableCheck",
        default,
        deserialize_with = "flexible_bool",
        skip_serializing_if = "is_false"
    )]
    /// `disableCheck`: the runtime must not run CHECK for this list.
    pub disable_check: bool,
    #[serde(
        rename = "disableGC",
        default,
        deserialize_with = "flexible_bool",
        skip_serializing_if = "is_false"
    )]
    /// `disableGC`: the runtime must not run GC for this list (1.1.0).
    pub disable_gc: bool,
    #[serde(
        rename = "loadOnlyInlinedPlugins",
        default,
        deserialize_with = "flexible_bool",
        skip_serializing_if = "is_false"
    )]
    /// `loadOnlyInlinedPlugins`: plugins come only from `plugins`, not from a directory (1.1.0).
    pub load_only_inlined_plugins: bool,
    /// Plugin objects, kept as raw JSON objects so unknown keys are forwarded untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<Map<String, Value>>>,
    #[serde(flatten)]
    /// Every key not named above, in input order.
    pub extra: Map<String, Value>,
}

impl NetConfList {
    /// Parses and validates a list.
    pub fn parse(bytes: &[u8]) -> Result<NetConfList, ConfigError> {
        let list: NetConfList = from_json(bytes)?;
        list.validate()?;
        Ok(list)
    }

    /// Lifts a single-plugin configuration (`.conf`) into a one-plugin list, as libcni does.
    pub fn from_single(bytes: &[u8]) -> Result<NetConfList, ConfigError> {
        let conf: Map<String, Value> = from_json(bytes)?;
        let text = |k: &str| {
            conf.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let list = NetConfList {
            cni_version: text("cniVersion"),
            name: text("name"),
            plugins: Some(vec![conf]),
            ..NetConfList::default()
        };
        list.validate()?;
        Ok(list)
    }

    /// The rules of CFG-1/2/8/10/11 and VER-1/3.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_network_name(&self.name)?;
        self.negotiated_version()?;
        match &self.plugins {
            None if self.load_only_inlined_plugins => {
                return Err(ConfigError::OnlyInlinedWithoutPlugins)
            }
            None => {}
            Some(p) if p.is_empty() => return Err(ConfigError::NoPlugins),
            Some(plugins) => {
                for (index, p) in plugins.iter().enumerate() {
                    validate_plugin_object(p).map_err(|e| ConfigError::BadPlugin {
                        index,
                        reason: e.to_string(),
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The version a runtime sends: the highest supported of `cniVersion` and `cniVersions`.
    pub fn negotiated_version(&self) -> Result<SpecVersion, ConfigError> {
        if self.cni_version.is_empty() && self.cni_versions.is_none() {
            return Err(ConfigError::MissingVersion);
        }
        version::negotiate(&self.cni_version, self.cni_versions.as_deref()).map_err(|e| {
            if self.cni_versions.iter().flatten().any(|v| *v == e.0) {
                ConfigError::InvalidVersionsEntry(e.0)
            } else {
                ConfigError::UnknownVersion(e.0)
            }
        })
    }

    /// The plugin objects (empty when there are none).
    pub fn plugins(&self) -> &[Map<String, Value>] {
        self.plugins.as_deref().unwrap_or_default()
    }
}

/// Checks one plugin object of a list: a string `type` without path separators, a boolean
/// `capabilities` map, an `ipam.type` without path separators.
pub fn validate_plugin_object(p: &Map<String, Value>) -> Result<(), ConfigError> {
    match p.get("type") {
        Some(Value::String(t)) => validate_plugin_type(t)?,
        _ => return Err(ConfigError::MissingType),
    }
    if let Some(caps) = p.get("capabilities") {
        let ok = caps
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_boolean));
        if !ok {
            return Err(ConfigError::BadKey {
                key: "capabilities",
                reason: "must be an object of booleans".into(),
            });
        }
    }
    if let Some(Value::Object(ipam)) = p.get("ipam") {
        if let Some(t) = ipam.get("type") {
            let t = t.as_str().ok_or(ConfigError::MissingIpamType)?;
            if !t.is_empty() {
                validate_plugin_type(t)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte that is no UTF-8 inside a key the typed reading skips (an attachment's unknown
    /// key) is refused, as reading the text as a `Value` refuses it; found by the
    /// `plugin_plan` fuzz target, where dhcp's GC went to the default daemon socket because
    /// its own reading of the same stdin failed.
    #[test]
    fn text_that_is_not_utf8_is_refused_even_in_a_skipped_key() {
        let good: &[u8] = b"{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\",\"cni.dev/valid-attachments\":[{\"containerID\":\"c\",\"ifname\":\"e\",\"mac\":\"x\"}]}";
        let bad = [&good[..good.len() - 5], b"\x8a\"}]}".as_slice()].concat();
        assert!(serde_json::from_slice::<Value>(&bad).is_err());
        assert!(NetConf::parse(good).is_ok());
        let err = NetConf::parse(&bad).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        let list = [
            b"{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"plugins\":[".as_slice(),
            &bad,
            b"]}",
        ]
        .concat();
        assert!(NetConfList::parse(&list).is_err());
    }

    /// A lone UTF-16 surrogate escape in a key the typed reading skips is refused, as reading
    /// the text as a `Value` refuses it; a whole pair, and the same letters after an escaped
    /// backslash, are text.
    #[test]
    fn a_lone_surrogate_escape_is_refused_even_in_a_skipped_key() {
        let conf = |mac_key: &str| {
            format!(
                r#"{{"cniVersion":"1.1.0","name":"n","type":"t","cni.dev/valid-attachments":[{{"containerID":"c","ifname":"e","{mac_key}":"x"}}]}}"#
            )
        };
        for lone in [r"m\uD800", r"m\udfff", r"\uDBFFx"] {
            let text = conf(lone);
            assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
            assert!(NetConf::parse(text.as_bytes()).is_err(), "{text}");
        }
        for fine in [r"m\uD83D\uDE00", r"m\\uD800", r"m\u00e9"] {
            let text = conf(fine);
            assert!(NetConf::parse(text.as_bytes()).is_ok(), "{text}");
        }
    }

    #[test]
    fn unknown_keys_are_kept_in_order() {
        let c = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","type":"bridge","zeta":1,"alpha":{"x":[1,2]}}"#,
        )
        .unwrap();
        let keys: Vec<_> = c.extra.keys().collect();
        assert_eq!(keys, ["zeta", "alpha"]);
        let back: Value = serde_json::to_value(&c).unwrap();
        assert_eq!(back["alpha"]["x"][1], 2);
    }

    #[test]
    fn huge_numbers_round_trip_exactly() {
        // Found by the config fuzz target: without serde_json's float_roundtrip this changed.
        let text = format!(r#"{{"name":"n","type":"t","k":{}}}"#, "3".repeat(87));
        let c = NetConf::parse(text.as_bytes()).unwrap();
        let again = NetConf::parse(&serde_json::to_vec(&c).unwrap()).unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn list_flags_accept_strings() {
        let l = NetConfList::parse(
            br#"{"cniVersion":"1.1.0","name":"n","disableCheck":"TRUE","plugins":[{"type":"x"}]}"#,
        )
        .unwrap();
        assert!(l.disable_check);
        assert!(NetConfList::parse(
            br#"{"cniVersion":"1.1.0","name":"n","disableCheck":1,"plugins":[{"type":"x"}]}"#
        )
        .is_err());
    }

    #[test]
    fn gc_attachments_under_either_key() {
        let c = NetConf::parse(
            br#"{"name":"n","type":"t","cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}"#,
        )
        .unwrap();
        assert_eq!(c.gc_valid_attachments().unwrap()[0].container_id, "a");
        let none = NetConf::parse(br#"{"name":"n","type":"t"}"#).unwrap();
        assert_eq!(none.gc_valid_attachments(), None);
    }
}
