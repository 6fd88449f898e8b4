//! Connection tracking over ctnetlink (`NFNL_SUBSYS_CTNETLINK`): the entries of one address
//! family as their original-direction tuples ([`entries`]), and the deletion of entries by
//! tuple ([`delete`]), what `conntrack -L` and `conntrack -D` do, in the calling thread's
//! namespace. Which entries to delete is the caller's business.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::attr::{attributes, put_attr, NLA_F_NESTED};
use super::socket::{NfSocket, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

const NFGENMSG_LEN: usize = 4;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
/// `AF_INET`, `AF_INET6`: the families of a dump.
pub const FAMILY_IPV4: u8 = 2;
pub const FAMILY_IPV6: u8 = 10;
/// `AF_UNSPEC`: a dump of every family at once (one walk of the kernel's table).
pub const FAMILY_ANY: u8 = 0;
/// `IPPROTO_TCP`, `IPPROTO_UDP`, `IPPROTO_SCTP`.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_SCTP: u8 = 132;

/// A tracked connection, by its original-direction tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `IPPROTO_*`.
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Source and destination ports, for protocols that have them.
    pub ports: Option<(u16, u16)>,
    /// The conntrack zone (0 by default).
    pub zone: u16,
}

impl Entry {
    /// The original destination port, if the protocol has ports.
    pub fn dport(&self) -> Option<u16> {
        self.ports.map(|(_, d)| d)
    }
}

/// The entries of `family` ([`FAMILY_IPV4`], [`FAMILY_IPV6`], or [`FAMILY_ANY`] for both)
/// in this namespace's conntrack table. The kernel walks its whole table (shared by every
/// namespace) for each dump, whatever the family.
pub fn entries(family: u8) -> io::Result<Vec<Entry>> {
    let parts = NfSocket::open()?.request(
        NFNL_SUBSYS_CTNETLINK,
        IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_DUMP,
        family,
        &[],
    )?;
    Ok(parts
        .iter()
        .filter(|(kind, _)| *kind == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)
        .filter_map(|(_, payload)| parse_entry(payload.get(NFGENMSG_LEN..)?))
        .collect())
}

/// Deletes `entries` (each by its tuple and zone) on one socket; an entry already gone is
/// not an error. Returns how many were deleted. Entries without ports cannot be named this
/// way and are an `InvalidInput` error.
pub fn delete(entries: &[Entry]) -> io::Result<usize> {
    if entries.is_empty() {
        return Ok(0);
    }
    let mut socket = NfSocket::open()?;
    let mut deleted = 0;
    for entry in entries {
        let (family, attrs) = delete_attrs(entry)?;
        match socket.request(
            NFNL_SUBSYS_CTNETLINK,
            IPCTNL_MSG_CT_DELETE,
            NLM_F_REQUEST | NLM_F_ACK,
            family,
            &attrs,
        ) {
            Ok(_) => deleted += 1,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

/// The family and attributes of the deletion of `entry`.
fn delete_attrs(entry: &Entry) -> io::Result<(u8, Vec<u8>)> {
    let Some((sport, dport)) = entry.ports else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only entries with ports can be deleted by tuple",
        ));
    };
    let mut ip = Vec::new();
    let family = match (entry.src, entry.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            put_attr(&mut ip, CTA_IP_V4_SRC, &s.octets());
            put_attr(&mut ip, CTA_IP_V4_DST, &d.octets());
            FAMILY_IPV4
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            put_attr(&mut ip, CTA_IP_V6_SRC, &s.octets());
            put_attr(&mut ip, CTA_IP_V6_DST, &d.octets());
            FAMILY_IPV6
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source and destination of different families",
            ))
        }
    };
    let mut proto = Vec::new();
    put_attr(&mut proto, CTA_PROTO_NUM, &[entry.proto]);
    put_attr(&mut proto, CTA_PROTO_SRC_PORT, &sport.to_be_bytes());
    put_attr(&mut proto, CTA_PROTO_DST_PORT, &dport.to_be_bytes());
    let mut tuple = Vec::new();
    put_attr(&mut tuple, CTA_TUPLE_IP | NLA_F_NESTED, &ip);
    put_attr(&mut tuple, CTA_TUPLE_PROTO | NLA_F_NESTED, &proto);
    let mut attrs = Vec::new();
    put_attr(&mut attrs, CTA_TUPLE_ORIG | NLA_F_NESTED, &tuple);
    if entry.zone != 0 {
        put_attr(&mut attrs, CTA_ZONE, &entry.zone.to_be_bytes());
    }
    Ok((family, attrs))
}

