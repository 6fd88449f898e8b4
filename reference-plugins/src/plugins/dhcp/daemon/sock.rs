//! UDP sockets inside a container's network namespace. A socket stays in the namespace it was
//! created in, so a short-lived thread enters the namespace (`setns`), creates and binds the
//! socket there, and hands it back; the daemon's own threads never change namespace.
//!
//! Every socket is bound to port 68 on the attachment's interface (`SO_BINDTODEVICE`), with
//! `SO_BROADCAST` and `SO_REUSEADDR` (several leases of one namespace share the port) and
//! `IP_FREEBIND` (a release is sent from the leased address even when the interface no
//! longer carries it). Answers broadcast to an interface that has no address yet reach a
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

/// Creates, in the thread's current namespace, a UDP socket bound to `addr`:68 on `ifname`.
fn bind_here(ifname: &str, addr: Ipv4Addr) -> Result<Bound, SockError> {
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
        opt(libc::IPPROTO_IP, libc::IP_FREEBIND, "IP_FREEBIND")?;
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

/// A socket bound to `addr`:68 on `ifname` inside `netns`.
pub fn bind(netns: &Path, ifname: &str, addr: Ipv4Addr) -> Result<Bound, SockError> {
    in_netns(netns, || bind_here(ifname, addr))
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
