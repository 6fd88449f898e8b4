//! UDP sockets inside a container's network namespace. A socket stays in the namespace it was
//! created in, so a short-lived thread enters the namespace (`setns`), creates and binds the
//! socket there, and hands it back; the daemon's own threads never change namespace.
//!
//! Every DHCPv4 socket is bound to port 68 on the attachment's interface (`SO_BINDTODEVICE`),
//! with `SO_BROADCAST`, `SO_REUSEADDR` (several leases of one namespace share the port) and
//! `IP_FREEBIND` (the bound address need not be configured: renewing a lease whose address
//! the interface does not carry). The kernel sends such a socket's datagrams from 0.0.0.0, so
//! a release from an address the interface no longer carries goes out through
//! [`send_broadcast_from`], a raw socket that writes the IP header itself. Answers broadcast
//! to an interface that has no address yet reach a socket bound to 0.0.0.0 unless
//! reverse-path filtering drops them (`rp_filter` 1 or 2 on the interface with no route back
//! to the server); the BOOTP broadcast flag makes servers broadcast, see [`super::packet`].
//! DHCPv6 sockets are bound to `[::]:546` on the interface ([`bind6`]). The sockets are made
//! with `socket2`; the one `ioctl` left reads the interface's hardware address.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Why a socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SockError {
    /// The namespace path is missing or not a network namespace.
    #[error("network namespace {0} is gone")]
    NetnsGone(PathBuf),
    /// No interface of that name in the namespace.
    #[error("interface {0:?} is gone")]
    InterfaceGone(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: io::Error,
    },
}

impl SockError {
    /// Whether the attachment itself is gone (its lease can be dropped).
    pub fn is_gone(&self) -> bool {
        matches!(self, SockError::NetnsGone(_) | SockError::InterfaceGone(_))
    }
}

/// A bound socket and the interface's hardware address.
pub struct Bound {
    pub socket: UdpSocket,
    pub mac: [u8; 6],
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> SockError {
    move |source| SockError::Io { what, source }
}

/// `ENODEV` means the interface is gone; anything else is a failed `what`.
fn gone_or<'a>(ifname: &'a str, what: &'static str) -> impl FnOnce(io::Error) -> SockError + 'a {
    move |e| {
        if e.raw_os_error() == Some(libc::ENODEV) {
            SockError::InterfaceGone(ifname.to_string())
        } else {
            SockError::Io { what, source: e }
        }
    }
}

/// A close-on-exec socket in the thread's current namespace, bound to `ifname`
/// (`SO_BINDTODEVICE`).
fn socket_on(
    ifname: &str,
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
) -> Result<Socket, SockError> {
    let socket = Socket::new(domain, ty, protocol).map_err(io_err("socket"))?;
    socket
        .bind_device(Some(ifname.as_bytes()))
        .map_err(gone_or(ifname, "SO_BINDTODEVICE"))?;
    Ok(socket)
}

/// A non-blocking UDP socket of `domain` on `ifname`, with `SO_REUSEADDR` (several leases
/// of one namespace share the client port).
fn udp_socket_on(ifname: &str, domain: Domain) -> Result<Socket, SockError> {
    let socket = socket_on(ifname, domain, Type::DGRAM, None)?;
    socket.set_nonblocking(true).map_err(io_err("O_NONBLOCK"))?;
    socket
        .set_reuse_address(true)
        .map_err(io_err("SO_REUSEADDR"))?;
    Ok(socket)
}

/// The hardware address of `ifname`, asked through `socket` (`SIOCGIFHWADDR`).
fn hardware_address(socket: &Socket, ifname: &str) -> Result<[u8; 6], SockError> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(SockError::InterfaceGone(ifname.to_string()));
    }
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the ioctl writes into `req`, a live ifreq, on a descriptor we own.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } < 0 {
        return Err(gone_or(ifname, "SIOCGIFHWADDR")(io::Error::last_os_error()));
    }
    let mut mac = [0u8; 6];
    // SAFETY: SIOCGIFHWADDR filled the hardware-address member of the union.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    for (m, b) in mac.iter_mut().zip(data.iter()) {
        *m = *b as u8;
    }
    Ok(mac)
}

/// Creates, in the thread's current namespace, a non-blocking UDP socket bound to `addr`:68
/// on `ifname`; `addr` need not be configured (`IP_FREEBIND`).
fn bind_here(ifname: &str, addr: Ipv4Addr) -> Result<Bound, SockError> {
    let socket = udp_socket_on(ifname, Domain::IPV4)?;
    socket.set_broadcast(true).map_err(io_err("SO_BROADCAST"))?;
    socket
        .set_freebind_v4(true)
        .map_err(io_err("IP_FREEBIND"))?;
    let mac = hardware_address(&socket, ifname)?;
    socket
        .bind(&SocketAddrV4::new(addr, 68).into())
        .map_err(io_err("bind to port 68"))?;
    Ok(Bound {
        socket: socket.into(),
        mac,
    })
}

/// Runs `f` on a new thread that first enters the network namespace at `netns`.
fn in_netns<T: Send>(
    netns: &Path,
    f: impl FnOnce() -> Result<T, SockError> + Send,
) -> Result<T, SockError> {
    let file = match File::open(netns) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SockError::NetnsGone(netns.to_path_buf()))
        }
        Err(e) => return Err(io_err("open netns")(e)),
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            // This thread only: it ends right after `f`.
            match nix::sched::setns(&file, CloneFlags::CLONE_NEWNET) {
                Ok(()) => f(),
                Err(nix::errno::Errno::EINVAL) => Err(SockError::NetnsGone(netns.to_path_buf())),
                Err(e) => Err(io_err("setns")(e.into())),
            }
        })
        .join()
        .unwrap_or_else(|_| {
            Err(SockError::Io {
                what: "netns thread",
                source: io::Error::other("panicked"),
            })
        })
    })
}

