//! Tests that need kernel features this machine lacks (802.1q vlan, ipvlan, dummy links). They
//! run inside the VM lane's VM (Debian's kernel; see `scripts/vm/README.md`):
//! `tests/vm_lane.rs` builds this target statically (`-C target-feature=+crt-static`), boots
//! the VM with `scripts/vm/run.sh` and requires every test listed here to report `ok` there.
//!
//! In an ordinary (dynamically linked) build every test here is reported as ignored, naming
//! `vm_lane` as the place it runs: it never passes without having run. A static build run
//! outside the VM fails instead (see [`in_vm`]).
//!
//! To add a test: give it the same `cfg_attr(..., ignore = ...)` line as the ones below and
//! call [`in_vm`] first; `vm_lane` picks it up by name.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;

use netns_sandbox::Netns;
use serde_json::Value;

/// Fails the test unless it runs inside the VM (its init sets `CNIRS_IN_VM=1`).
fn in_vm() {
    assert_eq!(
        std::env::var("CNIRS_IN_VM").as_deref(),
        Ok("1"),
        "this test needs the VM lane's kernel (ipvlan, 802.1q, dummy); it runs inside the VM \
         through `cargo test -p reference-plugins --test vm_lane` (scripts/vm/run.sh)"
    );
}

/// Runs `ip -batch -` inside `ns` with `commands` (one a line; a process per command costs
/// ~90 ms in the emulated VM), failing the test with ip's stderr if one fails.
fn ip(ns: &Netns, commands: &str) {
    let mut child = ns
        .command("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ip: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(commands.as_bytes()).expect("write to ip");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for ip");
    assert!(
        out.status.success(),
        "ip -batch in {}: {}\n{commands}\nstderr: {}",
        ns.name(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The detailed JSON description of every link of `ns`, with addresses
/// (`ip -d -j addr show`), by name.
fn links(ns: &Netns) -> BTreeMap<String, Value> {
    let out = ns
        .command("ip")
        .args(["-d", "-j", "addr", "show"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip: {e}"));
    assert!(out.status.success(), "ip -j addr show: {}", out.status);
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ip -j output ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    list.into_iter()
        .map(|l| (l["ifname"].as_str().unwrap_or_default().to_owned(), l))
        .collect()
}

/// Whether link `l` (from [`links`]) has the address `cidr`.
fn has_addr(l: &Value, cidr: &str) -> bool {
    let (local, len) = cidr
        .split_once('/')
        .expect("an address with a prefix length");
    l["addr_info"].as_array().into_iter().flatten().any(|a| {
        a["local"] == local && a["prefixlen"].as_u64().map(|p| p.to_string()) == Some(len.into())
    })
}

fn new_netns(label: &str) -> Netns {
    Netns::new(label).unwrap_or_else(|e| panic!("cannot create a netns: {e}"))
}

/// Pings `addr` once from inside `ns`.
fn ping(ns: &Netns, addr: &str) {
    let out = ns
        .command("ping")
        .args(["-c", "1", "-W", "3", addr])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ping: {e}"));
    assert!(
        out.status.success(),
        "ping {addr} from {}: {}\n{}{}",
        ns.name(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "runs inside the VM: cargo test -p reference-plugins --test vm_lane"
)]
fn dummy_link_in_a_netns() {
    in_vm();
    let ns = new_netns("dummy");
    ip(
        &ns,
        "link add d0 type dummy\n\
         addr add 192.0.2.1/24 dev d0\n\
         link set d0 up\n",
    );
    let d0 = &links(&ns)["d0"];
    assert_eq!(d0["linkinfo"]["info_kind"], "dummy", "{d0}");
    assert!(has_addr(d0, "192.0.2.1/24"), "{d0}");
}

/// What the vlan plugin does: an 802.1q link on a host-side master, moved into a container.
#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "runs inside the VM: cargo test -p reference-plugins --test vm_lane"
)]
fn vlan_8021q_on_a_dummy_moved_to_another_netns() {
    in_vm();
    let host = new_netns("vlan-host");
    let ctr = new_netns("vlan-ctr");
    ip(
        &host,
        "link add d0 type dummy\n\
         link set d0 up\n\
         link add link d0 name v100 type vlan id 100\n",
    );
    let v = &links(&host)["v100"];
    assert_eq!(v["linkinfo"]["info_kind"], "vlan", "{v}");
    assert_eq!(v["linkinfo"]["info_data"]["protocol"], "802.1Q", "{v}");
    assert_eq!(v["linkinfo"]["info_data"]["id"], 100, "{v}");

    ip(&host, &format!("link set v100 netns {}\n", ctr.name()));
    ip(
        &ctr,
        "link set v100 name eth0\n\
         addr add 198.51.100.2/24 dev eth0\n\
         link set eth0 up\n",
    );
    let eth0 = &links(&ctr)["eth0"];
    assert_eq!(eth0["linkinfo"]["info_data"]["id"], 100, "{eth0}");
    assert_eq!(eth0["operstate"], "UP", "{eth0}");
    assert!(has_addr(eth0, "198.51.100.2/24"), "{eth0}");
}

/// What the ipvlan plugin does, in `mode`: two ipvlan links on one host-side master, each
/// moved into its own container, which then reach each other through the master.
fn ipvlan_pair(mode: &str) {
    let host = new_netns(&format!("ipvlan-{mode}-host"));
    let ctrs = [1, 2].map(|n| new_netns(&format!("ipvlan-{mode}-c{n}")));
    ip(
        &host,
        &format!(
            "link add d0 type dummy\n\
             link set d0 up\n\
             link add link d0 name ipv1 type ipvlan mode {mode}\n\
             link add link d0 name ipv2 type ipvlan mode {mode}\n"
        ),
    );
    let on_host = links(&host);
    for name in ["ipv1", "ipv2"] {
        let l = &on_host[name];
        assert_eq!(l["linkinfo"]["info_kind"], "ipvlan", "{l}");
        assert_eq!(l["linkinfo"]["info_data"]["mode"], mode, "{l}");
    }
    ip(
        &host,
        &format!(
            "link set ipv1 netns {}\nlink set ipv2 netns {}\n",
            ctrs[0].name(),
            ctrs[1].name()
        ),
    );
    for (n, ctr) in (1..).zip(&ctrs) {
        let addr = format!("203.0.113.{n}/24");
        ip(
            ctr,
            &format!(
                "link set ipv{n} name eth0\n\
                 addr add {addr} dev eth0\n\
                 link set eth0 up\n\
                 link set lo up\n"
            ),
        );
        let l = &links(ctr)["eth0"];
        assert_eq!(l["linkinfo"]["info_data"]["mode"], mode, "{l}");
        assert!(has_addr(l, &addr), "{l}");
    }
    ping(&ctrs[0], "203.0.113.2");
    ping(&ctrs[1], "203.0.113.1");
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "runs inside the VM: cargo test -p reference-plugins --test vm_lane"
)]
fn ipvlan_l2_pair_on_a_dummy() {
    in_vm();
    ipvlan_pair("l2");
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "runs inside the VM: cargo test -p reference-plugins --test vm_lane"
)]
fn ipvlan_l3_pair_on_a_dummy() {
    in_vm();
    ipvlan_pair("l3");
}

/// The upstream plugins (`/usr/lib/cni`, shared read-only) run inside too, for differential
/// tests against ours (one is enough here: a Go plugin takes ~1 s to start when emulated).
#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "runs inside the VM: cargo test -p reference-plugins --test vm_lane"
)]
fn upstream_plugins_are_shared_into_the_vm() {
    in_vm();
    let path = "/usr/lib/cni/ipvlan";
    let out = std::process::Command::new(path)
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {path} (containernetworking-plugins): {e}"));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{path} VERSION: not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(answer["supportedVersions"].is_array(), "{path}: {answer}");
}
