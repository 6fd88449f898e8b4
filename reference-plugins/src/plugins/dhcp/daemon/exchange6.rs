//! DHCPv6 client exchanges over a socket in the container's namespace: SOLICIT, ADVERTISE,
//! REQUEST, REPLY to acquire; RENEW (to the granting server) or REBIND (to any) to extend;
//! RELEASE. Every message goes to `ff02::1:2` (All_DHCP_Relay_Agents_and_Servers) on the
//! interface; sent again by [`super::exchange::retransmit`] on RFC 8415's schedule (1 s,
//! doubling).

use std::net::{Ipv6Addr, SocketAddrV6};
use std::path::Path;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::exchange::{new_xid, retransmit, AcquireError, Extension, Schedule, Timing};
use super::packet6::{decode_reply6, Client6, Lease6Event, Lease6Info};
use super::sock::{self, SockError};

const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
const SERVER_PORT: u16 = 547;
/// RFC 8415's initial retransmission time for SOLICIT, REQUEST, RENEW and REBIND (1 s),
/// doubling from the first retransmission.
const SCHEDULE: Schedule = Schedule {
    first: Duration::from_secs(1),
    early: Duration::ZERO,
};

async fn socket6(netns: &Path, ifname: &str) -> Result<(UdpSocket, SocketAddrV6), SockError> {
    let (std_socket, index) = sock::bind6(netns, ifname)?;
    let socket = UdpSocket::from_std(std_socket).map_err(|source| SockError::Io {
        what: "registering the socket",
        source,
    })?;
    Ok((
        socket,
        SocketAddrV6::new(ALL_SERVERS, SERVER_PORT, 0, index),
    ))
}

/// One DHCPv6 exchange: `packet` to `to`, until an answer for `xid` and `client` that
/// `accept` takes.
async fn exchange6(
    socket: &UdpSocket,
    packet: &[u8],
    to: SocketAddrV6,
    xid: u32,
    client: &Client6,
    timing: &Timing,
    accept: impl Fn(&Lease6Event) -> bool,
) -> Option<Lease6Event> {
    let decode = |b: &[u8]| decode_reply6(b, xid, client).ok().filter(&accept);
    retransmit(socket, packet, to.into(), timing, SCHEDULE, decode).await
}

/// Acquires an address by DHCPv6 on `ifname` in the namespace at `netns`.
pub async fn acquire6(
    netns: &Path,
    ifname: &str,
    client: &Client6,
    timing: &Timing,
) -> Result<Lease6Info, AcquireError> {
    sock::ensure_up(netns, ifname)?;
    let (socket, to) = socket6(netns, ifname).await?;
    let deadline = Instant::now() + timing.resend_timeout;
    while Instant::now() < deadline {
        let xid = new_xid() & 0x00ff_ffff;
        let adv = exchange6(
            &socket,
            &client.solicit(xid),
            to,
            xid,
            client,
            timing,
            |e| {
                matches!(
                    e,
                    Lease6Event::Advertise {
                        address: Some(_),
                        ..
                    }
                )
            },
        )
        .await;
        let Some(Lease6Event::Advertise {
            server_duid,
            address,
        }) = adv
        else {
            continue;
        };
        let xid = new_xid() & 0x00ff_ffff;
        let reply = exchange6(
            &socket,
            &client.request(xid, &server_duid, address),
            to,
            xid,
            client,
            timing,
            |e| !matches!(e, Lease6Event::Advertise { .. }),
        )
        .await;
        if let Some(Lease6Event::Reply(info)) = reply {
            return Ok(info);
        }
    }
    Err(AcquireError::NoAnswer(timing.resend_timeout))
}

/// One RENEW (`renew`: to the granting server) or REBIND exchange.
pub async fn extend6(
    netns: &Path,
    ifname: &str,
    client: &Client6,
    lease: &Lease6Info,
    renew: bool,
    timing: &Timing,
) -> Result<Extension<Lease6Info>, SockError> {
    let (socket, to) = socket6(netns, ifname).await?;
    let xid = new_xid() & 0x00ff_ffff;
    let server = renew.then_some(lease.server_duid.as_slice());
    let answer = exchange6(
        &socket,
        &client.extend(xid, server, lease.address),
        to,
        xid,
        client,
        timing,
        |e| !matches!(e, Lease6Event::Advertise { .. }),
    )
    .await;
    Ok(match answer {
        Some(Lease6Event::Reply(info)) if info.address == lease.address => {
            Extension::Extended(info)
        }
        Some(_) => Extension::Refused,
        None => Extension::NoAnswer,
    })
}

/// Sends RELEASE for the lease (once; the server's REPLY is not awaited).
pub async fn release6(
    netns: &Path,
    ifname: &str,
    client: &Client6,
    lease: &Lease6Info,
) -> Result<(), SockError> {
    let (socket, to) = socket6(netns, ifname).await?;
    let packet = client.release(new_xid() & 0x00ff_ffff, &lease.server_duid, lease.address);
    socket
        .send_to(&packet, to)
        .await
        .map(drop)
        .map_err(|source| SockError::Io {
            what: "sending RELEASE",
            source,
        })
}
