//! Running one plugin call so that it can be killed at a chosen moment: in its own process
//! group (so the IPAM delegates it execs die with it), either traced with ptrace (every thread
//! and every forked or exec'd descendant) and killed with SIGKILL right after the Nth
//! state-changing system call returned, or untraced and killed after a delay. What counts as
//! state-changing (an [`Observed`] call): a write to a regular file or a `/proc/sys` file, a
//! send on a socket (netlink requests), creating a file (`open` with `O_CREAT`), renaming,
//! unlinking, linking, creating a directory, truncating. Writes to pipes, terminals, eventfds
//! and `/dev` are not state and are not counted.
//!
//! The plugin's process group is waited for with `waitpid(-pgid, __WALL)`, so parallel traces
//! on other threads of the harness never see each other's processes.

use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::world::World;

/// One state-changing system call a traced plugin made and that returned success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The system call (`sendto`, `write`, `renameat`, ...).
    pub syscall: &'static str,
    /// What it acted on, when the harness can tell (`socket`, a file path).
    pub detail: String,
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.syscall)
        } else {
            write!(f, "{} ({})", self.syscall, self.detail)
        }
    }
}

/// When to kill the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillAt {
    /// Never: trace only (to learn the call's observed system calls).
    Never,
    /// Right after the observed system call with this 1-based index returned.
    Observed(usize),
    /// After this long, untraced.
    After(Duration),
}

/// How a traced or timed call ended.
#[derive(Debug, Clone)]
pub struct Traced {
    /// Exit code of the plugin process, `None` when a signal ended it.
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The observed system calls, in order (only when traced).
    pub observed: Vec<Observed>,
    /// Whether the harness killed the process group (the kill point was reached).
    pub killed: bool,
    /// Whether the call ran into the timeout (and was killed for it).
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Traced {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.killed && !self.timed_out
    }
}

/// Runs `program` as [`World::run_plugin`] does, in its own process group, killed as `kill`
/// says; the whole group is killed at `timeout` in any case.
pub fn run(
    world: &World,
    program: &Path,
    env: &[(String, String)],
    stdin: &[u8],
    timeout: Duration,
    kill: KillAt,
) -> std::io::Result<Traced> {
    let traced = !matches!(kill, KillAt::After(_));
    let mut input = tempfile::tempfile()?;
    input.write_all(stdin)?;
    input.rewind()?;
    let mut out = tempfile::tempfile()?;
    let mut err = tempfile::tempfile()?;
    let mut cmd = world.command(program, env)?;
    cmd.stdin(input)
        .stdout(out.try_clone()?)
        .stderr(err.try_clone()?);
    // SAFETY: between fork and exec only raw syscalls run.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if traced && libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = Pid::from_raw(child.id() as i32);
    // The group is killed under this lock, and no longer once the run is over: the group ID
    // cannot have been reused while the lock says the run goes on.
    let running = Arc::new(Mutex::new(true));
    let timed_out = Arc::new(Mutex::new(false));
    let watchdog = {
        let running = running.clone();
        let timed_out = timed_out.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            if rx.recv_timeout(timeout).is_err() {
                let r = running.lock().expect("lock");
                if *r {
                    *timed_out.lock().expect("lock") = true;
                    let _ = killpg(pid, Signal::SIGKILL);
                }
            }
        });
        (tx, handle)
    };
    let (exit_code, observed, killed) = if traced {
        trace(pid, kill)
    } else {
        let KillAt::After(delay) = kill else {
            unreachable!()
        };
        timed(pid, delay)
    };
    *running.lock().expect("lock") = false;
    let _ = watchdog.0.send(());
    let _ = watchdog.1.join();
    drop(child);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    out.rewind()?;
    out.read_to_end(&mut stdout)?;
    err.rewind()?;
    err.read_to_end(&mut stderr)?;
    let timed_out = *timed_out.lock().expect("lock");
    Ok(Traced {
        exit_code,
        stdout,
        stderr,
        observed,
        killed,
        timed_out,
        elapsed: start.elapsed(),
    })
}

