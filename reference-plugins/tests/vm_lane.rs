//! The VM lane's driver: runs the test targets of [`IN_VM_TARGETS`] inside a small VM booting
//! Debian's kernel, which has what this machine's kernel lacks (ipvlan, 802.1q vlan, dummy
//! links). See `scripts/vm/README.md`.
//!
//! 1. `scripts/vm/build-image.sh` builds (or finds cached) the kernel and initramfs in
//!    `target/vm/`;
//! 2. the targets are built statically (`-C target-feature=+crt-static`) into
//!    `target/vm-build/`, apart from the normal build so neither invalidates the other;
//! 3. `scripts/vm/run.sh` boots one VM that runs them one after the other (the workspace is
//!    shared over 9p at the same path);
//! 4. the VM must exit 0 and each target must report every one of its tests `ok`, none ignored.
//!
//! Anything missing (packages, the kernel download, qemu, a static build) fails this test with
//! the reason; it never passes or skips without the VM having run the tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The test targets (`tests/<name>.rs`) that run inside the VM, in one boot. A target may
/// instead drive itself, as `in_vm_ipvlan_vlan` does: then it must not be listed here too.
const IN_VM_TARGETS: &[&str] = &["in_vm_kernel_features"];
/// The only Rust target installed; the VM is x86_64 as well.
const TRIPLE: &str = "x86_64-unknown-linux-gnu";
/// Printed inside the VM before each target's run, followed by the target's name.
const MARKER: &str = "=== cnirs vm lane: ";
/// VM time allowed per target unless CNIRS_VM_TIMEOUT says otherwise.
const SECONDS_PER_TARGET: usize = 300;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the package sits in the workspace")
        .to_path_buf()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(what: &str, cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("VM lane: cannot start {what} ({cmd:?}): {e}"))
}

/// Builds the VM image; fails with build-image.sh's own account of what is missing.
fn build_image(ws: &Path) {
    let out = run(
        "scripts/vm/build-image.sh",
        &mut Command::new(ws.join("scripts/vm/build-image.sh")),
    );
    assert!(
        out.status.success(),
        "VM lane: the VM image could not be built ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Builds `targets` statically and returns their executables, in the same order.
fn build_static_tests(ws: &Path, targets: &[String]) -> Vec<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(ws)
        .args(["test", "--no-run", "-p", env!("CARGO_PKG_NAME")])
        .args(["--target", TRIPLE])
        .arg("--target-dir")
        .arg(ws.join("target/vm-build"))
        .arg("--message-format=json-render-diagnostics")
        // With --target these flags reach only the target's crates, not build scripts or proc
        // macros (which cannot be static).
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    for t in targets {
        cmd.args(["--test", t]);
    }
    let out = run("cargo", &mut cmd);
    assert!(
        out.status.success(),
        "VM lane: the static build of {targets:?} failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    let messages: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    targets
        .iter()
        .map(|t| {
            messages
                .iter()
                .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == **t)
                .find_map(|m| m["executable"].as_str().map(PathBuf::from))
                .unwrap_or_else(|| {
                    panic!(
                        "VM lane: cargo reported no executable for tests/{t}.rs:\n{}",
                        text(&out.stderr)
                    )
                })
        })
        .collect()
}

/// The names of the tests in a static test binary (it runs on the host too, for listing).
fn list_tests(exe: &Path) -> Vec<String> {
    let out = run(
        "the test binary",
        Command::new(exe).args(["--list", "--format", "terse"]),
    );
    assert!(
        out.status.success(),
        "VM lane: {} --list failed: {}",
        exe.display(),
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

/// The console output of `target`'s run: from its marker to the next one.
fn section<'a>(console: &'a str, target: &str) -> &'a str {
    let start_marker = format!("{MARKER}{target}\n");
    let Some(start) = console.find(&start_marker) else {
        return "";
    };
    let rest = &console[start + start_marker.len()..];
    &rest[..rest.find(MARKER).unwrap_or(rest.len())]
}

#[test]
fn in_vm_targets_pass_inside_the_vm() {
    let ws = workspace();
    let targets: Vec<String> = IN_VM_TARGETS.iter().map(|t| t.to_string()).collect();
    build_image(&ws);
    let exes = build_static_tests(&ws, &targets);
    let listed: Vec<Vec<String>> = exes.iter().map(|e| list_tests(e)).collect();
    for (t, names) in targets.iter().zip(&listed) {
        assert!(!names.is_empty(), "VM lane: tests/{t}.rs lists no tests");
    }

    // One boot runs every target; the VM's exit status is 1 if any failed.
    let script = format!(
        "status=0; while [ $# -gt 0 ]; do echo \"{MARKER}$1\"; \"$2\" || status=1; shift 2; done; \
         exit $status"
    );
    let mut cmd = Command::new(ws.join("scripts/vm/run.sh"));
    cmd.current_dir(&ws).args(["sh", "-c", &script, "sh"]);
    for (t, exe) in targets.iter().zip(&exes) {
        cmd.arg(t).arg(exe);
    }
    if std::env::var_os("CNIRS_VM_TIMEOUT").is_none() {
        cmd.env(
            "CNIRS_VM_TIMEOUT",
            (SECONDS_PER_TARGET * targets.len()).to_string(),
        );
    }
    let out = run("scripts/vm/run.sh", &mut cmd);
    let console = text(&out.stdout);
    assert!(
        out.status.success(),
        "VM lane: the in-VM tests failed ({}):\n{console}\n{}",
        out.status,
        text(&out.stderr)
    );
    println!("{console}");

    let mut problems = Vec::new();
    for (t, names) in targets.iter().zip(&listed) {
        let part = section(&console, t);
        for n in names {
            if !part.contains(&format!("test {n} ... ok\n")) {
                problems.push(format!("{t}: {n} did not report ok"));
            }
        }
        let summary = format!(
            "test result: ok. {} passed; 0 failed; 0 ignored;",
            names.len()
        );
        if !part.contains(&summary) {
            problems.push(format!("{t}: no \"{summary}\""));
        }
    }
    assert!(
        problems.is_empty(),
        "VM lane: {problems:#?}\n{console}\n{}",
        text(&out.stderr)
    );
}
