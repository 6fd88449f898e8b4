//! `cni-mutant`: a wrapper around a real CNI plugin that breaks exactly one rule of the spec,
//! so the tests can prove `cni-conformance` catches broken plugins (`tests/mutants.rs`).
//!
//! The harness clears the environment of plugin runs (only `CNI_*` and `PATH` survive), so
//! the mutation is chosen by the wrapper's own file name: `mutant-<mutation>[@<plugin>]`,
//! read from `argv[0]` (works for symlinks) or from [`std::env::current_exe`] (works for
//! copies). A sidecar file `<exe>.mutation` holding `<mutation>[@<plugin>]` takes precedence.
//! `<plugin>` is the real plugin in `/usr/lib/cni` that does the work; without it the
//! mutation's default is used (ptp for interface mutations, host-local otherwise).
//!
//! The wrapper passes environment and stdin through to the real plugin and its stderr
//! straight on, and changes exactly one thing:
//!
//! | mutation                  | broken behaviour                                               |
//! |---------------------------|----------------------------------------------------------------|
//! | `none`                    | nothing (the baseline)                                         |
//! | `wrong-result-version`    | ADD result carries another cniVersion than the request         |
//! | `leak-on-del`             | DEL does nothing and succeeds: reservations and links stay     |
//! | `del-not-idempotent`      | a second DEL of an attachment fails (tombstone per attachment) |
//! | `error-exit-zero`         | every failure exits 0 (the error object is still printed)      |
//! | `junk-stdout`             | a log line precedes the ADD result on stdout                   |
//! | `check-never-fails`       | CHECK succeeds without looking                                 |
//! | `wrong-ifname`            | the interface gets another name than CNI_IFNAME (`m<ifname>`)  |
//! | `hang`                    | ADD never returns                                              |
//! | `no-error-json`           | failures print plain text instead of an error object           |
//! | `version-lies`            | VERSION advertises 1.1.0, requests at 1.1.0 are refused        |
//! | `del-without-netns-fails` | DEL fails when CNI_NETNS is unset, empty or gone               |
//! | `missing-sandbox`         | ADD result interfaces lack `sandbox`                           |
//! | `accepts-unknown-version` | a request at an unknown cniVersion is served as 1.0.0          |
//! | `del-overreaches`         | DEL also releases every other attachment's IPAM reservation   |
//! | `version-text-line`       | a line of text precedes the VERSION answer on stdout           |
//! | `version-no-cniversion`   | the VERSION answer lacks `cniVersion`                          |
//! | `fail-add`                | every ADD fails ("operation not supported"), as a config that  |
//! |                           | cannot work on this machine                                    |
//! | `ignore-runtime-config-add` | ADD drops `runtimeConfig` before the real plugin sees it: the |
//! |                           | capabilities the config declares are not acted on              |
//! | `ignore-runtime-config-del` | DEL drops `runtimeConfig`: a plugin that needs the mappings |
//! |                           | on DEL (upstream portmap) leaves its rules                     |
//!
//! `del-not-idempotent` keeps its tombstones in `/var/lib/cni/cni-mutant/` (the harness mounts
//! a private directory there per scenario); a tombstone is state left behind by DEL, so cases
//! that compare state after a DEL also see it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use serde_json::{json, Value};

