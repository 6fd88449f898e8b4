//! The multicall binary's own installer, for places with no shell and no `cp` (a container
//! image built from scratch, a Kubernetes DaemonSet writing into each node's `/opt/cni/bin`):
//!
//! ```text
//! cni-rs-plugins install [--dir DIR] [--force] [--from PATH] [--wait]
//! cni-rs-plugins wait
//! ```
//!
//! `install` follows `scripts/install.sh`'s rules and shares its manifest, so either may
//! update what the other installed:
//! - The source (default: this very binary, `/proc/self/exe`) is written once into DIR
//!   (default `/opt/cni/bin`) under a temporary name (`.cni-rs-plugins.<pid>.<n>`), synced,
//!   then hard-linked to `.cni-rs-new.<name>.<pid>` and renamed over each plugin name: a
//!   runtime executing a plugin meanwhile sees the old file or the new one, never a partial one.
//! - `DIR/.cni-rs-installed` lists what was installed, `<sha256>  <name>` a line. A name that
//!   exists and is not listed with its current checksum (another package's file, or one changed
//!   since), a symbolic link or a directory is refused unless `--force`; every name is planned
//!   before anything is written, so a refused run changes nothing.
//! - Idempotent: a name already holding the source's bytes is left alone (and recorded if it
//!   was not); when every name is, DIR is not written at all.
//! - Temporary names are removed on every exit path but a kill.
//!
//! `--wait` (and `wait` alone) then blocks until SIGTERM, SIGINT or SIGHUP and exits 0: what a
//! DaemonSet's container does once the node is set up, also as PID 1, where signals without a
//! handler are ignored. With `--wait` the three signals are blocked before installing, so one
//! sent while the install runs ends the process once the install is complete, never midway.
//!
//! Exit status: 0 installed or up to date; 1 refused or failed; 2 usage.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::multicall::{NAME, PLUGINS};

/// The manifest's file name in the plugin directory (shared with `scripts/install.sh`).
pub const MANIFEST: &str = ".cni-rs-installed";
/// The default plugin directory.
pub const DEFAULT_DIR: &str = "/opt/cni/bin";
/// The default source: the running binary.
pub const SELF_EXE: &str = "/proc/self/exe";

/// What `install` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub dir: PathBuf,
    pub source: PathBuf,
    pub force: bool,
    pub wait: bool,
}

/// What an install did.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The names written (replaced or new).
    pub written: Vec<String>,
    /// Whether the manifest was rewritten (a name written, or one adopted as ours).
    pub manifest_written: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "not installing: these exist in {dir} and were not installed by cni-rs (or were changed \
         since); --force replaces them: {}", names.join(", ")
    )]
    Refused { dir: PathBuf, names: Vec<String> },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InstallError + 'a {
    move |source| InstallError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The lowercase hex SHA-256 of what `r` reads.
fn sha256_of(mut r: impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The manifest's records, name to checksum; a missing manifest is an empty one.
fn read_manifest(path: &Path) -> Result<BTreeMap<String, String>, InstallError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io("reading", path)(e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let sum = parts.next()?;
            let name = parts.next()?;
            Some((name.to_string(), sum.to_string()))
        })
        .collect())
}

/// Files this run created and has not renamed into place yet: removed when dropped.
struct Staged(Vec<PathBuf>);

