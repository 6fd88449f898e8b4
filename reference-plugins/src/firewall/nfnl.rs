//! nf_tables over a `NETLINK_NETFILTER` socket, for what the nftables backend does on every
//! ADD and DEL without starting `nft`: finding rules (their handles and comments), and one
//! transaction that adds and deletes rules in existing chains ([`commit`]).
//!
//! Requests: dump the rules of one chain ([`rules`]), ask for one chain ([`chain_exists`]),
//! dump the tables ([`probe`], the kernel half of "does nftables work here"), and a batch of
//! new and deleted rules ([`commit`], whose expressions the caller encodes with [`Expr`]).
//! Messages are built and parsed by hand: the nfnetlink header, `struct nfgenmsg` and the
//! attributes of the stable `linux/netfilter/nf_tables.h` ABI. Like every socket, it works in
//! the namespace of the thread that calls.

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
/// `NFNL_MSG_BATCH_BEGIN` and `NFNL_MSG_BATCH_END` (`NLMSG_MIN_TYPE` and the next).
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_DELRULE: u16 = 8;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
/// `NFT_REG_1`, the register nft itself loads and compares in these rules.
const NFT_REG_1: u32 = 1;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_USERDATA: u16 = 7;
/// Attribute type bits that are flags (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;
/// libnftnl's rule user data: a type-length-value list in which type 0 is the comment.
const UDATA_RULE_COMMENT: u8 = 0;
/// `NFPROTO_INET`.
pub const FAMILY_INET: u8 = 1;
/// `NFPROTO_IPV4`, the family of iptables-nft's IPv4 tables.
pub const FAMILY_IPV4: u8 = 2;
/// `NFPROTO_IPV6`.
pub const FAMILY_IPV6: u8 = 10;
const FAMILY_UNSPEC: u8 = 0;
const DUMP_RETRIES: usize = 5;

/// The parts of a dump: (message type, payload after the netlink header).
type Parts = Vec<(u16, Vec<u8>)>;

/// One rule of a chain as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub handle: u64,
    pub comment: Option<String>,
}

