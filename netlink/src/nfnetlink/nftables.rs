//! The nf_tables messages (`NFNL_SUBSYS_NFTABLES`): rule dumps ([`rules`], and with their
//! expressions [`table_rules`]), chain queries ([`chain_exists`], [`chains`]), a table dump
//! ([`probe`]), and batches of changes committed as one transaction ([`commit`],
//! [`commit_ops`]; [`encode_batch`], [`encode_ops`] give their bytes): tables, chains (base
//! chains with their hook), chain flushes, new and deleted rules, with their expressions
//! ([`Expr`], module `expr`) and comments (in rule user data, as libnftnl stores them).

use std::io;

use super::attr::{attributes, c_str, put_attr, put_str_attr, put_u32_attr, NLA_F_NESTED};
use super::expr::Expr;
use super::socket::{
    Batch, Linger, NfSocket, Parts, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REQUEST,
};

const NFGENMSG_LEN: usize = 4;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_DELRULE: u16 = 8;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_TABLE_USERDATA: u16 = 6;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
/// libnftnl's rule and table user data: a type-length-value list in which type 0 is the
/// comment (`NFTNL_UDATA_COMMENT`, `NFTNL_UDATA_TABLE_COMMENT`).
const UDATA_COMMENT: u8 = 0;
/// `NFPROTO_INET`.
pub const FAMILY_INET: u8 = 1;
/// `NFPROTO_IPV4`, the family of iptables-nft's IPv4 tables.
pub const FAMILY_IPV4: u8 = 2;
/// `NFPROTO_IPV6`.
pub const FAMILY_IPV6: u8 = 10;
const FAMILY_UNSPEC: u8 = 0;
/// The netfilter hooks of the ip, ip6 and inet families (`NF_INET_*`).
pub const HOOK_PREROUTING: u32 = 0;
pub const HOOK_INPUT: u32 = 1;
pub const HOOK_FORWARD: u32 = 2;
pub const HOOK_OUTPUT: u32 = 3;
pub const HOOK_POSTROUTING: u32 = 4;
/// nft's `dstnat` and `srcnat` priorities.
pub const PRIORITY_DSTNAT: i32 = -100;
pub const PRIORITY_SRCNAT: i32 = 100;
/// The longest comment nft writes (bytes).
pub const COMMENT_MAX: usize = 128;

/// One rule of a chain as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub handle: u64,
    pub comment: Option<String>,
}

/// The rules of `chain` in `table` (of `family`), in order. A missing table or chain is an
/// empty list, not an error.
pub fn rules(family: u8, table: &str, chain: &str) -> io::Result<Vec<RuleRef>> {
    Ok(dump_rules(family, table, Some(chain))?
        .into_iter()
        .map(|r| RuleRef {
            handle: r.handle,
            comment: r.comment,
        })
        .collect())
}

/// One rule as the kernel reports it, with its chain and expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub chain: String,
    pub handle: u64,
    pub comment: Option<String>,
    pub exprs: Vec<Expr>,
}

/// Every rule of `table` (of `family`), chain by chain in the kernel's order. A missing
/// table is an empty list, not an error.
pub fn table_rules(family: u8, table: &str) -> io::Result<Vec<Rule>> {
    dump_rules(family, table, None)
}