impl Drop for Staged {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Creates `dir/<prefix><pid>.<n>` exclusively, for the first free `n`.
fn create_temp(dir: &Path, prefix: &str, mode: u32) -> Result<(File, PathBuf), InstallError> {
    let pid = std::process::id();
    for n in 0..1000u32 {
        let p = dir.join(format!("{prefix}{pid}.{n}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&p)
        {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("creating", &p)(e)),
        }
    }
    Err(io("creating a temporary file in", dir)(
        std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    ))
}

/// Installs `source` into `dir` under each of `names` (the rules are in the module doc).
pub fn install(
    source: &Path,
    names: &[&str],
    dir: &Path,
    force: bool,
) -> Result<Outcome, InstallError> {
    let new_sum = sha256_of(File::open(source).map_err(io("opening", source))?)
        .map_err(io("reading", source))?;
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let manifest = dir.join(MANIFEST);
    let mut recorded = read_manifest(&manifest)?;

    // Plan every name before writing anything.
    let mut to_write = Vec::new();
    let mut refused = Vec::new();
    let mut adopted = false;
    let mut sum_of: HashMap<(u64, u64), String> = HashMap::new();
    for &name in names {
        let path = dir.join(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                to_write.push(name);
                continue;
            }
            Err(e) => return Err(io("inspecting", &path)(e)),
        };
        if meta.is_dir() {
            refused.push(format!("{name} (a directory)"));
            continue;
        }
        if meta.file_type().is_symlink() {
            // Never recorded as ours: a link points at someone else's file.
            if force {
                to_write.push(name);
            } else {
                refused.push(format!("{name} (a symbolic link)"));
            }
            continue;
        }
        let key = (meta.dev(), meta.ino());
        let current = match sum_of.get(&key) {
            Some(s) => s.clone(),
            None => {
                let s = File::open(&path)
                    .and_then(sha256_of)
                    .unwrap_or_else(|_| "unreadable".into());
                sum_of.insert(key, s.clone());
                s
            }
        };
        let ours = recorded.get(name);
        if current == new_sum {
            // Already these bytes: recorded now if it was not, nothing to replace.
            adopted |= ours != Some(&new_sum);
        } else if ours == Some(&current) || force {
            to_write.push(name);
        } else {
            refused.push(name.to_string());
        }
    }
    if !refused.is_empty() {
        return Err(InstallError::Refused {
            dir: dir.to_path_buf(),
            names: refused,
        });
    }
    if to_write.is_empty() && !adopted {
        return Ok(Outcome {
            written: Vec::new(),
            manifest_written: false,
        });
    }

    let mut staged = Staged(Vec::new());
    if !to_write.is_empty() {
        let (mut tmp, tmp_path) = create_temp(dir, ".cni-rs-plugins.", 0o755)?;
        staged.0.push(tmp_path.clone());
        let mut src = File::open(source).map_err(io("opening", source))?;
        std::io::copy(&mut src, &mut tmp).map_err(io("writing", &tmp_path))?;
        // The mode regardless of the umask.
        tmp.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(io("setting the mode of", &tmp_path))?;
        tmp.sync_all().map_err(io("syncing", &tmp_path))?;
        drop(tmp);
        // The written bytes are the planned ones (the source did not change meanwhile).
        let written_sum = File::open(&tmp_path)
            .and_then(sha256_of)
            .map_err(io("reading back", &tmp_path))?;
        if written_sum != new_sum {
            return Err(io("copying", source)(std::io::Error::other(
                "the source changed while it was copied",
            )));
        }
        for &name in &to_write {
            let link = dir.join(format!(".cni-rs-new.{name}.{}", std::process::id()));
            let _ = std::fs::remove_file(&link);
            std::fs::hard_link(&tmp_path, &link).map_err(io("linking", &link))?;
            staged.0.push(link.clone());
            std::fs::rename(&link, dir.join(name)).map_err(io("renaming", &link))?;
            staged.0.pop();
        }
    }

    // The manifest: this run's names with the new checksum, other names' records kept.
    for &name in names {
        recorded.insert(name.to_string(), new_sum.clone());
    }
    let (mut mf, mf_path) = create_temp(dir, ".cni-rs-new.manifest.", 0o644)?;
    staged.0.push(mf_path.clone());
    let text: String = recorded
        .iter()
        .map(|(name, sum)| format!("{sum}  {name}\n"))
        .collect();
    mf.write_all(text.as_bytes())
        .and_then(|()| mf.sync_all())
        .map_err(io("writing", &mf_path))?;
    drop(mf);
    std::fs::rename(&mf_path, &manifest).map_err(io("renaming", &mf_path))?;
    staged.0.pop();
    // The renames themselves made durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", dir))?;

    Ok(Outcome {
        written: to_write.iter().map(|n| n.to_string()).collect(),
        manifest_written: true,
    })
}

/// Parses `install`'s arguments (after `install`).
pub fn parse_install_args(args: &[&OsStr]) -> Result<Options, String> {
    let mut opts = Options {
        dir: PathBuf::from(DEFAULT_DIR),
        source: PathBuf::from(SELF_EXE),
        force: false,
        wait: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_str().ok_or_else(|| format!("not UTF-8: {a:?}"))?;
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (a, None),
        };
        let mut value = |what: &str| -> Result<PathBuf, String> {
            match inline {
                Some(v) => Ok(PathBuf::from(v)),
                None => it
                    .next()
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("{flag} needs {what}")),
            }
            .and_then(|p| {
                if p.as_os_str().is_empty() {
                    Err(format!("{flag} needs {what}"))
                } else {
                    Ok(p)
                }
            })
        };
        match flag {
            "--dir" => opts.dir = value("a directory")?,
            "--from" => opts.source = value("a path")?,
            "--force" if inline.is_none() => opts.force = true,
            "--wait" if inline.is_none() => opts.wait = true,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(opts)
}

/// SIGTERM, SIGINT and SIGHUP, blocked in the calling thread from here on: one arriving later
/// stays pending for [`TerminationSignals::wait`] instead of ending the process. Blocking them
/// before the work that precedes the wait means a signal sent once that work shows (the
/// manifest written) cannot find the default action still in place.
pub struct TerminationSignals(libc::sigset_t);

impl TerminationSignals {
    pub fn block() -> TerminationSignals {
        // SAFETY: plain signal-set and signal-mask calls on a set built here; no handler runs.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            TerminationSignals(set)
        }
    }

