//! The route-netlink socket and its framing: one `NETLINK_ROUTE` socket, opened in the
//! calling thread's namespace ([`RouteSocket::new`]) or in another one
//! ([`RouteSocket::new_in`], which enters it only to create the socket); requests framed
//! with a `struct nlmsghdr` and a sequence number; replies read up to their ack or the end of
//! a multi-part dump, interrupted dumps retried, and kernel error codes (with the
//! extended-ack text) turned into [`NetlinkError`].
//!
//! This layer knows nothing of links, addresses or routes: it sends any message body that
//! can emit itself and hands back the reply messages undecoded ([`Reply`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;

use netlink_packet_core::{
    Emitable, ErrorBuffer, NetlinkBuffer, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN,
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
pub(crate) use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

use crate::error::{NetlinkError, Result};

/// Size of the receive buffer; the kernel caps one dump part at 32 KiB.
const RECV_BUF: usize = 64 * 1024;
/// How often an interrupted dump (`NLM_F_DUMP_INTR`) is retried before giving up.
const DUMP_RETRIES: usize = 5;
/// `NLMSGERR_ATTR_MSG`: the extended-ack attribute carrying the kernel's error text.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Length of `struct nlmsghdr`.
const HEADER_LEN: usize = 16;

/// One message of a reply, not yet decoded: its type and its payload.
pub(crate) struct Reply {
    pub(crate) kind: u16,
    pub(crate) payload: Vec<u8>,
}

/// A `NETLINK_ROUTE` socket with its sequence counter and receive buffer. A netlink socket
/// stays bound to the namespace it was created in, whichever thread uses it later.
pub(crate) struct RouteSocket {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl RouteSocket {
    /// A socket in the calling thread's current namespace.
    pub(crate) fn new() -> Result<RouteSocket> {
        // No bind or connect: the kernel binds the socket to a free port on the first send,
        // and an unconnected netlink socket sends to the kernel (port 0). Three system
        // calls fewer, in processes that live for a few milliseconds.
        let socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        // Extended acks give readable kernel error text; capped acks keep error replies
        // short. Both are optional (older kernels): failures are ignored.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(RouteSocket {
            socket,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// A socket in the namespace open at `netns`: the calling thread enters it just long
    /// enough to create the socket, then returns to its own namespace (on every path).
    /// `what` names the target in errors.
    pub(crate) fn new_in(netns: BorrowedFd<'_>, what: impl Fn() -> PathBuf) -> Result<RouteSocket> {
        let enter = |source| NetlinkError::EnterNetns {
            path: what(),
            source,
        };
        let original = own_netns().map_err(enter)?;
        setns(netns).map_err(enter)?;
        let opened = RouteSocket::new();
        setns(original.as_fd()).map_err(NetlinkError::RestoreNetns)?;
        opened
    }

    /// The sequence number of the last request sent.
    pub(crate) fn seq(&self) -> u32 {
        self.seq
    }

    /// Sends one request of type `kind` that expects an ack (`extra` adds flags such as
    /// `NLM_F_CREATE | NLM_F_EXCL`), and returns the messages that came before the ack (a
    /// GET's answer, say). `op` names the operation in errors.
    pub(crate) fn request(
        &mut self,
        op: &str,
        kind: u16,
        extra: u16,
        msg: &impl Emitable,
    ) -> Result<Vec<Reply>> {
        self.exchange(op, kind, NLM_F_ACK | extra, msg)
    }

    /// Sends one dump request and collects every part, retrying a dump the kernel reports
    /// as interrupted by a concurrent change.
    pub(crate) fn dump(&mut self, op: &str, kind: u16, msg: &impl Emitable) -> Result<Vec<Reply>> {
        for _ in 0..DUMP_RETRIES {
            match self.exchange(op, kind, NLM_F_DUMP, msg) {
                Err(NetlinkError::Kernel { errno, .. }) if errno == libc::EINTR => continue,
                other => return other,
            }
        }
        Err(NetlinkError::from_kernel(op, libc::EINTR, None))
    }

    /// One request and its complete reply, undecoded. Messages of other sequence numbers
    /// (left over from an earlier exchange that failed half-way) are skipped.
    fn exchange(
        &mut self,
        op: &str,
        kind: u16,
        flags: u16,
        msg: &impl Emitable,
    ) -> Result<Vec<Reply>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let out = encode_request(kind, flags, seq, msg);
        self.socket.send(&out, 0).map_err(NetlinkError::Socket)?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let decode = |reason: String| NetlinkError::decode(op, reason);
        let mut replies = Vec::new();
        let mut interrupted = false;
        loop {
            self.buf.clear();
            let n = self
                .socket
                .recv(&mut self.buf, 0)
                .map_err(NetlinkError::Socket)?;
            if n > self.buf.len() {
                return Err(decode(format!("reply of {n} bytes truncated")));
            }
            let mut offset = 0;
            while offset < n {
                let reply = NetlinkBuffer::new_checked(&self.buf[offset..n])
                    .map_err(|e| decode(e.to_string()))?;
                offset += (reply.length() as usize + 3) & !3;
                if reply.sequence_number() != seq {
                    continue;
                }
                if reply.flags() & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                let payload = reply.payload();
                match reply.message_type() {
                    NLMSG_NOOP | NLMSG_OVERRUN => {}
                    NLMSG_DONE => {
                        // A dump can end with an error code in place of the usual 0.
                        let code = payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        if code < 0 {
                            return Err(NetlinkError::from_kernel(op, -code, None));
                        }
                        if interrupted {
                            return Err(NetlinkError::from_kernel(op, libc::EINTR, None));
                        }
                        return Ok(replies);
                    }
                    NLMSG_ERROR => {
                        let err =
                            ErrorBuffer::new_checked(payload).map_err(|e| decode(e.to_string()))?;
                        let Some(code) = err.code() else {
                            return Ok(replies); // the ack
                        };
                        let ext = (reply.flags() & NLM_F_ACK_TLVS != 0)
                            .then(|| {
                                ext_ack_message(err.payload(), reply.flags() & NLM_F_CAPPED != 0)
                            })
                            .flatten();
                        return Err(NetlinkError::from_kernel(op, -code.get(), ext));
                    }
                    kind => {
                        replies.push(Reply {
                            kind,
                            payload: payload.to_vec(),
                        });
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(replies);
                        }
                    }
                }
            }
        }
    }
}

impl AsRawFd for RouteSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// One request as sent: a `struct nlmsghdr` (type `kind`, `NLM_F_REQUEST | flags`, sequence
/// number `seq`, port 0) followed by `msg`.
pub(crate) fn encode_request(kind: u16, flags: u16, seq: u32, msg: &impl Emitable) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN + msg.buffer_len()];
    {
        let mut header = NetlinkBuffer::new(&mut out[..]);
        header.set_length((HEADER_LEN + msg.buffer_len()) as u32);
        header.set_message_type(kind);
        header.set_flags(NLM_F_REQUEST | flags);
        header.set_sequence_number(seq);
    }
    msg.emit(&mut out[HEADER_LEN..]);
    out
}