/// An entry from the attributes of an `IPCTNL_MSG_CT_NEW` message.
fn parse_entry(attrs: &[u8]) -> Option<Entry> {
    let mut tuple = None;
    let mut zone = 0;
    for (ty, value) in attributes(attrs) {
        match ty {
            CTA_TUPLE_ORIG => tuple = Some(value),
            CTA_ZONE => zone = u16::from_be_bytes(value.try_into().ok()?),
            _ => {}
        }
    }
    let (mut src, mut dst, mut proto, mut sport, mut dport) = (None, None, None, None, None);
    for (ty, value) in attributes(tuple?) {
        match ty {
            CTA_TUPLE_IP => {
                for (t, v) in attributes(value) {
                    let addr = match t {
                        CTA_IP_V4_SRC | CTA_IP_V4_DST => {
                            IpAddr::from(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))
                        }
                        CTA_IP_V6_SRC | CTA_IP_V6_DST => {
                            IpAddr::from(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))
                        }
                        _ => continue,
                    };
                    if t == CTA_IP_V4_SRC || t == CTA_IP_V6_SRC {
                        src = Some(addr);
                    } else {
                        dst = Some(addr);
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (t, v) in attributes(value) {
                    match t {
                        CTA_PROTO_NUM => proto = v.first().copied(),
                        CTA_PROTO_SRC_PORT => sport = v.try_into().ok().map(u16::from_be_bytes),
                        CTA_PROTO_DST_PORT => dport = v.try_into().ok().map(u16::from_be_bytes),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(Entry {
        proto: proto?,
        src: src?,
        dst: dst?,
        ports: sport.zip(dport),
        zone,
    })
}

#[cfg(test)]
mod tests {
    use super::super::socket::request_frame;
    use super::*;
    use crate::golden::assert_bytes;

    fn udp(src: &str, dst: &str, sport: u16, dport: u16) -> Entry {
        Entry {
            proto: PROTO_UDP,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ports: Some((sport, dport)),
            zone: 0,
        }
    }

    /// The deletion of one UDP entry, with the attributes `conntrack -D -p udp -s 10.1.0.2
    /// -d 10.2.0.1 --sport 40000 --dport 53` sends for its tuple.
    #[test]
    #[cfg(target_endian = "little")]
    fn delete_golden_bytes() {
        let (family, attrs) = delete_attrs(&udp("10.1.0.2", "10.2.0.1", 40000, 53)).unwrap();
        let frame = request_frame(
            NFNL_SUBSYS_CTNETLINK,
            IPCTNL_MSG_CT_DELETE,
            NLM_F_REQUEST | NLM_F_ACK,
            1,
            family,
            &attrs,
        );
        assert_bytes(
            &frame,
            "48000000 0201 0500 01000000 00000000 # IPCTNL_MSG_CT_DELETE, REQUEST|ACK, seq 1
            02 00 0000                            # nfgenmsg: AF_INET
            3400 0180                             # CTA_TUPLE_ORIG
              1400 0180                           #   CTA_TUPLE_IP
                0800 0100 0a010002                #     CTA_IP_V4_SRC 10.1.0.2
                0800 0200 0a020001                #     CTA_IP_V4_DST 10.2.0.1
              1c00 0280                           #   CTA_TUPLE_PROTO
                0500 0100 11 000000               #     CTA_PROTO_NUM udp
                0600 0200 9c40 0000               #     CTA_PROTO_SRC_PORT 40000
                0600 0300 0035 0000               #     CTA_PROTO_DST_PORT 53",
        );
        let mut zoned = udp("fd00::2", "fd00::1", 1, 2);
        zoned.zone = 7;
        let (family, attrs) = delete_attrs(&zoned).unwrap();
        assert_eq!(family, FAMILY_IPV6);
        // The deletion's attributes parse back as the entry (a dump's message carries the
        // same tuple and zone attributes).
        assert_eq!(parse_entry(&attrs), Some(zoned));
        let mut icmp = zoned;
        icmp.ports = None;
        assert!(delete_attrs(&icmp).is_err());
    }
}
