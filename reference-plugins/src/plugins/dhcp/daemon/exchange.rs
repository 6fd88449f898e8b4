//! DHCPv4 client exchanges over a socket in the container's namespace: acquiring a lease
//! (DISCOVER, OFFER, REQUEST, ACK, starting over after a NAK or silence), extending it
//! (REQUEST unicast to the server when renewing, broadcast when rebinding) and releasing it.
//!
//! Retransmission: a message is sent again when no answer came within the current interval:
//! every 250 ms during an exchange's first two seconds, then doubling up to `-resendmax`; one
//! exchange gives up after `-timeout`, and an acquisition after `-resendtimeout`. The early
//! rate is for new links: an interface plugin delegates to IPAM right after it set a new veth
//! up, and until the kernel's link watcher has run (up to about a second) the link drops what
//! is sent, so the first DISCOVER is often lost; a retransmission a second later would add
//! that second to every ADD (`scripts/bench-dhcp.sh` shows it through the bridge plugin).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

use super::packet::{decode_reply, Client, LeaseEvent, LeaseInfo, Offer};
use super::sock::{self, SockError};
use crate::plugins::dhcp::protocol::ProvidedOption;

/// The daemon's retransmission settings (its `-timeout`, `-resendmax`, `-resendtimeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub timeout: Duration,
    pub resend_max: Duration,
    pub resend_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            timeout: Duration::from_secs(10),
            resend_max: Duration::from_secs(62),
            resend_timeout: Duration::from_secs(208),
        }
    }
}

const SERVER_PORT: u16 = 67;

/// Why no lease was acquired.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error(transparent)]
    Socket(#[from] SockError),
    #[error("no DHCP server answered within {0:?}")]
    NoAnswer(Duration),
}

/// A random transaction ID.
pub fn new_xid() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: writes at most 4 bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 4, 0) };
    if n != 4 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return t.subsec_nanos() ^ (std::process::id() << 12);
    }
    u32::from_ne_bytes(b)
}

fn tokio_socket(bound: sock::Bound) -> Result<(UdpSocket, [u8; 6]), SockError> {
    let mac = bound.mac;
    UdpSocket::from_std(bound.socket)
        .map(|s| (s, mac))
        .map_err(|source| SockError::Io {
            what: "registering the socket",
            source,
        })
}

/// When a family's exchanges send again: every `first` during the `early` part of an
/// exchange, then at doubling intervals up to the daemon's `-resendmax`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub first: Duration,
    pub early: Duration,
}

/// DHCPv4's schedule (see the module documentation).
const SCHEDULE: Schedule = Schedule {
    first: Duration::from_millis(250),
    early: Duration::from_secs(2),
};

/// Sends `packet` to `to` and again on `schedule` until `decode` takes an answer (a datagram
/// for this transaction that the caller waits for) or `timing`'s exchange timeout passes.
pub async fn retransmit<E>(
    socket: &UdpSocket,
    packet: &[u8],
    to: SocketAddr,
    timing: &Timing,
    schedule: Schedule,
    decode: impl Fn(&[u8]) -> Option<E>,
) -> Option<E> {
    let start = Instant::now();
    let end = start + timing.timeout;
    let mut interval = schedule.first.min(timing.resend_max);
    let mut buf = vec![0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= end {
            return None;
        }
        match socket.send_to(packet, to).await {
            // A DHCPv6 socket cannot send while its link-local address is tentative; the
            // next round tries again.
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {}
            Err(e) => eprintln!("dhcp daemon: sending to {to}: {e}"),
            Ok(_) => {}
        }
        let round_end = (now + interval).min(end);
        loop {
            match timeout_at(round_end, socket.recv_from(&mut buf)).await {
                Err(_) => break,
                Ok(Ok((n, _))) => {
                    if let Some(answer) = decode(&buf[..n]) {
                        return Some(answer);
                    }
                }
                Ok(Err(_)) => {
                    tokio::time::sleep_until(round_end).await;
                    break;
                }
            }
        }
        if start.elapsed() >= schedule.early {
            interval = (interval * 2).min(timing.resend_max.max(schedule.first));
        }
    }
}

/// One DHCPv4 exchange: `packet` to `to`, until an answer for `xid` and `mac` that `accept`
/// takes.
async fn exchange(
    socket: &UdpSocket,
    packet: &[u8],
    to: SocketAddrV4,
    xid: u32,
    mac: &[u8; 6],
    timing: &Timing,
    accept: impl Fn(&LeaseEvent) -> bool,
) -> Option<LeaseEvent> {
    let decode = |b: &[u8]| decode_reply(b, xid, mac).ok().filter(&accept);
    retransmit(socket, packet, to.into(), timing, SCHEDULE, decode).await
}

