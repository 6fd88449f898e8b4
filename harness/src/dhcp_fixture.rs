//! The DHCP fixture of a world: what an IPAM plugin of type `dhcp` needs to be certified, set
//! up per world from the base config's `x-conformance.dhcp` key. Owns the key's parsing
//! ([`DhcpSpec`]), starting a DHCP server (dnsmasq) on a link of the world's node namespace and
//! the IPAM plugin's `dhcp daemon` with a socket of its own ([`DhcpFixture`]), pointing the
//! requests' `ipam.daemonSocketPath` at that socket, and stopping both when the world goes
//! (drop, also while unwinding a panic; the children also get SIGKILL if the thread that
//! started them ends first).
//!
//! The key: `{"link": "<name>", "serverAddress": "<ipv4>/<prefix>"}`. `link` is the node link
//! the server answers on: an existing one (a macvlan config's master peer, which the world
//! creates as `<master>p`) or, when missing, a new bridge (a bridge config names it as its
//! `bridge`). The link gets `serverAddress`; the server hands out the addresses of that subnet
//! from the 10th to the 5th before the broadcast address, with the server as router and DNS
//! server. The daemon is the binary named by the tested plugin's `ipam.type`, found on the
//! target's CNI path, started as `<it> daemon -socketpath <socket>` inside the world's node
//! namespace and a mount namespace of its own with the world's state directory on
//! `/var/lib/cni` (so a daemon that keeps leases there keeps them where snapshots look), a
//! slave of the host's so that the container namespaces bound later are visible to it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::world::World;

/// The DHCP server the fixture runs.
pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// How long the server and the daemon get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The base config's `x-conformance.dhcp`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSpec {
    /// The node link the server answers on (created as a bridge when missing).
    pub link: String,
    pub server: Ipv4Addr,
    pub prefix: u8,
}

impl DhcpSpec {
    /// Reads the key's value; the error says what is wrong with it.
    pub fn parse(v: &Value) -> Result<DhcpSpec, String> {
        let obj = v
            .as_object()
            .ok_or("x-conformance.dhcp must be an object")?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "link" | "serverAddress"))
        {
            return Err(format!(
                "unknown key {k:?} in x-conformance.dhcp (known: \"link\", \"serverAddress\")"
            ));
        }
        let link = obj
            .get("link")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty() && l.len() <= 15 && !l.contains(['/', ' ']))
            .ok_or("x-conformance.dhcp.link must be an interface name")?
            .to_string();
        let addr = obj
            .get("serverAddress")
            .and_then(Value::as_str)
            .ok_or("x-conformance.dhcp.serverAddress must be a string like \"10.95.0.1/22\"")?;
        let net: ipnet::Ipv4Net = addr
            .parse()
            .map_err(|_| format!("x-conformance.dhcp.serverAddress {addr:?} is not IPv4/prefix"))?;
        if net.prefix_len() > 28 {
            return Err(format!(
                "x-conformance.dhcp.serverAddress {addr:?}: the subnet is too small for a pool"
            ));
        }
        let spec = DhcpSpec {
            link,
            server: net.addr(),
            prefix: net.prefix_len(),
        };
        let (first, last) = spec.pool();
        if (first..=last).contains(&spec.server) {
            return Err(format!(
                "x-conformance.dhcp.serverAddress {addr:?} lies inside the pool {first}-{last}"
            ));
        }
        Ok(spec)
    }

    fn net(&self) -> ipnet::Ipv4Net {
        ipnet::Ipv4Net::new(self.server, self.prefix).expect("validated prefix")
    }

    /// The addresses the server hands out: the 10th after the network address to the 5th
    /// before the broadcast address.
    pub fn pool(&self) -> (Ipv4Addr, Ipv4Addr) {
        let net = self.net();
        let first = u32::from(net.network()) + 10;
        let last = u32::from(net.broadcast()) - 5;
        (first.into(), last.into())
    }
}

