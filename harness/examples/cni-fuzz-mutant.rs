//! `cni-fuzz-mutant`: a wrapper around a working CNI plugin that fails only on a rare input,
//! so the tests can prove `cni-conformance fuzz` finds, minimizes and reproduces such bugs
//! (`tests/fuzz_cli.rs`). The mutation is chosen by the wrapper's file name,
//! `fuzz-mutant-<mutation>`, read from `argv[0]` (the harness clears the environment); the
//! wrapped plugin's path is in the sidecar file `<argv[0]>.wraps`.
//!
//! | mutation                    | broken behaviour                                              |
//! |-----------------------------|---------------------------------------------------------------|
//! | `none`                      | nothing (the baseline)                                        |
//! | `abort-on-negative-number`  | aborts (SIGABRT) when the config holds a negative number      |
//! | `panic-on-non-ascii-name`   | panics (exit 101, nothing on stdout) when the network name    |
//! |                             | holds a non-ASCII character                                   |
//! | `hang-on-long-ifname`       | never returns when CNI_IFNAME is longer than 15 bytes         |
//! | `leak-on-failed-add`        | a failed ADD leaves a file in `/var/lib/cni/fuzz-mutant/`     |
//! | `leak-on-del`               | a good ADD writes a file there per container that DEL keeps   |
//!
//! Otherwise the wrapper passes stdin, environment, stdout, stderr and the exit status through.
//! (`/var/lib/cni` is private to each world of the harness.)

use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};

use serde_json::Value;

fn negative(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|f| f < 0.0),
        Value::Array(a) => a.iter().any(negative),
        Value::Object(m) => m.values().any(negative),
        _ => false,
    }
}

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mutation = name
        .strip_prefix("fuzz-mutant-")
        .unwrap_or("none")
        .to_string();
    let wraps = match std::fs::read_to_string(format!("{argv0}.wraps")) {
        Ok(p) => p.trim().to_string(),
        Err(e) => {
            eprintln!("cni-fuzz-mutant: cannot read {argv0}.wraps: {e}");
            return ExitCode::from(2);
        }
    };
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    let config: Option<Value> = serde_json::from_slice(&input).ok();
    match mutation.as_str() {
        "abort-on-negative-number" if config.as_ref().is_some_and(negative) => {
            std::process::abort()
        }
        "panic-on-non-ascii-name" => {
            let name = config
                .as_ref()
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !name.is_ascii() {
                panic!("network name {name:?} is not ASCII");
            }
        }
        "hang-on-long-ifname" if std::env::var("CNI_IFNAME").is_ok_and(|i| i.len() > 15) => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        _ => {}
    }
    let mut child = match Command::new(&wraps)
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cni-fuzz-mutant: cannot run {wraps}: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&input);
    }
    let status = child.wait().ok().and_then(|s| s.code()).unwrap_or(1);
    let command = std::env::var("CNI_COMMAND").unwrap_or_default();
    let leak = match mutation.as_str() {
        "leak-on-failed-add" => command == "ADD" && status != 0,
        "leak-on-del" => command == "ADD" && status == 0,
        _ => false,
    };
    if leak {
        let id: String = std::env::var("CNI_CONTAINERID")
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(64)
            .collect();
        let dir = std::path::Path::new("/var/lib/cni/fuzz-mutant");
        let _ = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(dir.join(id), b""));
    }
    ExitCode::from(status as u8)
}
