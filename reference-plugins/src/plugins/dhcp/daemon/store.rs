//! The daemon's leases on disk, so that they survive a restart: one JSON file per lease in
//! the state directory (default [`DEFAULT_STATE_DIR`]), named by the SHA-256 of the client
//! identifier text, written atomically (temporary file, fsync, rename, fsync of the
//! directory) whenever a lease is granted or extended, removed when it is released, expires
//! or its attachment goes away. Files that cannot be read as a lease are left alone and
//! reported.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::packet::LeaseInfo;
use super::packet6::Lease6Info;
use crate::plugins::dhcp::protocol::{AttachmentKey, ProvidedOption};

/// Where leases are kept unless `-statedir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cni/dhcp";

/// Version of the file format.
pub const FORMAT_VERSION: u32 = 1;

/// One lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLease {
    pub format: u32,
    pub attachment: AttachmentKey,
    /// `CNI_NETNS` as the plugin gave it (without the daemon's host prefix).
    pub netns: String,
    pub mac: [u8; 6],
    pub request: Vec<u8>,
    pub provide: Vec<ProvidedOption>,
    pub priority: Option<u32>,
    pub info: LeaseInfo,
    /// When the lease was granted or last extended (seconds since the epoch).
    pub granted_at: u64,
}

impl StoredLease {
    /// Seconds since the epoch at which the lease ends.
    pub fn expires_at(&self) -> u64 {
        self.granted_at + u64::from(self.info.lease_secs)
    }
}

/// One DHCPv6 lease as stored (file `<hash>.v6.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLease6 {
    pub format: u32,
    pub attachment: AttachmentKey,
    pub netns: String,
    pub info: Lease6Info,
    pub granted_at: u64,
}

impl StoredLease6 {
    pub fn expires_at(&self) -> u64 {
        self.granted_at + u64::from(self.info.valid_secs)
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Creates the directory (mode 0700) if needed.
    pub fn open(dir: &Path) -> std::io::Result<Store> {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    fn path_of(&self, key: &AttachmentKey) -> PathBuf {
        self.path_with(key, "json")
    }

    fn path_of6(&self, key: &AttachmentKey) -> PathBuf {
        self.path_with(key, "v6.json")
    }

    fn path_with(&self, key: &AttachmentKey, ext: &str) -> PathBuf {
        let digest = Sha256::digest(key.client_id_text().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.{ext}"))
    }

    /// Writes `lease` atomically, replacing any earlier version.
    pub fn save(&self, lease: &StoredLease) -> std::io::Result<()> {
        self.write_atomically(&self.path_of(&lease.attachment), lease)
    }

    /// Writes a DHCPv6 lease atomically.
    pub fn save6(&self, lease: &StoredLease6) -> std::io::Result<()> {
        self.write_atomically(&self.path_of6(&lease.attachment), lease)
    }

    /// Removes the DHCPv6 lease of `key`; success when there is none.
    pub fn remove6(&self, key: &AttachmentKey) -> std::io::Result<()> {
        match fs::remove_file(self.path_of6(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every readable DHCPv6 lease.
    pub fn load_all6(&self) -> Vec<StoredLease6> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".v6.json"))
            .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() < 1 << 20))
            .filter_map(|p| {
                let l: StoredLease6 = serde_json::from_slice(&fs::read(&p).ok()?).ok()?;
                (l.format == FORMAT_VERSION && p == self.path_of6(&l.attachment)).then_some(l)
            })
            .collect()
    }

    fn write_atomically<T: Serialize>(&self, path: &Path, lease: &T) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = path.to_path_buf();
        let tmp = path.with_extension("json.tmp");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(lease).expect("a lease serializes"))?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path)?;
        fs::File::open(&self.dir)?.sync_all()
    }

    /// Removes the lease of `key`; success when there is none.
    pub fn remove(&self, key: &AttachmentKey) -> std::io::Result<()> {
        match fs::remove_file(self.path_of(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every readable lease, and a description of each file that is not one.
    pub fn load_all(&self) -> (Vec<StoredLease>, Vec<String>) {
        let mut leases = Vec::new();
        let mut problems = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return (leases, problems);
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json")
                || path.to_string_lossy().ends_with(".v6.json")
            {
                continue;
            }
            let read = fs::symlink_metadata(&path)
                .ok()
                .filter(|m| m.is_file() && m.len() < 1 << 20)
                .and_then(|_| fs::read(&path).ok());
            match read.map(|b| serde_json::from_slice::<StoredLease>(&b)) {
                Some(Ok(l))
                    if l.format == FORMAT_VERSION && path == self.path_of(&l.attachment) =>
                {
                    leases.push(l)
                }
                Some(Ok(_)) => {
                    problems.push(format!("{}: not a lease of this format", path.display()))
                }
                Some(Err(e)) => problems.push(format!("{}: {e}", path.display())),
                None => problems.push(format!("{}: not a readable regular file", path.display())),
            }
        }
        (leases, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn lease(id: &str) -> StoredLease {
        StoredLease {
            format: FORMAT_VERSION,
            attachment: AttachmentKey {
                container_id: id.into(),
                network: "n".into(),
                ifname: "eth0".into(),
            },
            netns: "/run/netns/x".into(),
            mac: [2, 0, 0, 0, 0, 1],
            request: vec![1, 3],
            provide: vec![],
            priority: Some(3),
            info: LeaseInfo {
                address: Ipv4Addr::new(10, 0, 0, 5),
                prefix_len: 24,
                server_id: Ipv4Addr::new(10, 0, 0, 1),
                routers: vec![],
                classless_routes: vec![],
                static_routes: vec![],
                dns_servers: vec![],
                domain_name: None,
                domain_search: vec![],
                lease_secs: 60,
                t1_secs: 30,
                t2_secs: 50,
            },
            granted_at: 1000,
        }
    }

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        store.save(&lease("a")).unwrap();
        store.save(&lease("b")).unwrap();
        let mut changed = lease("a");
        changed.granted_at = 2000;
        store.save(&changed).unwrap();
        fs::write(dir.path().join("s/junk.json"), b"{").unwrap();
        let (mut leases, problems) = store.load_all();
        leases.sort_by(|x, y| x.attachment.container_id.cmp(&y.attachment.container_id));
        assert_eq!(leases, vec![changed, lease("b")]);
        assert_eq!(problems.len(), 1);
        store.remove(&lease("a").attachment).unwrap();
        store.remove(&lease("a").attachment).unwrap();
        assert_eq!(store.load_all().0, vec![lease("b")]);
    }
}
