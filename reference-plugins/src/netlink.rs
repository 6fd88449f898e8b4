//! The one place our plugins talk rtnetlink: a small synchronous socket ([`Netlink`]) and plain
//! types for what it reads ([`Link`], [`Address`]).
//!
//! What this module owns:
//! - the socket: one `NETLINK_ROUTE` socket per handle, created in the current namespace
//!   ([`Netlink::open`]) or in another one ([`Netlink::open_in`]); a netlink socket stays
//!   bound to the namespace it was created in, so the handle works there from any thread
//!   without the thread ever staying in that namespace;
//! - the request/reply exchange: sequence numbers, acks, multi-part dumps, interrupted dumps
//!   (retried), kernel error codes turned into [`NetlinkError`] (with `ENODEV`/`ENOENT` and
//!   `EEXIST` as their own variants, and the kernel's extended-ack text when it sends one);
//! - the translation between `netlink-packet-route` messages and our types. That crate
//!   changes its API often, so none of its types appear in this module's public interface:
//!   a version bump touches this file only.
//!
//! Operations are blocking and cheap: a plugin opens one handle per namespace it works in
//! and makes a handful of requests. New operations (create/delete link, addresses, routes,
//! dumps) are one method each on top of [`Netlink::request`] and [`Netlink::dump`].

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use netlink_packet_core::{
    Emitable, ErrorBuffer, NetlinkBuffer, Parseable, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP,
    NLMSG_OVERRUN, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::AddressFamily;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Size of the receive buffer; the kernel caps one dump part at 32 KiB.
const RECV_BUF: usize = 64 * 1024;
/// How often an interrupted dump (`NLM_F_DUMP_INTR`) is retried before giving up.
const DUMP_RETRIES: usize = 5;
/// `NLMSGERR_ATTR_MSG`: the extended-ack attribute carrying the kernel's error text.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Length of `struct nlmsghdr`.
const HEADER_LEN: usize = 16;
// rtnetlink message types (`linux/rtnetlink.h`), a stable kernel ABI. Add DEL/NEW of links,
// addresses and routes here as operations need them.
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFF_UP: u32 = libc::IFF_UP as u32;
const IFF_LOOPBACK: u32 = libc::IFF_LOOPBACK as u32;

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
    /// The kernel answered `ENODEV` or `ENOENT`: no such link, address or route.
    #[error("{op}: not found ({detail})")]
    NotFound { op: String, detail: String },
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
            NetlinkError::NotFound { .. } => Some(libc::ENODEV),
            NetlinkError::Exists { .. } => Some(libc::EEXIST),
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            NetlinkError::EnterNetns { source, .. }
            | NetlinkError::RestoreNetns(source)
            | NetlinkError::Socket(source) => source.raw_os_error(),
            NetlinkError::NetnsNotFound { .. } => Some(libc::ENOENT),
            NetlinkError::Decode { .. } => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, NetlinkError::NotFound { .. })
    }

    pub fn is_exists(&self) -> bool {
        matches!(self, NetlinkError::Exists { .. })
    }

    fn from_kernel(op: &str, errno: i32, ext_msg: Option<String>) -> NetlinkError {
        let mut detail = io::Error::from_raw_os_error(errno).to_string();
        if let Some(msg) = ext_msg {
            detail = format!("{detail}: {msg}");
        }
        let op = op.to_string();
        match errno {
            libc::ENODEV | libc::ENOENT => NetlinkError::NotFound { op, detail },
            libc::EEXIST => NetlinkError::Exists { op, detail },
            errno => NetlinkError::Kernel { op, errno, detail },
        }
    }
}

pub type Result<T, E = NetlinkError> = std::result::Result<T, E>;

/// A link named by name or by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkId<'a> {
    Name(&'a str),
    Index(u32),
}

impl<'a> From<&'a str> for LinkId<'a> {
    fn from(name: &'a str) -> LinkId<'a> {
        LinkId::Name(name)
    }
}

impl From<u32> for LinkId<'_> {
    fn from(index: u32) -> Self {
        LinkId::Index(index)
    }
}

impl std::fmt::Display for LinkId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkId::Name(n) => write!(f, "{n:?}"),
            LinkId::Index(i) => write!(f, "index {i}"),
        }
    }
}

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
    pub mtu: Option<u32>,
    /// Hardware address (six bytes for Ethernet; all zero for loopback).
    pub mac: Option<Vec<u8>>,
    /// `IFLA_INFO_KIND` (`"veth"`, `"bridge"`...); `None` for physical devices and `lo`.
    pub kind: Option<String>,
}

impl Link {
    /// Administratively up (`IFF_UP`).
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    pub fn is_loopback(&self) -> bool {
        self.flags & IFF_LOOPBACK != 0
    }

    /// The hardware address as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> Option<String> {
        self.mac.as_deref().map(format_mac)
    }
}

