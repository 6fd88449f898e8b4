//! Host-side fixtures plugins need in a namespace: veth pairs (one end can serve as the
//! `master` of macvlan/ipvlan/vlan plugins) and bridges, created over rtnetlink and brought up.
//! They live in the namespace and go with it. And probes of what a plugin set up: a TCP or
//! UDP round trip between two namespaces ([`tcp_round_trip`], [`udp_round_trip`]), also
//! through a translation ([`tcp_forwarded`], [`udp_forwarded`], which tell the client's
//! address as the server saw it).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use cni_netlink::{LinkSpec, Netlink, NetlinkError};

use crate::{Netns, SandboxError};

/// How long [`tcp_round_trip`] keeps trying to bind, and waits to connect.
const TCP_PATIENCE: Duration = Duration::from_secs(5);

/// Proves that `client` reaches address `to` of `server` over TCP: binds a listener to `to`
/// inside `server` (retrying for a few seconds while the address is not usable yet, as an IPv6
/// address is while tentative), connects from `client` and has one byte echoed back.
pub fn tcp_round_trip(server: &Netns, client: &Netns, to: SocketAddr) -> Result<(), SandboxError> {
    tcp_forwarded(server, to, client, to).map(drop)
}

/// [`tcp_round_trip`] through a translation: the listener binds `listen` inside `server`, the
/// client connects to `to` (a port forwarded to `listen`, say). Returns the client's address
/// as the server saw it (after any source translation).
pub fn tcp_forwarded(
    server: &Netns,
    listen: SocketAddr,
    client: &Netns,
    to: SocketAddr,
) -> Result<SocketAddr, SandboxError> {
    let failed = |what: String| move |source: io::Error| SandboxError::Sys { what, source };
    let deadline = Instant::now() + TCP_PATIENCE;
    let listener = loop {
        match server.run(move || TcpListener::bind(listen))? {
            Ok(l) => break l,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(failed(format!("bind {listen} in {}", server.name()))(e)),
        }
    };
    let echo = std::thread::spawn(move || -> io::Result<SocketAddr> {
        let (mut s, peer) = accept_within(&listener, 2 * TCP_PATIENCE)?;
        s.set_read_timeout(Some(TCP_PATIENCE))?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        s.write_all(&b)?;
        Ok(peer)
    });
    let exchanged = client
        .run(move || -> io::Result<[u8; 1]> {
            let mut stream = TcpStream::connect_timeout(&to, TCP_PATIENCE)?;
            stream.set_read_timeout(Some(TCP_PATIENCE))?;
            stream.write_all(b"x")?;
            let mut b = [0u8; 1];
            stream.read_exact(&mut b)?;
            Ok(b)
        })?
        .map_err(failed(format!("connect to {to} from {}", client.name())));
    if exchanged.is_err() {
        // Unblock the listener's accept from its own side, so its thread ends.
        let _ = server.run(move || TcpStream::connect_timeout(&listen, TCP_PATIENCE));
    }
    let echoed = echo.join().map_err(|_| SandboxError::ThreadPanicked)?;
    if exchanged? != *b"x" {
        return Err(failed(format!("echo from {to}"))(io::Error::new(
            io::ErrorKind::InvalidData,
            "a different byte came back",
        )));
    }
    echoed.map_err(failed(format!("echo server at {listen}")))
}