/// The rules of `chain` in `table` (of `family`), in order. A missing table or chain is an
/// empty list, not an error.
pub fn rules(family: u8, table: &str, chain: &str) -> io::Result<Vec<RuleRef>> {
    let mut attrs = Vec::new();
    put_str_attr(&mut attrs, NFTA_RULE_TABLE, table);
    put_str_attr(&mut attrs, NFTA_RULE_CHAIN, chain);
    let messages = match dump(NFT_MSG_GETRULE, family, &attrs) {
        Ok(messages) => messages,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (kind, payload) in messages {
        if kind != (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE {
            continue;
        }
        let mut handle = None;
        let mut comment = None;
        let mut in_chain = true;
        for (ty, value) in attributes(payload.get(NFGENMSG_LEN..).unwrap_or_default()) {
            match ty {
                NFTA_RULE_TABLE => in_chain &= c_str(value) == table,
                NFTA_RULE_CHAIN => in_chain &= c_str(value) == chain,
                NFTA_RULE_HANDLE => {
                    handle = value.try_into().ok().map(u64::from_be_bytes);
                }
                NFTA_RULE_USERDATA => comment = udata_comment(value),
                _ => {}
            }
        }
        if let (true, Some(handle)) = (in_chain, handle) {
            out.push(RuleRef { handle, comment });
        }
    }
    Ok(out)
}

/// One expression of a rule, encoded as the kernel (and `nft --debug=netlink`) shows it.
/// Registers are always `NFT_REG_1`, as nft uses for these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `meta load <key> => reg 1`.
    Meta { key: u32 },
    /// `payload load <len>b @ <base> header + <offset> => reg 1`.
    Payload { base: u32, offset: u32, len: u32 },
    /// `bitwise reg 1 = (reg 1 & mask) ^ xor`; `mask` and `xor` are as long as the value.
    Bitwise { mask: Vec<u8>, xor: Vec<u8> },
    /// `cmp <op> reg 1 <data>`.
    Cmp { op: u32, data: Vec<u8> },
    /// `masq`.
    Masq,
}

/// `NFT_META_NFPROTO`.
pub const META_NFPROTO: u32 = 15;
/// `NFT_PAYLOAD_NETWORK_HEADER`.
pub const PAYLOAD_NETWORK_HEADER: u32 = 1;
/// `NFT_CMP_EQ`, `NFT_CMP_NEQ`.
pub const CMP_EQ: u32 = 0;
pub const CMP_NEQ: u32 = 1;

impl Expr {
    fn encode(&self, out: &mut Vec<u8>) {
        let (name, data): (&str, Vec<u8>) = match self {
            Expr::Meta { key } => {
                let mut d = Vec::new();
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_META_DREG
                put_u32_attr(&mut d, 2, *key); // NFTA_META_KEY
                ("meta", d)
            }
            Expr::Payload { base, offset, len } => {
                let mut d = Vec::new();
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_PAYLOAD_DREG
                put_u32_attr(&mut d, 2, *base); // NFTA_PAYLOAD_BASE
                put_u32_attr(&mut d, 3, *offset); // NFTA_PAYLOAD_OFFSET
                put_u32_attr(&mut d, 4, *len); // NFTA_PAYLOAD_LEN
                ("payload", d)
            }
            Expr::Bitwise { mask, xor } => {
                let mut d = Vec::new();
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_BITWISE_SREG
                put_u32_attr(&mut d, 2, NFT_REG_1); // NFTA_BITWISE_DREG
                put_u32_attr(&mut d, 3, mask.len() as u32); // NFTA_BITWISE_LEN
                put_data_attr(&mut d, 4, mask); // NFTA_BITWISE_MASK
                put_data_attr(&mut d, 5, xor); // NFTA_BITWISE_XOR
                ("bitwise", d)
            }
            Expr::Cmp { op, data } => {
                let mut d = Vec::new();
                put_u32_attr(&mut d, 1, NFT_REG_1); // NFTA_CMP_SREG
                put_u32_attr(&mut d, 2, *op); // NFTA_CMP_OP
                put_data_attr(&mut d, 3, data); // NFTA_CMP_DATA
                ("cmp", d)
            }
            Expr::Masq => ("masq", Vec::new()),
        };
        let mut elem = Vec::new();
        put_str_attr(&mut elem, NFTA_EXPR_NAME, name);
        if !data.is_empty() {
            put_attr(&mut elem, NFTA_EXPR_DATA | NLA_F_NESTED, &data);
        }
        put_attr(out, NFTA_LIST_ELEM | NLA_F_NESTED, &elem);
    }
}

/// One change of a [`commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// Append a rule made of `exprs` to `chain`, with `comment` in its user data (as nft
    /// stores a rule's comment).
    AddRule {
        chain: &'a str,
        exprs: Vec<Expr>,
        comment: &'a str,
    },
    /// Delete the rule with `handle` from `chain`.
    DeleteRule { chain: &'a str, handle: u64 },
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

/// Applies `changes` to `table` of `family` in one nf_tables transaction: all of them or,
/// on the first failure (a chain or a rule that is not there, say), none; the error is that
/// failure's. The kernel checks every message before it commits any. The returned socket
/// may be kept open for a while ([`Linger`]).
pub fn commit(family: u8, table: &str, changes: &[Change<'_>]) -> io::Result<Linger> {
    let mut batch = Vec::new();
    let mut seq = 1u32;
    // Batch delimiters carry the subsystem (big endian) as nfgenmsg's resource id.
    let subsys = NFNL_SUBSYS_NFTABLES.to_be_bytes();
    put_message(
        &mut batch,
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq,
        [0, 0, subsys[0], subsys[1]],
        &[],
    );
    let first = seq + 1;
    for change in changes {
        seq += 1;
        let mut attrs = Vec::new();
        put_str_attr(&mut attrs, NFTA_RULE_TABLE, table);
        let (msg, flags) = match change {
            Change::AddRule {
                chain,
                exprs,
                comment,
            } => {
                put_str_attr(&mut attrs, NFTA_RULE_CHAIN, chain);
                let mut list = Vec::new();
                for e in exprs {
                    e.encode(&mut list);
                }
                put_attr(&mut attrs, NFTA_RULE_EXPRESSIONS | NLA_F_NESTED, &list);
                if !comment.is_empty() {
                    let text = comment.as_bytes();
                    let len = u8::try_from(text.len() + 1).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidInput, "rule comment too long")
                    })?;
                    let mut udata = vec![UDATA_RULE_COMMENT, len];
                    udata.extend_from_slice(text);
                    udata.push(0);
                    put_attr(&mut attrs, NFTA_RULE_USERDATA, &udata);
                }
                (NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND)
            }
            Change::DeleteRule { chain, handle } => {
                put_str_attr(&mut attrs, NFTA_RULE_CHAIN, chain);
                put_attr(&mut attrs, NFTA_RULE_HANDLE, &handle.to_be_bytes());
                (NFT_MSG_DELRULE, 0)
            }
        };
        put_message(
            &mut batch,
            (NFNL_SUBSYS_NFTABLES << 8) | msg,
            NLM_F_REQUEST | NLM_F_ACK | flags,
            seq,
            [family, 0, 0, 0],
            &attrs,
        );
    }
    seq += 1;
    put_message(
        &mut batch,
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        seq,
        [0, 0, subsys[0], subsys[1]],
        &[],
    );

    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&batch, 0)?;
    // One acknowledgement per change; an error ends the wait (the batch was aborted).
    let mut pending: Vec<u32> = (first..first + changes.len() as u32).collect();
    let mut buf = Vec::with_capacity(16 * 1024);
    while !pending.is_empty() {
        buf.clear();
        let n = socket.recv(&mut buf, 0)?;
        for (kind, msg_seq, payload) in messages(&buf[..n.min(buf.len())])? {
            if kind != NLMSG_ERROR {
                continue;
            }
            let code = payload
                .get(..4)
                .map_or(0, |b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
            if code < 0 {
                return Err(io::Error::from_raw_os_error(-code));
            }
            pending.retain(|&s| s != msg_seq);
        }
    }
    Ok(Linger(socket))
}

