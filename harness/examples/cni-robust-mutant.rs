//! `cni-robust-mutant`: small self-contained plugins, each in a correct form and in a form
//! with one robustness defect, so the tests can prove that `certify --faults` and
//! `--concurrency` catch the defects the ordinary cases cannot see
//! (`tests/robustness_mutants.rs`). The mode is the file name: `robust-<mode>` (argv[0]
//! works for symlinks), as the harness clears the environment of plugin runs.
//!
//! | mode                   | what it is                                                       |
//! |------------------------|------------------------------------------------------------------|
//! | `state-then-link`      | link plugin, correct: records its link in its state file, then   |
//! |                        | creates it; DEL deletes what the state file names                |
//! | `link-then-state`      | defect: creates the link first, so a kill in between leaves a    |
//! |                        | link no DEL knows about                                          |
//! | `validate-then-link`   | link plugin, correct: checks `mtu` before creating anything      |
//! | `link-then-validate`   | defect: creates the link (state recorded first), then checks     |
//! |                        | `mtu`, and fails leaving the link in place until a DEL           |
//! | `ipam-locked`          | IPAM plugin, correct: allocation under an exclusive flock        |
//! | `ipam-racy`            | defect: reads the free addresses, works a moment, writes: no lock |
//!
//! Link plugins make a bridge link `rm<8 hex digits of a hash of container ID and ifname>` in
//! the namespace they run in (the node's), with `ip`, and keep `/var/lib/cni/robust-mutant/
//! <container id>-<ifname>` naming it. IPAM plugins hand out addresses of `ipam.subnet`
//! (a /24, hosts .2 to .254) as files `/var/lib/cni/robust-ipam/<network>/<address>` holding
//! `<container id>\n<ifname>`. Both answer VERSION, ADD, CHECK, DEL, STATUS and GC, and errors
//! as error objects.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const STATE_DIR: &str = "/var/lib/cni";
const VERSIONS: &[&str] = &["0.3.1", "0.4.0", "1.0.0"];
const MODES: &[&str] = &[
    "state-then-link",
    "link-then-state",
    "validate-then-link",
    "link-then-validate",
    "ipam-locked",
    "ipam-racy",
];

/// A CNI error: code and message.
struct Fail(u32, String);

type Answer = Result<Option<Value>, Fail>;

fn mode() -> Result<String, String> {
    let argv0 = std::env::args_os().next().map(PathBuf::from);
    let exe = std::env::current_exe().ok();
    for p in argv0.iter().chain(exe.iter()) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(m) = name.strip_prefix("robust-") {
            if MODES.contains(&m) {
                return Ok(m.to_string());
            }
        }
    }
    Err(format!("name the binary robust-<mode>, one of {MODES:?}"))
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_default()
}

fn hash(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Asked over netlink (`/sys/class/net` shows the namespace sysfs was mounted in).
fn link_exists(name: &str) -> bool {
    ip(&["link", "show", "dev", name]).is_ok()
}

/// The link plugin's verbs.
fn link_plugin(mode: &str, command: &str, req: &Value, version: &str) -> Answer {
    let cid = env("CNI_CONTAINERID");
    let ifname = env("CNI_IFNAME");
    let link = format!("rm{:08x}", hash(&format!("{cid}/{ifname}")));
    let dir = Path::new(STATE_DIR).join("robust-mutant");
    let state = dir.join(format!("{cid}-{ifname}"));
    let mtu_ok = || match req.get("mtu") {
        None => Ok(()),
        Some(v) if v.is_u64() => Ok(()),
        Some(v) => Err(Fail(7, format!("mtu must be a number, not {v}"))),
    };
    let write_state = || {
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&state, &link))
            .map_err(|e| Fail(999, format!("cannot write {}: {e}", state.display())))
    };
    let create = || match ip(&["link", "add", &link, "type", "bridge"]) {
        Ok(()) => Ok(()),
        // Ours from an earlier, interrupted ADD whose state names it: adopt it.
        Err(_) if link_exists(&link) && state.exists() => Ok(()),
        Err(e) => Err(Fail(999, format!("cannot create {link}: {e}"))),
    };
    match command {
        "ADD" => {
            if cid.is_empty() || ifname.is_empty() {
                return Err(Fail(
                    4,
                    "CNI_CONTAINERID and CNI_IFNAME are required".into(),
                ));
            }
            match mode {
                "state-then-link" | "validate-then-link" => {
                    mtu_ok()?;
                    write_state()?;
                    create()?;
                }
                "link-then-state" => {
                    mtu_ok()?;
                    create()?;
                    write_state()?;
                }
                _ => {
                    write_state()?;
                    create()?;
                    mtu_ok()?;
                }
            }
            Ok(Some(json!({
                "cniVersion": version,
                "interfaces": [{ "name": link }],
                "ips": [],
            })))
        }
        "DEL" => {
            if let Ok(name) = std::fs::read_to_string(&state) {
                if link_exists(&name) {
                    ip(&["link", "del", &name]).map_err(|e| Fail(999, e))?;
                }
                let _ = std::fs::remove_file(&state);
            }
            Ok(None)
        }
        "CHECK" => {
            if state.exists() && link_exists(&link) {
                Ok(None)
            } else {
                Err(Fail(999, format!("link {link} or its state is missing")))
            }
        }
        _ => Ok(None),
    }
}