/// Lower-case, colon-separated hex, as results carry MAC addresses.
pub fn format_mac(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// An address family filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// An address configured on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Index of the link carrying it.
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// `RT_SCOPE_*` (0 universe, 253 link, 254 host).
    pub scope: u8,
}

impl Address {
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }
}

/// A synchronous rtnetlink handle bound to one network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.socket.as_raw_fd())
            .field("seq", &self.seq)
            .finish()
    }
}

impl Netlink {
    /// A handle on the calling thread's current network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        socket.bind_auto().map_err(NetlinkError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Socket)?;
        // Extended acks give readable kernel error text; capped acks keep error replies
        // short. Both are optional (older kernels): failures are ignored.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(Netlink {
            socket,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
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
        let original =
            File::open("/proc/thread-self/ns/net").map_err(|source| NetlinkError::EnterNetns {
                path: path.to_path_buf(),
                source,
            })?;
        setns(&target).map_err(|source| NetlinkError::EnterNetns {
            path: path.to_path_buf(),
            source,
        })?;
        let opened = Netlink::open();
        setns(&original).map_err(NetlinkError::RestoreNetns)?;
        opened
    }

    /// Looks a link up by name or index.
    pub fn link<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<Link> {
        let id = id.into();
        let op = format!("get link {id}");
        let mut msg = LinkMessage::default();
        match id {
            LinkId::Index(i) => msg.header.index = i,
            LinkId::Name(n) => msg.attributes.push(LinkAttribute::IfName(n.to_string())),
        }
        let replies = self.request(&op, RTM_GETLINK, 0, &msg)?;
        let links: Vec<LinkMessage> = decode_all(&op, &replies, RTM_NEWLINK)?;
        links
            .into_iter()
            .next()
            .map(link_from)
            .ok_or_else(|| NetlinkError::Decode {
                op,
                reason: "no link in the reply".into(),
            })
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let op = "list links";
        let replies = self.dump(op, RTM_GETLINK, &LinkMessage::default())?;
        let links: Vec<LinkMessage> = decode_all(op, &replies, RTM_NEWLINK)?;
        Ok(links.into_iter().map(link_from).collect())
    }

    /// Sets a link administratively up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        self.set_flags(index, IFF_UP, IFF_UP, "set link up")
    }

    /// Sets a link administratively down.
    pub fn set_down(&mut self, index: u32) -> Result<()> {
        self.set_flags(index, 0, IFF_UP, "set link down")
    }

    /// Changes the `IFF_*` flags selected by `mask` to their values in `flags`.
    fn set_flags(&mut self, index: u32, flags: u32, mask: u32, what: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::from_bits_retain(flags);
        msg.header.change_mask = LinkFlags::from_bits_retain(mask);
        let op = format!("{what} (index {index})");
        self.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Addresses of the link with index `index`, in the kernel's order, optionally of one
    /// family only.
    pub fn addresses(&mut self, index: u32, family: Option<Family>) -> Result<Vec<Address>> {
        let mut msg = AddressMessage::default();
        msg.header.family = match family {
            None => AddressFamily::Unspec,
            Some(Family::V4) => AddressFamily::Inet,
            Some(Family::V6) => AddressFamily::Inet6,
        };
        let op = format!("list addresses (index {index})");
        let replies = self.dump(&op, RTM_GETADDR, &msg)?;
        let addrs: Vec<AddressMessage> = decode_all(&op, &replies, RTM_NEWADDR)?;
        Ok(addrs
            .into_iter()
            .filter_map(address_from)
            .filter(|a| a.index == index && (family.is_none() || family == Some(a.family())))
            .collect())
    }

    /// Sends one request of type `kind` that expects an ack (`extra` adds flags such as
    /// `NLM_F_CREATE | NLM_F_EXCL`), and returns the messages that came before the ack (a
    /// GET's answer, say).
    fn request(
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
    fn dump(&mut self, op: &str, kind: u16, msg: &impl Emitable) -> Result<Vec<Reply>> {
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
        let mut out = vec![0u8; HEADER_LEN + msg.buffer_len()];
        {
            let mut header = NetlinkBuffer::new(&mut out[..]);
            header.set_length((HEADER_LEN + msg.buffer_len()) as u32);
            header.set_message_type(kind);
            header.set_flags(NLM_F_REQUEST | flags);
            header.set_sequence_number(seq);
        }
        msg.emit(&mut out[HEADER_LEN..]);
        self.socket.send(&out, 0).map_err(NetlinkError::Socket)?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let decode = |reason: String| NetlinkError::Decode {
            op: op.to_string(),
            reason,
        };
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

/// One message of a reply, not yet decoded: its type and its payload.
struct Reply {
    kind: u16,
    payload: Vec<u8>,
}

/// Decodes every reply of type `kind` as a `T` (a `LinkMessage`, an `AddressMessage`...).
/// Decoding message by message, rather than through `netlink-packet-route`'s umbrella enum,
/// links in only the parsers of the message types we ask for.
fn decode_all<T: for<'a> Parseable<[u8]>>(
    op: &str,
    replies: &[Reply],
    kind: u16,
) -> Result<Vec<T>> {
    replies
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| {
            T::parse(&r.payload).map_err(|e| NetlinkError::Decode {
                op: op.to_string(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Moves the calling thread into the network namespace open at `ns`.
fn setns(ns: &File) -> io::Result<()> {
    // SAFETY: plain system call on a file descriptor we own for the duration of the call.
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

fn link_from(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        flags: msg.header.flags.bits(),
        mtu: None,
        mac: None,
        kind: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Mtu(m) => link.mtu = Some(m),
            LinkAttribute::Address(a) => link.mac = Some(a),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(k) = info {
                        link.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn address_from(msg: AddressMessage) -> Option<Address> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
    // links and the only one present for IPv6.
    let mut local = None;
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    Some(Address {
        index: msg.header.index,
        addr: local.or(address)?,
        prefix_len: msg.header.prefix_len,
        scope: msg.header.scope.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netns_sandbox::Netns;
    use std::os::unix::fs::MetadataExt;

    fn own_netns_inode() -> u64 {
        std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
    }

    #[test]
    fn loopback_in_a_fresh_namespace() {
        let ns = Netns::new("nl-lo").unwrap();
        ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let lo = nl.link("lo").unwrap();
            assert_eq!(lo.name, "lo");
            assert!(lo.is_loopback());
            assert!(!lo.is_up(), "the kernel creates lo down");
            assert_eq!(lo.mac_string().as_deref(), Some("00:00:00:00:00:00"));
            assert_eq!(lo.kind, None);
            assert_eq!(lo.mtu, Some(65536));
            assert_eq!(nl.link(lo.index).unwrap(), lo);
            assert!(nl.addresses(lo.index, None).unwrap().is_empty());

            nl.set_up(lo.index).unwrap();
            assert!(nl.link("lo").unwrap().is_up());
            let v4 = nl.addresses(lo.index, Some(Family::V4)).unwrap();
            assert_eq!(v4.len(), 1);
            assert_eq!(v4[0].addr, "127.0.0.1".parse::<IpAddr>().unwrap());
            assert_eq!(v4[0].prefix_len, 8);
            assert_eq!(v4[0].scope, 254);
            let all = nl.addresses(lo.index, None).unwrap();
            assert!(all.iter().all(|a| a.index == lo.index));

            nl.set_down(lo.index).unwrap();
            assert!(!nl.link("lo").unwrap().is_up());
            assert_eq!(nl.links().unwrap(), vec![nl.link("lo").unwrap()]);
        })
        .unwrap();
    }

    #[test]
    fn missing_link_is_not_found() {
        let ns = Netns::new("nl-enodev").unwrap();
        ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let e = nl.link("nosuch0").unwrap_err();
            assert!(e.is_not_found(), "{e:?}");
            assert_eq!(e.errno(), Some(libc::ENODEV));
            let e = nl.link(9999).unwrap_err();
            assert!(e.is_not_found(), "{e:?}");
            let e = nl.set_up(9999).unwrap_err();
            assert!(e.is_not_found(), "{e:?}");
            // The handle stays usable after errors.
            assert_eq!(nl.link("lo").unwrap().name, "lo");
        })
        .unwrap();
    }

    #[test]
    fn open_in_works_there_and_returns_home() {
        let ns = Netns::new("nl-openin").unwrap();
        let before = own_netns_inode();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        assert_eq!(own_netns_inode(), before, "thread must be back home");
        let lo = nl.link("lo").unwrap();
        nl.set_up(lo.index).unwrap();
        // The change happened in the namespace, seen from a thread inside it.
        let up = ns
            .run(|| Netlink::open().unwrap().link("lo").unwrap().is_up())
            .unwrap();
        assert!(up);
        // Only one link there: this socket does not see the host's links.
        assert_eq!(nl.links().unwrap().len(), 1);
    }

    #[test]
    fn open_in_errors_restore_the_thread() {
        let before = own_netns_inode();
        let e = Netlink::open_in("/run/netns/cnirs-does-not-exist").unwrap_err();
        assert!(matches!(e, NetlinkError::NetnsNotFound { .. }), "{e:?}");
        // A path that exists but is not a namespace.
        let file = std::env::temp_dir().join(format!("cnirs-notns-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let e = Netlink::open_in(&file).unwrap_err();
        std::fs::remove_file(&file).unwrap();
        assert!(matches!(e, NetlinkError::EnterNetns { .. }), "{e:?}");
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert_eq!(own_netns_inode(), before);
    }

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

    #[test]
    fn mac_format() {
        assert_eq!(format_mac(&[0x0a, 0, 0xff, 1, 2, 3]), "0a:00:ff:01:02:03");
        assert_eq!(format_mac(&[]), "");
    }
}
