//! The `sysctl` keys of a tuning configuration: from a key to a file under `/proc/sys/net/`,
//! the allow-list, and reading and writing them inside the container's namespace.
//!
//! # From a key to a file
//!
//! 1. Separators follow sysctl.d(5) (and procps' `sysctl`): when the key's first separator is
//!    a dot, dots and slashes are swapped (`net.ipv4.conf.eth0/100.arp_notify`); when it is a
//!    slash, the key is a path already and its dots are part of names
//!    (`net/ipv4/conf/eth0.100/arp_notify`). Both name
//!    `/proc/sys/net/ipv4/conf/eth0.100/arp_notify`.
//! 2. The first `IFNAME` is replaced by `CNI_IFNAME`, after step 1, so an interface name with
//!    dots stays one component. The interface name must be a single component (not empty,
//!    `.` or `..`, no `/`).
//! 3. Empty components (a leading slash, `net..ipv4`) are dropped; `.` and `..` components
//!    are refused, and so is anything whose first component is not `net` or that names
//!    `/proc/sys/net` itself.
//!
//! The file is then opened one component at a time from `/proc/sys` with `O_NOFOLLOW`
//! ([`open_beneath`]), so a symbolic link anywhere on the way is refused rather than
//! followed, and only a regular file is read or written.
//!
//! Upstream (v1.9) turns every dot into a slash and keeps slashes, then joins and cleans the
//! path and checks the `/proc/sys/net/` prefix. Keys without a slash, and keys without a dot,
//! name the same file in both; a key that mixes them is read as sysctl.d(5) reads it here
//! (upstream cannot name an interface with a dot except through `IFNAME`). Upstream accepts
//! `..` when the cleaned path stays under `/proc/sys/net/`; it is refused here (UPSTREAM-16).
//!
//! # The allow-list
//!
//! When the allow-list file exists (the plugin reads `/etc/cni/tuning/allowlist.conf`), each
//! non-blank line, trimmed, is a regular expression, matched unanchored against each key as
//! written in the configuration; a key that matches none is refused. No file: every key is
//! allowed. The path is a parameter of [`check_allowlist`] for tests; the plugin only ever
//! passes [`super::config::ALLOWLIST`]. Expressions are compiled without Unicode classes, as
//! Go's `regexp` reads them: `\d`, `\w`, `\s` and `[[:alpha:]]` are ASCII, `(?i)` folds ASCII
//! case; `\p{…}` is refused as invalid (keys are ASCII paths). Leaving the Unicode tables out
//! of the binary took about a fifth off the plugin's peak resident size.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use cni::Error;

use crate::error::{internal, Context};
use crate::iface;

/// Where sysctl files live.
pub const PROC_SYS: &str = "/proc/sys";

/// A sysctl file under `/proc/sys/net/`, as its components (the first is `net`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SysctlPath(Vec<String>);

impl SysctlPath {
    /// The components below `/proc/sys`.
    pub fn components(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for SysctlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PROC_SYS}/{}", self.0.join("/"))
    }
}

/// The file a `sysctl` key names (see the module documentation). `ifname` replaces the first
/// `IFNAME`; with `None` (STATUS, which has no interface) `IFNAME` stays as written. The error
/// says why the key is refused.
pub fn resolve(key: &str, ifname: Option<&str>) -> Result<SysctlPath, String> {
    if key.is_empty() {
        return Err("an empty key names no sysctl".into());
    }
    if key.contains('\0') {
        return Err("a key cannot contain a NUL byte".into());
    }
    let dotted = key
        .find(['.', '/'])
        .is_some_and(|i| key.as_bytes()[i] == b'.');
    let mut path: String = if dotted {
        key.chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect()
    } else {
        key.to_string()
    };
    if let Some(ifname) = ifname {
        if path.contains("IFNAME") {
            if ifname.is_empty() || ifname == "." || ifname == ".." || ifname.contains(['/', '\0'])
            {
                return Err(format!(
                    "interface name {ifname:?} cannot be substituted for IFNAME (it must be one \
                     path component)"
                ));
            }
            path = path.replacen("IFNAME", ifname, 1);
        }
    }
    let components: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = components.iter().find(|c| *c == "." || *c == "..") {
        return Err(format!("a {bad:?} component could leave /proc/sys/net"));
    }
    if components.first().map(String::as_str) != Some("net") || components.len() < 2 {
        return Err(format!(
            "{PROC_SYS}/{} is not under {PROC_SYS}/net/: only network sysctls can be set",
            components.join("/")
        ));
    }
    Ok(SysctlPath(components))
}

