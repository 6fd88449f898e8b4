//! Read-only nf_tables queries over a `NETLINK_NETFILTER` socket, so that finding rules
//! (their handles and comments) costs no process: the nftables backend then needs exactly
//! one `nft` run per change.
//!
//! Two requests only: dump the rules of one chain ([`rules`]) and dump the tables
//! ([`probe`], the kernel half of "does nftables work here"). Messages are built and parsed
//! by hand: the nfnetlink header, `struct nfgenmsg` and a few attributes of the stable
//! `linux/netfilter/nf_tables.h` ABI. Like every socket, it works in the namespace of the
//! thread that calls.

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
