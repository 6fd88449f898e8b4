//! The VM lane's host side: what a test driver does to run test binaries inside the small VM
//! that boots Debian's kernel (it has ipvlan, 802.1q vlan and dummy links, which this machine's
//! kernel lacks; see `scripts/vm/README.md`). Test tooling: a dev-dependency of the crates
//! whose tests run in the VM (`reference-plugins`, `harness`), never a dependency of a library
//! or binary. This crate owns:
//!
//! - the VM image: [`build_image`] runs `scripts/vm/build-image.sh` (cached in `target/vm/`);
//! - static builds: [`build_static_tests`] (test targets; their executables are taken from
//!   cargo's JSON messages) and [`build_static_bins`] (a package's binaries) build with
//!   `RUSTFLAGS=-C target-feature=+crt-static` and `--target` [`TRIPLE`] (so the flags reach
//!   only the target's crates, not build scripts and proc macros, which cannot be static) into
//!   [`BUILD_DIR`], apart from the normal build so neither invalidates the other;
//!   `CARGO_ENCODED_RUSTFLAGS`, `CARGO_BUILD_RUSTFLAGS` and `CARGO_TARGET_DIR` of the calling
//!   cargo are removed from cargo's environment;
//! - [`list_tests`]: the tests of a test binary (a static binary runs on the host too);
//! - VM runs: [`run_in_vm`] runs a program with `scripts/vm/run.sh` (the workspace is shared at
//!   the same path), with environment defaults such as `CNIRS_VM_TIMEOUT` or `CNIRS_VM_SMP`
//!   that the caller's environment overrides; [`run_in_one_boot`] runs several test binaries
//!   one after the other in one boot, each announced on the console by [`MARKER`] and its
//!   name;
//! - the console checks: [`VmRun::assert_success`] (the program exited 0) and
//!   [`console_problems`] (`test <name> ... ok` for every listed test and the summary `test
//!   result: ok. N passed; 0 failed; 0 ignored;`), on the whole console or on one target's
//!   [`VmRun::section`] of a one-boot run;
//! - [`SelfDriven`]: all of it for a test target that carries its own driver (a
//!   `#[cfg(not(target_feature = "crt-static"))]` test in the same file that builds the file
//!   statically, runs its other tests in the VM and requires each to be `ok`).
//!
//! Every function here serves a `#[test]` driver, so failures panic with the reason and the
//! output of the step that failed (build-image.sh's account of a missing package, cargo's
//! errors, the VM console), rather than return an error each caller would only unwrap. Nothing
//! here passes or skips without the VM having run the tests.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// The only Rust target installed; the VM is x86_64 as well.
pub const TRIPLE: &str = "x86_64-unknown-linux-gnu";
/// Where the static builds go, relative to the workspace.
pub const BUILD_DIR: &str = "target/vm-build";
/// Printed inside the VM by [`run_in_one_boot`] before each target's run, followed by the
/// target's name.
pub const MARKER: &str = "=== cnirs vm lane: ";

/// The workspace's root: what `run.sh` shares with the VM, at the same path (so this is right
/// inside the VM too).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("vm-lane sits in the workspace")
        .to_path_buf()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn output(what: &str, cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("VM lane: cannot start {what} ({cmd:?}): {e}"))
}

