//! The delegate recorder, a mode of `cni-conformance` itself (so the harness is one
//! self-contained program): cases that watch a plugin's IPAM delegate put a directory first on
//! the plugin's `CNI_PATH` holding a symlink to the harness's own executable under the name of
//! the plugin's IPAM type ([`crate::world::World::recorder_dir`]). Started through that link,
//! the harness is the recorder: [`invoked_as_recorder`] tells from the name it was invoked
//! under (a file named `cni-recorder`, or any file in a directory named
//! [`RECORDER_BIN_DIR`]), and [`main`] does the work.
//!
//! Each call appends one JSON line (the name it was called under, verb, `CNI_*` environment,
//! stdin) to `/var/lib/cni/cni-recorder.log` (the scenario's private state directory), writes
//! [`STDERR_MARKER`] to stderr, then runs the real delegate of the same name found further
//! down `CNI_PATH` and passes its stdout, stderr and exit status through. When the file
//! `/var/lib/cni/cni-recorder.fail-add` exists, ADD fails with code 11 instead (and is still
//! recorded), so the harness can watch what the calling plugin does after a delegate failure.
//!
//! [`self_test`] runs the recorder once in a throwaway world before any case: a recorder that
//! does not work is a setup error of the harness, never a finding against the plugin.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use crate::world::{
    World, RECORDER_BIN_DIR, RECORDER_FAIL_ADD, RECORDER_FAIL_STATUS, RECORDER_LOG,
    RECORDER_UNUSABLE_ADD, STATE_MOUNT,
};

/// The name under which the harness's executable is the recorder wherever it lies.
pub const RECORDER_NAME: &str = "cni-recorder";

/// The marker the harness looks for on the calling plugin's stderr (IPAM-7).
pub const STDERR_MARKER: &str = "cni-recorder: delegate stderr marker";

/// The delegate name [`self_test`] uses (no real plugin has it).
const SELF_TEST_NAME: &str = "cni-recorder-self-test";

/// Whether this process was started as the recorder: `argv[0]` names a file called
/// [`RECORDER_NAME`], or a file in a directory called [`RECORDER_BIN_DIR`] (where the harness
/// links itself under delegate names).
pub fn invoked_as_recorder() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|a| is_recorder_path(Path::new(&a)))
}

pub(crate) fn is_recorder_path(p: &Path) -> bool {
    p.file_name().is_some_and(|f| f == RECORDER_NAME)
        || p.parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == RECORDER_BIN_DIR)
}

/// The program to link as the recorder: this process's own executable.
pub fn program() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let meta = std::fs::metadata(&exe)?;
    if !meta.is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a file",
            exe.display()
        )));
    }
    Ok(exe)
}

/// Runs `program` as the recorder once, in a throwaway world, under a delegate name no plugin
/// has: it must record the call and answer that it found no real delegate. The error says
/// what went wrong in a sentence of its own.
pub fn self_test(program: &Path, timeout: Duration) -> Result<(), String> {
    let world = World::new("rec").map_err(|e| {
        format!("cannot create a sandbox (network namespace, state directory; run as root): {e}")
    })?;
    let broken = |why: String| format!("the harness's delegate recorder does not work: {why}");
    let dir = world
        .recorder_dir(program, SELF_TEST_NAME)
        .map_err(|e| broken(format!("cannot set up its directory: {e}")))?;
    let env = [
        ("CNI_COMMAND".to_string(), "VERSION".to_string()),
        ("CNI_PATH".to_string(), dir.to_string_lossy().into_owned()),
    ];
    let run = world.run_plugin(
        &dir.join(SELF_TEST_NAME),
        &env,
        br#"{"cniVersion":"1.0.0"}"#,
        timeout,
    );
    let out = run
        .output
        .map_err(|e| broken(format!("cannot run it: {e}")))?;
    let calls = world.recorded_calls();
    let recorded = calls.len() == 1 && calls[0]["name"] == SELF_TEST_NAME;
    let answered = String::from_utf8_lossy(&out.stdout).contains("no real delegate");
    if recorded && answered && !out.success {
        Ok(())
    } else {
        Err(broken(format!(
            "{} started as {SELF_TEST_NAME} did not act as the recorder ({}, stdout: {}, \
             recorded calls: {})",
            program.display(),
            out.status,
            crate::checks::excerpt(&String::from_utf8_lossy(&out.stdout)),
            calls.len()
        )))
    }
}

