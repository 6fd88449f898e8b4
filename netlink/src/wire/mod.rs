//! The translation between our types and `netlink-packet-route` messages: the bodies of
//! requests built from [`crate::types`] values, and reply messages parsed back into them.
//! That crate changes its API often, so its types appear nowhere else: a version bump
//! touches this module (and the socket layer's use of `netlink-packet-core`) only. The
//! golden-byte tests beside each codec catch a bump that changes what goes on the wire.
//!
//! Replies are decoded message by message, rather than through `netlink-packet-route`'s
//! umbrella enum, which links in only the parsers of the message types we ask for.

pub(crate) mod address;
pub(crate) mod bridge;
pub(crate) mod link;
pub(crate) mod route;

use netlink_packet_core::Parseable;
use netlink_packet_route::AddressFamily;

use crate::error::{NetlinkError, Result};
use crate::socket::Reply;
use crate::types::Family;

// rtnetlink message types (`linux/rtnetlink.h`), a stable kernel ABI.
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_SETLINK: u16 = 19;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_GETROUTE: u16 = 26;

/// Decodes every reply of type `kind` as a `T` (a `LinkMessage`, an `AddressMessage`...).
fn decode_all<T: for<'a> Parseable<[u8]>>(
    op: &str,
    replies: &[Reply],
    kind: u16,
) -> Result<Vec<T>> {
    replies
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| T::parse(&r.payload).map_err(|e| NetlinkError::decode(op, e)))
        .collect()
}

/// The wire family of an optional family filter (`AF_UNSPEC` for none).
fn address_family(family: Option<Family>) -> AddressFamily {
    match family {
        None => AddressFamily::Unspec,
        Some(Family::V4) => AddressFamily::Inet,
        Some(Family::V6) => AddressFamily::Inet6,
    }
}
