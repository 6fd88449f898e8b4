//! The certification both test styles run: the plugin binary cargo built and its base config.

use std::time::Duration;

/// A certification of `plugin` (a binary of this crate) with the base config a vendor would
/// ship beside it.
pub fn certification(plugin: &str) -> harness::Certification {
    harness::Certification::new(plugin)
        .config_json(serde_json::json!({
            "cniVersion": "1.1.0",
            "name": "vendor-net",
            "type": "bridge",
            "ipam": { "type": "vendor-ipam", "subnet": "10.98.0.0/24" }
        }))
        .timeout(Duration::from_secs(10))
}