/// Reads the allow-list at `path`: `None` when there is no such file, else its non-blank
/// lines, trimmed.
pub fn read_allowlist(path: &Path) -> Result<Option<Vec<String>>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| {
            format!(
                "tuning: cannot read the sysctl allow-list {}",
                path.display()
            )
        }),
    }
}

/// Refuses (code 7) a key of `keys` that no regular expression of the allow-list at
/// `allowlist` matches; does nothing when the file does not exist. A line that is not a valid
/// regular expression is an internal error naming it.
pub fn check_allowlist<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    allowlist: &Path,
) -> Result<(), Error> {
    let Some(lines) = read_allowlist(allowlist)? else {
        return Ok(());
    };
    let patterns = lines
        .iter()
        .map(|l| {
            regex::bytes::Regex::new(&format!("(?-u:{l})")).with_context(|| {
                format!(
                    "tuning: invalid regular expression {l:?} in the sysctl allow-list {}",
                    allowlist.display()
                )
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    for key in keys {
        if !patterns.iter().any(|p| p.is_match(key.as_bytes())) {
            return Err(Error::invalid_config(format!(
                "tuning: sysctl {key:?} is not allowed: it matches no line of the allow-list {} \
                 ({})",
                allowlist.display(),
                if lines.is_empty() {
                    "which is empty".to_string()
                } else {
                    lines.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// Opens the file `components` names below the directory `root` (for the plugin,
/// [`PROC_SYS`]), one component at a time, never following a symbolic link: a link on the
/// way, or a final component that is not a regular file, is an error. For writing, the file
/// is opened write-only; else read-only.
pub fn open_beneath(root: &Path, components: &[String], write: bool) -> io::Result<File> {
    let (last, dirs) = components
        .split_last()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty path"))?;
    let dir_flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mut dir = open_at(None, root.as_os_str().as_bytes(), dir_flags)?;
    for name in dirs {
        let parent = dir.as_raw_fd();
        dir = open_at(Some(parent), name.as_bytes(), dir_flags)
            .map_err(|e| annotate(e, parent, name, "a directory"))?;
    }
    // O_TRUNC as Go's os.WriteFile opens (procfs ignores it; a regular file needs it).
    let mode = if write {
        libc::O_WRONLY | libc::O_TRUNC
    } else {
        libc::O_RDONLY
    };
    let file = open_at(
        Some(dir.as_raw_fd()),
        last.as_bytes(),
        mode | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
    )
    .map_err(|e| annotate(e, dir.as_raw_fd(), last, "a file"))?;
    let file = File::from(file);
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{last:?} is not a regular file"),
        ));
    }
    Ok(file)
}

/// Says why `name` (in the directory `dir`) could not be opened when `O_NOFOLLOW` or
/// `O_DIRECTORY` refused it: a symbolic link (`ELOOP`, or `ENOTDIR` for a link where a
/// directory was expected), or not the expected kind of file.
fn annotate(e: io::Error, dir: i32, name: &str, expected: &str) -> io::Error {
    if !matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) {
        return e;
    }
    let is_link = std::ffi::CString::new(name).is_ok_and(|c| {
        // SAFETY: fstatat(2) fills the zeroed stat buffer it is given.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
    });
    let why = if is_link {
        format!("{name:?} is a symbolic link, which is not followed")
    } else {
        format!("{name:?} is not {expected}")
    };
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

fn open_at(dir: Option<i32>, name: &[u8], flags: i32) -> io::Result<OwnedFd> {
    let name = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))?;
    let dirfd = dir.unwrap_or(libc::AT_FDCWD);
    // SAFETY: plain system call on a valid C string; the descriptor returned is owned here.
    let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and belongs to nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads a sysctl file below `root`, without its trailing newline.
pub fn read(root: &Path, path: &SysctlPath) -> io::Result<String> {
    let mut s = String::new();
    open_beneath(root, path.components(), false)?.read_to_string(&mut s)?;
    Ok(s.trim_end_matches('\n').to_string())
}

/// Writes `value` to a sysctl file below `root`, as given (one write).
pub fn write(root: &Path, path: &SysctlPath, value: &str) -> io::Result<()> {
    open_beneath(root, path.components(), true)?.write_all(value.as_bytes())
}

/// A value as the kernel prints it and as a configuration may write it compare equal when
/// they have the same words (the kernel separates several values with tabs).
pub fn same_value(configured: &str, current: &str) -> bool {
    configured.split_whitespace().eq(current.split_whitespace())
}

/// One sysctl written by ADD and the value it had before (`None` when it could not be read:
/// some sysctls are write-only), for undoing a failed ADD.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: SysctlPath,
    pub previous: Option<String>,
}

/// Writes each `(path, value)` inside the namespace open at `netns`, in order. When one fails,
/// the ones written before it get their previous values back and the error names the key.
pub fn write_all(
    netns: BorrowedFd<'_>,
    sysctls: &[(&str, &SysctlPath, &str)],
) -> Result<Vec<Written>, Error> {
    let outcome = iface::run_in_netns(netns, || {
        let root = Path::new(PROC_SYS);
        let mut done: Vec<Written> = Vec::with_capacity(sysctls.len());
        for (key, path, value) in sysctls {
            let previous = read(root, path).ok();
            if let Err(e) = write(root, path, value) {
                let mut msg =
                    format!("tuning: cannot write {value:?} to sysctl {key:?} ({path}): {e}");
                if let Err(undo) = restore_in_place(root, &done) {
                    msg.push_str(&format!(
                        " (and putting back an earlier one failed: {undo})"
                    ));
                }
                return Err(internal(msg));
            }
            done.push(Written {
                path: (*path).clone(),
                previous,
            });
        }
        Ok(done)
    })
    .context("tuning: cannot enter the container's namespace for sysctls")?;
    outcome
}

/// Gives sysctls written by [`write_all`] their previous values back, inside the namespace
/// open at `netns`; the first failure is returned, every one is tried.
pub fn restore(netns: BorrowedFd<'_>, written: &[Written]) -> Result<(), String> {
    iface::run_in_netns(netns, || restore_in_place(Path::new(PROC_SYS), written))
        .map_err(|e| e.to_string())?
}

fn restore_in_place(root: &Path, written: &[Written]) -> Result<(), String> {
    let mut first = None;
    for w in written.iter().rev() {
        if let Some(prev) = &w.previous {
            if let Err(e) = write(root, &w.path, prev) {
                first.get_or_insert(format!("{}: {e}", w.path));
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// Reads each sysctl inside the namespace open at `netns`; each entry is the read's outcome.
pub fn read_all(
    netns: BorrowedFd<'_>,
    paths: &[&SysctlPath],
) -> Result<Vec<io::Result<String>>, Error> {
    iface::run_in_netns(netns, || {
        let root = Path::new(PROC_SYS);
        paths.iter().map(|p| read(root, p)).collect()
    })
    .context("tuning: cannot enter the container's namespace for sysctls")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(key: &str, ifname: Option<&str>) -> Result<String, String> {
        resolve(key, ifname).map(|p| p.to_string())
    }

    #[test]
    fn separators_as_sysctl_d() {
        let ok = |key: &str, want: &str| {
            assert_eq!(path(key, Some("eth0")).as_deref(), Ok(want), "{key}");
        };
        ok("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward");
        ok("net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward");
        ok("/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward");
        ok("net.core.somaxconn", "/proc/sys/net/core/somaxconn");
        // A dotted interface name, in either form.
        ok(
            "net.ipv4.conf.eth0/100.arp_notify",
            "/proc/sys/net/ipv4/conf/eth0.100/arp_notify",
        );
        ok(
            "net/ipv4/conf/eth0.100/arp_notify",
            "/proc/sys/net/ipv4/conf/eth0.100/arp_notify",
        );
        // IFNAME, once, after the separators: the interface's dots survive.
        ok(
            "net.ipv4.conf.IFNAME.arp_notify",
            "/proc/sys/net/ipv4/conf/eth0/arp_notify",
        );
        assert_eq!(
            path("net.ipv6.conf.IFNAME.accept_ra", Some("eth0.100")).as_deref(),
            Ok("/proc/sys/net/ipv6/conf/eth0.100/accept_ra")
        );
        assert_eq!(
            path("net.IFNAME.IFNAME", Some("e")).as_deref(),
            Ok("/proc/sys/net/e/IFNAME")
        );
        // Without an interface (STATUS), IFNAME stays.
        assert_eq!(
            path("net.ipv4.conf.IFNAME.arp_notify", None).as_deref(),
            Ok("/proc/sys/net/ipv4/conf/IFNAME/arp_notify")
        );
        // Empty components go, as Go's path cleaning drops them.
        ok("net..ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward");
        ok("net//ipv4/ip_forward/", "/proc/sys/net/ipv4/ip_forward");
    }

    #[test]
    fn keys_that_leave_proc_sys_net_are_refused() {
        for key in [
            "",
            "kernel.hostname",
            "kernel/hostname",
            "net",
            "net.",
            "/net/",
            "netfilter.x",
            "net/../kernel/hostname",
            "net/ipv4/../ipv6/conf/all/forwarding",
            "net/./ipv4/ip_forward",
            "../../etc/passwd",
            "net.//.ipv4", // dotted: slashes become dots, "net/../ipv4"
            "vm.overcommit_memory",
            "net\0x",
        ] {
            assert!(path(key, Some("eth0")).is_err(), "{key:?}");
        }
        // An interface name that is not one component.
        for ifname in ["..", ".", "a/b", ""] {
            let e = path("net.ipv4.conf.IFNAME.arp_notify", Some(ifname)).unwrap_err();
            assert!(e.contains("IFNAME"), "{ifname:?}: {e}");
        }
        // Not used: no check.
        assert!(path("net.core.somaxconn", Some("a/b")).is_ok());
    }

    #[test]
    fn allowlist() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("allowlist.conf");
        // No file: everything is allowed.
        check_allowlist(["net.core.somaxconn", "net.x"], &list).unwrap();
        std::fs::write(
            &list,
            "  ^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]*$\n\n\tnet\\.core\\.somaxconn \n",
        )
        .unwrap();
        check_allowlist(["net.ipv4.conf.IFNAME.arp_notify"], &list).unwrap();
        check_allowlist(["net.core.somaxconn", "xnet.core.somaxconnx"], &list).unwrap();
        let e = check_allowlist(["net.core.somaxconn", "net.ipv4.ip_forward"], &list).unwrap_err();
        assert_eq!(e.code.code(), 7);
        assert!(e.msg.contains("\"net.ipv4.ip_forward\""), "{}", e.msg);
        // Matched as written: the slash form of an allowed key is another key.
        assert!(check_allowlist(["net/core/somaxconn"], &list).is_err());
        // An empty file allows nothing.
        std::fs::write(&list, "\n \n").unwrap();
        let e = check_allowlist(["net.core.somaxconn"], &list).unwrap_err();
        assert!(e.msg.contains("empty"), "{}", e.msg);
        check_allowlist([], &list).unwrap();
        // Go's classes are ASCII: \d, \w, \s, POSIX classes, (?i).
        std::fs::write(&list, "^net\\.ipv4\\.conf\\.\\w+\\.arp_\\w+$\n(?i)^NET\\.CORE\\.[[:alpha:]]+$\nport_range\\s?\\d*\n").unwrap();
        check_allowlist(
            [
                "net.ipv4.conf.eth0.arp_notify",
                "net.core.somaxconn",
                "net.ipv4.ip_local_port_range",
            ],
            &list,
        )
        .unwrap();
        assert!(check_allowlist(["net.ipv4.conf.eth-0.arp_notify"], &list).is_err());
        std::fs::write(&list, "\\p{L}\n").unwrap();
        let e = check_allowlist(["net.core.somaxconn"], &list).unwrap_err();
        assert_eq!(e.code.code(), cni::error::INTERNAL_ERROR_CODE);
        // A bad expression is reported, not skipped.
        std::fs::write(&list, "net(\n").unwrap();
        let e = check_allowlist(["net.core.somaxconn"], &list).unwrap_err();
        assert_eq!(e.code.code(), cni::error::INTERNAL_ERROR_CODE);
        assert!(e.msg.contains("net("), "{}", e.msg);
        // A directory where the file should be is an error, not "no list".
        assert!(check_allowlist(["net.x"], dir.path()).is_err());
    }

    fn comps(p: &str) -> Vec<String> {
        p.split('/').map(str::to_string).collect()
    }

    #[test]
    fn symlinks_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("net/ipv4")).unwrap();
        std::fs::write(r.join("net/ipv4/ip_forward"), "0\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), r.join("net/dir-link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), r.join("net/ipv4/file-link"))
            .unwrap();
        std::os::unix::fs::symlink(r.join("net/ipv4"), r.join("net/inside-link")).unwrap();

        let p = SysctlPath(comps("net/ipv4/ip_forward"));
        assert_eq!(read(r, &p).unwrap(), "0");
        write(r, &p, "1").unwrap();
        assert_eq!(
            std::fs::read_to_string(r.join("net/ipv4/ip_forward")).unwrap(),
            "1"
        );

        for link in [
            "net/dir-link/secret",
            "net/ipv4/file-link",
            "net/inside-link/ip_forward",
        ] {
            let p = SysctlPath(comps(link));
            let e = read(r, &p).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{link}: {e}");
            let e = write(r, &p, "x").unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{link}: {e}");
        }
        assert_eq!(
            std::fs::read_to_string(outside.path().join("secret")).unwrap(),
            "s"
        );
        // A directory is not a sysctl.
        let e = read(r, &SysctlPath(comps("net/ipv4"))).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = read(r, &SysctlPath(comps("net/ipv4/ip_forward/x"))).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn values_compare_by_words() {
        assert!(same_value("32768 60999", "32768\t60999"));
        assert!(same_value("1", "1"));
        assert!(!same_value("1", "0"));
        assert!(!same_value("1 2", "1"));
    }
}