/// The calling thread's own network namespace. On the main thread `/proc/self/ns/net` names
/// the same one and is cheaper: skel has just looked that path up, so it is cached, while
/// `thread-self` goes through `task/<tid>` entries made afresh for every process.
pub(crate) fn own_netns() -> io::Result<File> {
    // SAFETY: system calls without arguments.
    let main_thread = unsafe { libc::gettid() == libc::getpid() };
    File::open(if main_thread {
        "/proc/self/ns/net"
    } else {
        "/proc/thread-self/ns/net"
    })
}

/// Moves the calling thread into the network namespace open at `ns`.
fn setns(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain system call on a file descriptor borrowed for the duration of the call.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The `NLMSGERR_ATTR_MSG` text of an error payload: the echoed request (only its 16-byte
/// header when the ack is capped, else all of it) followed by extended-ack attributes.
fn ext_ack_message(payload: &[u8], capped: bool) -> Option<String> {
    let echoed = if capped {
        16
    } else {
        u32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?) as usize
    };
    let mut rest = payload.get((echoed + 3) & !3..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = rest[4..len].split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = rest.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::assert_bytes;

    #[test]
    fn ext_ack_text_is_read() {
        // An error payload with a capped echo (16-byte header) and one NLMSGERR_ATTR_MSG.
        let mut p = Vec::new();
        p.extend_from_slice(&40u32.to_ne_bytes()); // echoed request claimed 40 bytes long
        p.extend_from_slice(&[0u8; 12]);
        let text = b"bad thing\0";
        p.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        p.extend_from_slice(text);
        assert_eq!(ext_ack_message(&p, true).as_deref(), Some("bad thing"));
        // Uncapped: the whole 40-byte request is echoed before the attributes.
        let mut q = p[..16].to_vec();
        q.extend_from_slice(&[0u8; 24]);
        q.extend_from_slice(&p[16..]);
        assert_eq!(ext_ack_message(&q, false).as_deref(), Some("bad thing"));
        assert_eq!(ext_ack_message(&[1, 2], false), None);
    }

    /// A message body given as bytes.
    struct Body(&'static [u8]);

    impl Emitable for Body {
        fn buffer_len(&self) -> usize {
            self.0.len()
        }

        fn emit(&self, buffer: &mut [u8]) {
            buffer.copy_from_slice(self.0);
        }
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn request_golden_bytes() {
        let body = Body(&[0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
        assert_bytes(
            &encode_request(19, NLM_F_ACK, 7, &body),
            "20000000 1300 0500 07000000 00000000 # nlmsghdr: 32 bytes, RTM_SETLINK, REQUEST|ACK, seq 7, port 0
            00000000 09000000 01000000 01000000   # the body",
        );
    }
}
