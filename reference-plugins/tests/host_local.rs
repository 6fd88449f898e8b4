//! The `host-local` binary end to end, run like a runtime runs it (environment + stdin), each
//! test with its own temporary `dataDir`; plus store interchange with Debian's upstream binary.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::{json, Value};
use tempfile::TempDir;

const UPSTREAM: &str = "/usr/lib/cni/host-local";
const NET: &str = "hlnet";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Impl {
    Ours,
    Upstream,
}

fn upstream_path() -> &'static str {
    assert!(
        Path::new(UPSTREAM).exists(),
        "{UPSTREAM} is missing: run scripts/setup.sh (installs Debian's containernetworking-plugins)"
    );
    UPSTREAM
}

/// One invocation: verb, attachment, optional `CNI_ARGS`, config on stdin.
struct Call<'a> {
    verb: &'a str,
    id: &'a str,
    ifname: &'a str,
    cni_args: Option<&'a str>,
    netns: bool,
}

fn call<'a>(verb: &'a str, id: &'a str) -> Call<'a> {
    Call {
        verb,
        id,
        ifname: "eth0",
        cni_args: None,
        netns: true,
    }
}

fn run_with(which: Impl, c: &Call<'_>, conf: &Value) -> Output {
    let mut cmd = match which {
        Impl::Ours => Command::cargo_bin("host-local").unwrap(),
        Impl::Upstream => Command::new(upstream_path()),
    };
    cmd.env_clear()
        .env("CNI_COMMAND", c.verb)
        .env("CNI_PATH", "/usr/lib/cni")
        .write_stdin(conf.to_string());
    if !c.id.is_empty() {
        cmd.env("CNI_CONTAINERID", c.id);
    }
    if !c.ifname.is_empty() {
        cmd.env("CNI_IFNAME", c.ifname);
    }
    if c.netns {
        // host-local never enters it; it only has to be present for ADD and CHECK.
        cmd.env("CNI_NETNS", "/run/netns/host-local-test-unused");
    }
    if let Some(a) = c.cni_args {
        cmd.env("CNI_ARGS", a);
    }
    cmd.output().expect("plugin runs")
}

fn run(c: &Call<'_>, conf: &Value) -> Output {
    run_with(Impl::Ours, c, conf)
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}, stdout {}, stderr {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn ok_silent(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
    assert!(out.stdout.is_empty(), "{}", text(out));
}

/// Exit 1 with an error object; returns it.
fn err_json(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    let e: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)));
    assert!(e["code"].as_u64().is_some(), "{e}");
    assert!(!e["msg"].as_str().unwrap_or_default().is_empty(), "{e}");
    e
}

fn err_code(out: &Output) -> u64 {
    err_json(out)["code"].as_u64().unwrap()
}

/// A temporary data directory and the configuration pointing at it.
struct Fx {
    tmp: TempDir,
}