/// Acquires a lease on `ifname` in the namespace at `netns`: the interface's MAC and the lease.
pub async fn acquire(
    netns: &Path,
    ifname: &str,
    attachment_text: &str,
    request: Vec<u8>,
    provide: Vec<ProvidedOption>,
    timing: &Timing,
) -> Result<([u8; 6], LeaseInfo), AcquireError> {
    sock::ensure_up(netns, ifname)?;
    let (socket, mac) = tokio_socket(sock::bind(netns, ifname, Ipv4Addr::UNSPECIFIED)?)?;
    let client = Client::new(mac, attachment_text, request, provide);
    let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT);
    let deadline = Instant::now() + timing.resend_timeout;
    while Instant::now() < deadline {
        let xid = new_xid();
        let offer = exchange(
            &socket,
            &client.discover(xid),
            broadcast,
            xid,
            &mac,
            timing,
            |e| matches!(e, LeaseEvent::Offer(_)),
        )
        .await;
        let Some(LeaseEvent::Offer(offer)) = offer else {
            continue;
        };
        if let Some(info) = select(&socket, &client, &offer, timing).await {
            return Ok((mac, info));
        }
    }
    Err(AcquireError::NoAnswer(timing.resend_timeout))
}

async fn select(
    socket: &UdpSocket,
    client: &Client,
    offer: &Offer,
    timing: &Timing,
) -> Option<LeaseInfo> {
    let xid = new_xid();
    let answer = exchange(
        socket,
        &client.request_selecting(xid, offer),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
        xid,
        &client.mac,
        timing,
        |e| match e {
            LeaseEvent::Ack(i) => i.address == offer.address,
            LeaseEvent::Nak { server_id, .. } => {
                server_id.is_none() || *server_id == Some(offer.server_id)
            }
            LeaseEvent::Offer(_) => false,
        },
    )
    .await;
    match answer {
        Some(LeaseEvent::Ack(info)) => Some(info),
        _ => None,
    }
}

/// How an attempt to extend a lease ended; `I` is the family's lease information.
#[derive(Debug)]
pub enum Extension<I> {
    Extended(I),
    Refused,
    NoAnswer,
}

/// One RENEWING (unicast to `server`) or REBINDING (`server` is `None`: broadcast) exchange.
pub async fn extend(
    netns: &Path,
    ifname: &str,
    client: &Client,
    address: Ipv4Addr,
    server: Option<Ipv4Addr>,
    timing: &Timing,
) -> Result<Extension<LeaseInfo>, SockError> {
    let (socket, _) = tokio_socket(sock::bind(netns, ifname, address)?)?;
    let xid = new_xid();
    let to = SocketAddrV4::new(server.unwrap_or(Ipv4Addr::BROADCAST), SERVER_PORT);
    let answer = exchange(
        &socket,
        &client.request_extend(xid, address),
        to,
        xid,
        &client.mac,
        timing,
        |e| !matches!(e, LeaseEvent::Offer(_)),
    )
    .await;
    Ok(match answer {
        Some(LeaseEvent::Ack(info)) if info.address == address => Extension::Extended(info),
        Some(LeaseEvent::Ack(_)) | Some(LeaseEvent::Nak { .. }) => Extension::Refused,
        _ => Extension::NoAnswer,
    })
}

/// Sends DHCPRELEASE for `address` from `address`:68: unicast to `server` while the
/// interface carries the address, else broadcast from a raw socket (the kernel would send a
/// UDP socket's datagram from 0.0.0.0, which servers ignore).
pub async fn release(
    netns: &Path,
    ifname: &str,
    client: &Client,
    address: Ipv4Addr,
    server: Ipv4Addr,
) -> Result<(), SockError> {
    let packet = client.release(new_xid(), address, server);
    if !sock::carries(netns, ifname, address)? {
        return sock::send_broadcast_from(netns, ifname, address, &packet);
    }
    let (socket, _) = tokio_socket(sock::bind(netns, ifname, address)?)?;
    match socket
        .send_to(&packet, SocketAddrV4::new(server, SERVER_PORT))
        .await
    {
        Ok(_) => Ok(()),
        Err(_) => sock::send_broadcast_from(netns, ifname, address, &packet),
    }
}