/// The first connection `listener` gets within `patience`, else a timeout error: a client
/// whose connection went elsewhere, and a namespace where even the listener's own address is
/// unreachable (loopback down), must not leave the accept waiting forever.
fn accept_within(
    listener: &TcpListener,
    patience: Duration,
) -> io::Result<(TcpStream, SocketAddr)> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + patience;
    loop {
        match listener.accept() {
            Ok((s, peer)) => {
                s.set_nonblocking(false)?;
                return Ok((s, peer));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no connection reached the listener",
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The UDP counterpart of [`tcp_forwarded`]: a socket bound to `listen` inside `server`
/// answers the first datagram it gets; `client` sends datagrams to `to` (one every 200 ms)
/// until an answer comes back from `to` or `patience` runs out. Returns the client's address
/// as the server saw it.
pub fn udp_forwarded(
    server: &Netns,
    listen: SocketAddr,
    client: &Netns,
    to: SocketAddr,
    patience: Duration,
) -> Result<SocketAddr, SandboxError> {
    let failed = |what: String| move |source: io::Error| SandboxError::Sys { what, source };
    let deadline = Instant::now() + TCP_PATIENCE;
    let socket = loop {
        match server.run(move || UdpSocket::bind(listen))? {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(failed(format!("bind udp {listen} in {}", server.name()))(e)),
        }
    };
    socket
        .set_read_timeout(Some(patience + Duration::from_millis(500)))
        .map_err(failed("set a timeout".to_string()))?;
    let answer = std::thread::spawn(move || -> io::Result<SocketAddr> {
        let mut b = [0u8; 16];
        let (_, peer) = socket.recv_from(&mut b)?;
        // Answer a few times: the first reply may race the client's next retry.
        for _ in 0..3 {
            socket.send_to(b"y", peer)?;
        }
        Ok(peer)
    });
    let exchanged = client
        .run(move || -> io::Result<()> {
            let any: SocketAddr = if to.is_ipv4() {
                "0.0.0.0:0".parse().expect("valid")
            } else {
                "[::]:0".parse().expect("valid")
            };
            let sock = UdpSocket::bind(any)?;
            sock.connect(to)?;
            sock.set_read_timeout(Some(Duration::from_millis(200)))?;
            let end = Instant::now() + patience;
            let mut b = [0u8; 16];
            loop {
                // A refused port shows as an error on the connected socket: keep trying.
                let _ = sock.send(b"x");
                match sock.recv(&mut b) {
                    Ok(_) => return Ok(()),
                    Err(_) if Instant::now() < end => {}
                    Err(e) => return Err(e),
                }
            }
        })?
        .map_err(failed(format!("udp to {to} from {}", client.name())));
    if exchanged.is_err() {
        // Unblock the server's receive from its own side, so its thread ends.
        let _ = server.run(move || {
            UdpSocket::bind(if listen.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            })
            .and_then(|s| s.send_to(b"z", listen))
        });
    }
    let seen = answer.join().map_err(|_| SandboxError::ThreadPanicked)?;
    exchanged?;
    seen.map_err(failed(format!("udp server at {listen}")))
}

/// Proves that `client` reaches address `to` of `server` over UDP (see [`udp_forwarded`],
/// with a few seconds of patience).
pub fn udp_round_trip(server: &Netns, client: &Netns, to: SocketAddr) -> Result<(), SandboxError> {
    udp_forwarded(server, to, client, to, TCP_PATIENCE).map(drop)
}

/// Creates the veth pair `name`/`peer` inside `ns`, both ends up.
pub fn veth_pair(ns: &Netns, name: &str, peer: &str) -> Result<(), NetlinkError> {
    let mut nl = Netlink::open_in(ns.path())?;
    nl.create_link(&LinkSpec::veth(name, peer, None))?;
    nl.set_up(name)?;
    nl.set_up(peer)
}

/// Creates the bridge `name` inside `ns`, up.
pub fn bridge(ns: &Netns, name: &str) -> Result<(), NetlinkError> {
    let mut nl = Netlink::open_in(ns.path())?;
    nl.create_link(&LinkSpec::bridge(name, None))?;
    nl.set_up(name)
}

/// Whether a link called `name` exists in `ns`.
pub fn link_exists(ns: &Netns, name: &str) -> bool {
    Netlink::open_in(ns.path())
        .and_then(|mut nl| nl.link(name))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_and_bridge_fixtures() {
        let ns = Netns::new("fixtures").unwrap();
        veth_pair(&ns, "up0", "up0p").unwrap();
        bridge(&ns, "br-fix").unwrap();
        assert!(link_exists(&ns, "up0") && link_exists(&ns, "up0p") && link_exists(&ns, "br-fix"));
        assert!(!link_exists(&ns, "nope"));
        let snap = crate::snapshot::Snapshot::take(&ns, &Default::default());
        assert!(
            snap.links
                .iter()
                .any(|l| l.starts_with("up0 kind=veth") && l.ends_with("UP")),
            "{snap:?}"
        );
        assert!(
            snap.links
                .iter()
                .any(|l| l.starts_with("br-fix kind=bridge")),
            "{snap:?}"
        );
        // creating it again is an "exists" error, not a panic
        assert!(veth_pair(&ns, "up0", "up0p").unwrap_err().is_exists());
    }

    fn lo_up(ns: &Netns) {
        Netlink::open_in(ns.path()).unwrap().set_up("lo").unwrap();
    }

    #[test]
    fn tcp_round_trip_succeeds_where_there_is_a_path_and_fails_where_there_is_none() {
        let a = Netns::new("fx-tcp-a").unwrap();
        let b = Netns::new("fx-tcp-b").unwrap();
        lo_up(&a);
        lo_up(&b);
        let to: SocketAddr = "127.0.0.1:7777".parse().unwrap();
        tcp_round_trip(&a, &a, to).unwrap();
        // b's loopback is another one: nothing listens there, and the failure is an error,
        // not a hang (the listener in a is released).
        let e = tcp_round_trip(&a, &b, to).unwrap_err();
        assert!(e.to_string().contains("connect to 127.0.0.1:7777"), "{e}");
        tcp_round_trip(&a, &a, to).unwrap();
    }

    #[test]
    fn udp_round_trip_and_the_address_the_server_sees() {
        let a = Netns::new("fx-udp-a").unwrap();
        let b = Netns::new("fx-udp-b").unwrap();
        lo_up(&a);
        lo_up(&b);
        let to: SocketAddr = "127.0.0.1:7778".parse().unwrap();
        udp_round_trip(&a, &a, to).unwrap();
        let seen = udp_forwarded(&a, to, &a, to, Duration::from_secs(2)).unwrap();
        assert_eq!(seen.ip(), to.ip());
        let e = udp_forwarded(&a, to, &b, to, Duration::from_millis(600)).unwrap_err();
        assert!(e.to_string().contains("udp to 127.0.0.1:7778"), "{e}");
        udp_round_trip(&a, &a, "[::1]:7778".parse().unwrap()).unwrap();
        let seen = tcp_forwarded(&a, to, &a, to).unwrap();
        assert_eq!(seen.ip(), to.ip());
    }
}
