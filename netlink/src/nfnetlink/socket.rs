//! The nfnetlink socket and its framing: a `NETLINK_NETFILTER` socket, messages (the netlink
//! header, `struct nfgenmsg`, attributes), requests with their multi-part replies, and
//! batches: messages of one subsystem between `NFNL_MSG_BATCH_BEGIN` and
//! `NFNL_MSG_BATCH_END`, which the kernel applies as one transaction, acked message by
//! message.

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// Length of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;
/// Length of `struct nfgenmsg`.
const NFGENMSG_LEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub(super) const NLM_F_REQUEST: u16 = 0x1;
pub(super) const NLM_F_ACK: u16 = 0x4;
pub(super) const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
pub(super) const NLM_F_CREATE: u16 = 0x400;
pub(super) const NLM_F_APPEND: u16 = 0x800;
/// `NFNL_MSG_BATCH_BEGIN` and `NFNL_MSG_BATCH_END` (`NLMSG_MIN_TYPE` and the next).
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
/// How often an interrupted dump is asked again.
const DUMP_RETRIES: usize = 5;

/// The parts of a reply: (message type, payload after the netlink header).
pub(super) type Parts = Vec<(u16, Vec<u8>)>;

/// A `NETLINK_NETFILTER` socket in the calling thread's namespace, connected to the kernel.
pub(super) struct NfSocket(Socket);

impl NfSocket {
    pub(super) fn open() -> io::Result<NfSocket> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(NfSocket(socket))
    }

    /// Sends one request, message `msg` of subsystem `subsys` with `flags` (a dump, or a
    /// single get with `NLM_F_ACK`, whose answer ends with the acknowledgement), and
    /// collects its parts; an interrupted dump is asked again.
    pub(super) fn request(
        &mut self,
        subsys: u16,
        msg: u16,
        flags: u16,
        family: u8,
        attrs: &[u8],
    ) -> io::Result<Parts> {
        let mut last = None;
        for seq in 1..=DUMP_RETRIES as u32 {
            let req = request_frame(subsys, msg, flags, seq, family, attrs);
            self.0.send(&req, 0)?;
            match self.receive(seq)? {
                Some(parts) => return Ok(parts),
                None => last = Some(io::Error::from_raw_os_error(libc::EINTR)),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINTR)))
    }

    /// Reads the parts of the reply with sequence number `seq` up to its end; `None` when
    /// the kernel flagged it as interrupted (the ruleset changed under it).
    fn receive(&mut self, seq: u32) -> io::Result<Option<Parts>> {
        let mut parts = Vec::new();
        let mut interrupted = false;
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            let n = self.0.recv(&mut buf, 0)?;
            for message in messages(&buf[..n.min(buf.len())]) {
                let message = message?;
                if message.seq != seq {
                    continue;
                }
                interrupted |= message.flags & NLM_F_DUMP_INTR != 0;
                match message.kind {
                    NLMSG_DONE | NLMSG_ERROR => {
                        let code = error_code(message.payload);
                        if code < 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        return Ok((!interrupted).then_some(parts));
                    }
                    _ => parts.push((message.kind, message.payload.to_vec())),
                }
            }
        }
    }

    /// Sends a batch ([`Batch::end`]) and waits for the acknowledgement of every message
    /// in `acks`; the first error ends the wait (the kernel aborted the batch).
    pub(super) fn send_batch(&mut self, bytes: &[u8], acks: &[u32]) -> io::Result<()> {
        self.0.send(bytes, 0)?;
        let mut pending = acks.to_vec();
        let mut buf = Vec::with_capacity(16 * 1024);
        while !pending.is_empty() {
            buf.clear();
            let n = self.0.recv(&mut buf, 0)?;
            let received: Vec<Message<'_>> =
                messages(&buf[..n.min(buf.len())]).collect::<io::Result<_>>()?;
            for message in received {
                if message.kind != NLMSG_ERROR {
                    continue;
                }
                let code = error_code(message.payload);
                if code < 0 {
                    return Err(io::Error::from_raw_os_error(-code));
                }
                pending.retain(|&s| s != message.seq);
            }
        }
        Ok(())
    }

    /// Keeps the socket open as a [`Linger`].
    pub(super) fn linger(self) -> Linger {
        Linger(self.0)
    }
}