/// The IPAM plugin's verbs.
fn ipam_plugin(mode: &str, command: &str, req: &Value, version: &str) -> Answer {
    let cid = env("CNI_CONTAINERID");
    let ifname = env("CNI_IFNAME");
    let owner = format!("{cid}\n{ifname}");
    let net = req["name"].as_str().unwrap_or("");
    if net.is_empty() || net.contains('/') || net.starts_with('.') {
        return Err(Fail(7, format!("bad network name {net:?}")));
    }
    let subnet = req["ipam"]["subnet"].as_str().unwrap_or("");
    let prefix = subnet
        .strip_suffix(".0/24")
        .ok_or_else(|| Fail(7, format!("ipam.subnet must be a /24, not {subnet:?}")))?
        .to_string();
    let dir = Path::new(STATE_DIR).join("robust-ipam").join(net);
    std::fs::create_dir_all(&dir).map_err(|e| Fail(999, e.to_string()))?;
    let _lock = (mode == "ipam-locked")
        .then(|| {
            let f = std::fs::File::create(dir.join("lock")).ok()?;
            nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok()
        })
        .flatten();
    let entries: Vec<(String, String)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name != "lock").then(|| (name, std::fs::read_to_string(e.path()).unwrap_or_default()))
        })
        .collect();
    let mine = entries
        .iter()
        .find(|(_, o)| *o == owner)
        .map(|(n, _)| n.clone());
    let result =
        |addr: &str| json!({ "cniVersion": version, "ips": [{ "address": format!("{addr}/24") }] });
    match command {
        "ADD" => {
            if let Some(addr) = mine {
                return Ok(Some(result(&addr)));
            }
            let taken: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
            let addr = (2..255)
                .map(|h| format!("{prefix}.{h}"))
                .find(|a| !taken.contains(&a.as_str()))
                .ok_or_else(|| Fail(999, "no free address".into()))?;
            // Work between reading the store and writing it (as a real allocator checks
            // routes or pings); the locked form holds its lock throughout.
            std::thread::sleep(Duration::from_millis(30));
            std::fs::write(dir.join(&addr), &owner).map_err(|e| Fail(999, e.to_string()))?;
            Ok(Some(result(&addr)))
        }
        "DEL" => {
            for (n, o) in &entries {
                if *o == owner {
                    let _ = std::fs::remove_file(dir.join(n));
                }
            }
            Ok(None)
        }
        "CHECK" => match mine {
            Some(_) => Ok(None),
            None => Err(Fail(999, "no reservation for this attachment".into())),
        },
        "GC" => {
            let valid: Vec<String> = req["cni.dev/valid-attachments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    format!(
                        "{}\n{}",
                        a["containerID"].as_str().unwrap_or(""),
                        a["ifname"].as_str().unwrap_or("")
                    )
                })
                .collect();
            for (n, o) in &entries {
                if !valid.contains(o) {
                    let _ = std::fs::remove_file(dir.join(n));
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn serve(mode: &str, stdin: &[u8]) -> Answer {
    let command = env("CNI_COMMAND");
    let req: Value =
        serde_json::from_slice(stdin).map_err(|e| Fail(6, format!("bad request: {e}")))?;
    let version = req["cniVersion"].as_str().unwrap_or("").to_string();
    if command == "VERSION" {
        return Ok(Some(json!({
            "cniVersion": if version.is_empty() { "1.0.0" } else { &version },
            "supportedVersions": VERSIONS,
        })));
    }
    if !matches!(command.as_str(), "ADD" | "DEL" | "CHECK" | "STATUS" | "GC") {
        return Err(Fail(4, format!("unknown CNI_COMMAND {command:?}")));
    }
    if !VERSIONS.contains(&version.as_str()) {
        return Err(Fail(1, format!("unsupported cniVersion {version:?}")));
    }
    if mode.starts_with("ipam-") {
        ipam_plugin(mode, &command, &req, &version)
    } else {
        link_plugin(mode, &command, &req, &version)
    }
}

fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let version = serde_json::from_slice::<Value>(&stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(str::to_string))
        .filter(|v| VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| "1.0.0".into());
    let answer = mode()
        .map_err(|e| Fail(999, e))
        .and_then(|m| serve(&m, &stdin));
    let mut out = std::io::stdout().lock();
    match answer {
        Ok(Some(v)) => {
            let _ = out.write_all(v.to_string().as_bytes());
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            let e = json!({ "cniVersion": version, "code": code, "msg": msg });
            let _ = out.write_all(e.to_string().as_bytes());
            ExitCode::from(1)
        }
    }
}