/// A world's running DHCP server and daemon, stopped on drop.
pub struct DhcpFixture {
    server: Child,
    daemon: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl DhcpFixture {
    /// Starts the server on `spec.link` of `world`'s node namespace and the daemon `daemon`
    /// (an executable path). The world's master links must exist already.
    pub fn start(world: &World, spec: &DhcpSpec, daemon: &Path) -> Result<DhcpFixture, String> {
        if !Path::new(DNSMASQ).exists() {
            return Err(format!(
                "{DNSMASQ} is missing (the dhcp fixture's server): run scripts/setup.sh"
            ));
        }
        if !netns_sandbox::fixtures::link_exists(&world.node, &spec.link) {
            netns_sandbox::fixtures::bridge(&world.node, &spec.link)
                .map_err(|e| format!("cannot create bridge {}: {e}", spec.link))?;
        }
        let cidr = format!("{}/{}", spec.server, spec.prefix);
        world
            .node_cmd(&["ip", "addr", "add", &cidr, "dev", &spec.link])
            .and_then(|()| world.node_cmd(&["ip", "link", "set", &spec.link, "up"]))
            .map_err(|e| format!("cannot give {} the server address: {e}", spec.link))?;
        let dir = tempfile::Builder::new()
            .prefix("cnirs-dhcp-fixture-")
            .tempdir()
            .map_err(|e| format!("cannot create the fixture directory: {e}"))?;
        let mut server = start_server(world, spec, dir.path())?;
        let socket = dir.path().join("daemon.sock");
        let daemon = match start_daemon(world, daemon, &socket, dir.path()) {
            Ok(d) => d,
            Err(e) => {
                stop_child(&mut server);
                return Err(e);
            }
        };
        let mut fixture = DhcpFixture {
            server,
            daemon,
            dir,
            socket,
        };
        // On error the fixture's drop stops both.
        fixture.wait_ready()?;
        Ok(fixture)
    }

    /// The socket the world's daemon listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The server's log so far (packets it received and answered).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Waits until the server listens and the daemon accepts connections; either process
    /// ending first is an error with its log.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let server_up = self.server_log().contains("sockets bound exclusively");
            let daemon_up = std::os::unix::net::UnixStream::connect(&self.socket).is_ok();
            if server_up && daemon_up {
                return Ok(());
            }
            if let Ok(Some(st)) = self.server.try_wait() {
                return Err(format!(
                    "the DHCP server exited ({st}): {}",
                    self.server_log().trim()
                ));
            }
            if let Ok(Some(st)) = self.daemon.try_wait() {
                return Err(format!(
                    "the dhcp daemon exited ({st}): {}",
                    self.daemon_log().trim()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the DHCP server (up: {server_up}) or the dhcp daemon (up: {daemon_up}) did \
                     not start within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Points the `ipam.daemonSocketPath` of a plugin object whose IPAM type is `dhcp` at the
    /// world's daemon.
    pub fn patch(&self, obj: &mut Map<String, Value>) {
        if let Some(Value::Object(ipam)) = obj.get_mut("ipam") {
            if ipam.get("type").and_then(Value::as_str) == Some("dhcp") {
                ipam.insert(
                    "daemonSocketPath".into(),
                    self.socket.to_string_lossy().into_owned().into(),
                );
            }
        }
    }
}

impl Drop for DhcpFixture {
    fn drop(&mut self) {
        // The daemon first: it may still release leases at the server.
        stop_child(&mut self.daemon);
        stop_child(&mut self.server);
    }
}

/// SIGTERM, up to 2 s for the process to end, then SIGKILL.
fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: signalling a child this process started and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Makes a fixture child its own process group (no kill of a plugin's group reaches it) and
/// SIGKILLs it when the starting thread ends.
fn detach(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn log_file(dir: &Path, name: &str) -> Result<(Stdio, Stdio), String> {
    let f =
        std::fs::File::create(dir.join(name)).map_err(|e| format!("cannot create {name}: {e}"))?;
    let g = f.try_clone().map_err(|e| e.to_string())?;
    Ok((f.into(), g.into()))
}

fn start_server(world: &World, spec: &DhcpSpec, dir: &Path) -> Result<Child, String> {
    let (first, last) = spec.pool();
    let mask = spec.net().netmask();
    let mut cmd = world.node.command(DNSMASQ);
    cmd.args([
        "--keep-in-foreground",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--no-ping",
        "--log-dhcp",
        "--bind-interfaces",
        "--dhcp-authoritative",
        "--pid-file=",
    ])
    .arg(format!("--interface={}", spec.link))
    .arg(format!("--dhcp-range={first},{last},{mask},1h"))
    .arg(format!("--dhcp-option=option:router,{}", spec.server))
    .arg(format!("--dhcp-option=option:dns-server,{}", spec.server))
    .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()));
    let (out, err) = log_file(dir, "server.log")?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    detach(&mut cmd);
    cmd.spawn()
        .map_err(|e| format!("cannot start {DNSMASQ}: {e}"))
}

fn start_daemon(world: &World, daemon: &Path, socket: &Path, dir: &Path) -> Result<Child, String> {
    let mut cmd = world
        .service_command(daemon, &[])
        .map_err(|e| format!("cannot prepare the dhcp daemon: {e}"))?;
    cmd.arg("daemon").arg("-socketpath").arg(socket);
    let (out, err) = log_file(dir, "daemon.log")?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    detach(&mut cmd);
    cmd.spawn()
        .map_err(|e| format!("cannot start {} daemon: {e}", daemon.display()))
}

/// The daemon for a target: its IPAM type's binary on the CNI path.
pub fn daemon_binary(ipam_type: &str, cni_path: &[PathBuf]) -> Result<PathBuf, String> {
    cni_path
        .iter()
        .map(|d| d.join(ipam_type))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!("x-conformance.dhcp: no {ipam_type:?} binary on the CNI path to run its daemon")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_reads_link_and_pool() {
        let s = DhcpSpec::parse(&json!({"link": "br9", "serverAddress": "10.95.0.1/22"})).unwrap();
        assert_eq!(s.link, "br9");
        assert_eq!(
            s.pool(),
            (
                "10.95.0.10".parse().unwrap(),
                "10.95.3.250".parse().unwrap()
            )
        );
    }

    #[test]
    fn spec_refuses_what_cannot_serve() {
        for bad in [
            json!({"link": "br9"}),
            json!({"serverAddress": "10.95.0.1/22"}),
            json!({"link": "br9", "serverAddress": "10.95.0.1/30"}),
            json!({"link": "br9", "serverAddress": "10.95.0.20/24"}),
            json!({"link": "br9", "serverAddress": "10.95.0.1/24", "x": 1}),
            json!({"link": "a/b", "serverAddress": "10.95.0.1/24"}),
            json!("br9"),
        ] {
            assert!(DhcpSpec::parse(&bad).is_err(), "{bad}");
        }
    }
}