impl Fx {
    fn new() -> Fx {
        Fx {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn store(&self) -> PathBuf {
        self.data().join(NET)
    }

    /// A full request config at `version` with `ipam` (type and dataDir added).
    fn conf(&self, version: &str, mut ipam: Value) -> Value {
        ipam["type"] = json!("host-local");
        if ipam.get("dataDir").is_none() {
            ipam["dataDir"] = json!(self.data());
        }
        json!({"cniVersion": version, "name": NET, "type": "bridge", "ipam": ipam})
    }

    fn v4(&self, version: &str, subnet: &str) -> Value {
        self.conf(version, json!({"ranges": [[{"subnet": subnet}]]}))
    }

    fn file(&self, name: &str) -> Option<String> {
        std::fs::read(self.store().join(name))
            .ok()
            .map(|b| String::from_utf8(b).unwrap())
    }

    /// Names of the address files in the store.
    fn addresses(&self) -> BTreeSet<String> {
        match std::fs::read_dir(self.store()) {
            Err(_) => BTreeSet::new(),
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect(),
        }
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn addr(result: &Value, i: usize) -> String {
    result["ips"][i]["address"].as_str().unwrap().to_string()
}

/// Every path below `root`, for "nothing was created" assertions.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            }
            out.insert(p);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// ADD: families, store format, config keys

#[test]
fn ipv4_add_result_and_store_format() {
    let fx = Fx::new();
    let conf = fx.v4("1.1.0", "10.10.0.0/24");
    let r = ok_json(&run(&call("ADD", "ctr-a"), &conf));
    assert_eq!(
        r,
        json!({"cniVersion": "1.1.0", "ips": [{"address": "10.10.0.2/24", "gateway": "10.10.0.1"}]})
    );
    assert_eq!(fx.file("10.10.0.2").unwrap(), "ctr-a\r\neth0");
    assert_eq!(fx.file("last_reserved_ip.0").unwrap(), "10.10.0.2");
    assert_eq!(fx.file("lock").unwrap(), "");
    let mode = |n: &str| {
        std::fs::metadata(fx.store().join(n))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("10.10.0.2"), 0o600);
    assert_eq!(mode("last_reserved_ip.0"), 0o600);
    let r = ok_json(&run(&call("ADD", "ctr-b"), &conf));
    assert_eq!(addr(&r, 0), "10.10.0.3/24");
    assert_eq!(fx.file("last_reserved_ip.0").unwrap(), "10.10.0.3");
}

#[test]
fn ipv6_add() {
    let fx = Fx::new();
    let conf = fx.v4("1.0.0", "2001:db8:1::/64");
    let r = ok_json(&run(&call("ADD", "ctr-a"), &conf));
    assert_eq!(
        r,
        json!({"cniVersion": "1.0.0", "ips": [{"address": "2001:db8:1::2/64", "gateway": "2001:db8:1::1"}]})
    );
    assert_eq!(fx.file("2001:db8:1::2").unwrap(), "ctr-a\r\neth0");
    assert_eq!(fx.file("last_reserved_ip.0").unwrap(), "2001:db8:1::2");
}

#[test]
fn dual_stack_in_one_call() {
    let fx = Fx::new();
    let conf = fx.conf(
        "1.1.0",
        json!({"ranges": [[{"subnet": "10.11.0.0/24"}], [{"subnet": "fd00:11::/120"}]]}),
    );
    let r = ok_json(&run(&call("ADD", "ctr-a"), &conf));
    assert_eq!(
        r["ips"],
        json!([
            {"address": "10.11.0.2/24", "gateway": "10.11.0.1"},
            {"address": "fd00:11::2/120", "gateway": "fd00:11::1"}
        ])
    );
    assert_eq!(fx.addresses(), set(&["10.11.0.2", "fd00:11::2"]));
    assert_eq!(fx.file("last_reserved_ip.0").unwrap(), "10.11.0.2");
    assert_eq!(fx.file("last_reserved_ip.1").unwrap(), "fd00:11::2");
    ok_silent(&run(&call("DEL", "ctr-a"), &conf));
    assert!(fx.addresses().is_empty());
}

#[test]
fn legacy_top_level_range_goes_first() {
    let fx = Fx::new();
    let conf = fx.conf(
        "1.0.0",
        json!({
            "subnet": "10.12.0.0/24", "rangeStart": "10.12.0.100", "rangeEnd": "10.12.0.110",
            "gateway": "10.12.0.254",
            "ranges": [[{"subnet": "fd00:12::/64"}]]
        }),
    );
    let r = ok_json(&run(&call("ADD", "ctr-a"), &conf));
    assert_eq!(
        r["ips"],
        json!([
            {"address": "10.12.0.100/24", "gateway": "10.12.0.254"},
            {"address": "fd00:12::2/64", "gateway": "fd00:12::1"}
        ])
    );
}

#[test]
fn range_start_end_gateway_and_exhaustion() {
    let fx = Fx::new();
    let conf = fx.conf(
        "1.1.0",
        json!({"ranges": [[{"subnet": "10.13.0.0/24", "rangeStart": "10.13.0.10",
                            "rangeEnd": "10.13.0.12", "gateway": "10.13.0.11"}]]}),
    );
    let a = ok_json(&run(&call("ADD", "a"), &conf));
    assert_eq!(
        a["ips"][0],
        json!({"address": "10.13.0.10/24", "gateway": "10.13.0.11"})
    );
    let b = ok_json(&run(&call("ADD", "b"), &conf));
    assert_eq!(addr(&b, 0), "10.13.0.12/24");
    let e = err_json(&run(&call("ADD", "c"), &conf));
    assert_eq!(e["code"], 100, "{e}");
    let msg = e["msg"].as_str().unwrap();
    assert!(
        msg.contains("no IP addresses available") && msg.contains("10.13.0.10-10.13.0.12"),
        "{msg}"
    );
    assert_eq!(fx.addresses(), set(&["10.13.0.10", "10.13.0.12"]));
    // STATUS reports the full range as "cannot serve ADD"; after a release it is fine again.
    assert_eq!(err_code(&run(&call("STATUS", ""), &conf)), 50);
    ok_silent(&run(&call("DEL", "a"), &conf));
    ok_silent(&run(&call("STATUS", ""), &conf));
}

#[test]
fn allocation_continues_after_last_reserved_and_wraps() {
    let fx = Fx::new();
    // /29: .1 gateway, .2 to .6 usable, .7 broadcast.
    let conf = fx.v4("1.1.0", "10.14.0.0/29");
    let got = |id: &str| addr(&ok_json(&run(&call("ADD", id), &conf)), 0);
    assert_eq!(got("a"), "10.14.0.2/29");
    assert_eq!(got("b"), "10.14.0.3/29");
    ok_silent(&run(&call("DEL", "a"), &conf));
    // .2 is free again, but allocation goes on after the last reserved address.
    assert_eq!(got("c"), "10.14.0.4/29");
    // Moving last_reserved_ip by hand moves the cursor.
    std::fs::write(fx.store().join("last_reserved_ip.0"), "10.14.0.5").unwrap();
    assert_eq!(got("d"), "10.14.0.6/29");
    // End of the range: wrap around to the free .2, then .5.
    assert_eq!(got("e"), "10.14.0.2/29");
    assert_eq!(got("f"), "10.14.0.5/29");
    assert_eq!(err_code(&run(&call("ADD", "g"), &conf)), 100);
    assert_eq!(
        fx.addresses(),
        set(&[
            "10.14.0.2",
            "10.14.0.3",
            "10.14.0.4",
            "10.14.0.5",
            "10.14.0.6"
        ])
    );
}

#[test]
fn never_hands_out_network_broadcast_or_gateway() {
    let fx = Fx::new();
    // An explicit range covering the whole /29, gateway in the middle.
    let conf = fx.conf(
        "1.1.0",
        json!({"ranges": [[{"subnet": "10.15.0.0/29", "rangeStart": "10.15.0.0",
                            "rangeEnd": "10.15.0.7", "gateway": "10.15.0.3"}]]}),
    );
    let mut got = BTreeSet::new();
    for i in 0..5 {
        let r = ok_json(&run(&call("ADD", &format!("c{i}")), &conf));
        got.insert(addr(&r, 0));
    }
    assert_eq!(
        got,
        set(&[
            "10.15.0.1/29",
            "10.15.0.2/29",
            "10.15.0.4/29",
            "10.15.0.5/29",
            "10.15.0.6/29"
        ])
    );
    assert_eq!(err_code(&run(&call("ADD", "c9"), &conf)), 100);
    // Requesting one of them is refused with a configuration error.
    for ip in ["10.15.0.0", "10.15.0.3", "10.15.0.7"] {
        let mut c = conf.clone();
        c["runtimeConfig"] = json!({"ips": [ip]});
        let e = err_json(&run(&call("ADD", "x"), &c));
        assert_eq!(e["code"], 7, "{ip}: {e}");
    }
}

#[test]
fn multiple_pools_in_one_range_set() {
    let fx = Fx::new();
    let conf = fx.conf(
        "1.1.0",
        json!({"ranges": [[{"subnet": "10.16.0.0/30"}, {"subnet": "10.16.1.0/30"}]]}),
    );
    let a = ok_json(&run(&call("ADD", "a"), &conf));
    let b = ok_json(&run(&call("ADD", "b"), &conf));
    assert_eq!(
        a["ips"][0],
        json!({"address": "10.16.0.2/30", "gateway": "10.16.0.1"})
    );
    assert_eq!(
        b["ips"][0],
        json!({"address": "10.16.1.2/30", "gateway": "10.16.1.1"})
    );
    let e = err_json(&run(&call("ADD", "c"), &conf));
    assert!(
        e["msg"]
            .as_str()
            .unwrap()
            .contains("10.16.0.1-10.16.0.2,10.16.1.1-10.16.1.2"),
        "{e}"
    );
}

#[test]
fn routes_and_resolv_conf() {
    let fx = Fx::new();
    let resolv = fx.tmp.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\ndomain example.test\n\
         search a.example b.example\noptions ndots:2 rotate\n",
    )
    .unwrap();
    let conf = fx.conf(
        "1.1.0",
        json!({
            "ranges": [[{"subnet": "10.17.0.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.17.0.254"}],
            "resolvConf": resolv
        }),
    );
    let r = ok_json(&run(&call("ADD", "a"), &conf));
    assert_eq!(
        r["routes"],
        json!([{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.17.0.254"}])
    );
    assert_eq!(
        r["dns"],
        json!({"nameservers": ["192.0.2.53", "2001:db8::53"], "domain": "example.test",
               "search": ["a.example", "b.example"], "options": ["ndots:2", "rotate"]})
    );
    // An unreadable resolvConf fails the ADD (I/O error) and reserves nothing.
    let mut bad = conf.clone();
    bad["ipam"]["resolvConf"] = json!(fx.tmp.path().join("missing.conf"));
    assert_eq!(err_code(&run(&call("ADD", "b"), &bad)), 5);
    assert_eq!(fx.addresses(), set(&["10.17.0.2"]));
}

#[test]
fn data_dir_defaults_to_var_lib_cni_networks() {
    let name = format!("cni-rs-hl-default-{}", std::process::id());
    let store = Path::new("/var/lib/cni/networks").join(&name);
    let _ = std::fs::remove_dir_all(&store);
    let conf = json!({"cniVersion": "1.1.0", "name": name, "type": "bridge",
                      "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.18.0.0/24"}]]}});
    let r = ok_json(&run(&call("ADD", "a"), &conf));
    let found = std::fs::read(store.join("10.18.0.2"));
    ok_silent(&run(&call("DEL", "a"), &conf));
    let _ = std::fs::remove_dir_all(&store);
    assert_eq!(addr(&r, 0), "10.18.0.2/24");
    assert_eq!(found.unwrap(), b"a\r\neth0");
}

#[test]
fn config_errors_are_code_7_and_create_nothing() {
    let cases: Vec<(&str, Value)> = vec![
        ("no ranges", json!({})),
        ("empty range set", json!({"ranges": [[]]})),
        (
            "overlapping sets",
            json!({"ranges": [[{"subnet": "10.0.0.0/16"}], [{"subnet": "10.0.5.0/24"}]]}),
        ),
        (
            "overlap within a set",
            json!({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.0/25"}]]}),
        ),
        (
            "rangeStart outside",
            json!({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.1"}]]}),
        ),
        (
            "rangeEnd outside",
            json!({"ranges": [[{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.1.1"}]]}),
        ),
        (
            "start after end",
            json!({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.5"}]]}),
        ),
        (
            "gateway outside",
            json!({"ranges": [[{"subnet": "10.0.0.0/24", "gateway": "10.9.0.1"}]]}),
        ),
        (
            "gateway family",
            json!({"ranges": [[{"subnet": "10.0.0.0/24", "gateway": "fd00::1"}]]}),
        ),
        (
            "host bits",
            json!({"ranges": [[{"subnet": "10.0.0.7/24"}]]}),
        ),
        ("/31", json!({"ranges": [[{"subnet": "10.0.0.0/31"}]]})),
        ("/32", json!({"ranges": [[{"subnet": "10.0.0.1/32"}]]})),
        ("/127", json!({"ranges": [[{"subnet": "fd00::/127"}]]})),
        (
            "mixed families",
            json!({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]}),
        ),
        (
            "mapped v6 subnet",
            json!({"ranges": [[{"subnet": "::ffff:10.0.0.0/120"}]]}),
        ),
        (
            "bad subnet",
            json!({"ranges": [[{"subnet": "10.0.0.0/33"}]]}),
        ),
        (
            "missing subnet",
            json!({"ranges": [[{"rangeStart": "10.0.0.1"}]]}),
        ),
        ("ranges wrong type", json!({"ranges": "10.0.0.0/24"})),
        ("legacy subnet host bits", json!({"subnet": "10.0.0.1/24"})),
        (
            "routes wrong type",
            json!({"ranges": [[{"subnet": "10.0.0.0/24"}]], "routes": [{"dst": "nope"}]}),
        ),
    ];
    for (what, ipam) in cases {
        let fx = Fx::new();
        let conf = fx.conf("1.1.0", ipam);
        let e = err_json(&run(&call("ADD", "a"), &conf));
        assert_eq!(e["code"], 7, "{what}: {e}");
        assert!(!fx.data().exists(), "{what}: data dir created");
    }
    // The ipam key itself missing.
    let fx = Fx::new();
    let conf = json!({"cniVersion": "1.1.0", "name": NET, "type": "bridge"});
    assert_eq!(err_code(&run(&call("ADD", "a"), &conf)), 7);
    // Two IPv4 range sets cannot be expressed before 0.3.0.
    let conf = fx.conf(
        "0.2.0",
        json!({"ranges": [[{"subnet": "10.1.0.0/24"}], [{"subnet": "10.2.0.0/24"}]]}),
    );
    let e = err_json(&run(&call("ADD", "a"), &conf));
    assert_eq!(e["code"], 7, "{e}");
    assert!(!fx.data().exists());
}

// ---------------------------------------------------------------------------------------------
// Requested addresses and the ipRanges capability

#[test]
fn requested_ip_through_cni_args() {
    let fx = Fx::new();
    let conf = fx.v4("1.1.0", "10.20.0.0/24");
    let mut c = call("ADD", "a");
    c.cni_args = Some("IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;IP=10.20.0.77");
    assert_eq!(addr(&ok_json(&run(&c, &conf)), 0), "10.20.0.77/24");
    assert_eq!(fx.file("10.20.0.77").unwrap(), "a\r\neth0");
    assert_eq!(fx.file("last_reserved_ip.0").unwrap(), "10.20.0.77");
    // Taken: plugin code 101; outside every range: an environment error (4); malformed: 4.
    let mut c = call("ADD", "b");
    c.cni_args = Some("IP=10.20.0.77");
    assert_eq!(err_code(&run(&c, &conf)), 101);
    c.cni_args = Some("IP=10.99.0.1");
    assert_eq!(err_code(&run(&c, &conf)), 4);
    c.cni_args = Some("IP=not-an-ip");
    assert_eq!(err_code(&run(&c, &conf)), 4);
    // Unknown CNI_ARGS keys are ignored, even without IgnoreUnknown (upstream refuses them).
    c.cni_args = Some("FOO=BAR;IP=10.20.0.78");
    assert_eq!(addr(&ok_json(&run(&c, &conf)), 0), "10.20.0.78/24");
    assert_eq!(fx.addresses(), set(&["10.20.0.77", "10.20.0.78"]));
}

#[test]
fn requested_ip_through_args_cni_ips() {
    let fx = Fx::new();
    let mut conf = fx.conf(
        "1.1.0",
        json!({"ranges": [[{"subnet": "10.21.0.0/24"}], [{"subnet": "fd00:21::/64"}]]}),
    );
    conf["args"] = json!({"cni": {"ips": ["10.21.0.50/24", "fd00:21::50"], "labels": [], "x": 1}});
    let r = ok_json(&run(&call("ADD", "a"), &conf));
    assert_eq!(
        r["ips"],
        json!([
            {"address": "10.21.0.50/24", "gateway": "10.21.0.1"},
            {"address": "fd00:21::50/64", "gateway": "fd00:21::1"}
        ])
    );
    // The gateway cannot be requested.
    conf["args"] = json!({"cni": {"ips": ["10.21.0.1"]}});
    assert_eq!(err_code(&run(&call("ADD", "b"), &conf)), 7);
    // Outside every range set: code 7, nothing reserved.
    conf["args"] = json!({"cni": {"ips": ["192.0.2.1"]}});
    let e = err_json(&run(&call("ADD", "b"), &conf));
    assert_eq!(e["code"], 7);
    assert!(e["msg"].as_str().unwrap().contains("192.0.2.1"), "{e}");
    assert_eq!(fx.addresses(), set(&["10.21.0.50", "fd00:21::50"]));
}

#[test]
fn requested_ip_through_runtime_config_ips() {
    let fx = Fx::new();
    let mut conf = fx.v4("1.1.0", "10.22.0.0/24");
    conf["capabilities"] = json!({"ips": true});
    conf["runtimeConfig"] = json!({"ips": ["10.22.0.200/24"]});
    assert_eq!(
        addr(&ok_json(&run(&call("ADD", "a"), &conf)), 0),
        "10.22.0.200/24"
    );
    // The next automatic allocation continues after it.
    conf.as_object_mut().unwrap().remove("runtimeConfig");
    assert_eq!(
        addr(&ok_json(&run(&call("ADD", "b"), &conf)), 0),
        "10.22.0.201/24"
    );
}

/// CAP-16: `args.cni.ips` overrides `CNI_ARGS IP=` in ours; upstream host-local requests both
/// (UPSTREAM-28), which the Debian binary shows side by side.
#[test]
fn cap16_args_override_cni_args_ip() {
    for which in [Impl::Ours, Impl::Upstream] {
        let fx = Fx::new();
        // Different families: ours takes only args.cni.ips, upstream grants both.
        let mut conf = fx.conf(
            "1.0.0",
            json!({"ranges": [[{"subnet": "10.23.0.0/24"}], [{"subnet": "fd00:23::/64"}]]}),
        );
        conf["args"] = json!({"cni": {"ips": ["fd00:23::9"]}});
        let mut c = call("ADD", "a");
        c.cni_args = Some("IgnoreUnknown=1;IP=10.23.0.9");
        let r = ok_json(&run_with(which, &c, &conf));
        let granted: Vec<String> = r["ips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ip| ip["address"].as_str().unwrap().to_string())
            .collect();
        match which {
            Impl::Ours => assert!(
                granted.contains(&"fd00:23::9/64".to_string())
                    && !granted.contains(&"10.23.0.9/24".to_string()),
                "{granted:?}"
            ),
            Impl::Upstream => assert_eq!(granted, ["10.23.0.9/24", "fd00:23::9/64"]),
        }
        // Same family, different addresses: ours grants the args address; upstream cannot place
        // both and fails, leaving nothing behind.
        let mut conf = fx.v4("1.0.0", "10.24.0.0/24");
        conf["name"] = json!("other");
        conf["args"] = json!({"cni": {"ips": ["10.24.0.20"]}});
        let mut c = call("ADD", "b");
        c.cni_args = Some("IgnoreUnknown=1;IP=10.24.0.10");
        let reserved = || -> Vec<String> {
            std::fs::read_dir(fx.data().join("other"))
                .map(|rd| {
                    rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                        .filter(|n| n.starts_with("10."))
                        .collect()
                })
                .unwrap_or_default()
        };
        match which {
            Impl::Ours => {
                let r = ok_json(&run_with(which, &c, &conf));
                assert_eq!(addr(&r, 0), "10.24.0.20/24");
                assert_eq!(reserved(), ["10.24.0.20"]);
                ok_silent(&run_with(which, &call("DEL", "b"), &conf));
            }
            Impl::Upstream => {
                let e = err_json(&run_with(which, &c, &conf));
                assert!(
                    e["msg"]
                        .as_str()
                        .unwrap()
                        .contains("failed to allocate all requested IPs"),
                    "{e}"
                );
            }
        }
        assert!(reserved().is_empty(), "{which:?}: {:?}", reserved());
        // Same address through both channels: requested once.
        conf["args"] = json!({"cni": {"ips": ["10.24.0.10"]}});
        let r = ok_json(&run_with(which, &c, &conf));
        assert_eq!(addr(&r, 0), "10.24.0.10/24", "{which:?}");
    }
}

#[test]
fn ip_ranges_capability_goes_before_configured_ranges() {
    let fx = Fx::new();
    let mut conf = fx.v4("1.1.0", "10.25.0.0/24");
    conf["capabilities"] = json!({"ipRanges": true});
    conf["runtimeConfig"] = json!({"ipRanges": [
        [{"subnet": "10.26.0.0/24", "rangeStart": "10.26.0.100", "gateway": "10.26.0.254"}],
        [{"subnet": "fd00:26::/64"}]
    ]});
    let r = ok_json(&run(&call("ADD", "a"), &conf));
    assert_eq!(
        r["ips"],
        json!([
            {"address": "10.26.0.100/24", "gateway": "10.26.0.254"},
            {"address": "fd00:26::2/64", "gateway": "fd00:26::1"},
            {"address": "10.25.0.2/24", "gateway": "10.25.0.1"}
        ])
    );
    // Runtime ranges only (no configured ones) are enough.
    let mut conf = fx.conf("1.1.0", json!({}));
    conf["name"] = json!("rc-only");
    conf["runtimeConfig"] = json!({"ipRanges": [[{"subnet": "10.27.0.0/24"}]]});
    assert_eq!(
        addr(&ok_json(&run(&call("ADD", "a"), &conf)), 0),
        "10.27.0.2/24"
    );
    // An invalid runtime range is a configuration error.
    conf["runtimeConfig"] = json!({"ipRanges": [[{"subnet": "10.27.0.0/33"}]]});
    assert_eq!(err_code(&run(&call("ADD", "b"), &conf)), 7);
}

// ---------------------------------------------------------------------------------------------
// Failure handling

#[test]
fn duplicate_add_is_refused_and_keeps_the_first() {
    let fx = Fx::new();
    let conf = fx.v4("1.1.0", "10.30.0.0/24");
    ok_json(&run(&call("ADD", "a"), &conf));
    let e = err_json(&run(&call("ADD", "a"), &conf));
    assert_eq!(e["code"], 102);
    assert!(e["msg"].as_str().unwrap().contains("duplicate"), "{e}");
    assert_eq!(fx.addresses(), set(&["10.30.0.2"]));
    // Another ifname of the same container is a separate attachment.
    let mut c = call("ADD", "a");
    c.ifname = "eth1";
    assert_eq!(addr(&ok_json(&run(&c, &conf)), 0), "10.30.0.3/24");
}

#[test]
fn partial_failure_releases_what_this_call_reserved() {
    let fx = Fx::new();
    // The IPv6 set has exactly one usable address (/126: ::1 gateway, ::2, ::3).
    let conf = fx.conf(
        "1.1.0",
        json!({"ranges": [[{"subnet": "10.31.0.0/24"}],
                          [{"subnet": "fd00:31::/126", "rangeEnd": "fd00:31::2"}]]}),
    );
    ok_json(&run(&call("ADD", "a"), &conf));
    let e = err_json(&run(&call("ADD", "b"), &conf));
    assert_eq!(e["code"], 100);
    assert!(e["msg"].as_str().unwrap().contains("range set 1"), "{e}");
    assert_eq!(fx.addresses(), set(&["10.31.0.2", "fd00:31::2"]));
    // A taken requested address in the second set also rolls the first back.
    let mut c = call("ADD", "c");
    c.cni_args = Some("IP=fd00:31::2");
    assert_eq!(err_code(&run(&c, &conf)), 101);
    assert_eq!(fx.addresses(), set(&["10.31.0.2", "fd00:31::2"]));
}

// ---------------------------------------------------------------------------------------------
// DEL, CHECK, GC, STATUS

#[test]
fn del_is_idempotent_and_fine_for_never_added() {
    let fx = Fx::new();
    let conf = fx.v4("1.1.0", "10.40.0.0/24");
    // Never added, no store yet: success and nothing created.
    let mut c = call("DEL", "ghost");
    c.netns = false;
    ok_silent(&run(&c, &conf));
    assert!(!fx.data().exists());
    ok_json(&run(&call("ADD", "a"), &conf));
    let mut c = call("DEL", "a");
    c.netns = false;
    ok_silent(&run(&c, &conf));
    ok_silent(&run(&c, &conf));
    ok_silent(&run(&call("DEL", "ghost"), &conf));
    assert!(fx.addresses().is_empty());
    // Bookkeeping files stay, as upstream leaves them.
    assert!(fx.store().join("lock").exists());
    assert!(fx.store().join("last_reserved_ip.0").exists());
    // DEL still works when the ranges have become invalid since ADD.
    ok_json(&run(&call("ADD", "b"), &conf));
    let broken = fx.conf("1.1.0", json!({"ranges": [[{"subnet": "10.40.0.9/24"}]]}));
    ok_silent(&run(&call("DEL", "b"), &broken));
    assert!(fx.addresses().is_empty());
}

#[test]
fn del_touches_only_the_named_attachment() {
    let fx = Fx::new();
    let conf = fx.v4("1.1.0", "10.41.0.0/24");
    let mut a1 = call("ADD", "a");
    a1.ifname = "eth1";
    ok_json(&run(&call("ADD", "a"), &conf));
    ok_json(&run(&a1, &conf));
    ok_json(&run(&call("ADD", "b"), &conf));
    // An id-only file from an old version, owned by container "old".
    std::fs::write(fx.store().join("10.41.0.100"), "old").unwrap();
    ok_silent(&run(&call("DEL", "a"), &conf));
    assert_eq!(
        fx.addresses(),
        set(&["10.41.0.3", "10.41.0.4", "10.41.0.100"])
    );
    ok_silent(&run(&call("CHECK", "b"), &conf));
    let mut c1 = call("CHECK", "a");
    c1.ifname = "eth1";
    ok_silent(&run(&c1, &conf));
    // The old-format file is released by its container ID, whatever the ifname.
    let mut d = call("DEL", "old");
    d.ifname = "net7";
    ok_silent(&run(&d, &conf));
    assert_eq!(fx.addresses(), set(&["10.41.0.3", "10.41.0.4"]));
}

#[test]
fn check_fails_once_the_reservation_is_gone() {
    let fx = Fx::new();
    let conf = fx.v4("1.1.0", "10.42.0.0/24");
    // CHECK on a fresh data dir fails and creates nothing.
    assert_eq!(err_code(&run(&call("CHECK", "a"), &conf)), 103);
    assert!(!fx.data().exists());
    let r = ok_json(&run(&call("ADD", "a"), &conf));
    let mut with_prev = conf.clone();
    with_prev["prevResult"] = r.clone();
    ok_silent(&run(&call("CHECK", "a"), &with_prev));
    ok_silent(&run(&call("CHECK", "a"), &conf));
    // A prevResult naming an address of our ranges that is not reserved for us fails.
    let mut wrong = conf.clone();
    wrong["prevResult"] = json!({"cniVersion": "1.1.0", "ips": [{"address": "10.42.0.99/24"}]});
    assert_eq!(err_code(&run(&call("CHECK", "a"), &wrong)), 103);
    let before = tree(fx.tmp.path());
    std::fs::remove_file(fx.store().join("10.42.0.2")).unwrap();
    let e = err_json(&run(&call("CHECK", "a"), &with_prev));
    assert_eq!(e["code"], 103);
    assert!(e["msg"].as_str().unwrap().contains("a"), "{e}");
    // CHECK changed nothing in the store.
    let mut after = tree(fx.tmp.path());
    after.insert(fx.store().join("10.42.0.2"));
    assert_eq!(before, after);
    // CHECK does not exist before 0.4.0.
    let old = fx.v4("0.3.1", "10.42.0.0/24");
    assert_eq!(err_code(&run(&call("CHECK", "a"), &old)), 1);
}

#[test]
fn gc_releases_reservations_not_named_valid() {
    let fx = Fx::new();
    let conf = fx.conf(
        "1.1.0",
        json!({"ranges": [[{"subnet": "10.43.0.0/24"}], [{"subnet": "fd00:43::/64"}]]}),
    );
    for id in ["a", "b", "c"] {
        ok_json(&run(&call("ADD", id), &conf));
    }
    let mut a1 = call("ADD", "a");
    a1.ifname = "eth1";
    ok_json(&run(&a1, &conf));
    assert_eq!(fx.addresses().len(), 8);
    let gc = || {
        let mut c = call("GC", "");
        c.ifname = "";
        c.netns = false;
        c
    };
    // No attachment list: no information, nothing removed.
    ok_silent(&run(&gc(), &conf));
    assert_eq!(fx.addresses().len(), 8);
    // The older key works too; keep a/eth0 and c/eth0.
    let mut g = conf.clone();
    g["cni.dev/attachments"] = json!([{"containerID": "a", "ifname": "eth0"},
                                       {"containerID": "c", "ifname": "eth0"}]);
    ok_silent(&run(&gc(), &g));
    assert_eq!(
        fx.addresses(),
        set(&["10.43.0.2", "fd00:43::2", "10.43.0.4", "fd00:43::4"])
    );
    // valid-attachments wins over the older key when both are present.
    g["cni.dev/valid-attachments"] = json!([{"containerID": "c", "ifname": "eth0"}]);
    ok_silent(&run(&gc(), &g));
    assert_eq!(fx.addresses(), set(&["10.43.0.4", "fd00:43::4"]));
    // An empty list releases everything but keeps the bookkeeping files.
    let mut g = conf.clone();
    g["cni.dev/valid-attachments"] = json!([]);
    ok_silent(&run(&gc(), &g));
    assert!(fx.addresses().is_empty());
    assert!(fx.store().join("lock").exists());
    // GC of a network without a store creates nothing; GC needs 1.1.0.
    let fx2 = Fx::new();
    let mut g2 = fx2.v4("1.1.0", "10.44.0.0/24");
    g2["cni.dev/valid-attachments"] = json!([]);
    ok_silent(&run(&gc(), &g2));
    assert!(!fx2.data().exists());
    g2["cniVersion"] = json!("1.0.0");
    assert_eq!(err_code(&run(&gc(), &g2)), 1);
}

#[test]
fn status_reflects_data_dir_usability() {
    let fx = Fx::new();
    let conf = fx.v4("1.1.0", "10.45.0.0/24");
    let status = || {
        let mut c = call("STATUS", "");
        c.ifname = "";
        c.netns = false;
        c
    };
    ok_silent(&run(&status(), &conf));
    assert!(!fx.data().exists(), "STATUS must not create the store");
    // A data dir that is a regular file cannot hold a store.
    std::fs::write(fx.data(), "not a dir").unwrap();
    let e = err_json(&run(&status(), &conf));
    assert_eq!(e["code"], 50, "{e}");
    std::fs::remove_file(fx.data()).unwrap();
    // Invalid configuration: code 7.
    let bad = fx.v4("1.1.0", "10.45.0.0/33");
    assert_eq!(err_code(&run(&status(), &bad)), 7);
}

// ---------------------------------------------------------------------------------------------
// Path safety

#[test]
fn names_that_would_escape_the_data_dir_are_refused() {
    let fx = Fx::new();
    // dataDir two levels down, so "../.." would still land inside the temp root.
    let data = fx.tmp.path().join("a/b/data");
    std::fs::create_dir_all(&data).unwrap();
    let base = |name: &str| {
        json!({"cniVersion": "1.1.0", "name": name, "type": "bridge",
               "ipam": {"type": "host-local", "dataDir": data,
                        "ranges": [[{"subnet": "10.50.0.0/24"}]]}})
    };
    let before = tree(fx.tmp.path());
    let long = "n".repeat(300);
    for (name, want) in [
        ("../../escaped", 7),
        ("..", 7),
        ("a/b", 7),
        ("/abs", 7),
        (long.as_str(), 7),
        ("", 7),
    ] {
        for verb in ["ADD", "DEL", "CHECK"] {
            let out = run(&call(verb, "ctr"), &base(name));
            assert_eq!(err_code(&out), want, "{verb} name {name:?}");
        }
    }
    for (id, ifname) in [
        ("../x", "eth0"),
        ("a/b", "eth0"),
        ("..", "eth0"),
        ("ctr", "../x"),
        ("ctr", "a/b"),
        ("ctr", ".."),
        ("ctr", "averyveryverylongifname"),
    ] {
        for verb in ["ADD", "DEL"] {
            let mut c = call(verb, id);
            c.ifname = ifname;
            let out = run(&c, &base(NET));
            assert_eq!(err_code(&out), 4, "{verb} id {id:?} ifname {ifname:?}");
        }
    }
    // A NUL byte cannot travel through the environment; in the network name it is refused.
    let out = run(&call("ADD", "ctr"), &base("a\u{0}b"));
    assert_eq!(err_code(&out), 7);
    assert_eq!(before, tree(fx.tmp.path()), "a file was created");
}

// ---------------------------------------------------------------------------------------------
// Result shape per spec version

#[test]
fn result_shape_for_every_version() {
    for version in [
        "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
    ] {
        let fx = Fx::new();
        let conf = fx.conf(
            version,
            json!({"ranges": [[{"subnet": "10.60.0.0/24"}], [{"subnet": "fd00:60::/64"}]],
                   "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:60::1"}]}),
        );
        let r = ok_json(&run(&call("ADD", "a"), &conf));
        assert_eq!(r["cniVersion"], version);
        assert!(r.get("interfaces").is_none(), "{version}: {r}");
        match version {
            "0.1.0" | "0.2.0" => assert_eq!(
                r,
                json!({"cniVersion": version,
                       "ip4": {"ip": "10.60.0.2/24", "gateway": "10.60.0.1",
                               "routes": [{"dst": "0.0.0.0/0"}]},
                       "ip6": {"ip": "fd00:60::2/64", "gateway": "fd00:60::1",
                               "routes": [{"dst": "::/0", "gw": "fd00:60::1"}]}}),
                "{version}"
            ),
            "0.3.0" | "0.3.1" | "0.4.0" => assert_eq!(
                r,
                json!({"cniVersion": version,
                       "ips": [{"version": "4", "address": "10.60.0.2/24", "gateway": "10.60.0.1"},
                               {"version": "6", "address": "fd00:60::2/64", "gateway": "fd00:60::1"}],
                       "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:60::1"}]}),
                "{version}"
            ),
            _ => assert_eq!(
                r,
                json!({"cniVersion": version,
                       "ips": [{"address": "10.60.0.2/24", "gateway": "10.60.0.1"},
                               {"address": "fd00:60::2/64", "gateway": "fd00:60::1"}],
                       "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:60::1"}]}),
                "{version}"
            ),
        }
    }
    // No cniVersion at all: the 0.1.0 shape.
    let fx = Fx::new();
    let mut conf = fx.v4("", "10.61.0.0/24");
    conf.as_object_mut().unwrap().remove("cniVersion");
    let r = ok_json(&run(&call("ADD", "a"), &conf));
    assert_eq!(r["cniVersion"], "0.1.0");
    assert_eq!(r["ip4"]["ip"], "10.61.0.2/24");
}

// ---------------------------------------------------------------------------------------------
// Store interchange with Debian's upstream binary (spec up to 1.0.0)

#[test]
fn interchange_upstream_allocates_ours_continues_and_releases() {
    let fx = Fx::new();
    let conf = fx.conf(
        "1.0.0",
        json!({"ranges": [[{"subnet": "10.70.0.0/24"}], [{"subnet": "fd00:70::/64"}]]}),
    );
    let u = ok_json(&run_with(Impl::Upstream, &call("ADD", "up-1"), &conf));
    assert_eq!(addr(&u, 0), "10.70.0.2/24");
    assert_eq!(addr(&u, 1), "fd00:70::2/64");
    assert_eq!(fx.file("10.70.0.2").unwrap(), "up-1\r\neth0");
    // Ours sees upstream's reservation (CHECK passes, a second ADD is a duplicate) ...
    ok_silent(&run(&call("CHECK", "up-1"), &conf));
    assert_eq!(err_code(&run(&call("ADD", "up-1"), &conf)), 102);
    // ... continues after upstream's last_reserved_ip ...
    let o = ok_json(&run(&call("ADD", "ours-1"), &conf));
    assert_eq!(addr(&o, 0), "10.70.0.3/24");
    assert_eq!(addr(&o, 1), "fd00:70::3/64");
    // ... and releases upstream's reservation by container ID + ifname.
    ok_silent(&run(&call("DEL", "up-1"), &conf));
    assert_eq!(fx.addresses(), set(&["10.70.0.3", "fd00:70::3"]));
    assert_eq!(err_code(&run(&call("CHECK", "up-1"), &conf)), 103);
    // Upstream, in turn, continues after our last_reserved_ip.
    let u2 = ok_json(&run_with(Impl::Upstream, &call("ADD", "up-2"), &conf));
    assert_eq!(addr(&u2, 0), "10.70.0.4/24");
    assert_eq!(addr(&u2, 1), "fd00:70::4/64");
}

#[test]
fn interchange_ours_allocates_upstream_continues_and_releases() {
    let fx = Fx::new();
    let conf = fx.conf(
        "1.0.0",
        json!({"ranges": [[{"subnet": "10.71.0.0/24"}], [{"subnet": "fd00:71::/64"}]]}),
    );
    let o = ok_json(&run(&call("ADD", "ours-1"), &conf));
    assert_eq!(addr(&o, 0), "10.71.0.2/24");
    // Upstream sees ours reserved: its CHECK passes, its second ADD is refused ...
    ok_silent(&run_with(Impl::Upstream, &call("CHECK", "ours-1"), &conf));
    let e = err_json(&run_with(Impl::Upstream, &call("ADD", "ours-1"), &conf));
    assert!(
        e["msg"].as_str().unwrap().contains("duplicate allocation"),
        "{e}"
    );
    // ... continues after our last_reserved_ip ...
    let u = ok_json(&run_with(Impl::Upstream, &call("ADD", "up-1"), &conf));
    assert_eq!(addr(&u, 0), "10.71.0.3/24");
    assert_eq!(addr(&u, 1), "fd00:71::3/64");
    // ... and releases our reservation.
    ok_silent(&run_with(Impl::Upstream, &call("DEL", "ours-1"), &conf));
    assert_eq!(fx.addresses(), set(&["10.71.0.3", "fd00:71::3"]));
    // Ours continues after upstream's last_reserved_ip, and our requested-address file is
    // read back by upstream too.
    let o2 = ok_json(&run(&call("ADD", "ours-2"), &conf));
    assert_eq!(addr(&o2, 0), "10.71.0.4/24");
    let mut c = call("ADD", "ours-3");
    c.cni_args = Some("IgnoreUnknown=1;IP=10.71.0.200");
    ok_json(&run(&c, &conf));
    let mut c = call("ADD", "up-2");
    c.cni_args = Some("IgnoreUnknown=1;IP=10.71.0.200");
    let e = err_json(&run_with(Impl::Upstream, &c, &conf));
    assert!(e["msg"].as_str().unwrap().contains("10.71.0.200"), "{e}");
    ok_silent(&run_with(Impl::Upstream, &call("DEL", "ours-3"), &conf));
    ok_silent(&run_with(Impl::Upstream, &call("DEL", "ours-2"), &conf));
    ok_silent(&run(&call("DEL", "up-1"), &conf));
    assert!(fx.addresses().is_empty());
}
