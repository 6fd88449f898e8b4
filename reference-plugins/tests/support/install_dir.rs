//! What the installer tests (`shipping.rs` for `scripts/install.sh`, `installer.rs` for
//! `cni-rs-plugins install`) look at in an install directory: every entry's state, the
//! temporary files an install must not leave, and a "new build" of the multicall binary.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The multicall binary cargo built for these tests.
pub const MULTICALL: &str = env!("CARGO_BIN_EXE_cni-rs-plugins");

/// An entry's inode, size, mtime (seconds, nanoseconds), mode and content hash (empty for
/// anything but a regular file).
pub type EntryState = (u64, u64, i64, i64, u32, String);

/// Every entry of `dir` (links not followed) with what a write would change; files sharing an
/// inode are hashed once.
pub fn state(dir: &Path) -> BTreeMap<String, EntryState> {
    let mut hashes: BTreeMap<u64, String> = BTreeMap::new();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let hash = if m.is_file() {
                hashes
                    .entry(m.ino())
                    .or_insert_with(|| sha256_hex(&std::fs::read(e.path()).unwrap()))
                    .clone()
            } else {
                String::new()
            };
            (
                e.file_name().into_string().unwrap(),
                (m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.mode(), hash),
            )
        })
        .collect()
}

/// SHA-256 of `bytes` in lowercase hex, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The installers' temporary files left in `dir` (anything `.cni-rs-*` but the manifest).
pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".cni-rs-") && n != ".cni-rs-installed")
        .collect()
}

/// A copy of the multicall binary with `pad` zero bytes appended: still the same program, with
/// other bytes (a "new build").
pub fn variant(dir: &Path, name: &str, pad: usize) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = std::fs::read(MULTICALL).unwrap();
    bytes.resize(bytes.len() + pad, 0);
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// What a reader saw while a file was replaced: whole reads of the old and of the new
/// contents, and every other read (its length, or minus the errno of a failed one).
pub struct Reads {
    pub olds: u32,
    pub news: u32,
    pub torn: Vec<i64>,
}

/// Runs `replace` while a thread reads `path` in a loop, as a runtime executing a plugin
/// opens it: the replacement starts once the reader has read `old` whole, and the reader stops
/// once it has read `new` whole (each wait at most 30 s: a read of a 90 MB debug binary takes a
/// while under load).
pub fn replace_under_reader<T>(
    path: &Path,
    old: Vec<u8>,
    new: Vec<u8>,
    replace: impl FnOnce() -> T,
) -> (T, Reads) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let stop = Arc::new(AtomicBool::new(false));
    let (saw_old, saw_new) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let reader = {
        let (stop, saw_old, saw_new) = (stop.clone(), saw_old.clone(), saw_new.clone());
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let mut reads = Reads {
                olds: 0,
                news: 0,
                torn: Vec::new(),
            };
            while !stop.load(Ordering::Relaxed) {
                match std::fs::read(&path) {
                    Ok(b) if b == old => {
                        reads.olds += 1;
                        saw_old.store(true, Ordering::Relaxed);
                    }
                    Ok(b) if b == new => {
                        reads.news += 1;
                        saw_new.store(true, Ordering::Relaxed);
                    }
                    Ok(b) => reads.torn.push(b.len() as i64),
                    Err(e) => reads.torn.push(-(e.raw_os_error().unwrap_or(0) as i64)),
                }
            }
            reads
        })
    };
    let wait_for = |flag: &AtomicBool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(&saw_old);
    let out = replace();
    wait_for(&saw_new);
    stop.store(true, Ordering::Relaxed);
    (out, reader.join().unwrap())
}

/// What an install into `dir` must leave: exactly `names` and the manifest (not the multicall
/// binary's own name), every name a hard link of one binary with mode 0755.
pub fn assert_one_binary_under_every_name(dir: &Path, names: &[String]) {
    let inode = std::fs::metadata(dir.join(&names[0])).unwrap().ino();
    for name in names {
        let m = std::fs::metadata(dir.join(name)).unwrap();
        assert_eq!(m.ino(), inode, "{name} is a hard link of the one binary");
        assert_eq!(m.mode() & 0o777, 0o755, "{name}");
    }
    let mut entries: Vec<String> = state(dir).into_keys().collect();
    entries.sort();
    let mut expected = names.to_vec();
    expected.push(".cni-rs-installed".into());
    expected.sort();
    assert_eq!(entries, expected, "only the plugin names and the manifest");
}