/// The socket of a committed transaction, still open. Closing a netfilter netlink socket
/// while a transaction's clean-up is pending (after any deletion, nf_tables frees the
/// deleted objects one RCU grace period later, on a work queue) makes the kernel finish that
/// clean-up first, waiting out the grace period while it holds the namespace's nf_tables
/// commit lock, which deleting a network device also takes. Keeping the socket until after
/// the caller's own slow work (deleting links) lets the clean-up finish meanwhile, so
/// neither waits for the other. Dropping it closes the socket.
#[derive(Debug)]
pub struct Linger(#[allow(dead_code)] Socket);

/// A batch being written: the begin marker, then messages of one subsystem, each asking for
/// an acknowledgement. Sequence numbers count from 1, the begin marker's.
pub(super) struct Batch {
    bytes: Vec<u8>,
    seq: u32,
    subsys: u16,
    acks: Vec<u32>,
}

impl Batch {
    /// A batch of messages of subsystem `subsys`, begun.
    pub(super) fn begin(subsys: u16) -> Batch {
        let mut batch = Batch {
            bytes: Vec::new(),
            seq: 1,
            subsys,
            acks: Vec::new(),
        };
        batch.delimiter(NFNL_MSG_BATCH_BEGIN);
        batch
    }

    /// Appends message `msg` with `flags` (besides `NLM_F_REQUEST | NLM_F_ACK`) for a
    /// table of `family`.
    pub(super) fn push(&mut self, msg: u16, flags: u16, family: u8, attrs: &[u8]) {
        self.seq += 1;
        put_message(
            &mut self.bytes,
            (self.subsys << 8) | msg,
            NLM_F_REQUEST | NLM_F_ACK | flags,
            self.seq,
            [family, 0, 0, 0],
            attrs,
        );
        self.acks.push(self.seq);
    }

    /// Appends the end marker: the bytes to send, and the sequence numbers whose
    /// acknowledgements to wait for.
    pub(super) fn end(mut self) -> (Vec<u8>, Vec<u32>) {
        self.seq += 1;
        self.delimiter(NFNL_MSG_BATCH_END);
        (self.bytes, self.acks)
    }

    /// A begin or end marker. Batch delimiters carry the subsystem (big endian) as
    /// nfgenmsg's resource id.
    fn delimiter(&mut self, kind: u16) {
        let subsys = self.subsys.to_be_bytes();
        put_message(
            &mut self.bytes,
            kind,
            NLM_F_REQUEST,
            self.seq,
            [0, 0, subsys[0], subsys[1]],
            &[],
        );
    }
}

/// One request as sent: message `msg` of subsystem `subsys` for `family`, with `flags`
/// and sequence number `seq`.
pub(super) fn request_frame(
    subsys: u16,
    msg: u16,
    flags: u16,
    seq: u32,
    family: u8,
    attrs: &[u8],
) -> Vec<u8> {
    let mut req = Vec::with_capacity(NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len());
    // struct nfgenmsg: family, version (NFNETLINK_V0), resource id (big endian).
    put_message(
        &mut req,
        (subsys << 8) | msg,
        flags,
        seq,
        [family, 0, 0, 0],
        attrs,
    );
    req
}

/// Appends one message: header, `struct nfgenmsg`, attributes.
fn put_message(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, nfgen: [u8; 4], attrs: &[u8]) {
    let len = (NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len()) as u32;
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&nfgen);
    out.extend_from_slice(attrs);
}

/// One netlink message of a reply.
struct Message<'a> {
    kind: u16,
    flags: u16,
    seq: u32,
    /// What follows the netlink header.
    payload: &'a [u8],
}

/// The netlink messages in `data`, in order; a malformed one is an error and the last item.
fn messages(data: &[u8]) -> impl Iterator<Item = io::Result<Message<'_>>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed netlink message",
            )));
        }
        let message = Message {
            kind: u16::from_ne_bytes(rest[4..6].try_into().expect("2 bytes")),
            flags: u16::from_ne_bytes(rest[6..8].try_into().expect("2 bytes")),
            seq: u32::from_ne_bytes(rest[8..12].try_into().expect("4 bytes")),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        rest = &rest[((len + 3) & !3).min(rest.len())..];
        Some(Ok(message))
    })
}

/// The error code at the start of an `NLMSG_ERROR` or `NLMSG_DONE` payload (0 when absent).
fn error_code(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .map_or(0, |b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
}