/// The recorder's entry point (see the module doc); its exit status is the real delegate's.
pub fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let env: serde_json::Map<String, serde_json::Value> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CNI_"))
        .map(|(k, v)| (k, v.into()))
        .collect();
    let verb = std::env::var("CNI_COMMAND").unwrap_or_default();
    let me = std::env::current_exe().ok();
    let argv0 = std::env::args_os().next().map(PathBuf::from);
    let name = argv0
        .as_deref()
        .and_then(Path::file_name)
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let line = serde_json::json!({
        "name": name,
        "command": verb,
        "env": env,
        "stdin": String::from_utf8_lossy(&stdin),
    });
    let state = Path::new(STATE_MOUNT);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join(RECORDER_LOG))
    {
        let _ = writeln!(f, "{line}");
    }
    eprintln!("{STDERR_MARKER}");
    if verb == "ADD" && state.join(RECORDER_FAIL_ADD).exists() {
        println!(
            r#"{{"cniVersion":"1.0.0","code":11,"msg":"cni-recorder: ADD failure injected by the harness"}}"#
        );
        return ExitCode::from(1);
    }
    if verb == "STATUS" && state.join(RECORDER_FAIL_STATUS).exists() {
        println!(
            r#"{{"cniVersion":"1.1.0","code":50,"msg":"cni-recorder: STATUS failure injected by the harness: the delegate cannot serve ADD"}}"#
        );
        return ExitCode::from(1);
    }
    // The real delegate: the first file of that name on CNI_PATH that is neither in this
    // directory nor the harness itself.
    let own_dir = argv0
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let me = me.as_ref().and_then(|m| std::fs::canonicalize(m).ok());
    let path = std::env::var("CNI_PATH").unwrap_or_default();
    let real = path
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .filter(|d| Some(d) != own_dir.as_ref())
        .map(|d| d.join(&name))
        .find(|p| p.is_file() && std::fs::canonicalize(p).ok() != me);
    let Some(real) = real else {
        println!(
            r#"{{"cniVersion":"1.0.0","code":100,"msg":"cni-recorder: no real delegate named {name:?} on CNI_PATH"}}"#
        );
        return ExitCode::from(1);
    };
    // After a successful forwarded ADD, an unusable result instead of the real one: the
    // delegate has reserved, the caller cannot go on.
    let unusable_add = verb == "ADD" && state.join(RECORDER_UNUSABLE_ADD).exists();
    let child = Command::new(&real)
        .stdin(Stdio::piped())
        .stdout(if unusable_add {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!(
                r#"{{"cniVersion":"1.0.0","code":100,"msg":"cni-recorder: cannot run {}: {e}"}}"#,
                real.display()
            );
            return ExitCode::from(1);
        }
    };
    if let Some(mut w) = child.stdin.take() {
        let _ = w.write_all(&stdin);
    }
    if unusable_add {
        return match child.wait_with_output() {
            Ok(o) if o.status.success() => {
                println!(
                    r#"{{"cniVersion":"1.0.0","ips":[{{"address":"cni-recorder: not an address"}}]}}"#
                );
                ExitCode::SUCCESS
            }
            Ok(o) => {
                let _ = std::io::stdout().write_all(&o.stdout);
                ExitCode::from(o.status.code().unwrap_or(1).clamp(0, 255) as u8)
            }
            Err(_) => ExitCode::from(1),
        };
    }
    match child.wait() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(_) => ExitCode::from(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_mode_is_chosen_by_the_invoked_name() {
        assert!(is_recorder_path(Path::new("/x/cni-recorder")));
        assert!(is_recorder_path(Path::new("cni-recorder")));
        assert!(is_recorder_path(Path::new(
            "/tmp/cnirs-state-1/cni-recorder-bin/host-local"
        )));
        assert!(!is_recorder_path(Path::new("/usr/bin/cni-conformance")));
        assert!(!is_recorder_path(Path::new("cni-conformance")));
        assert!(!is_recorder_path(Path::new("/usr/lib/cni/host-local")));
    }

    /// A program that does not act as the recorder fails the self-test (needs root: it runs
    /// in a throwaway world).
    #[test]
    fn self_test_refuses_a_program_that_is_no_recorder() {
        let e = self_test(Path::new("/bin/true"), Duration::from_secs(10)).unwrap_err();
        assert!(e.contains("did not act as the recorder"), "{e}");
    }
}
