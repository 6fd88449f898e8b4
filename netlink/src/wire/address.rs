//! Address messages: `RTM_NEWADDR`/`RTM_DELADDR` bodies for an [`AddressSpec`], the address
//! dump, and replies parsed into [`Address`].

use std::net::IpAddr;

use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};

use super::{address_family, decode_all, RTM_NEWADDR};
use crate::error::Result;
use crate::socket::Reply;
use crate::types::{Address, AddressSpec, Family};

/// The body of `RTM_NEWADDR`/`RTM_DELADDR` for `spec` on link `index`.
pub(crate) fn address_message(index: u32, spec: &AddressSpec) -> AddressMessage {
    let mut msg = AddressMessage::default();
    let addr = spec.net.addr();
    msg.header.family = address_family(Some(Family::of(&addr)));
    msg.header.prefix_len = spec.net.prefix_len();
    msg.header.index = index;
    msg.header.scope = AddressScope::Universe;
    msg.attributes.push(AddressAttribute::Local(addr));
    msg.attributes.push(AddressAttribute::Address(addr));
    if let (Some(brd), IpAddr::V4(_)) = (spec.broadcast, addr) {
        msg.attributes.push(AddressAttribute::Broadcast(brd));
    }
    if spec.nodad && addr.is_ipv6() {
        msg.header.flags = AddressHeaderFlags::Nodad;
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    msg
}

/// The `RTM_GETADDR` dump body for the addresses of `family` (all with `None`).
pub(crate) fn dump_addresses_message(family: Option<Family>) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = address_family(family);
    msg
}

/// The addresses of the `RTM_NEWADDR` messages of a reply, in order.
pub(crate) fn addresses_from(op: &str, replies: &[Reply]) -> Result<Vec<Address>> {
    let addrs: Vec<AddressMessage> = decode_all(op, replies, RTM_NEWADDR)?;
    Ok(addrs.into_iter().filter_map(address_from).collect())
}

fn address_from(msg: AddressMessage) -> Option<Address> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
    // links and the only one present for IPv6. IFA_FLAGS, when present, supersedes the
    // header's 8-bit flags.
    let mut local = None;
    let mut address = None;
    let mut flags = u32::from(msg.header.flags.bits());
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Flags(f) => flags = f.bits(),
            _ => {}
        }
    }
    Some(Address {
        index: msg.header.index,
        addr: local.or(address)?,
        prefix_len: msg.header.prefix_len,
        scope: msg.header.scope.into(),
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::{assert_bytes, emit};

    #[test]
    #[cfg(target_endian = "little")]
    fn address_golden_bytes() {
        let v4 = AddressSpec::new("10.1.0.5/24".parse().unwrap()).with_default_broadcast();
        assert_bytes(
            &emit(&address_message(3, &v4)),
            "02 18 00 00 03000000 # ifaddrmsg: AF_INET, /24, no flags, universe, index 3
            0800 0200 0a010005   # IFA_LOCAL 10.1.0.5
            0800 0100 0a010005   # IFA_ADDRESS 10.1.0.5
            0800 0400 0a0100ff   # IFA_BROADCAST 10.1.0.255",
        );
        let v6 = AddressSpec::new("2001:db8::5/64".parse().unwrap()).with_nodad();
        assert_bytes(
            &emit(&address_message(3, &v6)),
            "0a 40 02 00 03000000                               # ifaddrmsg: AF_INET6, /64, IFA_F_NODAD, universe, index 3
            1400 0200 20010db8000000000000000000000005          # IFA_LOCAL 2001:db8::5
            1400 0100 20010db8000000000000000000000005          # IFA_ADDRESS 2001:db8::5
            0800 0800 02000000                                  # IFA_FLAGS IFA_F_NODAD",
        );
        assert_bytes(
            &emit(&dump_addresses_message(Some(Family::V6))),
            "0a 00 00 00 00000000 # ifaddrmsg: AF_INET6",
        );
    }
}
