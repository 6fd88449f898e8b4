//! The nf_tables messages (`NFNL_SUBSYS_NFTABLES`): rule dumps ([`rules`]), a chain query
//! ([`chain_exists`]), a table dump ([`probe`]), and batches of new and deleted rules
//! ([`commit`], [`encode_batch`]) with their expressions ([`Expr`]) and comments (in rule
//! user data, as libnftnl stores them).

use std::io;

use super::attr::{attributes, c_str, put_attr, put_str_attr, put_u32_attr, NLA_F_NESTED};
use super::socket::{
    Batch, Linger, NfSocket, Parts, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REQUEST,
};

const NFGENMSG_LEN: usize = 4;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
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
/// libnftnl's rule user data: a type-length-value list in which type 0 is the comment.
const UDATA_RULE_COMMENT: u8 = 0;
/// `NFPROTO_INET`.
pub const FAMILY_INET: u8 = 1;
/// `NFPROTO_IPV4`, the family of iptables-nft's IPv4 tables.
pub const FAMILY_IPV4: u8 = 2;
/// `NFPROTO_IPV6`.
pub const FAMILY_IPV6: u8 = 10;
const FAMILY_UNSPEC: u8 = 0;

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

/// Applies `changes` to `table` of `family` in one nf_tables transaction: all of them or,
/// on the first failure (a chain or a rule that is not there, say), none; the error is that
/// failure's. The kernel checks every message before it commits any. The returned socket
/// may be kept open for a while ([`Linger`]).
pub fn commit(family: u8, table: &str, changes: &[Change<'_>]) -> io::Result<Linger> {
    let (bytes, acks) = batch(family, table, changes)?.end();
    let mut socket = NfSocket::open()?;
    socket.send_batch(&bytes, &acks)?;
    Ok(socket.linger())
}

/// The bytes [`commit`] sends for `changes`: one nf_tables batch, sequence numbers from 1.
/// A rule comment longer than 254 bytes is an `InvalidInput` error.
pub fn encode_batch(family: u8, table: &str, changes: &[Change<'_>]) -> io::Result<Vec<u8>> {
    Ok(batch(family, table, changes)?.end().0)
}

/// The batch of `changes`, not yet ended.
fn batch(family: u8, table: &str, changes: &[Change<'_>]) -> io::Result<Batch> {
    let mut batch = Batch::begin(NFNL_SUBSYS_NFTABLES);
    for change in changes {
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
        batch.push(msg, flags, family, &attrs);
    }
    Ok(batch)
}

/// Whether `chain` exists in `table` of `family` (one request, no dump).
pub fn chain_exists(family: u8, table: &str, chain: &str) -> io::Result<bool> {
    match request(
        NFT_MSG_GETCHAIN,
        NLM_F_REQUEST | NLM_F_ACK,
        family,
        &chain_attrs(table, chain),
    ) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The attributes naming `chain` of `table`.
fn chain_attrs(table: &str, chain: &str) -> Vec<u8> {
    let mut attrs = Vec::new();
    put_str_attr(&mut attrs, NFTA_CHAIN_TABLE, table);
    put_str_attr(&mut attrs, NFTA_CHAIN_NAME, chain);
    attrs
}

/// Whether the kernel answers nf_tables requests in the current namespace (a table dump
/// succeeds).
pub fn probe() -> io::Result<()> {
    dump(NFT_MSG_GETTABLE, FAMILY_UNSPEC, &[]).map(|_| ())
}

/// Sends one dump request on a socket of its own and collects its parts as (message type,
/// payload); an interrupted dump is asked again.
fn dump(msg: u16, family: u8, attrs: &[u8]) -> io::Result<Parts> {
    request(msg, NLM_F_REQUEST | NLM_F_DUMP, family, attrs)
}

/// Sends one nf_tables request on a socket of its own ([`NfSocket::request`]).
fn request(msg: u16, flags: u16, family: u8, attrs: &[u8]) -> io::Result<Parts> {
    NfSocket::open()?.request(NFNL_SUBSYS_NFTABLES, msg, flags, family, attrs)
}

/// A data attribute: a nest holding `NFTA_DATA_VALUE`.
fn put_data_attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let mut nest = Vec::new();
    put_attr(&mut nest, NFTA_DATA_VALUE, value);
    put_attr(out, ty | NLA_F_NESTED, &nest);
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
    use super::super::socket::request_frame;
    use super::*;
    use crate::golden::assert_bytes;

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

    /// `ip saddr 10.1.2.3 ip daddr != 10.1.0.0/20 masquerade` in an `inet` table, as nft
    /// encodes it, with comment "abc"; then the deletion of rule 0x0102030405.
    #[test]
    #[cfg(target_endian = "little")]
    fn batch_golden_bytes() {
        let add = Change::AddRule {
            chain: "masq_checks",
            comment: "abc",
            exprs: vec![
                Expr::Meta { key: META_NFPROTO },
                Expr::Cmp {
                    op: CMP_EQ,
                    data: vec![2],
                },
                Expr::Payload {
                    base: PAYLOAD_NETWORK_HEADER,
                    offset: 12,
                    len: 4,
                },
                Expr::Cmp {
                    op: CMP_EQ,
                    data: vec![10, 1, 2, 3],
                },
                Expr::Payload {
                    base: PAYLOAD_NETWORK_HEADER,
                    offset: 16,
                    len: 4,
                },
                Expr::Bitwise {
                    mask: vec![255, 255, 240, 0],
                    xor: vec![0; 4],
                },
                Expr::Cmp {
                    op: CMP_NEQ,
                    data: vec![10, 1, 0, 0],
                },
                Expr::Masq,
            ],
        };
        let delete = Change::DeleteRule {
            chain: "masq_checks",
            handle: 0x0102030405,
        };
        assert_bytes(
            &encode_batch(FAMILY_INET, "t", &[add, delete]).unwrap(),
            "14000000 1000 0100 01000000 00000000 # NFNL_MSG_BATCH_BEGIN, REQUEST, seq 1
            00 00 000a                            # nfgenmsg: resource id NFNL_SUBSYS_NFTABLES
            a0010000 060a 050c 02000000 00000000  # NFT_MSG_NEWRULE, REQUEST|ACK|CREATE|APPEND, seq 2
            01 00 0000                            # nfgenmsg: NFPROTO_INET
            0600 0100 7400 0000                   # NFTA_RULE_TABLE t
            1000 0200 6d6173715f636865636b7300    # NFTA_RULE_CHAIN masq_checks
            6801 0480                             # NFTA_RULE_EXPRESSIONS
              2400 0180                           #   NFTA_LIST_ELEM
                0900 0100 6d65746100 000000       #     NFTA_EXPR_NAME meta
                1400 0280                         #     NFTA_EXPR_DATA
                  0800 0100 00000001              #       NFTA_META_DREG 1
                  0800 0200 0000000f              #       NFTA_META_KEY NFT_META_NFPROTO
              2c00 0180                           #   NFTA_LIST_ELEM
                0800 0100 636d7000                #     NFTA_EXPR_NAME cmp
                2000 0280                         #     NFTA_EXPR_DATA
                  0800 0100 00000001              #       NFTA_CMP_SREG 1
                  0800 0200 00000000              #       NFTA_CMP_OP NFT_CMP_EQ
                  0c00 0380                       #       NFTA_CMP_DATA
                    0500 0100 02 000000           #         NFTA_DATA_VALUE 2
              3400 0180                           #   NFTA_LIST_ELEM
                0c00 0100 7061796c6f616400        #     NFTA_EXPR_NAME payload
                2400 0280                         #     NFTA_EXPR_DATA
                  0800 0100 00000001              #       NFTA_PAYLOAD_DREG 1
                  0800 0200 00000001              #       NFTA_PAYLOAD_BASE network header
                  0800 0300 0000000c              #       NFTA_PAYLOAD_OFFSET 12
                  0800 0400 00000004              #       NFTA_PAYLOAD_LEN 4
              2c00 0180                           #   NFTA_LIST_ELEM
                0800 0100 636d7000                #     NFTA_EXPR_NAME cmp
                2000 0280                         #     NFTA_EXPR_DATA
                  0800 0100 00000001              #       NFTA_CMP_SREG 1
                  0800 0200 00000000              #       NFTA_CMP_OP NFT_CMP_EQ
                  0c00 0380                       #       NFTA_CMP_DATA
                    0800 0100 0a010203            #         NFTA_DATA_VALUE 10.1.2.3
              3400 0180                           #   NFTA_LIST_ELEM
                0c00 0100 7061796c6f616400        #     NFTA_EXPR_NAME payload
                2400 0280                         #     NFTA_EXPR_DATA
                  0800 0100 00000001              #       NFTA_PAYLOAD_DREG 1
                  0800 0200 00000001              #       NFTA_PAYLOAD_BASE network header
                  0800 0300 00000010              #       NFTA_PAYLOAD_OFFSET 16
                  0800 0400 00000004              #       NFTA_PAYLOAD_LEN 4
              4400 0180                           #   NFTA_LIST_ELEM
                0c00 0100 6269747769736500        #     NFTA_EXPR_NAME bitwise
                3400 0280                         #     NFTA_EXPR_DATA
                  0800 0100 00000001              #       NFTA_BITWISE_SREG 1
                  0800 0200 00000001              #       NFTA_BITWISE_DREG 1
                  0800 0300 00000004              #       NFTA_BITWISE_LEN 4
                  0c00 0480                       #       NFTA_BITWISE_MASK
                    0800 0100 fffff000            #         NFTA_DATA_VALUE 255.255.240.0
                  0c00 0580                       #       NFTA_BITWISE_XOR
                    0800 0100 00000000            #         NFTA_DATA_VALUE 0
              2c00 0180                           #   NFTA_LIST_ELEM
                0800 0100 636d7000                #     NFTA_EXPR_NAME cmp
                2000 0280                         #     NFTA_EXPR_DATA
                  0800 0100 00000001              #       NFTA_CMP_SREG 1
                  0800 0200 00000001              #       NFTA_CMP_OP NFT_CMP_NEQ
                  0c00 0380                       #       NFTA_CMP_DATA
                    0800 0100 0a010000            #         NFTA_DATA_VALUE 10.1.0.0
              1000 0180                           #   NFTA_LIST_ELEM
                0900 0100 6d61737100 000000       #     NFTA_EXPR_NAME masq
            0a00 0700 0004616263 00 0000          # NFTA_RULE_USERDATA: comment (type 0, 4 bytes) abc
            38000000 080a 0500 03000000 00000000  # NFT_MSG_DELRULE, REQUEST|ACK, seq 3
            01 00 0000                            # nfgenmsg: NFPROTO_INET
            0600 0100 7400 0000                   # NFTA_RULE_TABLE t
            1000 0200 6d6173715f636865636b7300    # NFTA_RULE_CHAIN masq_checks
            0c00 0300 0000000102030405            # NFTA_RULE_HANDLE 0x0102030405
            14000000 1100 0100 04000000 00000000  # NFNL_MSG_BATCH_END, REQUEST, seq 4
            00 00 000a                            # nfgenmsg: resource id NFNL_SUBSYS_NFTABLES",
        );
        assert_bytes(
            &encode_batch(FAMILY_INET, "t", &[]).unwrap(),
            "14000000 1000 0100 01000000 00000000 00 00 000a # NFNL_MSG_BATCH_BEGIN, seq 1
            14000000 1100 0100 02000000 00000000 00 00 000a  # NFNL_MSG_BATCH_END, seq 2",
        );
        let long = "x".repeat(255);
        let too_long = Change::AddRule {
            chain: "c",
            exprs: vec![Expr::Masq],
            comment: &long,
        };
        let e = encode_batch(FAMILY_INET, "t", &[too_long]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn chain_query_golden_bytes() {
        let frame = request_frame(
            NFNL_SUBSYS_NFTABLES,
            NFT_MSG_GETCHAIN,
            NLM_F_REQUEST | NLM_F_ACK,
            1,
            FAMILY_IPV4,
            &chain_attrs("nat", "CNI-abc"),
        );
        assert_bytes(
            &frame,
            "28000000 040a 0500 01000000 00000000 # NFT_MSG_GETCHAIN, REQUEST|ACK, seq 1
            02 00 0000                            # nfgenmsg: NFPROTO_IPV4
            0800 0100 6e617400                    # NFTA_CHAIN_TABLE nat
            0c00 0300 434e492d61626300            # NFTA_CHAIN_NAME CNI-abc",
        );
    }
}