/// Whether `chain` exists in `table` of `family` (one request, no dump).
pub fn chain_exists(family: u8, table: &str, chain: &str) -> io::Result<bool> {
    let mut attrs = Vec::new();
    put_str_attr(&mut attrs, NFTA_CHAIN_TABLE, table);
    put_str_attr(&mut attrs, NFTA_CHAIN_NAME, chain);
    match request(NFT_MSG_GETCHAIN, NLM_F_REQUEST | NLM_F_ACK, family, &attrs) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the kernel answers nf_tables requests in the current namespace (a table dump
/// succeeds).
pub fn probe() -> io::Result<()> {
    dump(NFT_MSG_GETTABLE, FAMILY_UNSPEC, &[]).map(|_| ())
}

/// Sends one dump request and collects its parts as (message type, payload); an
/// interrupted dump is asked again.
fn dump(msg: u16, family: u8, attrs: &[u8]) -> io::Result<Parts> {
    request(msg, NLM_F_REQUEST | NLM_F_DUMP, family, attrs)
}

/// Sends one request with `flags` (a dump, or a single get with `NLM_F_ACK`, whose answer ends
/// with the acknowledgement) and collects its parts; an interrupted dump is asked again.
fn request(msg: u16, flags: u16, family: u8, attrs: &[u8]) -> io::Result<Parts> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut last = None;
    for seq in 1..=DUMP_RETRIES as u32 {
        let mut req = Vec::with_capacity(NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len());
        let len = (NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len()) as u32;
        req.extend_from_slice(&len.to_ne_bytes());
        req.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
        req.extend_from_slice(&flags.to_ne_bytes());
        req.extend_from_slice(&seq.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg: family, version (NFNETLINK_V0), resource id (big endian).
        req.extend_from_slice(&[family, 0, 0, 0]);
        req.extend_from_slice(attrs);
        socket.send(&req, 0)?;
        match receive(&mut socket, seq)? {
            Some(parts) => return Ok(parts),
            None => last = Some(io::Error::from_raw_os_error(libc::EINTR)),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINTR)))
}

/// Reads the parts of the dump with sequence number `seq` up to its end; `None` when the
/// kernel flagged it as interrupted (the ruleset changed under it).
fn receive(socket: &mut Socket, seq: u32) -> io::Result<Option<Parts>> {
    let mut parts = Vec::new();
    let mut interrupted = false;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let n = socket.recv(&mut buf, 0)?;
        let data = &buf[..n.min(buf.len())];
        let mut offset = 0;
        while offset + NLMSG_HDRLEN <= data.len() {
            let header = &data[offset..];
            let len = u32::from_ne_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
            let kind = u16::from_ne_bytes(header[4..6].try_into().expect("2 bytes"));
            let flags = u16::from_ne_bytes(header[6..8].try_into().expect("2 bytes"));
            let msg_seq = u32::from_ne_bytes(header[8..12].try_into().expect("4 bytes"));
            if len < NLMSG_HDRLEN || offset + len > data.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "malformed netlink message",
                ));
            }
            let payload = &header[NLMSG_HDRLEN..len];
            offset += (len + 3) & !3;
            if msg_seq != seq {
                continue;
            }
            interrupted |= flags & NLM_F_DUMP_INTR != 0;
            match kind {
                NLMSG_DONE => {
                    let code = payload
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
                    if code < 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    return Ok((!interrupted).then_some(parts));
                }
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
                    if code < 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    return Ok((!interrupted).then_some(parts));
                }
                _ => parts.push((kind, payload.to_vec())),
            }
        }
    }
}

