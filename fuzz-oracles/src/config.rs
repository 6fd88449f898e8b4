//! A plugin request configuration from untrusted bytes: parsing, the validation rules, the
//! accessors and the typed conventions must never panic, and whatever parses must survive a
//! serialize/parse round trip unchanged.

use cni::config::NetConf;
use cni::conventions::{ArgsCni, RuntimeConfig};

/// The oracle of the `config` target.
pub fn config(data: &[u8]) {
    let Ok(conf) = NetConf::parse(data) else {
        return;
    };
    let valid = conf.validate();
    let version = conf.version_str();
    assert!(!version.is_empty(), "version_str is never empty");
    let _ = conf.ipam_type();
    let attachments = conf.gc_valid_attachments();
    let runtime = RuntimeConfig::from_conf(&conf);
    let args = ArgsCni::from_conf(&conf);

    let bytes = serde_json::to_vec(&conf).expect("a parsed NetConf serializes");
    let again = match NetConf::parse(&bytes) {
        Ok(c) => c,
        Err(e) => panic!("re-parse failed: {e}\n{}", String::from_utf8_lossy(&bytes)),
    };
    assert_eq!(conf, again, "round trip changed the config");
    // Everything derived from the config is a function of it, so it agrees too.
    assert_eq!(valid, again.validate());
    assert_eq!(version, again.version_str());
    assert_eq!(attachments, again.gc_valid_attachments());
    assert_eq!(runtime.ok(), RuntimeConfig::from_conf(&again).ok());
    assert_eq!(args.ok(), ArgsCni::from_conf(&again).ok());
}