/// The rules of `table`, of one chain or of all.
fn dump_rules(family: u8, table: &str, chain: Option<&str>) -> io::Result<Vec<Rule>> {
    let mut attrs = Vec::new();
    put_str_attr(&mut attrs, NFTA_RULE_TABLE, table);
    if let Some(chain) = chain {
        put_str_attr(&mut attrs, NFTA_RULE_CHAIN, chain);
    }
    let mut out = Vec::new();
    for payload in dump_objects(NFT_MSG_GETRULE, NFT_MSG_NEWRULE, family, &attrs)? {
        let mut rule_table = None;
        let mut rule_chain = None;
        let mut handle = None;
        let mut comment = None;
        let mut exprs = Vec::new();
        for (ty, value) in attributes(&payload) {
            match ty {
                NFTA_RULE_TABLE => rule_table = Some(c_str(value).to_string()),
                NFTA_RULE_CHAIN => rule_chain = Some(c_str(value).to_string()),
                NFTA_RULE_HANDLE => {
                    handle = value.try_into().ok().map(u64::from_be_bytes);
                }
                NFTA_RULE_EXPRESSIONS => exprs = Expr::decode_list(value),
                NFTA_RULE_USERDATA => comment = udata_comment(value),
                _ => {}
            }
        }
        let wanted = rule_table.as_deref() == Some(table)
            && chain.is_none_or(|c| rule_chain.as_deref() == Some(c));
        if let (true, Some(chain), Some(handle)) = (wanted, rule_chain, handle) {
            out.push(Rule {
                chain,
                handle,
                comment,
                exprs,
            });
        }
    }
    Ok(out)
}

/// A chain as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    /// For a base chain: its type (`filter`, `nat`, `route`), hook and priority.
    pub base: Option<BaseChain>,
    /// A base chain's policy (`NF_ACCEPT` 1, `NF_DROP` 0).
    pub policy: Option<u32>,
}

/// What makes a chain a base chain: its type, hook and priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    /// `nat`, `filter` or `route`.
    pub kind: String,
    /// `HOOK_*`.
    pub hook: u32,
    pub priority: i32,
}

impl BaseChain {
    /// A `nat` chain on `hook` at `priority`.
    pub fn nat(hook: u32, priority: i32) -> BaseChain {
        BaseChain {
            kind: "nat".to_string(),
            hook,
            priority,
        }
    }
}

/// The chains of `table` (of `family`). A missing table has none.
pub fn chains(family: u8, table: &str) -> io::Result<Vec<Chain>> {
    let mut attrs = Vec::new();
    put_str_attr(&mut attrs, NFTA_CHAIN_TABLE, table);
    let mut out = Vec::new();
    for payload in dump_objects(NFT_MSG_GETCHAIN, NFT_MSG_NEWCHAIN, family, &attrs)? {
        let mut in_table = false;
        let mut name = None;
        let mut hook = None;
        let mut chain_type = None;
        let mut policy = None;
        for (ty, value) in attributes(&payload) {
            match ty {
                NFTA_CHAIN_TABLE => in_table = c_str(value) == table,
                NFTA_CHAIN_NAME => name = Some(c_str(value).to_string()),
                NFTA_CHAIN_TYPE => chain_type = Some(c_str(value).to_string()),
                NFTA_CHAIN_POLICY => policy = value.try_into().ok().map(u32::from_be_bytes),
                NFTA_CHAIN_HOOK => {
                    let mut num = None;
                    let mut prio = None;
                    for (t, v) in attributes(value) {
                        match t {
                            NFTA_HOOK_HOOKNUM => num = v.try_into().ok().map(u32::from_be_bytes),
                            NFTA_HOOK_PRIORITY => prio = v.try_into().ok().map(i32::from_be_bytes),
                            _ => {}
                        }
                    }
                    hook = num.zip(prio);
                }
                _ => {}
            }
        }
        if let (true, Some(name)) = (in_table, name) {
            let base = match (chain_type, hook) {
                (Some(kind), Some((hook, priority))) => Some(BaseChain {
                    kind,
                    hook,
                    priority,
                }),
                _ => None,
            };
            out.push(Chain { name, base, policy });
        }
    }
    Ok(out)
}

