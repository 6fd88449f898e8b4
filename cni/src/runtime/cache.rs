//! The on-disk result cache, in libcni's format (RT-6): one JSON file per attachment at
//! `<cache dir>/results/<network>-<container id>-<ifname>` with `kind: "cniCacheV1"`, written
//! atomically (temporary file, fsync, rename) with mode 0600 in a 0700 directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const KIND: &str = "cniCacheV1";

/// One cached attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAttachment {
    /// `kind`: always `cniCacheV1`.
    pub kind: String,
    #[serde(rename = "containerId")]
    /// `containerId`.
    pub container_id: String,
    /// The network configuration list, base64 as Go encodes `[]byte`.
    #[serde(with = "b64")]
    pub config: Vec<u8>,
    #[serde(rename = "ifName")]
    /// `ifName`.
    pub if_name: String,
    #[serde(rename = "networkName")]
    /// `networkName`.
    pub network_name: String,
    #[serde(rename = "netns", default)]
    /// `netns`: the namespace path of the ADD.
    pub netns: String,
    #[serde(rename = "cniArgs", default, skip_serializing_if = "Vec::is_empty")]
    /// `cniArgs`: the `CNI_ARGS` pairs of the ADD.
    pub cni_args: Vec<[String; 2]>,
    #[serde(
        rename = "capabilityArgs",
        default,
        skip_serializing_if = "Map::is_empty"
    )]
    /// `capabilityArgs`: the capability arguments of the ADD.
    pub capability_args: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `result`: the list's ADD result, for CHECK and DEL's `prevResult`.
    pub result: Option<Value>,
}

mod b64 {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

impl CachedAttachment {
    /// An entry for one attachment, with no config, arguments or result yet.
    pub fn new(network: &str, container_id: &str, ifname: &str) -> CachedAttachment {
        CachedAttachment {
            kind: KIND.to_string(),
            container_id: container_id.to_string(),
            config: Vec::new(),
            if_name: ifname.to_string(),
            network_name: network.to_string(),
            netns: String::new(),
            cni_args: Vec::new(),
            capability_args: Map::new(),
            result: None,
        }
    }
}

/// The cache directory of a runtime.
#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
}

impl ResultCache {
    /// A cache under `cache_dir` (entries in its `results/`).
    pub fn new(cache_dir: impl Into<PathBuf>) -> ResultCache {
        ResultCache {
            dir: cache_dir.into(),
        }
    }

    fn results_dir(&self) -> PathBuf {
        self.dir.join("results")
    }

    /// The file of one attachment. The parts were validated as identifiers before use, so
    /// they cannot escape the directory.
    pub fn path(&self, network: &str, container_id: &str, ifname: &str) -> PathBuf {
        self.results_dir()
            .join(format!("{network}-{container_id}-{ifname}"))
    }

    /// Writes the entry atomically (a temporary file renamed over the old one).
    pub fn write(&self, entry: &CachedAttachment) -> std::io::Result<()> {
        let dir = self.results_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let target = self.path(&entry.network_name, &entry.container_id, &entry.if_name);
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            target.file_name().unwrap_or_default().to_string_lossy()
        ));
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// The entry of one attachment; `None` when absent or unreadable.
    pub fn read(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Option<CachedAttachment> {
        read_entry(&self.path(network, container_id, ifname))
    }

    /// Removes an attachment's entry; a missing one is no error.
    pub fn remove(&self, network: &str, container_id: &str, ifname: &str) -> std::io::Result<()> {
        match fs::remove_file(self.path(network, container_id, ifname)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every readable entry of `network`.
    pub fn list(&self, network: &str) -> Vec<CachedAttachment> {
        let Ok(dir) = fs::read_dir(self.results_dir()) else {
            return Vec::new();
        };
        let prefix = format!("{network}-");
        let mut out: Vec<CachedAttachment> = dir
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .filter_map(|e| read_entry(&e.path()))
            .filter(|e| e.network_name == network)
            .collect();
        out.sort_by(|a, b| (&a.container_id, &a.if_name).cmp(&(&b.container_id, &b.if_name)));
        out
    }
}

fn read_entry(path: &Path) -> Option<CachedAttachment> {
    let bytes = fs::read(path).ok()?;
    let entry: CachedAttachment = serde_json::from_slice(&bytes).ok()?;
    (entry.kind == KIND).then_some(entry)
}
