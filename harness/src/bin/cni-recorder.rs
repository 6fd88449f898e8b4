//! `cni-recorder`: a delegate the harness puts first on `CNI_PATH` under the name of a plugin's
//! IPAM type. Each call appends one JSON line (verb, `CNI_*` environment, stdin) to
//! `/var/lib/cni/cni-recorder.log` (the scenario's private state directory), writes a marker
//! line to stderr, then runs the real delegate of the same name found further down `CNI_PATH`
//! and passes its stdout, stderr and exit status through. When the file
//! `/var/lib/cni/cni-recorder.fail-add` exists, ADD fails with code 11 instead (and is still
//! recorded), so the harness can watch what the calling plugin does after a delegate failure.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const LOG: &str = "/var/lib/cni/cni-recorder.log";
const FAIL_ADD: &str = "/var/lib/cni/cni-recorder.fail-add";
/// The marker the harness looks for on the calling plugin's stderr (IPAM-7).
pub const STDERR_MARKER: &str = "cni-recorder: delegate stderr marker";

fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let env: serde_json::Map<String, serde_json::Value> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CNI_"))
        .map(|(k, v)| (k, v.into()))
        .collect();
    let verb = std::env::var("CNI_COMMAND").unwrap_or_default();
    let me = std::env::current_exe().ok();
    let name = std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let line = serde_json::json!({
        "name": name,
        "command": verb,
        "env": env,
        "stdin": String::from_utf8_lossy(&stdin),
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG)
    {
        let _ = writeln!(f, "{line}");
    }
    eprintln!("{STDERR_MARKER}");
    if verb == "ADD" && Path::new(FAIL_ADD).exists() {
        println!(
            r#"{{"cniVersion":"1.0.0","code":11,"msg":"cni-recorder: ADD failure injected by the harness"}}"#
        );
        return ExitCode::from(1);
    }
    // The real delegate: the first file of that name on CNI_PATH that is not this directory.
    let own_dir = std::env::args()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let path = std::env::var("CNI_PATH").unwrap_or_default();
    let real = path
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .filter(|d| Some(d) != own_dir.as_ref())
        .map(|d| d.join(&name))
        .find(|p| {
            p.is_file()
                && std::fs::canonicalize(p).ok()
                    != me.as_ref().and_then(|m| std::fs::canonicalize(m).ok())
        });
    let Some(real) = real else {
        println!(
            r#"{{"cniVersion":"1.0.0","code":100,"msg":"cni-recorder: no real delegate named {name:?} on CNI_PATH"}}"#
        );
        return ExitCode::from(1);
    };
    let child = Command::new(&real)
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
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
    match child.wait() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(_) => ExitCode::from(1),
    }
}
