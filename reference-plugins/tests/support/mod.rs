//! What the plugin integration tests share (`mod support;` in each): running a built plugin
//! the way a runtime does (inside a node namespace, environment and stdin only), editing
//! configurations, reading the host-local store and sysctls, and assertions on a run's
//! `Output`. Not every test file uses every helper.
#![allow(dead_code)]

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use netns_sandbox::Netns;
use serde_json::Value;

/// `PATH` given to plugins: they may run `nft` or `iptables-restore`.
const PLUGIN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The built binary of one of our plugins.
pub fn plugin_bin(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "bridge" => env!("CARGO_BIN_EXE_bridge"),
        "host-local" => env!("CARGO_BIN_EXE_host-local"),
        "ipvlan" => env!("CARGO_BIN_EXE_ipvlan"),
        "loopback" => env!("CARGO_BIN_EXE_loopback"),
        "macvlan" => env!("CARGO_BIN_EXE_macvlan"),
        "ptp" => env!("CARGO_BIN_EXE_ptp"),
        "tuning" => env!("CARGO_BIN_EXE_tuning"),
        "vlan" => env!("CARGO_BIN_EXE_vlan"),
        other => panic!("no plugin binary named {other}"),
    })
}

/// The directory of our built plugins, the `CNI_PATH` for delegation to our host-local.
pub fn plugin_dir() -> PathBuf {
    plugin_bin("host-local").parent().unwrap().to_path_buf()
}

/// One invocation's environment. An empty `id` or `ifname` leaves that variable unset, as
/// does `netns: None`.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub verb: &'a str,
    pub id: &'a str,
    pub ifname: &'a str,
    pub netns: Option<&'a Path>,
    pub cni_args: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// `verb` for container `id` on `eth0` in `netns`.
    pub fn new(verb: &'a str, id: &'a str, netns: Option<&'a Path>) -> Call<'a> {
        Call {
            verb,
            id,
            ifname: if id.is_empty() { "" } else { "eth0" },
            netns,
            cni_args: None,
        }
    }
}

/// Starts our `plugin` inside `node` with a clean environment (`CNI_PATH` = [`plugin_dir`])
/// and `conf` written to its stdin; stdout and stderr are piped.
pub fn spawn_plugin(node: &Netns, plugin: &str, call: &Call<'_>, conf: &Value) -> Child {
    spawn_program(node, plugin_bin(plugin).as_os_str(), &[], call, conf)
}

/// [`spawn_plugin`] for any program with arguments (another implementation of a plugin, or
/// a wrapper that runs the plugin given as its last argument).
pub fn spawn_program(
    node: &Netns,
    program: &std::ffi::OsStr,
    args: &[&std::ffi::OsStr],
    call: &Call<'_>,
    conf: &Value,
) -> Child {
    let mut cmd = node.command(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", PLUGIN_PATH)
        .env("CNI_COMMAND", call.verb)
        .env("CNI_PATH", plugin_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in [
        ("CNI_CONTAINERID", call.id),
        ("CNI_IFNAME", call.ifname),
        ("CNI_ARGS", call.cni_args.unwrap_or_default()),
    ] {
        if !value.is_empty() {
            cmd.env(key, value);
        }
    }
    if let Some(ns) = call.netns {
        cmd.env("CNI_NETNS", ns);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{program:?} does not start: {e}"));
    let written = child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes());
    // A plugin that refuses its environment may exit before reading stdin.
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    child
}

/// Runs our `plugin` inside `node` to the end (see [`spawn_plugin`]); fails the test if it
/// panicked.
pub fn run_plugin(node: &Netns, plugin: &str, call: &Call<'_>, conf: &Value) -> Output {
    let out = spawn_plugin(node, plugin, call, conf)
        .wait_with_output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panic"),
        "{plugin} panicked: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `conf` with the keys of `extra` set; a `null` in `extra` removes the key.
pub fn merged(mut conf: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("extra keys are an object") {
        if v.is_null() {
            conf.as_object_mut().unwrap().remove(k);
        } else {
            conf[k] = v.clone();
        }
    }
    conf
}

/// The addresses reserved in host-local's store of network `net` under `data_dir`, sorted.
pub fn reserved(data_dir: &Path, net: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join(net)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<IpAddr>().is_ok())
        .collect();
    out.sort();
    out
}

/// A sysctl's value as seen inside `ns` (`key` as under `/proc/sys/`).
pub fn sysctl(ns: &Netns, key: &str) -> String {
    let out = ns
        .command("cat")
        .arg(format!("/proc/sys/{key}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Exit status, stdout and stderr of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}, stdout {}, stderr {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Exit 0 with one JSON document on stdout, returned.
pub fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Exit 0 with nothing on stdout (CHECK, DEL, STATUS, GC).
pub fn assert_silent_ok(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
    assert!(out.stdout.is_empty(), "{}", text(out));
}

/// Exit 1 with an error object; returns its code.
pub fn error_code(out: &Output) -> u64 {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(out)));
    assert!(!e["msg"].as_str().unwrap_or_default().is_empty(), "{e}");
    e["code"].as_u64().unwrap()
}

/// Runs `ip <args>` in `ns` and fails the test if it fails.
pub fn ip(ns: &Netns, args: &[&str]) {
    let out = ns.command("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

/// A node namespace (the plugin's "host", `lo` up) in which one of our plugins runs, with a
/// host-local data directory for its IPAM.
pub struct Node {
    pub ns: Netns,
    pub data: tempfile::TempDir,
    pub plugin: &'static str,
}

impl Node {
    pub fn new(label: &str, plugin: &'static str) -> Node {
        let ns = Netns::new(label).unwrap();
        ip(&ns, &["link", "set", "lo", "up"]);
        Node {
            ns,
            data: tempfile::tempdir().unwrap(),
            plugin,
        }
    }

    /// host-local's `ipam` object over `subnet`, storing under this node's data directory.
    pub fn host_local(&self, subnet: &str) -> Value {
        serde_json::json!({
            "type": "host-local",
            "dataDir": self.data.path(),
            "ranges": [[{"subnet": subnet}]],
        })
    }

    /// Runs the plugin to the end (see [`run_plugin`]).
    pub fn run(&self, call: &Call<'_>, conf: &Value) -> Output {
        run_plugin(&self.ns, self.plugin, call, conf)
    }

    /// ADD of container `id` on `eth0` in `c`; must succeed.
    pub fn add(&self, id: &str, c: &Netns, conf: &Value) -> Value {
        ok_json(&self.run(&Call::new("ADD", id, Some(c.path())), conf))
    }

    /// CHECK of container `id` on `eth0` in `c` with `prev` as `prevResult`.
    pub fn check(&self, id: &str, c: &Netns, conf: &Value, prev: &Value) -> Output {
        let conf = merged(conf.clone(), serde_json::json!({ "prevResult": prev }));
        self.run(&Call::new("CHECK", id, Some(c.path())), &conf)
    }

    /// DEL of container `id` on `eth0`; `netns` `None` leaves `CNI_NETNS` unset.
    pub fn del(&self, id: &str, netns: Option<&Path>, conf: &Value) -> Output {
        self.run(&Call::new("DEL", id, netns), conf)
    }

    /// The addresses host-local reserved for network `net` on this node.
    pub fn reserved(&self, net: &str) -> Vec<String> {
        reserved(self.data.path(), net)
    }
}
