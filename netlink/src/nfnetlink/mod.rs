//! Netfilter over nfnetlink: a `NETLINK_NETFILTER` socket in the calling thread's namespace
//! (like every socket, it works in the namespace of the thread that opens it), for what a
//! firewall does on every container ADD and DEL without starting `nft` or `conntrack`.
//!
//! nf_tables queries: the rules of one chain with their handles and comments ([`rules`]),
//! every rule of a table with its expressions ([`table_rules`]), a table's chains with their
//! hooks ([`chains`]), whether a chain exists ([`chain_exists`]), whether nf_tables answers
//! here at all ([`probe`], a table dump). Changes: a batch of tables, chains, chain flushes,
//! new and deleted rules, committed as one transaction ([`commit`] in one table,
//! [`commit_ops`] across tables and families; [`encode_batch`] and [`encode_ops`] give their
//! bytes), whose expressions the caller describes with [`Expr`] and reads back decoded the
//! same way. Which tables, chains and rules to write is the caller's business.
//!
//! Connection tracking ([`conntrack`]): the entries of one family, and their deletion.
//!
//! Messages are built and parsed by hand, not through `netlink-packet-*`: the netlink
//! header, `struct nfgenmsg` and the attributes of the stable `linux/netfilter/nfnetlink.h`,
//! `linux/netfilter/nf_tables.h` and `linux/netfilter/nfnetlink_conntrack.h` ABI. The
//! layers:
//! - `socket`: the socket, message framing, requests and multi-part replies (interrupted
//!   dumps asked again), batches (`NFNL_MSG_BATCH_BEGIN` ... `NFNL_MSG_BATCH_END`) and
//!   their acks, and the socket kept open after a commit ([`Linger`]);
//! - `attr`: netlink attribute encoding and decoding;
//! - `expr`: nf_tables rule expressions, encoded as nft encodes them and decoded from dumps;
//! - `nftables`: the nf_tables messages: rules, chains, tables;
//! - [`conntrack`]: the ctnetlink messages.
//!
//! Errors are [`std::io::Error`]s carrying the kernel's errno.

mod attr;
pub mod conntrack;
mod expr;
mod nftables;
mod socket;

pub use expr::{
    Expr, Verdict, CMP_EQ, CMP_NEQ, CT_STATUS, FIB_F_DADDR, FIB_RESULT_ADDRTYPE, IPS_DST_NAT,
    META_IIFNAME, META_L4PROTO, META_MARK, META_NFPROTO, META_OIFNAME, NAT_DNAT, NAT_RANGE_MAP_IPS,
    NAT_RANGE_PROTO_SPECIFIED, NAT_SNAT, NFT_REG_1, NFT_REG_2, PAYLOAD_NETWORK_HEADER,
    PAYLOAD_TRANSPORT_HEADER, RTN_LOCAL,
};
pub use nftables::{
    chain_exists, chains, commit, commit_ops, encode_batch, encode_ops, probe, rules, table_rules,
    BaseChain, Chain, Change, Op, Rule, RuleRef, COMMENT_MAX, FAMILY_INET, FAMILY_IPV4,
    FAMILY_IPV6, HOOK_FORWARD, HOOK_INPUT, HOOK_OUTPUT, HOOK_POSTROUTING, HOOK_PREROUTING,
    PRIORITY_DSTNAT, PRIORITY_SRCNAT,
};
pub use socket::Linger;