/// Waits for the untraced `pid`, killing its group after `delay` if it still runs. Polls so
/// that the kill happens before the process is reaped (its group ID cannot be reused then).
fn timed(pid: Pid, delay: Duration) -> (Option<i32>, Vec<Observed>, bool) {
    let deadline = Instant::now() + delay;
    let mut killed = false;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(WaitStatus::Exited(_, code)) => {
                reap_group(pid);
                return (Some(code), Vec::new(), killed);
            }
            Ok(WaitStatus::Signaled(..)) | Err(_) => {
                reap_group(pid);
                return (None, Vec::new(), killed);
            }
            Ok(_) => {}
        }
        if !killed && Instant::now() >= deadline {
            let _ = killpg(pid, Signal::SIGKILL);
            killed = true;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// After the group leader ended (killed or not), kills what is left of its group (a delegate
/// still running), while the leader's zombie is reaped already: best effort.
fn reap_group(pid: Pid) {
    let _ = killpg(pid, Signal::SIGKILL);
}

/// Traces the group of `pid` (stopped at its first exec) to the end, killing it at `kill`.
fn trace(pid: Pid, kill: KillAt) -> (Option<i32>, Vec<Observed>, bool) {
    let group = Pid::from_raw(-pid.as_raw());
    let mut observed = Vec::new();
    let mut killed = false;
    let mut exit_code = None;
    let mut known = std::collections::BTreeSet::new();
    known.insert(pid);
    // The first stop: the SIGTRAP of the exec after PTRACE_TRACEME.
    match waitpid(pid, Some(WaitPidFlag::__WALL)) {
        Ok(WaitStatus::Stopped(_, _)) => {}
        Ok(WaitStatus::Exited(_, code)) => return (Some(code), observed, false),
        _ => return (None, observed, false),
    }
    let options = ptrace::Options::PTRACE_O_TRACESYSGOOD
        | ptrace::Options::PTRACE_O_TRACEFORK
        | ptrace::Options::PTRACE_O_TRACEVFORK
        | ptrace::Options::PTRACE_O_TRACECLONE
        | ptrace::Options::PTRACE_O_TRACEEXEC
        | ptrace::Options::PTRACE_O_EXITKILL;
    if ptrace::setoptions(pid, options).is_err() {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    let _ = ptrace::syscall(pid, None);
    loop {
        let status = match waitpid(group, Some(WaitPidFlag::__WALL)) {
            Ok(s) => s,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        };
        match status {
            WaitStatus::Exited(p, code) if p == pid => exit_code = Some(code),
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => {}
            WaitStatus::PtraceSyscall(p) => {
                known.insert(p);
                if !killed {
                    if let Some(o) = exit_of_observed(p) {
                        observed.push(o);
                        if kill == KillAt::Observed(observed.len()) {
                            let _ = killpg(pid, Signal::SIGKILL);
                            killed = true;
                        }
                    }
                }
                let _ = ptrace::syscall(p, None);
            }
            WaitStatus::PtraceEvent(p, _, _) => {
                known.insert(p);
                let _ = ptrace::syscall(p, None);
            }
            WaitStatus::Stopped(p, sig) => {
                // A new thread or process starts with SIGSTOP, which is not delivered.
                let first = known.insert(p);
                let deliver = if first && sig == Signal::SIGSTOP {
                    None
                } else {
                    Some(sig)
                };
                let _ = ptrace::syscall(p, deliver);
            }
            _ => {}
        }
    }
    (exit_code, observed, killed)
}

/// At a syscall stop of `pid`: the observed system call it is leaving successfully, if it is
/// one (`None` at syscall entry, for other calls, and for failed ones).
fn exit_of_observed(pid: Pid) -> Option<Observed> {
    let info = ptrace::syscall_info(pid).ok()?;
    if info.op != libc::PTRACE_SYSCALL_INFO_EXIT {
        return None;
    }
    // SAFETY: `op` says the exit member is the one filled in.
    let exit = unsafe { info.u.exit };
    if exit.is_error != 0 || exit.sval < 0 {
        return None;
    }
    let regs = ptrace::getregs(pid).ok()?;
    let nr = regs.orig_rax as i64;
    let (a0, a1, a2) = (regs.rdi, regs.rsi, regs.rdx);
    let fd_target = |fd: u64| {
        std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let named = |syscall: &'static str, detail: String| Some(Observed { syscall, detail });
    match nr {
        libc::SYS_write | libc::SYS_writev | libc::SYS_pwrite64 | libc::SYS_pwritev => {
            let t = fd_target(a0);
            let name = syscall_name(nr);
            if t.starts_with("socket:") {
                named(name, "socket".into())
            } else if is_state_path(&t) {
                named(name, t)
            } else {
                None
            }
        }
        libc::SYS_sendto | libc::SYS_sendmsg | libc::SYS_sendmmsg => {
            named(syscall_name(nr), "socket".into())
        }
        libc::SYS_ftruncate | libc::SYS_fallocate => {
            let t = fd_target(a0);
            is_state_path(&t).then_some(())?;
            named(syscall_name(nr), t)
        }
        libc::SYS_openat | libc::SYS_open | libc::SYS_creat => {
            let flags = match nr {
                libc::SYS_openat => a2,
                libc::SYS_open => a1,
                _ => libc::O_CREAT as u64,
            };
            if flags & libc::O_CREAT as u64 == 0 {
                return None;
            }
            let t = fd_target(exit.sval as u64);
            is_state_path(&t).then_some(())?;
            named("open(O_CREAT)", t)
        }
        libc::SYS_rename
        | libc::SYS_renameat
        | libc::SYS_renameat2
        | libc::SYS_unlink
        | libc::SYS_unlinkat
        | libc::SYS_mkdir
        | libc::SYS_mkdirat
        | libc::SYS_link
        | libc::SYS_linkat
        | libc::SYS_symlink
        | libc::SYS_symlinkat
        | libc::SYS_rmdir => named(syscall_name(nr), String::new()),
        _ => None,
    }
}

/// Whether a file a descriptor points at holds state: a path outside `/dev` and `/proc`
/// (pipes, sockets and anonymous inodes are not paths), or a sysctl under `/proc/sys`; not a
/// file that was unlinked.
fn is_state_path(target: &str) -> bool {
    if target.ends_with(" (deleted)") {
        // An unlinked file (the harness's own output capture among them).
        return false;
    }
    target.starts_with("/proc/sys/")
        || (target.starts_with('/')
            && !target.starts_with("/dev/")
            && !target.starts_with("/proc/"))
}

fn syscall_name(nr: i64) -> &'static str {
    match nr {
        libc::SYS_write => "write",
        libc::SYS_writev => "writev",
        libc::SYS_pwrite64 => "pwrite64",
        libc::SYS_pwritev => "pwritev",
        libc::SYS_sendto => "sendto",
        libc::SYS_sendmsg => "sendmsg",
        libc::SYS_sendmmsg => "sendmmsg",
        libc::SYS_ftruncate => "ftruncate",
        libc::SYS_fallocate => "fallocate",
        libc::SYS_rename => "rename",
        libc::SYS_renameat => "renameat",
        libc::SYS_renameat2 => "renameat2",
        libc::SYS_unlink => "unlink",
        libc::SYS_unlinkat => "unlinkat",
        libc::SYS_mkdir => "mkdir",
        libc::SYS_mkdirat => "mkdirat",
        libc::SYS_link => "link",
        libc::SYS_linkat => "linkat",
        libc::SYS_symlink => "symlink",
        libc::SYS_symlinkat => "symlinkat",
        libc::SYS_rmdir => "rmdir",
        _ => "syscall",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(world: &World, script: &str, kill: KillAt) -> Traced {
        use std::os::unix::fs::PermissionsExt;
        let env = [("CNI_COMMAND".to_string(), "ADD".to_string())];
        // A script file, as plugins take no arguments.
        let wrapper = world.state_dir().join("script.sh");
        std::fs::write(&wrapper, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        run(world, &wrapper, &env, b"", Duration::from_secs(20), kill).unwrap()
    }

    #[test]
    fn observes_file_writes_and_renames_of_forked_children_and_kills_after_the_nth() {
        let world = World::new("tracer").unwrap();
        let script = "printf x > /var/lib/cni/t; /bin/mv /var/lib/cni/t /var/lib/cni/u";
        let t = sh(&world, script, KillAt::Never);
        assert_eq!(t.exit_code, Some(0), "{t:?}");
        assert!(!t.killed);
        let names: Vec<String> = t.observed.iter().map(|o| o.to_string()).collect();
        let created = names
            .iter()
            .position(|n| n == "open(O_CREAT) (/var/lib/cni/t)")
            .unwrap_or_else(|| panic!("{names:?}"));
        assert_eq!(names[created + 1], "write (/var/lib/cni/t)", "{names:?}");
        // The rename is made by `mv`, a forked and exec'd child.
        assert!(
            names[created + 2..].iter().any(|n| n.starts_with("rename")),
            "{names:?}"
        );
        std::fs::remove_file(world.state_dir().join("u")).unwrap();
        // Killed right after the file was created: it exists, empty, and was never renamed.
        let k = sh(&world, script, KillAt::Observed(created + 1));
        assert!(k.killed, "{k:?}");
        assert_eq!(k.exit_code, None);
        assert_eq!(std::fs::read(world.state_dir().join("t")).unwrap(), b"");
        assert!(!world.state_dir().join("u").exists());
    }

    #[test]
    fn a_timed_kill_ends_a_sleeping_call_and_its_children() {
        let world = World::new("tracer-t").unwrap();
        let t = sh(
            &world,
            "/bin/sleep 5",
            KillAt::After(Duration::from_millis(50)),
        );
        assert!(t.killed && t.elapsed < Duration::from_secs(4), "{t:?}");
        let t = sh(&world, "true", KillAt::After(Duration::from_secs(5)));
        assert!(!t.killed && t.success(), "{t:?}");
    }

    #[test]
    fn state_paths() {
        assert!(is_state_path("/var/lib/cni/networks/n/10.0.0.2"));
        assert!(is_state_path("/proc/sys/net/ipv4/ip_forward"));
        assert!(!is_state_path("/proc/self/status"));
        assert!(!is_state_path("/dev/null"));
        assert!(!is_state_path("pipe:[123]"));
        assert!(!is_state_path("/tmp/#123 (deleted)"));
    }
}
