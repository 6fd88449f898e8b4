//! Isolated network namespaces for CNI tests: each [`Netns`] is a fresh namespace bound at
//! `/run/netns/<name>` (usable as `CNI_NETNS` and by `ip -n`), removed again on drop, panics
//! included. Names carry the creating process's PID, so [`sweep`] can remove what a crashed
//! run left behind without touching namespaces of live runs or of anyone else.
//!
//! Work inside a namespace happens on a dedicated thread that has entered it ([`Netns::run`]),
//! so the calling thread never changes namespace; child processes can be started inside one
//! with [`Netns::command`]. [`snapshot`] records and diffs what a namespace holds.
//!
//! The other test environment, the VM lane (`scripts/vm/`), has its host side in the
//! `vm-lane` crate, a dev-dependency of the crates whose tests run in the VM.

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub mod fixtures;
pub mod snapshot;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Where bound namespaces live, as for `ip netns`.
pub const NETNS_DIR: &str = "/run/netns";
/// Prefix of every namespace this crate creates.
pub const PREFIX: &str = "cnirs";

/// Why a namespace could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: std::io::Error,
    },
    #[error("the thread working inside the namespace panicked")]
    ThreadPanicked,
}

fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> SandboxError {
    let what = what.into();
    move |e| SandboxError::Sys {
        what,
        source: std::io::Error::from(e),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Makes [`NETNS_DIR`] a mount point with shared propagation, as `ip netns add` does, once per
/// process. A namespace is bound there in this mount namespace; a process that unshared its
/// own mount namespace earlier as a slave of this one (the harness's DHCP daemon) sees the
/// bind only if the directory is a shared mount. Where `/` is private and nothing has made
/// the directory a mount point yet, as on a fresh machine without systemd, it is not. The
/// directory is locked meanwhile, so that concurrent processes do not stack two binds.
fn share_netns_dir() -> Result<(), SandboxError> {
    static SHARED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if *shared {
        return Ok(());
    }
    let dir = fs::File::open(NETNS_DIR).map_err(|source| SandboxError::Sys {
        what: format!("open {NETNS_DIR}"),
        source,
    })?;
    let _lock = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| sys(format!("lock {NETNS_DIR}"))(e))?;
    let make_shared = || {
        mount(
            None::<&str>,
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match make_shared() {
        Ok(()) => {}
        // EINVAL: not a mount point yet; bound onto itself, it is one.
        Err(nix::Error::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(sys(format!("bind {NETNS_DIR} onto itself")))?;
            make_shared().map_err(sys(format!("make {NETNS_DIR} a shared mount")))?;
        }
        Err(e) => return Err(sys(format!("make {NETNS_DIR} a shared mount"))(e)),
    }
    *shared = true;
    Ok(())
}

/// A network namespace bound at a path; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    path: PathBuf,
}

impl Netns {
    /// Creates a fresh namespace named `cnirs-<pid>-<n>-<label>`, with loopback down as the
    /// kernel makes it.
    pub fn new(label: &str) -> Result<Netns, SandboxError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let label: String = label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(24)
            .collect();
        let name = format!("{PREFIX}-{}-{n}-{label}", std::process::id());
        let path = Path::new(NETNS_DIR).join(&name);
        fs::create_dir_all(NETNS_DIR).map_err(|source| SandboxError::Sys {
            what: format!("create {NETNS_DIR}"),
            source,
        })?;
        share_netns_dir()?;
        fs::File::create(&path).map_err(|source| SandboxError::Sys {
            what: format!("create {}", path.display()),
            source,
        })?;
        let netns = Netns { name, path };
        let target = netns.path.clone();
        // A new thread unshares its network namespace and bind-mounts it; the thread then ends,
        // and the mount keeps the namespace alive.
        std::thread::spawn(move || -> Result<(), SandboxError> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(sys("unshare(CLONE_NEWNET)"))?;
            let tid = nix::unistd::gettid();
            let own = format!("/proc/self/task/{tid}/ns/net");
            mount(
                Some(own.as_str()),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(sys(format!("bind {own} to {}", target.display())))
        })
        .join()
        .map_err(|_| SandboxError::ThreadPanicked)??;
        Ok(netns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind-mount path, to pass as `CNI_NETNS`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns its value.
    pub fn run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> Result<T, SandboxError> {
        let file = fs::File::open(&self.path).map_err(|source| SandboxError::Sys {
            what: format!("open {}", self.path.display()),
            source,
        })?;
        std::thread::scope(|s| {
            s.spawn(move || {
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(sys("setns"))?;
                Ok(f())
            })
            .join()
            .map_err(|_| SandboxError::ThreadPanicked)?
        })
    }

    /// A command that will run inside this namespace (entered between fork and exec).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(program);
        let path = self.path.clone();
        // SAFETY: only async-signal-safe calls (open, setns) run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let f = fs::File::open(&path)?;
                setns(f.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
            });
        }
        cmd
    }

    /// Deletes the namespace now (also done on drop). Processes still inside keep it alive
    /// until they exit, but it is no longer reachable by path.
    pub fn delete(self) {}
}

