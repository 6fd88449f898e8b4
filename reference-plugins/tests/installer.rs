//! `cni-rs-plugins install` (the installer inside the binary, for images with no shell): every
//! plugin name in place as one hard-linked binary, idempotence, refusal of files it did not
//! install (also symbolic links and directories) unless `--force`, atomic replacement under a
//! reader, one manifest shared with `scripts/install.sh` in both directions, and `--wait`/`wait`
//! ending on SIGTERM.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::install_dir::{
    assert_one_binary_under_every_name, leftovers, replace_under_reader, sha256_hex, state,
    variant, Reads, MULTICALL,
};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn names() -> Vec<String> {
    let out = Command::new(MULTICALL).arg("--list").output().unwrap();
    assert!(out.status.success());
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// `cni-rs-plugins install --dir DIR …`, started under the binary's own name.
fn install(dir: &Path, extra: &[&str]) -> Output {
    Command::new(MULTICALL)
        .arg("install")
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn install_sh(dir: &Path, binary: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install.sh");
    Command::new("bash")
        .arg(script)
        .arg("--dir")
        .arg(dir)
        .arg("--binary")
        .arg(binary)
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{:?}: {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn installs_itself_under_every_plugin_name_once_and_a_second_run_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("opt/cni/bin");
    let out = install(&dir, &[]);
    ok(&out);
    assert!(
        text(&out.stdout).contains(&format!("{0} of {0} plugins written", names().len())),
        "{}",
        text(&out.stdout)
    );

    let want = sha256_hex(&std::fs::read(MULTICALL).unwrap());
    let names = names();
    assert_one_binary_under_every_name(&dir, &names);
    for name in &names {
        let out = Command::new(dir.join(name))
            .arg("--version")
            .output()
            .unwrap();
        ok(&out);
        assert!(
            text(&out.stdout).starts_with(&format!("CNI {name} plugin")),
            "{}",
            text(&out.stdout)
        );
    }
    let manifest = std::fs::read_to_string(dir.join(".cni-rs-installed")).unwrap();
    let mut lines: Vec<String> = names.iter().map(|n| format!("{want}  {n}")).collect();
    lines.sort_by(|a, b| {
        a.split_once("  ")
            .unwrap()
            .1
            .cmp(b.split_once("  ").unwrap().1)
    });
    assert_eq!(manifest, lines.join("\n") + "\n");

    let before = state(&dir);
    let out = install(&dir, &[]);
    ok(&out);
    assert!(
        text(&out.stdout).contains("up to date"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(state(&dir), before, "a second run wrote to the directory");
}

#[test]
fn shares_its_manifest_with_install_sh_in_both_directions() {
    let tmp = tempfile::tempdir().unwrap();
    // install.sh first, then the binary: up to date, nothing written.
    let a = tmp.path().join("a");
    ok(&install_sh(&a, Path::new(MULTICALL)));
    let before = state(&a);
    let out = install(&a, &[]);
    ok(&out);
    assert!(text(&out.stdout).contains("up to date"));
    assert_eq!(state(&a), before);
    // A new build over the script's install: the script's files are ours, replaced without
    // --force.
    let newer = variant(tmp.path(), "newer", 512);
    ok(&install(&a, &["--from", newer.to_str().unwrap()]));
    for n in names() {
        assert_eq!(
            std::fs::read(a.join(&n)).unwrap(),
            std::fs::read(&newer).unwrap()
        );
    }

    // The binary first, then install.sh with the same binary: up to date.
    let b = tmp.path().join("b");
    ok(&install(&b, &[]));
    let before = state(&b);
    let out = install_sh(&b, Path::new(MULTICALL));
    ok(&out);
    assert!(
        text(&out.stdout).contains("up to date"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(state(&b), before);
}

#[test]
fn refuses_files_it_did_not_install_unless_forced_and_a_refusal_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("ptp"), b"#!/bin/sh\necho someone else's ptp\n").unwrap();
    std::os::unix::fs::symlink("/usr/lib/cni/bridge", dir.join("bridge")).unwrap();
    let before = state(&dir);

    let out = install(&dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("ptp") && err.contains("bridge (a symbolic link)"),
        "{err}"
    );
    assert_eq!(state(&dir), before, "a refused run changed the directory");

    ok(&install(&dir, &["--force"]));
    let ours = std::fs::read(MULTICALL).unwrap();
    for n in ["ptp", "bridge"] {
        let m = std::fs::symlink_metadata(dir.join(n)).unwrap();
        assert!(m.is_file(), "{n} replaced by a regular file");
        assert_eq!(std::fs::read(dir.join(n)).unwrap(), ours, "{n}");
    }

    // A file of ours replaced since by another tool is someone else's again.
    std::fs::remove_file(dir.join("tuning")).unwrap();
    std::fs::write(dir.join("tuning"), b"not ours any more").unwrap();
    // A directory under a plugin name is refused even with --force.
    std::fs::remove_file(dir.join("vlan")).unwrap();
    std::fs::create_dir(dir.join("vlan")).unwrap();
    let before = state(&dir);
    let newer = variant(tmp.path(), "newer", 4096);
    let out = install(&dir, &["--from", newer.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("tuning") && err.contains("vlan (a directory)"),
        "{err}"
    );
    assert_eq!(state(&dir), before);
    let out = install(&dir, &["--force", "--from", newer.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a directory is never replaced");
    assert_eq!(state(&dir), before);
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

#[test]
fn replaces_atomically_under_a_reader_and_leaves_no_temporary_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let old = std::fs::read(MULTICALL).unwrap();
    ok(&install(&dir, &[]));
    let newer = variant(tmp.path(), "newer", 8 << 20);
    let new = std::fs::read(&newer).unwrap();

    // Every read must see the old file or the new one, whole.
    let (out, Reads { olds, news, torn }) =
        replace_under_reader(&dir.join("bridge"), old, new.clone(), || {
            install(&dir, &["--from", newer.to_str().unwrap()])
        });
    ok(&out);
    assert!(
        torn.is_empty(),
        "reads saw partial or missing files: {torn:?}"
    );
    assert!(olds > 0 && news > 0, "reads: {olds} old, {news} new");
    for name in names() {
        assert_eq!(std::fs::read(dir.join(&name)).unwrap(), new, "{name}");
    }
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

/// A child process killed (SIGKILL) and reaped when the test ends, also on panic.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Reaped {
    fn signal(&self, sig: i32) {
        // SAFETY: signalling the child this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(self.0.id() as i32, sig) }, 0);
    }

    /// Waits (up to 30 s) until SIGHUP, SIGINT and SIGTERM can no longer end the child: `/proc`
    /// shows them in its signal mask, or shows it in `rt_sigtimedwait` (which takes the awaited
    /// signals out of the mask it shows while it waits for them).
    fn wait_until_holding_termination_signals(&self) {
        const HUP_INT_TERM: u64 =
            1 << (libc::SIGHUP - 1) | 1 << (libc::SIGINT - 1) | 1 << (libc::SIGTERM - 1);
        let proc = format!("/proc/{}", self.0.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let blocked = std::fs::read_to_string(format!("{proc}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("SigBlk:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .unwrap_or(0);
            let waiting = std::fs::read_to_string(format!("{proc}/syscall"))
                .unwrap_or_default()
                .split(' ')
                .next()
                .and_then(|n| n.parse::<libc::c_long>().ok())
                == Some(libc::SYS_rt_sigtimedwait);
            if blocked & HUP_INT_TERM == HUP_INT_TERM || waiting {
                return;
            }
            assert!(Instant::now() < deadline, "the signals were never held");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Its exit status, if it exits within 30 s.
    fn exit_within(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(s) = self.0.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

#[test]
fn wait_blocks_after_installing_until_sigterm_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let mut child = Reaped(
        Command::new(MULTICALL)
            .arg("install")
            .arg("--dir")
            .arg(&dir)
            .arg("--wait")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Installed, then waiting (the manifest is the last file written).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join(".cni-rs-installed").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(dir.join(".cni-rs-installed").exists(), "not installed");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "--wait returned early"
    );
    child.signal(libc::SIGTERM);
    let status = child.exit_within().expect("SIGTERM did not end --wait");
    assert_eq!(status.code(), Some(0));

    let mut child = Reaped(
        Command::new(MULTICALL)
            .arg("wait")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    child.wait_until_holding_termination_signals();
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.0.try_wait().unwrap().is_none(), "wait returned early");
    child.signal(libc::SIGHUP);
    assert_eq!(child.exit_within().unwrap().code(), Some(0));
}