/// Where the real plugins live (Debian's containernetworking-plugins).
const REAL_DIR: &str = "/usr/lib/cni";
/// Where the plugin's private state lives (mounted per scenario by the harness).
const STATE_DIR: &str = "/var/lib/cni";
/// Spec versions that exist; `accepts-unknown-version` serves anything else as 1.0.0.
const KNOWN: &[&str] = &[
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

const MUTATIONS: &[&str] = &[
    "none",
    "wrong-result-version",
    "leak-on-del",
    "del-not-idempotent",
    "error-exit-zero",
    "junk-stdout",
    "check-never-fails",
    "wrong-ifname",
    "hang",
    "no-error-json",
    "version-lies",
    "del-without-netns-fails",
    "missing-sandbox",
    "accepts-unknown-version",
    "del-overreaches",
    "version-text-line",
    "version-no-cniversion",
    "fail-add",
    "ignore-runtime-config-add",
    "ignore-runtime-config-del",
];

/// What the wrapper writes and how it exits.
struct Out {
    status: u8,
    stdout: Vec<u8>,
}

impl Out {
    fn ok_empty() -> Out {
        Out {
            status: 0,
            stdout: Vec::new(),
        }
    }

    fn error(version: &str, code: u32, msg: &str) -> Out {
        let e = json!({ "cniVersion": version, "code": code, "msg": msg });
        Out {
            status: 1,
            stdout: serde_json::to_vec_pretty(&e).expect("json"),
        }
    }
}

/// `(mutation, real plugin)` from the sidecar file or the file name.
fn identity() -> Result<(String, String), String> {
    let argv0 = std::env::args_os().next().map(PathBuf::from);
    let exe = std::env::current_exe().ok();
    let candidates: Vec<PathBuf> = argv0.into_iter().chain(exe).collect();
    for p in &candidates {
        let Some(name) = p.file_name() else { continue };
        let mut side = name.to_os_string();
        side.push(".mutation");
        if let Ok(text) = std::fs::read_to_string(p.with_file_name(side)) {
            return parse_spec(text.trim());
        }
    }
    for p in &candidates {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(spec) = name.strip_prefix("mutant-") {
            return parse_spec(spec);
        }
    }
    Err(format!(
        "cannot tell the mutation: name the binary mutant-<mutation>[@<plugin>] or put a \
         <exe>.mutation file next to it (seen: {candidates:?})"
    ))
}

fn parse_spec(spec: &str) -> Result<(String, String), String> {
    let (mutation, plugin) = match spec.split_once('@') {
        Some((m, p)) => (m, Some(p)),
        None => (spec, None),
    };
    if !MUTATIONS.contains(&mutation) {
        return Err(format!(
            "unknown mutation {mutation:?}; known: {MUTATIONS:?}"
        ));
    }
    let plugin = plugin.unwrap_or(match mutation {
        "wrong-ifname" | "missing-sandbox" | "check-never-fails" => "ptp",
        _ => "host-local",
    });
    if plugin.is_empty() || plugin.contains('/') {
        return Err(format!("bad plugin name {plugin:?}"));
    }
    Ok((mutation.to_string(), plugin.to_string()))
}

/// Runs the real plugin with the inherited environment plus `env`, feeding `stdin`; its
/// stderr goes straight to ours.
fn run_real(plugin: &str, env: &[(&str, String)], stdin: &[u8]) -> Out {
    let path = Path::new(REAL_DIR).join(plugin);
    let child = Command::new(&path)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Out::error(
                "1.0.0",
                999,
                &format!("cni-mutant: cannot run {}: {e}", path.display()),
            )
        }
    };
    let mut pipe = child.stdin.take().expect("piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output();
    let _ = writer.join();
    match out {
        Ok(o) => Out {
            status: o.status.code().map_or(1, |c| c as u8),
            stdout: o.stdout,
        },
        Err(e) => Out::error("1.0.0", 999, &format!("cni-mutant: waiting failed: {e}")),
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Another valid version string of the same result family, so only ADD-6 breaks.
fn other_version(v: &str) -> &'static str {
    match v {
        "0.1.0" => "0.2.0",
        "0.2.0" => "0.1.0",
        "0.3.0" => "0.3.1",
        "0.3.1" => "0.3.0",
        "0.4.0" => "0.3.1",
        "1.0.0" => "1.1.0",
        _ => "1.0.0",
    }
}

/// Applies `f` to the stdout JSON object, if it is one.
fn edit_json(out: &mut Out, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    if let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(&out.stdout) {
        f(&mut o);
        out.stdout = serde_json::to_vec_pretty(&Value::Object(o)).expect("json");
    }
}

fn tombstone() -> Option<PathBuf> {
    let cid = env("CNI_CONTAINERID")?;
    let ifname = env("CNI_IFNAME")?;
    Some(Path::new(STATE_DIR).join("cni-mutant").join(format!(
        "deleted-{}-{}",
        safe(&cid),
        safe(&ifname)
    )))
}

/// host-local's reservation files of network `name` (not its lock or cursor files).
fn reservations(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(STATE_DIR).join("networks").join(name);
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            p.is_file() && n != "lock" && !n.starts_with("last_reserved_ip")
        })
        .collect()
}