/// A socket bound to `addr`:68 on `ifname` inside `netns`, `addr` configured or not.
pub fn bind(netns: &Path, ifname: &str, addr: Ipv4Addr) -> Result<Bound, SockError> {
    in_netns(netns, || bind_here(ifname, addr))
}

fn netlink_in(netns: &Path) -> Result<crate::netlink::Netlink, SockError> {
    match crate::netlink::Netlink::open_in(netns) {
        Ok(nl) => Ok(nl),
        Err(e) if crate::netns::is_gone(&e) => Err(SockError::NetnsGone(netns.into())),
        Err(e) => Err(SockError::Io {
            what: "netlink in the container namespace",
            source: io::Error::other(e.to_string()),
        }),
    }
}

/// Whether `ifname` in `netns` carries `addr` (a socket bound to an address the interface
/// lacks still binds, but the kernel sends its datagrams from 0.0.0.0).
pub fn carries(netns: &Path, ifname: &str, addr: Ipv4Addr) -> Result<bool, SockError> {
    let mut nl = netlink_in(netns)?;
    let link = nl
        .link(ifname)
        .map_err(|_| SockError::InterfaceGone(ifname.to_string()))?;
    let addrs = nl
        .addresses(link.index, Some(crate::netlink::Family::V4))
        .map_err(|e| SockError::Io {
            what: "listing addresses",
            source: io::Error::other(e.to_string()),
        })?;
    Ok(addrs
        .iter()
        .any(|a| a.net().addr() == std::net::IpAddr::V4(addr)))
}

/// Sets `ifname` in `netns` up if it is down (a DHCP client needs a running link; upstream's
/// daemon does the same).
pub fn ensure_up(netns: &Path, ifname: &str) -> Result<(), SockError> {
    let mut nl = netlink_in(netns)?;
    let link = nl
        .link(ifname)
        .map_err(|_| SockError::InterfaceGone(ifname.to_string()))?;
    if link.flags & libc::IFF_UP as u32 == 0 {
        nl.set_up(ifname).map_err(|e| SockError::Io {
            what: "setting the interface up",
            source: io::Error::other(e.to_string()),
        })?;
    }
    Ok(())
}

/// Whether the namespace and the interface in it still exist: `Ok(false)` when either is gone.
pub fn attachment_present(netns: &Path, ifname: &str) -> Result<bool, SockError> {
    match in_netns(netns, || Ok(nix::net::if_::if_nametoindex(ifname).is_ok())) {
        Ok(present) => Ok(present),
        Err(e) if e.is_gone() => Ok(false),
        Err(e) => Err(e),
    }
}

/// IPv4 + UDP headers for `payload` from `src`:68 to 255.255.255.255:67 (the kernel fills in
/// the IP checksum; a zero UDP checksum means none). Pure.
pub fn broadcast_datagram(src: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut d = Vec::with_capacity(total);
    d.extend_from_slice(&[0x45, 0x10]);
    d.extend_from_slice(&(total as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0, 64, libc::IPPROTO_UDP as u8, 0, 0]);
    d.extend_from_slice(&src.octets());
    d.extend_from_slice(&Ipv4Addr::BROADCAST.octets());
    d.extend_from_slice(&68u16.to_be_bytes());
    d.extend_from_slice(&67u16.to_be_bytes());
    d.extend_from_slice(&(udp_len as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

/// Broadcasts `payload` from `src`:68 to port 67 on `ifname` in `netns`, whether or not the
/// interface carries `src`.
pub fn send_broadcast_from(
    netns: &Path,
    ifname: &str,
    src: Ipv4Addr,
    payload: &[u8],
) -> Result<(), SockError> {
    let datagram = broadcast_datagram(src, payload);
    in_netns(netns, || {
        // IPPROTO_RAW: the datagram carries its own IP header.
        let socket = socket_on(
            ifname,
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )?;
        socket.set_broadcast(true).map_err(io_err("SO_BROADCAST"))?;
        let to: SockAddr = SocketAddrV4::new(Ipv4Addr::BROADCAST, 0).into();
        socket
            .send_to(&datagram, &to)
            .map(drop)
            .map_err(io_err("sending the raw datagram"))
    })
}

/// A UDP socket bound to [::]:546 on `ifname` inside `netns` (DHCPv6 client port), and the
/// interface index (the scope of `ff02::1:2`).
pub fn bind6(netns: &Path, ifname: &str) -> Result<(UdpSocket, u32), SockError> {
    in_netns(netns, || {
        let index = nix::net::if_::if_nametoindex(ifname)
            .map_err(|_| SockError::InterfaceGone(ifname.to_string()))?;
        let socket = udp_socket_on(ifname, Domain::IPV6)?;
        socket.set_only_v6(true).map_err(io_err("IPV6_V6ONLY"))?;
        socket
            .bind(&SocketAddrV6::new(std::net::Ipv6Addr::UNSPECIFIED, 546, 0, 0).into())
            .map_err(io_err("bind to port 546"))?;
        Ok((socket.into(), index))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_datagram_headers() {
        let d = broadcast_datagram(Ipv4Addr::new(10, 0, 0, 9), b"abc");
        assert_eq!(d.len(), 31);
        assert_eq!(&d[2..4], &31u16.to_be_bytes());
        assert_eq!(d[9], 17);
        assert_eq!(&d[12..16], &[10, 0, 0, 9]);
        assert_eq!(&d[16..20], &[255; 4]);
        assert_eq!(&d[20..26], &[0, 68, 0, 67, 0, 11]);
        assert_eq!(&d[28..], b"abc");
    }
}