    /// Blocks until one of the signals arrives (or has arrived since [`Self::block`]);
    /// returns its number.
    pub fn wait(&self) -> i32 {
        let mut sig = 0;
        // SAFETY: sigwait on the set these signals were blocked with.
        while unsafe { libc::sigwait(&self.0, &mut sig) } != 0 {}
        sig
    }
}

const USAGE: &str =
    "usage: cni-rs-plugins install [--dir DIR] [--force] [--from PATH] [--wait]\n       \
                     cni-rs-plugins wait";

fn run_install(args: &[&OsStr]) -> i32 {
    let opts = match parse_install_args(args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("install: {msg}\n{USAGE}");
            return 2;
        }
    };
    let signals = opts.wait.then(TerminationSignals::block);
    let names: Vec<&str> = PLUGINS.iter().map(|e| e.name).collect();
    let version = cni::build_info::version_line(NAME);
    match install(&opts.source, &names, &opts.dir, opts.force) {
        Ok(o) if o.written.is_empty() => println!(
            "install: {} plugins in {} are up to date ({version})",
            names.len(),
            opts.dir.display()
        ),
        Ok(o) => println!(
            "install: {} of {} plugins written to {} ({version})",
            o.written.len(),
            names.len(),
            opts.dir.display()
        ),
        Err(e) => {
            eprintln!("install: {e}");
            return 1;
        }
    }
    if let Some(signals) = signals {
        let _ = std::io::stdout().flush();
        let sig = signals.wait();
        println!("install: signal {sig}, exiting");
    }
    0
}

/// The multicall binary's subcommands under its own name: `install …` and `wait`. `None` when
/// `argv0` is not the binary's own name or the first argument is neither, so that the
/// multicall dispatch goes on.
pub fn subcommand(argv0: &OsStr, args: &[&OsStr]) -> Option<i32> {
    if Path::new(argv0).file_name() != Some(OsStr::new(NAME)) {
        return None;
    }
    match args.split_first() {
        Some((cmd, rest)) if *cmd == "install" => Some(run_install(rest)),
        Some((cmd, [])) if *cmd == "wait" => {
            TerminationSignals::block().wait();
            Some(0)
        }
        Some((cmd, _)) if *cmd == "wait" => {
            eprintln!("wait: takes no arguments\n{USAGE}");
            Some(2)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&'static str]) -> Vec<&'static OsStr> {
        v.iter().map(|s| OsStr::new(*s)).collect()
    }

    #[test]
    fn install_arguments() {
        let o = parse_install_args(&[]).unwrap();
        assert_eq!(o.dir, Path::new(DEFAULT_DIR));
        assert_eq!(o.source, Path::new(SELF_EXE));
        assert!(!o.force && !o.wait);
        let o = parse_install_args(&os(&[
            "--dir",
            "/host/opt/cni/bin",
            "--force",
            "--from=/x",
            "--wait",
        ]))
        .unwrap();
        assert_eq!(o.dir, Path::new("/host/opt/cni/bin"));
        assert_eq!(o.source, Path::new("/x"));
        assert!(o.force && o.wait);
        for bad in [
            &["--dir"][..],
            &["--dir="],
            &["--force=yes"],
            &["--bogus"],
            &["extra"],
        ] {
            assert!(parse_install_args(&os(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subcommands_only_under_the_binary_s_own_name() {
        // A plugin name never runs the installer: its arguments are the plugin's.
        assert_eq!(
            subcommand(OsStr::new("/opt/cni/bin/bridge"), &os(&["install"])),
            None
        );
        assert_eq!(
            subcommand(OsStr::new("cni-rs-plugins"), &os(&["--list"])),
            None
        );
        assert_eq!(
            subcommand(OsStr::new("/usr/bin/cni-rs-plugins"), &os(&["wait", "x"])),
            Some(2)
        );
        assert_eq!(
            subcommand(OsStr::new("cni-rs-plugins"), &os(&["install", "--nope"])),
            Some(2)
        );
    }
}
