//! nf_tables over nfnetlink: a `NETLINK_NETFILTER` socket in the calling thread's namespace
//! (like every socket, it works in the namespace of the thread that opens it), for what a
//! firewall does on every container ADD and DEL without starting `nft`.
//!
//! Queries: the rules of one chain with their handles and comments ([`rules`]), whether a
//! chain exists ([`chain_exists`]), whether nf_tables answers here at all ([`probe`], a
//! table dump). Changes: a batch of new and deleted rules in existing chains, committed as
//! one transaction ([`commit`]; [`encode_batch`] gives its bytes), whose expressions the
//! caller describes with [`Expr`]. Which tables, chains and rules to write is the caller's
//! business.
//!
//! Messages are built and parsed by hand, not through `netlink-packet-*`: the netlink
//! header, `struct nfgenmsg` and the attributes of the stable `linux/netfilter/nfnetlink.h`
//! and `linux/netfilter/nf_tables.h` ABI. The layers:
//! - `socket`: the socket, message framing, requests and multi-part replies (interrupted
//!   dumps asked again), batches (`NFNL_MSG_BATCH_BEGIN` ... `NFNL_MSG_BATCH_END`) and
//!   their acks, and the socket kept open after a commit ([`Linger`]);
//! - `attr`: netlink attribute encoding and decoding;
//! - `nftables`: the nf_tables messages: rules, chains, tables, expressions.
//!
//! Errors are [`std::io::Error`]s carrying the kernel's errno.

mod attr;
mod nftables;
mod socket;

pub use nftables::{
    chain_exists, commit, encode_batch, probe, rules, Change, Expr, RuleRef, CMP_EQ, CMP_NEQ,
    FAMILY_INET, FAMILY_IPV4, FAMILY_IPV6, META_NFPROTO, PAYLOAD_NETWORK_HEADER,
};
pub use socket::Linger;
