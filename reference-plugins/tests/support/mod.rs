//! What the plugin integration tests share (`mod support;` in each): running a built plugin
//! the way a runtime does (inside a node namespace, environment and stdin only), editing
//! configurations, reading the host-local store and sysctls, and assertions on a run's
//! `Output`; a node namespace to run a plugin in ([`Node`]); and the checks every interface
//! plugin must pass the same way ([`verb_rules`]). Not every test file uses every helper.
#![allow(dead_code)]

pub mod install_dir;
pub mod verb_rules;

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use ipnet::IpNet;
use netns_sandbox::Netns;
use reference_plugins::netlink::{Link, Netlink};
use serde_json::{json, Value};

/// `PATH` given to plugins: they may run `nft` or `iptables-restore`.
const PLUGIN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The built binary of one of our plugins.
pub fn plugin_bin(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "bridge" => env!("CARGO_BIN_EXE_bridge"),
        "dhcp" => env!("CARGO_BIN_EXE_dhcp"),
        "host-local" => env!("CARGO_BIN_EXE_host-local"),
        "ipvlan" => env!("CARGO_BIN_EXE_ipvlan"),
        "loopback" => env!("CARGO_BIN_EXE_loopback"),
        "macvlan" => env!("CARGO_BIN_EXE_macvlan"),
        "portmap" => env!("CARGO_BIN_EXE_portmap"),
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
    spawn_program(node, &plugin_bin(plugin), call, conf)
}

/// [`spawn_plugin`] for any plugin executable (an upstream one, say).
pub fn spawn_program(node: &Netns, program: &Path, call: &Call<'_>, conf: &Value) -> Child {
    let mut cmd = node.command(program);
    cmd.env_clear()
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
        .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display()));
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
    run_program(node, &plugin_bin(plugin), call, conf)
}

/// [`run_plugin`] for any plugin executable (an upstream one, say).
pub fn run_program(node: &Netns, program: &Path, call: &Call<'_>, conf: &Value) -> Output {
    let out = spawn_program(node, program, call, conf)
        .wait_with_output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panic"),
        "{} panicked: {}",
        program.display(),
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

/// Writes a sysctl inside `ns`, a namespace the test made (`key` as under `/proc/sys/`). A new
/// namespace starts with init_net's IPv4 settings (`conf/all`, `conf/default`, hence
/// `ip_forward`, are copied while net.core.devconf_inherit_init_net is 0): a test that checks
/// a plugin turned one on first sets it off here, so that it does not depend on the host's
/// value (1 on every Docker or Kubernetes node).
pub fn set_sysctl(ns: &Netns, key: &str, value: &str) {
    let out = ns
        .command("sh")
        .args([
            "-c",
            "printf '%s\\n' \"$1\" > \"/proc/sys/$2\"",
            "sh",
            value,
            key,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "setting {key} to {value}: {out:?}");
    assert_eq!(sysctl(ns, key), value, "{key} in the test's namespace");
}

/// The host's value of a sysctl (the namespace the tests run in).
pub fn host_sysctl(key: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{key}"))
        .unwrap()
        .trim()
        .to_string()
}

/// The global (scope 0) addresses of link `index`, sorted.
pub fn global_addrs(nl: &mut Netlink, index: u32) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = nl
        .addresses(index, None)
        .unwrap()
        .into_iter()
        .filter(|a| a.scope == 0)
        .map(|a| a.net())
        .collect();
    v.sort();
    v
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

/// Exit 1 with an error object (a numeric `code`, a `msg`); returns it.
pub fn error_json(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(out)));
    assert!(e["code"].as_u64().is_some(), "{e}");
    assert!(!e["msg"].as_str().unwrap_or_default().is_empty(), "{e}");
    e
}

/// Exit 1 with an error object; returns its code.
pub fn error_code(out: &Output) -> u64 {
    error_json(out)["code"].as_u64().unwrap()
}

/// Runs `ip <args>` in `ns` and fails the test if it fails.
pub fn ip(ns: &Netns, args: &[&str]) {
    let out = ns.command("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?} in {}: {out:?}",
        ns.name()
    );
}

/// The kind of a link [`Node::add_link`] makes.
#[derive(Clone, Copy, Debug)]
pub enum LinkKind {
    /// One end of a veth pair; the peer is `<name>p`.
    Veth,
    /// A dummy link (the VM lane's kernel has them, this machine's has not).
    Dummy,
}

/// A node namespace (the plugin's "host", `lo` up) in which one of our plugins runs, with a
/// host-local data directory for its IPAM and the network name its configurations use;
/// optionally a master link for macvlan, ipvlan and vlan ([`Node::with_master`]).
pub struct Node {
    pub ns: Netns,
    pub data: tempfile::TempDir,
    pub plugin: &'static str,
    /// The configurations' `name`, and so the directory of host-local's store.
    pub net: String,
    master: Option<&'static str>,
}

impl Node {
    /// A node for `plugin`'s network `net`, in a namespace labelled `label`.
    pub fn new(label: &str, plugin: &'static str, net: &str) -> Node {
        let ns = Netns::new(label).unwrap();
        ip(&ns, &["link", "set", "lo", "up"]);
        Node {
            ns,
            data: tempfile::tempdir().unwrap(),
            plugin,
            net: net.to_owned(),
            master: None,
        }
    }

