//! The harness's base config reading (`harness::target::BaseConfig::parse`: a single plugin
//! config or a list, the `x-conformance` key and its attachment patch) and an
//! `--attachment-patch` given inline, on untrusted text.
//!
//! Input: the base config's text, then optionally a NUL and an inline attachment patch
//! argument. The tested plugin's file is `bridge`.
//!
//! Never panics. An accepted config gives the runner what it relies on: the network name is
//! the top-level `name`; the plugin never sees the harness's key (in no plugin object, the
//! prelude's included); a list's tested object is the one whose `type` names the plugin (else
//! the last) with the plugins before it as the prelude; `cniVersion` is kept as written. An
//! accepted attachment patch is an object that leaves `cniVersion`, `name` and `type` alone,
//! applying it is idempotent (RFC 7386) and leaves the main attachment's request untouched.

use std::path::Path;

use harness::target::{merge_patch, AttachmentPatch, BaseConfig, CONFIG_KEY, PRIMARY_ATTACHMENT};
use serde_json::{Map, Value};

const PLUGIN: &str = "bridge";

/// The oracle of the `harness_target` target.
pub fn harness_target(data: &[u8]) {
    let (config, arg) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(crate::utf8_prefix(&data[i + 1..]))),
        None => (data, None),
    };
    let base = BaseConfig::parse(config, PLUGIN, Path::new("fuzz.json"));
    // An inline patch only (anything else names a file to read).
    let inline = arg
        .filter(|a| a.trim_start().starts_with('{'))
        .and_then(|a| AttachmentPatch::from_arg(a).ok());
    if let Some(p) = &inline {
        patch_invariants(p, None);
    }
    let Ok(base) = base else { return };
    let top: Map<String, Value> = serde_json::from_slice(config).expect("accepted, so an object");
    assert_eq!(
        top.get("name").and_then(Value::as_str),
        Some(base.network_name.as_str())
    );
    assert_eq!(
        base.config_version,
        top.get("cniVersion")
            .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
    );
    for obj in base.prelude.iter().chain([&base.plugin_conf]) {
        assert!(
            !obj.contains_key(CONFIG_KEY),
            "the plugin would see {CONFIG_KEY}"
        );
    }
    match top.get("plugins") {
        Some(Value::Array(list)) => {
            let idx = base.prelude.len();
            assert!(idx < list.len());
            assert_eq!(list[idx].as_object(), Some(&base.plugin_conf));
            let named = list.iter().position(|p| p["type"] == PLUGIN);
            assert_eq!(idx, named.unwrap_or(list.len() - 1));
        }
        Some(_) => panic!("a non-list plugins accepted"),
        None => {
            assert!(base.prelude.is_empty());
            for k in ["cniVersion", "name", CONFIG_KEY] {
                assert!(
                    !base.plugin_conf.contains_key(k),
                    "{k} kept in the plugin object"
                );
            }
        }
    }
    if let Some(p) = &base.attachment_patch {
        patch_invariants(p, Some(&base.plugin_conf));
    }
}

/// An accepted patch and what applying it does to a request built from `conf` (a fixed one
/// when `None`).
fn patch_invariants(p: &AttachmentPatch, conf: Option<&Map<String, Value>>) {
    let obj = p.patch.as_object().expect("a patch is an object");
    for k in ["cniVersion", "name", "type", CONFIG_KEY] {
        assert!(!obj.contains_key(k), "a patch changing {k} accepted");
    }
    let mut request = conf.cloned().unwrap_or_default();
    request.insert("cniVersion".into(), "1.1.0".into());
    request.insert("name".into(), "net".into());
    request
        .entry("type")
        .or_insert_with(|| Value::String(PLUGIN.into()));
    let request = Value::Object(request);

    let mut main = request.clone();
    assert!(!p.apply(PRIMARY_ATTACHMENT, &mut main));
    assert_eq!(main, request, "the main attachment's request changed");

    let mut other = request.clone();
    assert!(p.apply("b", &mut other));
    for k in ["cniVersion", "name", "type"] {
        assert_eq!(other.get(k), request.get(k), "the patch changed {k}");
    }
    let mut twice = other.clone();
    merge_patch(&mut twice, &p.patch);
    assert_eq!(twice, other, "applying the patch twice differs from once");
}