/// One change of a [`commit`] (in its table) or of an [`Op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// Append a rule made of `exprs` to `chain`, with `comment` in its user data (as nft
    /// stores a rule's comment; none when empty).
    AddRule {
        chain: &'a str,
        exprs: Vec<Expr>,
        comment: &'a str,
    },
    /// Delete the rule with `handle` from `chain`.
    DeleteRule { chain: &'a str, handle: u64 },
    /// `add table` (with a comment unless empty): created when missing, left as it is
    /// otherwise.
    AddTable { comment: &'a str },
    /// `add chain`, a base chain when `base` is given: created when missing, left as it is
    /// when it exists with the same hook (the kernel refuses another hook).
    AddChain {
        chain: &'a str,
        base: Option<BaseChain>,
    },
    /// `flush chain`: delete every rule of `chain`.
    FlushChain { chain: &'a str },
}

/// A change in a table: one message of a batch ([`commit_ops`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op<'a> {
    pub family: u8,
    pub table: &'a str,
    pub change: Change<'a>,
}

/// Applies `changes` to `table` of `family` in one nf_tables transaction: all of them or,
/// on the first failure (a chain or a rule that is not there, say), none; the error is that
/// failure's. The kernel checks every message before it commits any. The returned socket
/// may be kept open for a while ([`Linger`]).
pub fn commit(family: u8, table: &str, changes: &[Change<'_>]) -> io::Result<Linger> {
    commit_ops(&in_table(family, table, changes))
}

/// Applies `ops`, in any tables of any families, in one nf_tables transaction, as
/// [`commit`] does.
pub fn commit_ops(ops: &[Op<'_>]) -> io::Result<Linger> {
    let (bytes, acks) = batch(ops)?.end();
    let mut socket = NfSocket::open()?;
    socket.send_batch(&bytes, &acks)?;
    Ok(socket.linger())
}

/// The bytes [`commit`] sends for `changes`: one nf_tables batch, sequence numbers from 1.
/// A comment longer than 254 bytes is an `InvalidInput` error.
pub fn encode_batch(family: u8, table: &str, changes: &[Change<'_>]) -> io::Result<Vec<u8>> {
    encode_ops(&in_table(family, table, changes))
}

/// The bytes [`commit_ops`] sends for `ops`.
pub fn encode_ops(ops: &[Op<'_>]) -> io::Result<Vec<u8>> {
    Ok(batch(ops)?.end().0)
}

fn in_table<'a>(family: u8, table: &'a str, changes: &[Change<'a>]) -> Vec<Op<'a>> {
    changes
        .iter()
        .map(|change| Op {
            family,
            table,
            change: change.clone(),
        })
        .collect()
}

/// User data holding `comment` as libnftnl writes it; an `InvalidInput` error when it is
/// longer than one TLV can hold.
fn comment_udata(comment: &str) -> io::Result<Vec<u8>> {
    let text = comment.as_bytes();
    let len = u8::try_from(text.len() + 1)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "comment too long"))?;
    let mut udata = vec![UDATA_COMMENT, len];
    udata.extend_from_slice(text);
    udata.push(0);
    Ok(udata)
}

/// The batch of `ops`, not yet ended. Flags and attributes are those nft sends for the same
/// commands.
fn batch(ops: &[Op<'_>]) -> io::Result<Batch> {
    let mut batch = Batch::begin(NFNL_SUBSYS_NFTABLES);
    for Op {
        family,
        table,
        change,
    } in ops
    {
        let mut attrs = Vec::new();
        let (msg, flags) = match change {
            Change::AddRule {
                chain,
                exprs,
                comment,
            } => {
                put_str_attr(&mut attrs, NFTA_RULE_TABLE, table);
                put_str_attr(&mut attrs, NFTA_RULE_CHAIN, chain);
                let mut list = Vec::new();
                for e in exprs {
                    e.encode(&mut list);
                }
                put_attr(&mut attrs, NFTA_RULE_EXPRESSIONS | NLA_F_NESTED, &list);
                if !comment.is_empty() {
                    put_attr(&mut attrs, NFTA_RULE_USERDATA, &comment_udata(comment)?);
                }
                (NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND)
            }
            Change::DeleteRule { chain, handle } => {
                put_str_attr(&mut attrs, NFTA_RULE_TABLE, table);
                put_str_attr(&mut attrs, NFTA_RULE_CHAIN, chain);
                put_attr(&mut attrs, NFTA_RULE_HANDLE, &handle.to_be_bytes());
                (NFT_MSG_DELRULE, 0)
            }
            Change::FlushChain { chain } => {
                put_str_attr(&mut attrs, NFTA_RULE_TABLE, table);
                put_str_attr(&mut attrs, NFTA_RULE_CHAIN, chain);
                (NFT_MSG_DELRULE, 0)
            }
            Change::AddTable { comment } => {
                put_str_attr(&mut attrs, NFTA_TABLE_NAME, table);
                put_u32_attr(&mut attrs, NFTA_TABLE_FLAGS, 0);
                if !comment.is_empty() {
                    put_attr(&mut attrs, NFTA_TABLE_USERDATA, &comment_udata(comment)?);
                }
                (NFT_MSG_NEWTABLE, 0)
            }
            Change::AddChain { chain, base } => {
                put_str_attr(&mut attrs, NFTA_CHAIN_TABLE, table);
                put_str_attr(&mut attrs, NFTA_CHAIN_NAME, chain);
                if let Some(base) = base {
                    put_str_attr(&mut attrs, NFTA_CHAIN_TYPE, &base.kind);
                    let mut hook = Vec::new();
                    put_u32_attr(&mut hook, NFTA_HOOK_HOOKNUM, base.hook);
                    put_u32_attr(&mut hook, NFTA_HOOK_PRIORITY, base.priority as u32);
                    put_attr(&mut attrs, NFTA_CHAIN_HOOK | NLA_F_NESTED, &hook);
                }
                (NFT_MSG_NEWCHAIN, NLM_F_CREATE)
            }
        };
        batch.push(msg, flags, *family, &attrs);
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

/// The attributes of each object a `get` dump of `family` answers with (messages of type
/// `new`; the `nfgenmsg` header stripped). A missing table has none.
fn dump_objects(get: u16, new: u16, family: u8, attrs: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let messages = match dump(get, family, attrs) {
        Ok(messages) => messages,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(messages
        .into_iter()
        .filter(|(kind, _)| *kind == (NFNL_SUBSYS_NFTABLES << 8) | new)
        .map(|(_, mut payload)| payload.split_off(NFGENMSG_LEN.min(payload.len())))
        .collect())
}

/// Sends one nf_tables request on a socket of its own ([`NfSocket::request`]).
fn request(msg: u16, flags: u16, family: u8, attrs: &[u8]) -> io::Result<Parts> {
    NfSocket::open()?.request(NFNL_SUBSYS_NFTABLES, msg, flags, family, attrs)
}

/// The comment in a rule's user data, if it has one.
fn udata_comment(mut data: &[u8]) -> Option<String> {
    while data.len() >= 2 {
        let (ty, len) = (data[0], data[1] as usize);
        let value = data.get(2..2 + len)?;
        if ty == UDATA_COMMENT {
            return Some(c_str(value).to_string());
        }
        data = &data[2 + len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::expr::{CMP_EQ, CMP_NEQ, META_NFPROTO, PAYLOAD_NETWORK_HEADER};
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
        let data = [7u8, 1, 9, UDATA_COMMENT, 4, b'h', b'e', b'y', 0];
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

    /// `add table ip t2 { comment "CNI portmap plugin"; }`, `add chain ip t2 hostports`,
    /// `add chain ip t2 prerouting { type nat hook prerouting priority -100; }` and
    /// `flush chain ip t2 prerouting`, each with the attributes nft 1.0.6 sends (seen with
    /// strace), then an IPv6 rule in the same batch.
    #[test]
    #[cfg(target_endian = "little")]
    fn table_chain_and_flush_golden_bytes() {
        let op = |family, change| Op {
            family,
            table: "t2",
            change,
        };
        let ops = [
            op(
                FAMILY_IPV4,
                Change::AddTable {
                    comment: "CNI portmap plugin",
                },
            ),
            op(
                FAMILY_IPV4,
                Change::AddChain {
                    chain: "hostports",
                    base: None,
                },
            ),
            op(
                FAMILY_IPV4,
                Change::AddChain {
                    chain: "prerouting",
                    base: Some(BaseChain::nat(HOOK_PREROUTING, PRIORITY_DSTNAT)),
                },
            ),
            op(
                FAMILY_IPV4,
                Change::FlushChain {
                    chain: "prerouting",
                },
            ),
            op(
                FAMILY_IPV6,
                Change::AddRule {
                    chain: "c",
                    exprs: vec![Expr::Masq],
                    comment: "",
                },
            ),
        ];
        assert_bytes(
            &encode_ops(&ops).unwrap(),
            "14000000 1000 0100 01000000 00000000 # NFNL_MSG_BATCH_BEGIN, REQUEST, seq 1
            00 00 000a                            # nfgenmsg: resource id NFNL_SUBSYS_NFTABLES
            40000000 000a 0500 02000000 00000000  # NFT_MSG_NEWTABLE, REQUEST|ACK, seq 2
            02 00 0000                            # nfgenmsg: NFPROTO_IPV4
            0700 0100 743200 00                   # NFTA_TABLE_NAME t2
            0800 0200 00000000                    # NFTA_TABLE_FLAGS 0
            1900 0600 0013 434e4920706f72746d617020706c7567696e 00 000000 # NFTA_TABLE_USERDATA comment
            2c000000 030a 0504 03000000 00000000  # NFT_MSG_NEWCHAIN, REQUEST|ACK|CREATE, seq 3
            02 00 0000                            # nfgenmsg: NFPROTO_IPV4
            0700 0100 743200 00                   # NFTA_CHAIN_TABLE t2
            0e00 0300 686f7374706f72747300 0000   # NFTA_CHAIN_NAME hostports
            48000000 030a 0504 04000000 00000000  # NFT_MSG_NEWCHAIN, REQUEST|ACK|CREATE, seq 4
            02 00 0000                            # nfgenmsg: NFPROTO_IPV4
            0700 0100 743200 00                   # NFTA_CHAIN_TABLE t2
            0f00 0300 707265726f7574696e6700 00   # NFTA_CHAIN_NAME prerouting
            0800 0700 6e617400                    # NFTA_CHAIN_TYPE nat
            1400 0480                             # NFTA_CHAIN_HOOK
              0800 0100 00000000                  #   NFTA_HOOK_HOOKNUM NF_INET_PRE_ROUTING
              0800 0200 ffffff9c                  #   NFTA_HOOK_PRIORITY -100
            2c000000 080a 0500 05000000 00000000  # NFT_MSG_DELRULE, REQUEST|ACK, seq 5
            02 00 0000                            # nfgenmsg: NFPROTO_IPV4
            0700 0100 743200 00                   # NFTA_RULE_TABLE t2
            0f00 0200 707265726f7574696e6700 00   # NFTA_RULE_CHAIN prerouting (no handle: flush)
            38000000 060a 050c 06000000 00000000  # NFT_MSG_NEWRULE, REQUEST|ACK|CREATE|APPEND, seq 6
            0a 00 0000                            # nfgenmsg: NFPROTO_IPV6
            0700 0100 743200 00                   # NFTA_RULE_TABLE t2
            0600 0200 6300 0000                   # NFTA_RULE_CHAIN c
            1400 0480                             # NFTA_RULE_EXPRESSIONS
              1000 0180                           #   NFTA_LIST_ELEM
                0900 0100 6d61737100 000000       #     NFTA_EXPR_NAME masq
            14000000 1100 0100 07000000 00000000  # NFNL_MSG_BATCH_END, REQUEST, seq 7
            00 00 000a                            # nfgenmsg: resource id NFNL_SUBSYS_NFTABLES",
        );
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
