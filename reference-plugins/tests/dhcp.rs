//! The `dhcp` plugin and `dhcp daemon` end to end against real DHCP servers: dnsmasq, and
//! ISC Kea for the core behaviours (so that none is tuned to one server), in a server
//! namespace with a bridge, containers in their own namespaces joined to it by veth
//! pairs. Each test starts its own server (lease database and log in a temporary directory) and
//! its own daemon (socket and state directory in another), both stopped on drop; the plugin
//! runs like a runtime runs it (environment + stdin).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use netns_sandbox::{fixtures, Netns};
use reference_plugins::netlink::{AddressSpec, Netlink};
use serde_json::{json, Value};
use support::{run_plugin, Call};
use tempfile::TempDir;

const SERVER_IP: &str = "10.77.0.1";
const DNS_IP: &str = "10.77.0.53";
const SERVER_IP6: &str = "2001:db8:77::1";
const DNS_IP6: &str = "2001:db8:77::53";

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

const KEA: &str = "/usr/sbin/kea-dhcp4";
const KEA6: &str = "/usr/sbin/kea-dhcp6";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Dnsmasq,
    Kea,
    /// Kea's DHCPv6 server (IPv6 only).
    Kea6,
}

/// A DHCP server (dnsmasq or Kea) serving 10.77.0.0/24 on bridge `br0` of its own namespace.
struct Server {
    kind: Kind,
    ns: Netns,
    process: Child,
    dir: TempDir,
    veths: std::sync::atomic::AtomicU32,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_kind(Kind::Dnsmasq, extra)
    }

    fn start_kind(kind: Kind, extra: &[&str]) -> Server {
        match kind {
            Kind::Dnsmasq => assert!(
                Path::new(DNSMASQ).exists(),
                "{DNSMASQ} is missing: run scripts/setup.sh (installs dnsmasq-base)"
            ),
            Kind::Kea => assert!(
                Path::new(KEA).exists(),
                "{KEA} is missing: run scripts/setup.sh (installs kea-dhcp4-server)"
            ),
            Kind::Kea6 => assert!(
                Path::new(KEA6).exists(),
                "{KEA6} is missing: run scripts/setup.sh (installs kea-dhcp6-server)"
            ),
        }
        let ns = Netns::new("dhcp-srv").unwrap();
        fixtures::bridge(&ns, "br0").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        let br = nl.link("br0").unwrap();
        nl.add_address(
            br.index,
            &AddressSpec::new(format!("{SERVER_IP}/24").parse().unwrap()),
        )
        .unwrap();
        // For DHCPv6 (dnsmasq serves the range of an address its interface carries).
        nl.add_address(
            br.index,
            &AddressSpec {
                net: format!("{SERVER_IP6}/64").parse().unwrap(),
                broadcast: None,
                nodad: true,
            },
        )
        .unwrap();
        nl.set_up("lo").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut cmd = match kind {
            Kind::Dnsmasq => {
                let mut cmd = ns.command(DNSMASQ);
                cmd.args([
                    "--keep-in-foreground",
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--port=0",
                    "--no-ping",
                    "--log-dhcp",
                    "--interface=br0",
                    "--bind-interfaces",
                    "--dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2m",
                    "--dhcp-range=2001:db8:77::100,2001:db8:77::1ff,64,2m",
                    "--dhcp-authoritative",
                ])
                .arg(format!("--dhcp-option=option:dns-server,{DNS_IP}"))
                .arg(format!("--dhcp-option=option6:dns-server,[{DNS_IP6}]"))
                .arg("--dhcp-option=option:domain-name,example.test")
                .arg("--dhcp-option=option:domain-search,corp.test,lab.test")
                .arg(format!(
                    "--dhcp-leasefile={}",
                    dir.path().join("leases").display()
                ))
                .arg("--pid-file=")
                .args(extra);
                cmd
            }
            Kind::Kea => {
                let d = dir.path();
                let conf = json!({"Dhcp4": {
                    "interfaces-config": {"interfaces": ["br0"]},
                    "lease-database": {"type": "memfile", "persist": true,
                                       "name": d.join("leases.csv"), "lfc-interval": 0},
                    "valid-lifetime": 120, "renew-timer": 60, "rebind-timer": 100,
                    "subnet4": [{"id": 1, "subnet": "10.77.0.0/24",
                                 "pools": [{"pool": "10.77.0.50 - 10.77.0.150"}],
                                 "option-data": [
                                     {"name": "routers", "data": SERVER_IP},
                                     {"name": "domain-name-servers", "data": DNS_IP},
                                     {"name": "domain-name", "data": "example.test"},
                                     {"name": "domain-search", "data": "corp.test, lab.test"}]}],
                    "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                                 "output_options": [{"output": d.join("server.log")}]}]
                }});
                std::fs::write(d.join("kea.json"), conf.to_string()).unwrap();
                let mut cmd = ns.command(KEA);
                cmd.arg("-c")
                    .arg(d.join("kea.json"))
                    .env("KEA_PIDFILE_DIR", d)
                    .env("KEA_LOCKFILE_DIR", d);
                cmd
            }
            Kind::Kea6 => {
                let d = dir.path();
                // br0 has no link-local address until a port gives it carrier: Kea binds
                // its socket when the first container joins (retrying), without waiting for
                // duplicate address detection.
                let dad = ns
                    .command("sysctl")
                    .args(["-qw", "net.ipv6.conf.br0.accept_dad=0"])
                    .status()
                    .unwrap();
                assert!(dad.success());
                let conf = json!({"Dhcp6": {
                    "interfaces-config": {"interfaces": ["br0"],
                                          "service-sockets-max-retries": 200,
                                          "service-sockets-retry-wait-time": 50},
                    "lease-database": {"type": "memfile", "persist": true,
                                       "name": d.join("leases.csv"), "lfc-interval": 0},
                    // The server DUID, not saved (Kea would write it under /var/lib/kea).
                    "server-id": {"type": "EN", "enterprise-id": 2495,
                                  "identifier": "0123456789", "persist": false},
                    "valid-lifetime": 120, "preferred-lifetime": 90,
                    "renew-timer": 60, "rebind-timer": 100,
                    "subnet6": [{"id": 1, "subnet": "2001:db8:77::/64", "interface": "br0",
                                 "pools": [{"pool": "2001:db8:77::100 - 2001:db8:77::1ff"}],
                                 "option-data": [
                                     {"name": "dns-servers", "data": DNS_IP6}]}],
                    "loggers": [{"name": "kea-dhcp6", "severity": "INFO",
                                 "output_options": [{"output": d.join("server.log")}]}]
                }});
                std::fs::write(d.join("kea6.json"), conf.to_string()).unwrap();
                let mut cmd = ns.command(KEA6);
                cmd.arg("-c")
                    .arg(d.join("kea6.json"))
                    .env("KEA_PIDFILE_DIR", d)
                    .env("KEA_LOCKFILE_DIR", d);
                cmd
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().expect("the DHCP server starts");
        let server = Server {
            kind,
            ns,
            process: child,
            dir,
            veths: std::sync::atomic::AtomicU32::new(0),
        };
        let ready = match kind {
            Kind::Dnsmasq => "sockets bound exclusively",
            Kind::Kea => "DHCP4_STARTED",
            Kind::Kea6 => "DHCP6_STARTED",
        };
        server.wait_for("the server to listen", || server.log().contains(ready));
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The DHCP packets dnsmasq received so far (one log line per packet, with its type).
    fn received(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| {
                [
                    "DHCPDISCOVER",
                    "DHCPREQUEST",
                    "DHCPRELEASE",
                    "DHCPINFORM",
                    "DHCPDECLINE",
                ]
                .iter()
                .any(|t| l.contains(t))
            })
            .count()
    }

    /// Addresses the server's lease database holds (dnsmasq's lease file; the last row of
    /// each address in Kea's memfile CSV, a released lease having lifetime 0).
    fn leased(&self) -> Vec<String> {
        match self.kind {
            Kind::Dnsmasq => std::fs::read_to_string(self.dir.path().join("leases"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
                .collect(),
            Kind::Kea | Kind::Kea6 => {
                let csv =
                    std::fs::read_to_string(self.dir.path().join("leases.csv")).unwrap_or_default();
                // The valid lifetime: after hwaddr and client_id in v4, after the DUID in v6.
                let lifetime = if self.kind == Kind::Kea { 3 } else { 2 };
                let mut last: Vec<(String, bool)> = Vec::new();
                for row in csv.lines().skip(1) {
                    let f: Vec<&str> = row.split(',').collect();
                    if f.len() < 4 {
                        continue;
                    }
                    let live = f[lifetime] != "0";
                    last.retain(|(a, _)| a != f[0]);
                    last.push((f[0].to_string(), live));
                }
                last.into_iter()
                    .filter(|(_, l)| *l)
                    .map(|(a, _)| a)
                    .collect()
            }
        }
    }

    /// The server's log line for a release of `ip`.
    fn released_line(&self, ip: Ipv4Addr) -> String {
        match self.kind {
            Kind::Dnsmasq => format!("DHCPRELEASE(br0) {ip}"),
            Kind::Kea | Kind::Kea6 => format!("address {ip} was released properly"),
        }
    }

    /// The client identifier of an attachment as the server writes it.
    fn client_id_text(&self, attachment: &str) -> String {
        let hex: Vec<String> = std::iter::once(0u8)
            .chain(attachment.bytes())
            .map(|b| format!("{b:02x}"))
            .collect();
        hex.join(":")
    }

    fn wait_for(&self, what: &str, cond: impl Fn() -> bool) {
        let end = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A container namespace whose `eth0` is a veth port of `br0`, up, without address.
    fn container(&self) -> Netns {
        let n = self
            .veths
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ct = Netns::new("dhcp-ct").unwrap();
        let (host, peer) = (format!("vh{n}"), format!("ct{n}"));
        fixtures::veth_pair(&self.ns, &host, &peer).unwrap();
        let mut nl = Netlink::open_in(self.ns.path()).unwrap();
        let br = nl.link("br0").unwrap().index;
        let h = nl.link(host.as_str()).unwrap().index;
        nl.set_master(h, br).unwrap();
        let p = nl.link(peer.as_str()).unwrap().index;
        let ct_fd = std::fs::File::open(ct.path()).unwrap();
        nl.set_netns(p, ct_fd.as_fd()).unwrap();
        let mut cnl = Netlink::open_in(ct.path()).unwrap();
        let idx = cnl.link(peer.as_str()).unwrap().index;
        cnl.rename(idx, "eth0").unwrap();
        cnl.set_up("eth0").unwrap();
        ct
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A `dhcp daemon` with its socket and state directory in a temporary directory.
struct Daemon {
    child: Option<Child>,
    dir: PathBuf,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        let sock = dir.join("dhcp.sock");
        let serving_before = serving_lines(dir);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_dhcp"))
            .arg("daemon")
            .arg("-socketpath")
            .arg(&sock)
            .arg("-statedir")
            .arg(dir.join("state"))
            .arg("-pidfile")
            .arg(dir.join("dhcp.pid"))
            .args(["-timeout", "3s", "-resendmax", "1s", "-resendtimeout", "8s"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon {
            child: Some(child),
            dir: dir.to_path_buf(),
        };
        // The daemon binds its socket, takes over saved leases, then says "serving": a socket
        // that accepts proves only the first.
        let end = Instant::now() + Duration::from_secs(10);
        while serving_lines(dir) == serving_before {
            assert!(
                Instant::now() < end,
                "daemon did not start serving: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("dhcp.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// SIGTERM, then waits: the daemon removes its socket and pid file.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let status = child.wait().unwrap();
            assert!(status.success(), "daemon exit: {status}\n{}", self.log());
        }
    }
}

/// How many times a daemon logging into `dir` has said it is serving.
fn serving_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("daemon.log"))
        .unwrap_or_default()
        .matches("dhcp daemon: serving")
        .count()
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn conf(socket: &Path, ipam_extra: Value) -> Value {
    let mut ipam = json!({"type": "dhcp", "daemonSocketPath": socket});
    for (k, v) in ipam_extra.as_object().unwrap() {
        ipam[k] = v.clone();
    }
    json!({"cniVersion": "1.1.0", "name": "dhcpnet", "type": "bridge", "ipam": ipam})
}

fn run(server: &Server, verb: &str, id: &str, ct: Option<&Netns>, conf: &Value) -> Output {
    let call = Call::new(verb, id, ct.map(|c| c.path()));
    run_plugin(&server.ns, "dhcp", &call, conf)
}

fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn err_code(out: &Output) -> u64 {
    assert!(
        !out.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("an error object on stdout");
    v["code"].as_u64().unwrap()
}

fn address_of(result: &Value) -> (Ipv4Addr, u8) {
    let net: IpNet = result["ips"][0]["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    match net {
        IpNet::V4(n) => (n.addr(), n.prefix_len()),
        IpNet::V6(_) => panic!("IPv6 from DHCPv4"),
    }
}

/// Puts the leased address on the container's eth0, as the interface plugin would.
fn configure(ct: &Netns, result: &Value) {
    let mut nl = Netlink::open_in(ct.path()).unwrap();
    let idx = nl.link("eth0").unwrap().index;
    let net: IpNet = result["ips"][0]["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    nl.add_address(idx, &AddressSpec::new(net)).unwrap();
}

#[test]
fn add_returns_the_lease_and_del_releases_it_at_the_server_dnsmasq() {
    add_returns_the_lease_and_del_releases_it_at_the_server(Kind::Dnsmasq)
}

#[test]
fn add_returns_the_lease_and_del_releases_it_at_the_server_kea() {
    add_returns_the_lease_and_del_releases_it_at_the_server(Kind::Kea)
}

fn add_returns_the_lease_and_del_releases_it_at_the_server(kind: Kind) {
    let server = Server::start_kind(kind, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let c = conf(&daemon.socket(), json!({"priority": 7}));

    let result = ok(&run(&server, "ADD", "ctr-a", Some(&ct), &c));
    let (ip, prefix) = address_of(&result);
    assert_eq!(prefix, 24);
    assert!(
        (u32::from(Ipv4Addr::new(10, 77, 0, 50))..=u32::from(Ipv4Addr::new(10, 77, 0, 150)))
            .contains(&u32::from(ip)),
        "{ip}"
    );
    assert_eq!(result["ips"][0]["gateway"], SERVER_IP);
    assert_eq!(
        result["routes"],
        json!([{"dst": "0.0.0.0/0", "gw": SERVER_IP, "priority": 7}])
    );
    assert_eq!(result["dns"]["nameservers"], json!([DNS_IP]));
    assert_eq!(result["dns"]["domain"], "example.test");
    assert_eq!(result["dns"]["search"], json!(["corp.test", "lab.test"]));
    assert_eq!(server.leased(), vec![ip.to_string()]);
    // The client identifier is 0x00 + containerID/network/ifname.
    let db_file = match kind {
        Kind::Dnsmasq => "leases",
        Kind::Kea | Kind::Kea6 => "leases.csv",
    };
    let leases = std::fs::read_to_string(server.dir.path().join(db_file)).unwrap();
    let want_id = server.client_id_text("ctr-a/dhcpnet/eth0");
    assert!(leases.contains(&want_id), "{leases}");
    // The daemon saved it.
    assert_eq!(
        std::fs::read_dir(tmp.path().join("state")).unwrap().count(),
        1
    );

    configure(&ct, &result);
    ok(&run(&server, "DEL", "ctr-a", Some(&ct), &c));
    // The server's lease file and its log are written one after the other: wait for both.
    server.wait_for("the release to reach the server", || {
        server.leased().is_empty() && server.log().contains(&server.released_line(ip))
    });
    assert_eq!(
        std::fs::read_dir(tmp.path().join("state")).unwrap().count(),
        0
    );
    // DEL again, and DEL of a lease never held, succeed.
    ok(&run(&server, "DEL", "ctr-a", Some(&ct), &c));
    ok(&run(&server, "DEL", "never", None, &c));
}

#[test]
fn release_goes_out_even_when_the_address_is_not_configured_dnsmasq() {
    release_goes_out_even_when_the_address_is_not_configured(Kind::Dnsmasq)
}

#[test]
fn release_goes_out_even_when_the_address_is_not_configured_kea() {
    release_goes_out_even_when_the_address_is_not_configured(Kind::Kea)
}

fn release_goes_out_even_when_the_address_is_not_configured(kind: Kind) {
    let server = Server::start_kind(kind, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let c = conf(&daemon.socket(), json!({}));
    ok(&run(&server, "ADD", "ctr-b", Some(&ct), &c));
    assert_eq!(server.leased().len(), 1);
    ok(&run(&server, "DEL", "ctr-b", Some(&ct), &c));
    server.wait_for("the release to reach the server", || {
        server.leased().is_empty()
    });
}

#[test]
fn check_sends_nothing_and_compares_with_prev_result() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let c = conf(&daemon.socket(), json!({}));
    let result = ok(&run(&server, "ADD", "ctr-c", Some(&ct), &c));
    configure(&ct, &result);
    let before = server.received();
    let log_before = server.log();

    let mut with_prev = c.clone();
    with_prev["prevResult"] = result.clone();
    ok(&run(&server, "CHECK", "ctr-c", Some(&ct), &with_prev));
    ok(&run(&server, "CHECK", "ctr-c", Some(&ct), &c));

    let mut wrong = with_prev.clone();
    wrong["prevResult"]["ips"][0]["address"] = json!("10.77.0.250/24");
    assert_eq!(
        err_code(&run(&server, "CHECK", "ctr-c", Some(&ct), &wrong)),
        101
    );
    assert_eq!(
        err_code(&run(&server, "CHECK", "other", Some(&ct), &c)),
        101
    );

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.received(),
        before,
        "CHECK sent DHCP packets:\n{}",
        &server.log()[log_before.len()..]
    );
}

#[test]
fn status_and_del_without_the_daemon() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let c = conf(&daemon.socket(), json!({}));
    ok(&run(&server, "STATUS", "", None, &c));
    let result = ok(&run(&server, "ADD", "ctr-d", Some(&ct), &c));
    let (ip, _) = address_of(&result);

    let pid = std::fs::read_to_string(tmp.path().join("dhcp.pid")).unwrap();
    assert_eq!(pid.trim(), daemon.child.as_ref().unwrap().id().to_string());
    daemon.stop();
    assert!(!daemon.socket().exists(), "SIGTERM leaves the socket");
    assert!(
        !tmp.path().join("dhcp.pid").exists(),
        "SIGTERM leaves the pid file"
    );
    let out = run(&server, "STATUS", "", None, &c);
    assert_eq!(err_code(&out), 50);
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(e["msg"].as_str().unwrap().contains("not available"), "{e}");
    assert_eq!(err_code(&run(&server, "ADD", "ctr-e", Some(&ct), &c)), 11);
    assert_eq!(err_code(&run(&server, "CHECK", "ctr-d", Some(&ct), &c)), 11);
    // DEL succeeds; the lease is left to expire at the server.
    ok(&run(&server, "DEL", "ctr-d", Some(&ct), &c));
    assert_eq!(server.leased(), vec![ip.to_string()]);
    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    ok(&run(&server, "GC", "", None, &gc));
}

#[test]
fn leases_survive_a_daemon_restart_dnsmasq() {
    leases_survive_a_daemon_restart(Kind::Dnsmasq)
}

#[test]
fn leases_survive_a_daemon_restart_kea() {
    leases_survive_a_daemon_restart(Kind::Kea)
}

fn leases_survive_a_daemon_restart(kind: Kind) {
    let server = Server::start_kind(kind, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let c = conf(&daemon.socket(), json!({}));
    let result = ok(&run(&server, "ADD", "ctr-r", Some(&ct), &c));
    configure(&ct, &result);
    daemon.stop();
    let daemon = Daemon::start(tmp.path());
    assert!(daemon.log().contains("resuming lease"), "{}", daemon.log());
    let mut with_prev = c.clone();
    with_prev["prevResult"] = result.clone();
    ok(&run(&server, "CHECK", "ctr-r", Some(&ct), &with_prev));
    // ADD again returns the held lease rather than a new one.
    assert_eq!(
        ok(&run(&server, "ADD", "ctr-r", Some(&ct), &c))["ips"],
        result["ips"]
    );
    ok(&run(&server, "DEL", "ctr-r", Some(&ct), &c));
    server.wait_for("the release to reach the server", || {
        server.leased().is_empty()
    });
}

#[test]
fn a_saved_lease_that_expired_while_the_daemon_was_down_is_not_resumed() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let c = conf(&daemon.socket(), json!({}));
    ok(&run(&server, "ADD", "ctr-x", Some(&ct), &c));
    daemon.stop();
    // Age the saved lease past its end, as if the daemon had been down for an hour.
    let state = tmp.path().join("state");
    let file = std::fs::read_dir(&state)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    saved["granted_at"] = json!(saved["granted_at"].as_u64().unwrap() - 3600);
    std::fs::write(&file, saved.to_string()).unwrap();
    let daemon = Daemon::start(tmp.path());
    assert!(
        daemon.log().contains("expired while the daemon was down"),
        "{}",
        daemon.log()
    );
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);
    assert_eq!(
        err_code(&run(&server, "CHECK", "ctr-x", Some(&ct), &c)),
        101
    );
}

#[test]
fn gc_releases_leases_of_attachments_no_longer_valid_dnsmasq() {
    gc_releases_leases_of_attachments_no_longer_valid(Kind::Dnsmasq)
}

#[test]
fn gc_releases_leases_of_attachments_no_longer_valid_kea() {
    gc_releases_leases_of_attachments_no_longer_valid(Kind::Kea)
}

fn gc_releases_leases_of_attachments_no_longer_valid(kind: Kind) {
    let server = Server::start_kind(kind, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let c = conf(&daemon.socket(), json!({}));
    let (ct1, ct2) = (server.container(), server.container());
    let keep = address_of(&ok(&run(&server, "ADD", "keep", Some(&ct1), &c))).0;
    let gone = address_of(&ok(&run(&server, "ADD", "gone", Some(&ct2), &c))).0;
    assert_eq!(server.leased().len(), 2);
    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    ok(&run(&server, "GC", "", None, &gc));
    server.wait_for("the GC release", || {
        server.leased() == vec![keep.to_string()]
            && server.log().contains(&server.released_line(gone))
    });
    assert_eq!(
        err_code(&run(&server, "CHECK", "gone", Some(&ct2), &c)),
        101
    );
    ok(&run(&server, "CHECK", "keep", Some(&ct1), &c));
    // Another network's GC leaves this network's leases alone.
    let mut other = gc.clone();
    other["name"] = json!("othernet");
    other["cni.dev/valid-attachments"] = json!([]);
    ok(&run(&server, "GC", "", None, &other));
    ok(&run(&server, "CHECK", "keep", Some(&ct1), &c));
}

#[test]
fn a_lease_whose_namespace_is_gone_is_dropped() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let c = conf(&daemon.socket(), json!({}));
    let ct = server.container();
    let path = ct.path().to_path_buf();
    ok(&run(&server, "ADD", "ctr-g", Some(&ct), &c));
    ct.delete();
    // The daemon looks every 10 s.
    let end = Instant::now() + Duration::from_secs(25);
    while !daemon
        .log()
        .contains("dropping the lease of ctr-g/dhcpnet/eth0")
    {
        assert!(Instant::now() < end, "{}", daemon.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        std::fs::read_dir(tmp.path().join("state")).unwrap().count(),
        0
    );
    // DEL with the namespace gone succeeds.
    let call = Call::new("DEL", "ctr-g", Some(&path));
    ok(&run_plugin(&server.ns, "dhcp", &call, &c));
}

#[test]
fn bad_inputs_get_cni_errors() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let sock = daemon.socket();
    let code = |ipam: Value| err_code(&run(&server, "ADD", "bad", Some(&ct), &conf(&sock, ipam)));
    assert_eq!(code(json!({"request": [{"option": "no-such-option"}]})), 7);
    assert_eq!(
        code(json!({"provide": [{"option": "host-name", "value": "x".repeat(300)}]})),
        7
    );
    assert_eq!(code(json!({"priority": -3})), 7);
    assert_eq!(code(json!({"request": {"option": "routers"}})), 7);
    let file = tmp.path().join("not-a-socket");
    std::fs::write(&file, b"").unwrap();
    assert_eq!(code(json!({"daemonSocketPath": file})), 7);
    assert_eq!(
        err_code(&run(&server, "ADD", "bad", None, &conf(&sock, json!({})))),
        4
    );
    assert!(server.leased().is_empty());

    // A peer speaking another protocol version gets a clear refusal.
    let ask = |line: &[u8]| -> Value {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(line).unwrap();
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap()
    };
    let v2 = ask(b"{\"version\":2,\"op\":\"status\"}\n");
    assert_eq!(v2["version"], 1);
    assert_eq!(v2["status"], "error");
    assert_eq!(v2["error"]["code"], 102);
    let msg = v2["error"]["msg"].as_str().unwrap();
    assert!(
        msg.contains("version 2") && msg.contains("version 1"),
        "{msg}"
    );
    assert_eq!(ask(b"garbage\n")["error"]["code"], 102);
    assert_eq!(ask(b"{\"version\":1,\"op\":\"status\"}\n")["status"], "ok");
}

#[test]
fn concurrent_adds_get_distinct_leases_dnsmasq() {
    concurrent_adds_get_distinct_leases(Kind::Dnsmasq)
}

#[test]
fn concurrent_adds_get_distinct_leases_kea() {
    concurrent_adds_get_distinct_leases(Kind::Kea)
}

fn concurrent_adds_get_distinct_leases(kind: Kind) {
    const N: usize = 50;
    let server = Server::start_kind(kind, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let c = conf(&daemon.socket(), json!({}));
    let cts: Vec<Netns> = (0..N).map(|_| server.container()).collect();
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = cts
            .iter()
            .enumerate()
            .map(|(i, ct)| {
                let (server, c) = (&server, &c);
                s.spawn(move || ok(&run(server, "ADD", &format!("many-{i}"), Some(ct), c)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<Ipv4Addr> = results.iter().map(|r| address_of(r).0).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), N, "{ips:?}");
    let mut leased = server.leased();
    leased.sort();
    let mut want: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
    want.sort();
    assert_eq!(leased, want);
    std::thread::scope(|s| {
        for (i, ct) in cts.iter().enumerate() {
            let (server, c) = (&server, &c);
            s.spawn(move || ok(&run(server, "DEL", &format!("many-{i}"), Some(ct), c)));
        }
    });
    server.wait_for("every release", || server.leased().is_empty());
}

#[test]
fn renewal_reaches_the_server_before_t1_runs_out() {
    // dnsmasq's shortest lease is 2 minutes; T1 and T2 can be set shorter.
    let server = Server::start(&["--dhcp-option=option:T1,3", "--dhcp-option=option:T2,100"]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let c = conf(&daemon.socket(), json!({}));
    let result = ok(&run(&server, "ADD", "ctr-n", Some(&ct), &c));
    configure(&ct, &result);
    let (ip, _) = address_of(&result);
    let requests = || {
        server
            .log()
            .matches(&format!("DHCPREQUEST(br0) {ip}"))
            .count()
    };
    let first = requests();
    server.wait_for("a renewal", || requests() > first);
    let end = Instant::now() + Duration::from_secs(10);
    while !daemon.log().contains("renewed lease") {
        assert!(Instant::now() < end, "{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&run(&server, "DEL", "ctr-n", Some(&ct), &c));
    server.wait_for("the release", || server.leased().is_empty());
}

#[test]
fn rebinding_broadcasts_when_the_server_does_not_answer_renewals() {
    let server = Server::start(&["--dhcp-option=option:T1,2", "--dhcp-option=option:T2,5"]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let c = conf(&daemon.socket(), json!({}));
    let result = ok(&run(&server, "ADD", "ctr-rb", Some(&ct), &c));
    configure(&ct, &result);
    // Unicast to the server now goes to a neighbour that never answers: renewals get lost,
    // broadcasts still arrive.
    let mut nl = Netlink::open_in(ct.path()).unwrap();
    let idx = nl.link("eth0").unwrap().index;
    let detour = reference_plugins::netlink::Route::new(format!("{SERVER_IP}/32").parse().unwrap())
        .via("10.77.0.254".parse().unwrap())
        .dev(idx);
    nl.add_route(&detour).unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while !daemon.log().contains("rebound lease") {
        assert!(Instant::now() < end, "{}\n{}", daemon.log(), server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!daemon.log().contains("renewed lease"), "{}", daemon.log());
    nl.delete_route(&detour).unwrap();
    ok(&run(&server, "DEL", "ctr-rb", Some(&ct), &c));
    server.wait_for("the release", || server.leased().is_empty());
}

#[test]
fn bridge_with_dhcp_ipam_end_to_end() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = Netns::new("dhcp-brct").unwrap();
    // Our bridge plugin attaches the container to br0, where dnsmasq serves.
    let c = json!({
        "cniVersion": "1.1.0", "name": "dhcpnet", "type": "bridge", "bridge": "br0",
        "ipam": {"type": "dhcp", "daemonSocketPath": daemon.socket()}
    });
    let call = Call::new("ADD", "brctr", Some(ct.path()));
    let result = ok(&run_plugin(&server.ns, "bridge", &call, &c));
    let (ip, _) = address_of(&result);
    assert_eq!(server.leased(), vec![ip.to_string()]);
    assert_eq!(result["dns"]["nameservers"], json!([DNS_IP]));
    let mut nl = Netlink::open_in(ct.path()).unwrap();
    let idx = nl.link("eth0").unwrap().index;
    let addrs = nl.addresses(idx, None).unwrap();
    assert!(
        addrs
            .iter()
            .any(|a| a.net().addr() == std::net::IpAddr::V4(ip)),
        "{addrs:?}"
    );
    // The container reaches the server through its lease.
    fixtures::udp_round_trip(
        &server.ns,
        &ct,
        format!("{SERVER_IP}:4567").parse().unwrap(),
    )
    .unwrap();
    let del = Call::new("DEL", "brctr", Some(ct.path()));
    ok(&run_plugin(&server.ns, "bridge", &del, &c));
    server.wait_for("the release", || server.leased().is_empty());
}

#[test]
fn systemd_socket_activation_uses_the_inherited_socket() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhcp"));
    cmd.args(["daemon", "-statedir"])
        .arg(tmp.path().join("state"))
        // A socket path that is never bound: the inherited socket is used instead.
        .arg("-socketpath")
        .arg(tmp.path().join("unused.sock"))
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: dup2 and fcntl are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it explicitly.
            if (fd != 3 && libc::dup2(fd, 3) < 0) || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(listener);
    let mut s = UnixStream::connect(&sock).unwrap();
    s.write_all(b"{\"version\":1,\"op\":\"status\"}\n").unwrap();
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap()["status"],
        "ok"
    );
    assert!(!tmp.path().join("unused.sock").exists());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    // The socket belongs to systemd: the daemon leaves it.
    assert!(sock.exists());

    // A second daemon on a socket a live daemon serves refuses to start.
    let live = Daemon::start(&tmp.path().join("live"));
    let out = Command::new(env!("CARGO_BIN_EXE_dhcp"))
        .args(["daemon", "-statedir"])
        .arg(tmp.path().join("state2"))
        .arg("-socketpath")
        .arg(live.socket())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another daemon is serving"));
    let mut s = UnixStream::connect(live.socket()).unwrap();
    s.write_all(b"{\"version\":1,\"op\":\"status\"}\n").unwrap();
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    assert!(answer.contains("\"ok\""), "{answer}");

    // More than one inherited socket is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_dhcp"))
        .args(["daemon", "-statedir"])
        .arg(tmp.path().join("state"))
        .env("LISTEN_FDS", "2")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly one"));
}

#[test]
fn dhcpv6_alongside_and_instead_of_dhcpv4() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let both = conf(&daemon.socket(), json!({"dhcpv6": true}));
    let result = ok(&run(&server, "ADD", "ctr-6", Some(&ct), &both));
    let ips: Vec<&str> = result["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 2, "{result}");
    assert!(
        ips[0].starts_with("10.77.0.") && ips[0].ends_with("/24"),
        "{ips:?}"
    );
    let v6: std::net::Ipv6Addr = ips[1].strip_suffix("/128").unwrap().parse().unwrap();
    assert_eq!(v6.segments()[..3], [0x2001, 0xdb8, 0x77], "{v6}");
    assert_eq!(result["dns"]["nameservers"], json!([DNS_IP, DNS_IP6]));
    server.wait_for("the DHCPv6 lease in dnsmasq's database", || {
        server.leased().contains(&v6.to_string())
    });
    assert_eq!(server.leased().len(), 2);
    let mut with_prev = both.clone();
    with_prev["prevResult"] = result.clone();
    ok(&run(&server, "CHECK", "ctr-6", Some(&ct), &with_prev));
    let mut wrong = with_prev.clone();
    wrong["prevResult"]["ips"][1]["address"] = json!("2001:db8:77::9/128");
    assert_eq!(
        err_code(&run(&server, "CHECK", "ctr-6", Some(&ct), &wrong)),
        101
    );
    ok(&run(&server, "DEL", "ctr-6", Some(&ct), &both));
    server.wait_for("both releases", || server.leased().is_empty());

    // DHCPv6 only.
    let ct2 = server.container();
    let only = conf(&daemon.socket(), json!({"dhcpv4": false, "dhcpv6": true}));
    let result = ok(&run(&server, "ADD", "ctr-6only", Some(&ct2), &only));
    assert_eq!(result["ips"].as_array().unwrap().len(), 1, "{result}");
    assert!(result["ips"][0]["address"]
        .as_str()
        .unwrap()
        .starts_with("2001:db8:77::"));
    assert_eq!(result["dns"]["nameservers"], json!([DNS_IP6]));
    ok(&run(&server, "DEL", "ctr-6only", Some(&ct2), &only));
    server.wait_for("the release", || server.leased().is_empty());
}

/// DHCPv6 against Kea's DHCPv6 server, so that the v6 exchanges are not tuned to dnsmasq: an
/// IA_NA address from the pool with Kea's DNS server, CHECK, and a release Kea records.
#[test]
fn dhcpv6_only_against_kea() {
    let server = Server::start_kind(Kind::Kea6, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let ct = server.container();
    let only = conf(&daemon.socket(), json!({"dhcpv4": false, "dhcpv6": true}));
    let add = run(&server, "ADD", "ctr-kea6", Some(&ct), &only);
    if !add.status.success() {
        eprintln!("Kea's log:\n{}", server.log());
    }
    let result = ok(&add);
    let ips = result["ips"].as_array().unwrap();
    assert_eq!(ips.len(), 1, "{result}");
    let v6: std::net::Ipv6Addr = ips[0]["address"]
        .as_str()
        .unwrap()
        .strip_suffix("/128")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(v6.segments()[..4], [0x2001, 0xdb8, 0x77, 0], "{v6}");
    assert!((0x100..=0x1ff).contains(&v6.segments()[7]), "{v6}");
    assert_eq!(result["dns"]["nameservers"], json!([DNS_IP6]));
    server.wait_for("the lease in Kea's database", || {
        server.leased() == vec![v6.to_string()]
    });
    let mut with_prev = only.clone();
    with_prev["prevResult"] = result.clone();
    ok(&run(&server, "CHECK", "ctr-kea6", Some(&ct), &with_prev));
    ok(&run(&server, "DEL", "ctr-kea6", Some(&ct), &only));
    server.wait_for("the release", || server.leased().is_empty());
}
