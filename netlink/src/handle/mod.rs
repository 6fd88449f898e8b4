//! The handle, [`Netlink`]: one route-netlink socket bound to one network namespace, with
//! that namespace kept open. This file opens it (in the current namespace, at a path, or
//! at a descriptor) and answers what needs no message (a link's index, the namespace);
//! the operations are `impl Netlink` blocks per object: [`link`] (links of every kind),
//! [`bridge`] (bridge ports and VLANs), [`address`] and [`route`]. Each operation names
//! itself for errors, picks the request type and flags, and leaves the message body to
//! [`crate::wire`] and the exchange to [`crate::socket`].

mod address;
mod bridge;
mod link;
mod route;

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use crate::error::{NetlinkError, Result};
use crate::socket::{own_netns, RouteSocket};

/// A synchronous rtnetlink handle bound to one network namespace.
pub struct Netlink {
    socket: RouteSocket,
    /// The namespace the socket lives in, kept open.
    netns: File,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.socket.as_raw_fd())
            .field("netns_fd", &self.netns.as_raw_fd())
            .field("seq", &self.socket.seq())
            .finish()
    }
}

impl Netlink {
    /// A handle on the calling thread's current network namespace.
    pub fn open() -> Result<Netlink> {
        let netns = own_netns().map_err(NetlinkError::Socket)?;
        let socket = RouteSocket::new()?;
        Ok(Netlink { socket, netns })
    }

    /// A handle on the namespace bound at `netns` (a `CNI_NETNS` path). The calling thread
    /// enters it only to create the socket and returns to its own namespace before this
    /// returns, on every path. A path that does not exist is [`NetlinkError::NetnsNotFound`].
    pub fn open_in(netns: impl AsRef<Path>) -> Result<Netlink> {
        let path = netns.as_ref();
        let target = File::open(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                NetlinkError::NetnsNotFound {
                    path: path.to_path_buf(),
                }
            } else {
                NetlinkError::EnterNetns {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Netlink::enter_for_socket(target, || path.to_path_buf())
    }

    /// A handle on the namespace open at `netns` (a namespace file descriptor, which is
    /// duplicated and kept).
    pub fn open_fd(netns: BorrowedFd<'_>) -> Result<Netlink> {
        let enter = |source| NetlinkError::EnterNetns {
            path: PathBuf::from(format!("fd {}", netns.as_raw_fd())),
            source,
        };
        let target = File::from(netns.try_clone_to_owned().map_err(enter)?);
        Netlink::enter_for_socket(target, || {
            PathBuf::from(format!("fd {}", netns.as_raw_fd()))
        })
    }

    /// A handle whose socket is created in `target`, which it keeps. `what` names the
    /// target in errors.
    fn enter_for_socket(target: File, what: impl Fn() -> PathBuf) -> Result<Netlink> {
        let socket = RouteSocket::new_in(target.as_fd(), what)?;
        Ok(Netlink {
            socket,
            netns: target,
        })
    }

    /// The index of the link named `name`, without a netlink round trip: `SIOCGIFINDEX` on
    /// this handle's socket, which the kernel answers in the socket's namespace. A missing
    /// link is [`NetlinkError::NotFound`], as with [`Netlink::link`].
    pub fn index_of(&self, name: &str) -> Result<u32> {
        let op = format!("get index of {name:?}");
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        if name.is_empty() || name.len() >= req.ifr_name.len() || name.contains('\0') {
            return Err(NetlinkError::from_kernel(&op, libc::EINVAL, None));
        }
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: SIOCGIFINDEX reads ifr_name and writes ifr_ifindex of the ifreq it is given.
        let rc = unsafe { libc::ioctl(self.socket.as_raw_fd(), libc::SIOCGIFINDEX as _, &mut req) };
        if rc < 0 {
            let errno = io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            return Err(NetlinkError::from_kernel(&op, errno, None));
        }
        // SAFETY: on success the kernel has set the ifindex member of the union.
        Ok(unsafe { req.ifr_ifru.ifru_ifindex } as u32)
    }

    /// The namespace this handle works in, as an open file descriptor (to place a veth peer
    /// there, or to run a thread there for sysctls).
    pub fn netns(&self) -> BorrowedFd<'_> {
        self.netns.as_fd()
    }
}