    /// This node with the link `name` of `kind` added ([`Node::add_link`]): the master that
    /// [`Node::master`] reads.
    pub fn with_master(mut self, name: &'static str, kind: LinkKind) -> Node {
        self.add_link(name, kind);
        self.master = Some(name);
        self
    }

    /// Adds the link `name` to the node, up (a veth's peer `<name>p` too).
    pub fn add_link(&self, name: &str, kind: LinkKind) {
        match kind {
            LinkKind::Veth => {
                let peer = format!("{name}p");
                ip(
                    &self.ns,
                    &["link", "add", name, "type", "veth", "peer", "name", &peer],
                );
                ip(&self.ns, &["link", "set", name, "up"]);
                ip(&self.ns, &["link", "set", &peer, "up"]);
            }
            LinkKind::Dummy => {
                ip(&self.ns, &["link", "add", name, "type", "dummy"]);
                ip(&self.ns, &["link", "set", name, "up"]);
            }
        }
    }

    /// `{"cniVersion": version, "name": <net>, "type": <plugin>}` and the keys of `extra` (see
    /// [`merged`]).
    pub fn net_conf(&self, version: &str, extra: Value) -> Value {
        let conf = json!({"cniVersion": version, "name": self.net, "type": self.plugin});
        merged(conf, extra)
    }

    /// host-local's `ipam` object over `subnet`, storing under this node's data directory.
    pub fn host_local(&self, subnet: &str) -> Value {
        self.host_local_ranges(json!([[{ "subnet": subnet }]]))
    }

    /// host-local's `ipam` object with these `ranges`, storing under this node's data
    /// directory.
    pub fn host_local_ranges(&self, ranges: Value) -> Value {
        json!({
            "type": "host-local",
            "dataDir": self.data.path(),
            "ranges": ranges,
        })
    }

    /// Runs the plugin to the end (see [`run_plugin`]).
    pub fn run_call(&self, call: &Call<'_>, conf: &Value) -> Output {
        run_plugin(&self.ns, self.plugin, call, conf)
    }

    /// Runs `verb` for container `id` on `eth0` (an empty `id` leaves both unset); `netns`
    /// `None` leaves `CNI_NETNS` unset.
    pub fn run(&self, verb: &str, id: &str, netns: Option<&Path>, conf: &Value) -> Output {
        self.run_call(&Call::new(verb, id, netns), conf)
    }

    /// [`Node::run`] with `CNI_ARGS` (`None`: unset).
    pub fn run_env(
        &self,
        verb: &str,
        id: &str,
        netns: Option<&Path>,
        conf: &Value,
        cni_args: Option<&str>,
    ) -> Output {
        let call = Call {
            cni_args,
            ..Call::new(verb, id, netns)
        };
        self.run_call(&call, conf)
    }

    /// Starts the plugin as [`Node::run`] does, without waiting for it.
    pub fn spawn(&self, verb: &str, id: &str, netns: Option<&Path>, conf: &Value) -> Child {
        spawn_plugin(&self.ns, self.plugin, &Call::new(verb, id, netns), conf)
    }

    /// ADD of container `id` on `eth0` in `c`; must succeed.
    pub fn add(&self, id: &str, c: &Netns, conf: &Value) -> Value {
        ok_json(&self.run("ADD", id, Some(c.path()), conf))
    }

    /// CHECK of container `id` on `eth0` in `c` with `prev` as `prevResult`.
    pub fn check(&self, id: &str, c: &Netns, conf: &Value, prev: &Value) -> Output {
        let conf = merged(conf.clone(), json!({ "prevResult": prev }));
        self.run("CHECK", id, Some(c.path()), &conf)
    }

    /// DEL of container `id` on `eth0`; `netns` `None` leaves `CNI_NETNS` unset.
    pub fn del(&self, id: &str, netns: Option<&Path>, conf: &Value) -> Output {
        self.run("DEL", id, netns, conf)
    }

    /// The addresses host-local reserved for this node's network.
    pub fn reserved(&self) -> Vec<String> {
        reserved(self.data.path(), &self.net)
    }

    /// A netlink handle in the node namespace.
    pub fn nl(&self) -> Netlink {
        Netlink::open_in(self.ns.path()).unwrap()
    }

    /// The node's link `name`, if there is one.
    pub fn link(&self, name: &str) -> Option<Link> {
        self.nl().link(name).ok()
    }

    /// The master link made by [`Node::with_master`].
    pub fn master(&self) -> Link {
        let name = self.master.expect("a node made with_master");
        self.link(name)
            .unwrap_or_else(|| panic!("no master {name} in {}", self.ns.name()))
    }

    /// The names of the node's veth links.
    pub fn veths(&self) -> Vec<String> {
        self.nl()
            .links()
            .unwrap()
            .into_iter()
            .filter(|l| l.is_kind("veth"))
            .map(|l| l.name)
            .collect()
    }

    /// A sysctl's value in the node namespace (`key` as under `/proc/sys/`).
    pub fn sysctl(&self, key: &str) -> String {
        sysctl(&self.ns, key)
    }

    /// Sets a sysctl in the node namespace: see [`set_sysctl`].
    pub fn set_sysctl(&self, key: &str, value: &str) {
        set_sysctl(&self.ns, key, value)
    }
}
