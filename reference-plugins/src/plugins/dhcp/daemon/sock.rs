//! UDP sockets inside a container's network namespace. A socket stays in the namespace it was
//! created in, so a short-lived thread enters the namespace (`setns`), creates and binds the
//! socket there, and hands it back; the daemon's own threads never change namespace.
//!
//! Every socket is bound to port 68 on the attachment's interface (`SO_BINDTODEVICE`), with
//! `SO_BROADCAST` and `SO_REUSEADDR` (several leases of one namespace share the port), and
//! `IP_FREEBIND` when the bound address need not be configured (renewing a lease whose
//! address the interface does not carry). The kernel sends such a socket's datagrams from
//! 0.0.0.0, so a release from an address the interface no longer carries goes out through
//! [`send_broadcast_from`], a raw socket that writes the IP header itself. Answers broadcast to an interface that has no address yet reach a
//! socket bound to 0.0.0.0 unless reverse-path filtering drops them (`rp_filter` 1 or 2 on
//! the interface with no route back to the server); the BOOTP broadcast flag makes servers
//! broadcast, see [`super::packet`].

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

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

fn check(rc: libc::c_int, what: &'static str) -> Result<(), SockError> {
    if rc < 0 {
        Err(SockError::Io {
            what,
            source: io::Error::last_os_error(),
        })
    } else {
        Ok(())
    }
}

fn ifreq(ifname: &str) -> Result<libc::ifreq, SockError> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(SockError::InterfaceGone(ifname.to_string()));
    }
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

/// Creates, in the thread's current namespace, a UDP socket bound to `addr`:68 on `ifname`;
/// with `freebind`, `addr` need not be configured.
fn bind_here(ifname: &str, addr: Ipv4Addr, freebind: bool) -> Result<Bound, SockError> {
    // SAFETY: plain syscalls on a descriptor we own; every pointer is to a live local.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        check(fd, "socket")?;
        let fd = OwnedFd::from_raw_fd(fd);
        let raw = fd.as_raw_fd();
        let one: libc::c_int = 1;
        let opt = |level, name, what| {
            check(
                libc::setsockopt(
                    raw,
                    level,
                    name,
                    &one as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                ),
                what,
            )
        };
        opt(libc::SOL_SOCKET, libc::SO_REUSEADDR, "SO_REUSEADDR")?;
        opt(libc::SOL_SOCKET, libc::SO_BROADCAST, "SO_BROADCAST")?;
        if freebind {
            opt(libc::IPPROTO_IP, libc::IP_FREEBIND, "IP_FREEBIND")?;
        }
        let rc = libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_ptr() as *const libc::c_void,
            ifname.len() as libc::socklen_t,
        );
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::ENODEV) {
                SockError::InterfaceGone(ifname.to_string())
            } else {
                SockError::Io {
                    what: "SO_BINDTODEVICE",
                    source: e,
                }
            });
        }
        let mut req = ifreq(ifname)?;
        if libc::ioctl(raw, libc::SIOCGIFHWADDR, &mut req) < 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::ENODEV) {
                SockError::InterfaceGone(ifname.to_string())
            } else {
                SockError::Io {
                    what: "SIOCGIFHWADDR",
                    source: e,
                }
            });
        }
        let mut mac = [0u8; 6];
        for (m, b) in mac.iter_mut().zip(req.ifr_ifru.ifru_hwaddr.sa_data.iter()) {
            *m = *b as u8;
        }
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 68u16.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(addr).to_be(),
            },
            sin_zero: [0; 8],
        };
        check(
            libc::bind(
                raw,
                &sin as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ),
            "bind to port 68",
        )?;
        Ok(Bound {
            socket: UdpSocket::from(fd),
            mac,
        })
    }
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
            // SAFETY: setns on a descriptor we hold; it changes this new thread only, which
            // ends right after `f`.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                let e = io::Error::last_os_error();
                return Err(if e.raw_os_error() == Some(libc::EINVAL) {
                    SockError::NetnsGone(netns.to_path_buf())
                } else {
                    io_err("setns")(e)
                });
            }
            f()
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
    in_netns(netns, || bind_here(ifname, addr, true))
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
    let name =
        std::ffi::CString::new(ifname).map_err(|_| SockError::InterfaceGone(ifname.into()))?;
    match in_netns(netns, || {
        // SAFETY: a NUL-terminated name.
        Ok(unsafe { libc::if_nametoindex(name.as_ptr()) } != 0)
    }) {
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
        // SAFETY: plain syscalls on a descriptor we own; pointers are to live locals.
        unsafe {
            let fd = libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            );
            check(fd, "raw socket")?;
            let fd = OwnedFd::from_raw_fd(fd);
            let raw = fd.as_raw_fd();
            let one: libc::c_int = 1;
            check(
                libc::setsockopt(
                    raw,
                    libc::SOL_SOCKET,
                    libc::SO_BROADCAST,
                    &one as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                ),
                "SO_BROADCAST",
            )?;
            if libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                ifname.as_ptr() as *const libc::c_void,
                ifname.len() as libc::socklen_t,
            ) < 0
            {
                return Err(SockError::InterfaceGone(ifname.to_string()));
            }
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from(Ipv4Addr::BROADCAST).to_be(),
                },
                sin_zero: [0; 8],
            };
            let n = libc::sendto(
                raw,
                datagram.as_ptr() as *const libc::c_void,
                datagram.len(),
                0,
                &sin as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            check(n as libc::c_int, "sending the raw datagram")
        }
    })
}

/// A UDP socket bound to [::]:546 on `ifname` inside `netns` (DHCPv6 client port), and the
/// interface index (the scope of `ff02::1:2`).
pub fn bind6(netns: &Path, ifname: &str) -> Result<(UdpSocket, u32), SockError> {
    let name =
        std::ffi::CString::new(ifname).map_err(|_| SockError::InterfaceGone(ifname.into()))?;
    in_netns(netns, || {
        // SAFETY: plain syscalls on a descriptor we own; pointers are to live locals.
        unsafe {
            let index = libc::if_nametoindex(name.as_ptr());
            if index == 0 {
                return Err(SockError::InterfaceGone(ifname.to_string()));
            }
            let fd = libc::socket(
                libc::AF_INET6,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            );
            check(fd, "socket")?;
            let fd = OwnedFd::from_raw_fd(fd);
            let raw = fd.as_raw_fd();
            let one: libc::c_int = 1;
            for (level, opt, what) in [
                (libc::SOL_SOCKET, libc::SO_REUSEADDR, "SO_REUSEADDR"),
                (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, "IPV6_V6ONLY"),
            ] {
                check(
                    libc::setsockopt(
                        raw,
                        level,
                        opt,
                        &one as *const _ as *const libc::c_void,
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    ),
                    what,
                )?;
            }
            if libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                ifname.as_ptr() as *const libc::c_void,
                ifname.len() as libc::socklen_t,
            ) < 0
            {
                return Err(SockError::InterfaceGone(ifname.to_string()));
            }
            let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = 546u16.to_be();
            check(
                libc::bind(
                    raw,
                    &sin6 as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                ),
                "bind to port 546",
            )?;
            Ok((UdpSocket::from(fd), index))
        }
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