/// The (type, sequence number, payload) of each netlink message in `data`.
fn messages(mut data: &[u8]) -> io::Result<Vec<(u16, u32, &[u8])>> {
    let mut out = Vec::new();
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(data[0..4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed netlink message",
            ));
        }
        let kind = u16::from_ne_bytes(data[4..6].try_into().expect("2 bytes"));
        let seq = u32::from_ne_bytes(data[8..12].try_into().expect("4 bytes"));
        out.push((kind, seq, &data[NLMSG_HDRLEN..len]));
        data = &data[((len + 3) & !3).min(data.len())..];
    }
    Ok(out)
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

/// Appends one attribute (padded to 4 bytes).
fn put_attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + ((4 - len % 4) % 4), 0);
}

/// A 32-bit attribute; nf_tables wants them in network byte order.
fn put_u32_attr(out: &mut Vec<u8>, ty: u16, value: u32) {
    put_attr(out, ty, &value.to_be_bytes());
}

/// A data attribute: a nest holding `NFTA_DATA_VALUE`.
fn put_data_attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let mut nest = Vec::new();
    put_attr(&mut nest, NFTA_DATA_VALUE, value);
    put_attr(out, ty | NLA_F_NESTED, &nest);
}

fn put_str_attr(out: &mut Vec<u8>, ty: u16, value: &str) {
    let len = 4 + value.len() + 1;
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    out.resize(out.len() + ((4 - len % 4) % 4), 0);
}

/// The (type, value) pairs of a netlink attribute list; stops at the first malformed one.
fn attributes(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let ty = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            return None;
        }
        let value = &data[4..len];
        data = &data[((len + 3) & !3).min(data.len())..];
        Some((ty, value))
    })
}

fn c_str(value: &[u8]) -> &str {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    std::str::from_utf8(&value[..end]).unwrap_or_default()
}

/// The comment in a rule's user data, if it has one.
fn udata_comment(mut data: &[u8]) -> Option<String> {
    while data.len() >= 2 {
        let (ty, len) = (data[0], data[1] as usize);
        let value = data.get(2..2 + len)?;
        if ty == UDATA_RULE_COMMENT {
            return Some(c_str(value).to_string());
        }
        data = &data[2 + len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_attributes_are_nul_terminated_and_padded() {
        let mut out = Vec::new();
        put_str_attr(&mut out, NFTA_RULE_TABLE, "abc");
        assert_eq!(out.len(), 8);
        put_str_attr(&mut out, NFTA_RULE_CHAIN, "abcd");
        assert_eq!(out.len(), 8 + 12);
        let attrs: Vec<_> = attributes(&out).collect();
        assert_eq!(attrs.len(), 2);
        assert_eq!(c_str(attrs[0].1), "abc");
        assert_eq!(c_str(attrs[1].1), "abcd");
        assert_eq!(attrs[1].0, NFTA_RULE_CHAIN);
    }

    #[test]
    fn comment_is_found_among_user_data() {
        let data = [7u8, 1, 9, UDATA_RULE_COMMENT, 4, b'h', b'e', b'y', 0];
        assert_eq!(udata_comment(&data).as_deref(), Some("hey"));
        assert_eq!(udata_comment(&[1, 200]), None);
    }
}