/// Builds the VM image (or finds it up to date); fails with build-image.sh's own account of
/// what is missing.
pub fn build_image() {
    let out = output(
        "scripts/vm/build-image.sh",
        &mut Command::new(workspace().join("scripts/vm/build-image.sh")),
    );
    assert!(
        out.status.success(),
        "VM lane: the VM image could not be built ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `cargo <args>`, statically, into [`BUILD_DIR`], with JSON messages on stdout.
fn static_cargo(args: &[&str]) -> Output {
    let ws = workspace();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&ws)
        .args(args)
        .args(["--target", TRIPLE])
        .arg("--target-dir")
        .arg(ws.join(BUILD_DIR))
        .arg("--message-format=json-render-diagnostics")
        // With --target these flags reach only the target's crates, not build scripts or proc
        // macros (which cannot be static).
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    output("cargo", &mut cmd)
}

/// Builds `package`'s binaries statically (`cargo build --bins`), into
/// `target/vm-build/x86_64-unknown-linux-gnu/debug/`, where the static test binaries'
/// `CARGO_BIN_EXE_*` of their own package point too.
pub fn build_static_bins(package: &str) {
    let out = static_cargo(&["build", "-p", package, "--bins"]);
    assert!(
        out.status.success(),
        "VM lane: the static build of the {package} binaries failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
}

/// Builds `package`'s test targets `targets` (`tests/<name>.rs`) statically and returns their
/// executables, in the same order.
pub fn build_static_tests(package: &str, targets: &[&str]) -> Vec<PathBuf> {
    let mut args = vec!["test", "--no-run", "-p", package];
    for t in targets {
        args.extend(["--test", t]);
    }
    let out = static_cargo(&args);
    assert!(
        out.status.success(),
        "VM lane: the static build of {package}'s tests {targets:?} failed ({}):\n{}",
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
                .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == *t)
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

/// The names of the tests in a test binary (`--list`; a static one runs on the host too). The
/// tests ignored in that build are listed as well.
pub fn list_tests(exe: &Path) -> Vec<String> {
    let out = output(
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

/// How one VM run ended and what it printed.
#[derive(Debug)]
pub struct VmRun {
    /// `run.sh`'s exit status: the program's, or 125 when the VM did not get to run it or did
    /// not finish (run.sh says why on stderr).
    pub status: ExitStatus,
    /// The VM's serial console (the program's stdout and stderr together, boot messages).
    pub console: String,
    /// `run.sh`'s own stderr.
    pub stderr: String,
}

impl VmRun {
    /// Fails unless the program exited 0 in the VM, with the console and run.sh's stderr.
    pub fn assert_success(&self) {
        assert!(
            self.status.success(),
            "VM lane: the in-VM tests failed ({}):\n{}\n{}",
            self.status,
            self.console,
            self.stderr
        );
    }

    /// The console output of `target`'s part of a [`run_in_one_boot`]: from its [`MARKER`]
    /// line to the next marker; empty if the target never started.
    pub fn section(&self, target: &str) -> &str {
        let start_marker = format!("{MARKER}{target}\n");
        let Some(start) = self.console.find(&start_marker) else {
            return "";
        };
        let rest = &self.console[start + start_marker.len()..];
        &rest[..rest.find(MARKER).unwrap_or(rest.len())]
    }
}

/// Runs `program_and_args` in the VM with `scripts/vm/run.sh`, from the workspace. Each
/// `(variable, value)` of `env_defaults` is set unless the caller's environment sets it
/// (run.sh passes `CNIRS_*` variables on to the VM).
pub fn run_in_vm<I, S>(program_and_args: I, env_defaults: &[(&str, &str)]) -> VmRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let ws = workspace();
    let mut cmd = Command::new(ws.join("scripts/vm/run.sh"));
    cmd.current_dir(&ws).args(program_and_args);
    for (var, default) in env_defaults {
        if std::env::var_os(var).is_none() {
            cmd.env(var, default);
        }
    }
    let out = output("scripts/vm/run.sh", &mut cmd);
    VmRun {
        status: out.status,
        console: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// Runs the test binaries of `targets` (name, executable) one after the other in one boot,
/// each after a [`MARKER`] line naming it (see [`VmRun::section`]); the VM's exit status is 1
/// if any failed.
pub fn run_in_one_boot(targets: &[(&str, &Path)], env_defaults: &[(&str, &str)]) -> VmRun {
    let script = format!(
        "status=0; while [ $# -gt 0 ]; do echo \"{MARKER}$1\"; \"$2\" || status=1; shift 2; done; \
         exit $status"
    );
    let mut args: Vec<&OsStr> = vec!["sh".as_ref(), "-c".as_ref(), script.as_ref(), "sh".as_ref()];
    for (t, exe) in targets {
        args.push(t.as_ref());
        args.push(exe.as_os_str());
    }
    run_in_vm(args, env_defaults)
}

/// What keeps `console` (a whole console, or one target's section) from showing that every
/// test of `names` passed: each must print `test <name> ... ok`, and the summary must be
/// `test result: ok. <names.len()> passed; 0 failed; 0 ignored;`. Empty when all is well.
pub fn console_problems(console: &str, names: &[String]) -> Vec<String> {
    let mut problems: Vec<String> = names
        .iter()
        .filter(|n| !console.contains(&format!("test {n} ... ok\n")))
        .map(|n| format!("{n} did not report ok"))
        .collect();
    let summary = format!(
        "test result: ok. {} passed; 0 failed; 0 ignored;",
        names.len()
    );
    if !console.contains(&summary) {
        problems.push(format!("no \"{summary}\""));
    }
    problems
}

/// A test target that drives itself: built statically (after the binaries of the
/// [`static_bins_of`](Self::static_bins_of) packages), its tests listed, run in one VM boot,
/// every listed test required `ok` there. In the static build the driver test is absent, so
/// it is not among the listed tests.
#[derive(Debug, Clone)]
pub struct SelfDriven {
    package: String,
    target: String,
    bins_of: Vec<String>,
    min_tests: usize,
    all_at_once: bool,
    args: Vec<String>,
    env_defaults: Vec<(String, String)>,
}

/// What [`SelfDriven::run`] did: the listed tests, the VM run, how long each half took.
#[derive(Debug)]
pub struct SelfDrivenRun {
    /// The target's name.
    pub target: String,
    /// The tests the static binary listed.
    pub tests: Vec<String>,
    /// The VM run.
    pub vm: VmRun,
    /// From the start to the end of the static builds (the image check included).
    pub built: Duration,
    /// The rest: listing the tests and the VM run.
    pub vm_run: Duration,
}

impl SelfDriven {
    /// `package`'s test target `target` (`tests/<target>.rs`), with at least one test, run
    /// without arguments or environment defaults.
    pub fn new(package: &str, target: &str) -> SelfDriven {
        SelfDriven {
            package: package.to_owned(),
            target: target.to_owned(),
            bins_of: Vec::new(),
            min_tests: 1,
            all_at_once: false,
            args: Vec::new(),
            env_defaults: Vec::new(),
        }
    }

    /// Also builds `package`'s binaries statically, before the target.
    pub fn static_bins_of(mut self, package: &str) -> SelfDriven {
        self.bins_of.push(package.to_owned());
        self
    }

    /// Fails unless the static binary lists at least `n` tests.
    pub fn min_tests(mut self, n: usize) -> SelfDriven {
        self.min_tests = n;
        self
    }

    /// Runs all the tests at once (`--test-threads <number of tests>`, before the other
    /// arguments).
    pub fn all_tests_at_once(mut self) -> SelfDriven {
        self.all_at_once = true;
        self
    }

    /// An argument for the test binary.
    pub fn arg(mut self, arg: &str) -> SelfDriven {
        self.args.push(arg.to_owned());
        self
    }

    /// Sets `var` to `value` for the VM run unless the caller's environment sets it.
    pub fn env_default(mut self, var: &str, value: &str) -> SelfDriven {
        self.env_defaults.push((var.to_owned(), value.to_owned()));
        self
    }

    /// Builds the image and the static binaries, lists the target's tests, runs them in the
    /// VM and prints the console. Checks nothing of the run: see
    /// [`SelfDrivenRun::assert_all_ok`].
    pub fn run(&self) -> SelfDrivenRun {
        let start = Instant::now();
        build_image();
        // First: the target's tests may look for these binaries.
        for p in &self.bins_of {
            build_static_bins(p);
        }
        let exe = build_static_tests(&self.package, &[self.target.as_str()]).remove(0);
        let built = start.elapsed();

        let tests = list_tests(&exe);
        assert!(
            tests.len() >= self.min_tests,
            "VM lane: too few in-VM tests in tests/{}.rs (at least {} expected): {tests:?}",
            self.target,
            self.min_tests
        );
        let mut args = vec![exe.into_os_string()];
        if self.all_at_once {
            args.push("--test-threads".into());
            args.push(tests.len().to_string().into());
        }
        args.extend(self.args.iter().map(Into::into));
        let env_defaults: Vec<(&str, &str)> = self
            .env_defaults
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let vm = run_in_vm(args, &env_defaults);
        println!("{}", vm.console);
        SelfDrivenRun {
            target: self.target.clone(),
            tests,
            vm,
            built,
            vm_run: start.elapsed() - built,
        }
    }
}

impl SelfDrivenRun {
    /// Fails unless the VM exited 0 and every listed test reported `ok` with the summary
    /// `test result: ok. N passed; 0 failed; 0 ignored;` (the console is already printed).
    pub fn assert_all_ok(&self) {
        self.vm.assert_success();
        let problems = console_problems(&self.vm.console, &self.tests);
        assert!(
            problems.is_empty(),
            "VM lane: tests/{}.rs inside the VM: {problems:#?}",
            self.target
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn run(console: &str) -> VmRun {
        VmRun {
            status: ExitStatus::from_raw(0),
            console: console.to_owned(),
            stderr: String::new(),
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_workspace_holds_the_vm_scripts() {
        let ws = workspace();
        assert!(ws.join("scripts/vm/run.sh").is_file(), "{}", ws.display());
        assert!(ws.join("scripts/vm/build-image.sh").is_file());
    }

    #[test]
    fn sections_run_from_a_marker_to_the_next() {
        let vm = run(&format!(
            "boot\n{MARKER}one\ntest a ... ok\n{MARKER}two\ntest b ... ok\ndone\n"
        ));
        assert_eq!(vm.section("one"), "test a ... ok\n");
        assert_eq!(vm.section("two"), "test b ... ok\ndone\n");
        assert_eq!(vm.section("three"), "", "a target that never started");
        // A name that is a prefix of another's is not confused with it.
        assert_eq!(vm.section("tw"), "");
    }

    #[test]
    fn console_problems_want_every_test_ok_and_the_summary() {
        let good = "test a ... ok\ntest b ... ok\n\
                    test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured";
        assert!(console_problems(good, &names(&["a", "b"])).is_empty());

        let failed = "test a ... ok\ntest b ... FAILED\n\
                      test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured";
        assert_eq!(
            console_problems(failed, &names(&["a", "b"])),
            [
                "b did not report ok".to_string(),
                "no \"test result: ok. 2 passed; 0 failed; 0 ignored;\"".to_string(),
            ]
        );
        // A test ignored in the VM is not a pass.
        let ignored = "test a ... ok\ntest b ... ignored\n\
                       test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured";
        assert_eq!(console_problems(ignored, &names(&["a", "b"])).len(), 2);
        // Nothing ran.
        assert_eq!(console_problems("", &names(&["a"])).len(), 2);
    }

    #[test]
    fn self_driven_defaults_and_builder() {
        let s = SelfDriven::new("pkg", "target")
            .static_bins_of("bins")
            .min_tests(3)
            .all_tests_at_once()
            .arg("--nocapture")
            .env_default("CNIRS_VM_SMP", "2");
        assert_eq!((s.package.as_str(), s.target.as_str()), ("pkg", "target"));
        assert_eq!(s.bins_of, ["bins"]);
        assert_eq!(s.min_tests, 3);
        assert!(s.all_at_once);
        assert_eq!(s.args, ["--nocapture"]);
        assert_eq!(
            s.env_defaults,
            [("CNIRS_VM_SMP".to_string(), "2".to_string())]
        );
        let plain = SelfDriven::new("p", "t");
        assert_eq!(plain.min_tests, 1);
        assert!(!plain.all_at_once && plain.bins_of.is_empty() && plain.args.is_empty());
    }
}
