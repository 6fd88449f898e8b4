//! The error of every rtnetlink operation, [`NetlinkError`]: namespaces that cannot be found
//! or entered, socket failures, kernel error codes (with "no such thing" and `EEXIST` as
//! their own variants, and the kernel's extended-ack text when it sends one), and replies
//! that cannot be decoded; plus the errno helpers callers branch on.

use std::io;
use std::path::PathBuf;

/// What a netlink operation failed with.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The namespace path does not exist (the container is gone).
    #[error("network namespace {} does not exist", path.display())]
    NetnsNotFound { path: PathBuf },
    /// The namespace path exists but could not be opened or entered (not a namespace, say).
    #[error("cannot enter network namespace {}: {source}", path.display())]
    EnterNetns { path: PathBuf, source: io::Error },
    /// The thread could not go back to its own namespace after creating a socket elsewhere;
    /// the thread is left in the target namespace and should do no further work.
    #[error("cannot return to the original network namespace: {0}")]
    RestoreNetns(io::Error),
    /// Creating, binding or using the socket failed.
    #[error("netlink socket: {0}")]
    Socket(io::Error),
    /// No such link, address or route: the kernel answered `ENODEV` or `ENOENT` (links),
    /// `EADDRNOTAVAIL` (deleting an address) or `ESRCH` (deleting a route).
    #[error("{op}: not found ({detail})")]
    NotFound {
        op: String,
        errno: i32,
        detail: String,
    },
    /// The kernel answered `EEXIST`.
    #[error("{op}: already exists ({detail})")]
    Exists { op: String, detail: String },
    /// Any other kernel error.
    #[error("{op}: {detail}")]
    Kernel {
        op: String,
        errno: i32,
        detail: String,
    },
    /// The reply could not be decoded.
    #[error("{op}: malformed netlink reply: {reason}")]
    Decode { op: String, reason: String },
}

impl NetlinkError {
    /// The kernel's errno, for errors that carry one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::NotFound { errno, .. } => Some(*errno),
            NetlinkError::Exists { .. } => Some(libc::EEXIST),
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            NetlinkError::EnterNetns { source, .. }
            | NetlinkError::RestoreNetns(source)
            | NetlinkError::Socket(source) => source.raw_os_error(),
            NetlinkError::NetnsNotFound { .. } => Some(libc::ENOENT),
            NetlinkError::Decode { .. } => None,
        }
    }

    /// No such link, address or route (not: no such namespace, see
    /// [`NetlinkError::is_netns_gone`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, NetlinkError::NotFound { .. })
    }

    pub fn is_exists(&self) -> bool {
        matches!(self, NetlinkError::Exists { .. })
    }

    /// The namespace path does not exist any more: a DEL can succeed.
    pub fn is_netns_gone(&self) -> bool {
        matches!(self, NetlinkError::NetnsNotFound { .. })
    }

    /// The kernel does not know the link kind (`EOPNOTSUPP`: no ipvlan or 8021q module, say)
    /// or the operation.
    pub fn is_not_supported(&self) -> bool {
        self.errno() == Some(libc::EOPNOTSUPP)
    }

    /// The error for kernel errno `errno` in operation `op`, with the extended-ack text
    /// `ext_msg` when the kernel sent one.
    pub(crate) fn from_kernel(op: &str, errno: i32, ext_msg: Option<String>) -> NetlinkError {
        let mut detail = io::Error::from_raw_os_error(errno).to_string();
        if let Some(msg) = ext_msg {
            detail = format!("{detail}: {msg}");
        }
        let op = op.to_string();
        match errno {
            libc::ENODEV | libc::ENOENT | libc::EADDRNOTAVAIL | libc::ESRCH => {
                NetlinkError::NotFound { op, errno, detail }
            }
            libc::EEXIST => NetlinkError::Exists { op, detail },
            errno => NetlinkError::Kernel { op, errno, detail },
        }
    }

    /// A reply of operation `op` that could not be decoded.
    pub(crate) fn decode(op: &str, reason: impl ToString) -> NetlinkError {
        NetlinkError::Decode {
            op: op.to_string(),
            reason: reason.to_string(),
        }
    }
}

pub type Result<T, E = NetlinkError> = std::result::Result<T, E>;