fn mutate(mutation: &str, plugin: &str, stdin: Vec<u8>) -> Out {
    let command = env("CNI_COMMAND").unwrap_or_default();
    let request: Value = serde_json::from_slice(&stdin).unwrap_or(Value::Null);
    let version = request["cniVersion"]
        .as_str()
        .unwrap_or("1.0.0")
        .to_string();
    let mut stdin = stdin;
    let mut extra_env: Vec<(&str, String)> = Vec::new();

    // Before the real plugin runs.
    match (mutation, command.as_str()) {
        ("hang", "ADD") => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        ("check-never-fails", "CHECK") | ("leak-on-del", "DEL") => return Out::ok_empty(),
        ("fail-add", "ADD") => {
            return Out::error(
                &version,
                999,
                "cni-mutant: cannot create the interface: operation not supported",
            );
        }
        ("del-without-netns-fails", "DEL") => {
            let netns = env("CNI_NETNS").unwrap_or_default();
            if netns.is_empty() || !Path::new(&netns).exists() {
                return Out::error(
                    &version,
                    999,
                    &format!("cni-mutant: cannot open netns {netns:?}"),
                );
            }
        }
        ("version-lies", c) if c != "VERSION" && version == "1.1.0" => {
            return Out::error(&version, 1, "cni-mutant: incompatible CNI versions");
        }
        ("del-not-idempotent", "ADD") => {
            if let Some(t) = tombstone() {
                let _ = std::fs::remove_file(t);
            }
        }
        ("del-not-idempotent", "DEL") => {
            if let Some(t) = tombstone().filter(|t| t.exists()) {
                return Out::error(
                    &version,
                    999,
                    &format!("cni-mutant: attachment already deleted ({})", t.display()),
                );
            }
        }
        ("accepts-unknown-version", _) if request.is_object() && !KNOWN.contains(&&*version) => {
            let mut r = request.clone();
            r["cniVersion"] = "1.0.0".into();
            stdin = serde_json::to_vec(&r).expect("json");
        }
        ("ignore-runtime-config-add", "ADD") | ("ignore-runtime-config-del", "DEL")
            if request.get("runtimeConfig").is_some() =>
        {
            let mut r = request.clone();
            if let Some(o) = r.as_object_mut() {
                o.remove("runtimeConfig");
            }
            stdin = serde_json::to_vec(&r).expect("json");
        }
        ("wrong-ifname", _) => {
            if let Some(ifname) = env("CNI_IFNAME") {
                let alt: String = format!("m{ifname}").chars().take(15).collect();
                extra_env.push(("CNI_IFNAME", alt));
            }
        }
        _ => {}
    }

    let mut out = run_real(plugin, &extra_env, &stdin);
    let ok = out.status == 0;

    // After it.
    match (mutation, command.as_str()) {
        ("wrong-result-version", "ADD") if ok => edit_json(&mut out, |o| {
            o.insert("cniVersion".into(), other_version(&version).into());
        }),
        ("error-exit-zero", _) if !ok => out.status = 0,
        ("junk-stdout", "ADD") if ok => {
            let mut s = b"cni-mutant: interface configured\n".to_vec();
            s.extend_from_slice(&out.stdout);
            out.stdout = s;
        }
        ("no-error-json", _) if !ok => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|j| j["msg"].as_str().map(str::to_string))
                .unwrap_or(text);
            out.stdout = format!("error: {}\n", msg.trim()).into_bytes();
        }
        ("version-lies", "VERSION") if ok => edit_json(&mut out, |o| {
            if let Some(Value::Array(list)) = o.get_mut("supportedVersions") {
                if !list.iter().any(|v| v == "1.1.0") {
                    list.push("1.1.0".into());
                }
            }
        }),
        ("version-text-line", "VERSION") if ok => {
            let mut s = b"cni-mutant: plugin starting\n".to_vec();
            s.extend_from_slice(&out.stdout);
            out.stdout = s;
        }
        ("version-no-cniversion", "VERSION") if ok => edit_json(&mut out, |o| {
            o.remove("cniVersion");
        }),
        ("missing-sandbox", "ADD") if ok => edit_json(&mut out, |o| {
            if let Some(Value::Array(ifaces)) = o.get_mut("interfaces") {
                for i in ifaces.iter_mut().filter_map(Value::as_object_mut) {
                    i.remove("sandbox");
                }
            }
        }),
        ("del-not-idempotent", "DEL") if ok => {
            if let Some(t) = tombstone() {
                if let Some(dir) = t.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = std::fs::write(t, b"");
            }
        }
        ("del-overreaches", "DEL") if ok => {
            if let Some(name) = request["name"].as_str() {
                for p in reservations(name) {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        _ => {}
    }
    out
}

fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let out = match identity() {
        Ok((mutation, plugin)) => mutate(&mutation, &plugin, stdin),
        Err(e) => Out::error("1.0.0", 999, &e),
    };
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(&out.stdout);
    let _ = so.flush();
    ExitCode::from(out.status)
}