impl Drop for Netns {
    fn drop(&mut self) {
        remove_bound(&self.path);
    }
}

fn remove_bound(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = fs::remove_file(path);
}

/// Removes namespaces of this crate whose creating process is gone (a crashed or killed run).
/// Returns the names removed.
pub fn sweep() -> Vec<String> {
    let Ok(dir) = fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&format!("{PREFIX}-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            remove_bound(&entry.path());
            removed.push(name);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns_inode(path: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn create_enter_and_remove() {
        let ns = Netns::new("unit").unwrap();
        let path = ns.path().to_path_buf();
        assert!(path.exists());
        let host = ns_inode("/proc/self/ns/net");
        let inside = ns.run(|| ns_inode("/proc/thread-self/ns/net")).unwrap();
        assert_ne!(host, inside, "closure must run in the new namespace");
        assert_eq!(inside, ns_inode(path.to_str().unwrap()));
        assert_eq!(
            ns_inode("/proc/self/ns/net"),
            host,
            "caller's namespace unchanged"
        );
        let out = ns
            .command("cat")
            .arg("/proc/self/net/dev")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("lo:") && !text.contains("eth0"), "{text}");
        drop(ns);
        assert!(!path.exists());
    }

    /// A namespace bound after a process unshared its mount namespace as a slave of this one
    /// is visible to that process as a namespace, not as the empty file under the bind.
    #[test]
    fn a_namespace_shows_in_a_slave_mount_namespace_made_before_it() {
        use std::io::{BufRead, Write};
        use std::os::unix::process::CommandExt;
        // The directory exists before the child starts, as on a machine where only files
        // were ever made in it.
        fs::create_dir_all(NETNS_DIR).unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "read path; stat -f -c %T \"$path\""])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        // SAFETY: only raw syscalls run between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWNS) < 0
                    || libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_SLAVE,
                        std::ptr::null(),
                    ) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let ns = Netns::new("slave").unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", ns.path().display()).unwrap();
        drop(stdin);
        let mut seen = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut seen)
            .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(seen.trim(), "nsfs", "{}", ns.path().display());
    }

    #[test]
    fn removed_after_panic() {
        let mut kept = None;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ns = Netns::new("panic").unwrap();
            kept = Some(ns.path().to_path_buf());
            panic!("test panic");
        }));
        assert!(r.is_err());
        assert!(!kept.unwrap().exists());
    }

    #[test]
    fn sweep_removes_dead_owners_only() {
        let live = Netns::new("live").unwrap();
        // Fake a leftover of a dead process: PID 0x7fff_fff0 does not exist.
        let stale = Path::new(NETNS_DIR).join(format!("{PREFIX}-2147483632-0-stale"));
        fs::write(&stale, b"").unwrap();
        let removed = sweep();
        assert!(removed.iter().any(|n| n.ends_with("-stale")));
        assert!(!stale.exists());
        assert!(live.path().exists());
    }
}
