//! The DHCPv6 messages of the daemon (RFC 8415, stateful addresses: one IA_NA), as pure
//! functions over bytes (`dhcproto`'s v6 wire format): SOLICIT, REQUEST, RENEW, REBIND and
//! RELEASE, and [`decode_reply6`], received bytes to a [`Lease6Event`], the path hostile input
//! takes (total, never panics).
//!
//! The client's DUID is a DUID-UUID (type 4) made from the SHA-256 of the attachment text
//! (`<containerID>/<network>/<ifname>`), the IAID from the next four bytes of it: stable for
//! an attachment across daemon restarts, distinct between attachments.

use std::net::{IpAddr, Ipv6Addr};

use cni::result::{IpConfig, Result100};
use cni::SpecVersion;
use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, Message, MessageType, OptionCode, Status, IANA, ORO,
};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use ipnet::{IpNet, Ipv6Net};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What identifies a DHCPv6 client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client6 {
    pub duid: Vec<u8>,
    pub iaid: u32,
}

/// A lease granted in a REPLY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease6Info {
    pub address: Ipv6Addr,
    pub server_duid: Vec<u8>,
    pub dns_servers: Vec<Ipv6Addr>,
    pub domain_search: Vec<String>,
    pub valid_secs: u32,
    pub t1_secs: u32,
    pub t2_secs: u32,
}

/// What a received datagram means for a client waiting on a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease6Event {
    /// An ADVERTISE offering `address` (or no address: the server only names itself).
    Advertise {
        server_duid: Vec<u8>,
        address: Option<Ipv6Addr>,
    },
    Reply(Lease6Info),
    /// A REPLY or ADVERTISE whose status says no (NoAddrsAvail, NoBinding, ...).
    Refused(String),
}

/// Why a datagram is no event for us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reply6Error {
    #[error("not a DHCPv6 message: {0}")]
    Malformed(String),
    #[error("for another transaction or client")]
    NotOurs,
    #[error("message type {0:?} is not an answer to a client")]
    Unexpected(MessageType),
    #[error("{0}")]
    Invalid(&'static str),
}

impl Client6 {
    pub fn new(attachment_text: &str) -> Client6 {
        let digest = Sha256::digest(attachment_text.as_bytes());
        let mut duid = vec![0, 4];
        duid.extend_from_slice(&digest[..16]);
        let iaid = u32::from_be_bytes([digest[16], digest[17], digest[18], digest[19]]);
        Client6 { duid, iaid }
    }

    fn message(
        &self,
        kind: MessageType,
        xid: u32,
        server: Option<&[u8]>,
        addr: Option<Ipv6Addr>,
    ) -> Vec<u8> {
        let mut msg = Message::new_with_id(kind, xid_bytes(xid));
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::ClientId(self.duid.clone()));
        if let Some(s) = server {
            opts.insert(DhcpOption::ServerId(s.to_vec()));
        }
        opts.insert(DhcpOption::ElapsedTime(0));
        if kind != MessageType::Release {
            opts.insert(DhcpOption::ORO(ORO {
                opts: vec![OptionCode::DomainNameServers, OptionCode::DomainSearchList],
            }));
        }
        let mut ia_opts = DhcpOptions::new();
        if let Some(addr) = addr {
            ia_opts.insert(DhcpOption::IAAddr(IAAddr {
                addr,
                preferred_life: 0,
                valid_life: 0,
                opts: DhcpOptions::new(),
            }));
        }
        opts.insert(DhcpOption::IANA(IANA {
            id: self.iaid,
            t1: 0,
            t2: 0,
            opts: ia_opts,
        }));
        let mut buf = Vec::with_capacity(200);
        msg.encode(&mut Encoder::new(&mut buf))
            .expect("a message we build encodes");
        buf
    }

    pub fn solicit(&self, xid: u32) -> Vec<u8> {
        self.message(MessageType::Solicit, xid, None, None)
    }

    pub fn request(&self, xid: u32, server_duid: &[u8], address: Option<Ipv6Addr>) -> Vec<u8> {
        self.message(MessageType::Request, xid, Some(server_duid), address)
    }

    /// RENEW to the server that granted the lease (`Some`), or REBIND to any (`None`).
    pub fn extend(&self, xid: u32, server_duid: Option<&[u8]>, address: Ipv6Addr) -> Vec<u8> {
        let kind = if server_duid.is_some() {
            MessageType::Renew
        } else {
            MessageType::Rebind
        };
        self.message(kind, xid, server_duid, Some(address))
    }

    pub fn release(&self, xid: u32, server_duid: &[u8], address: Ipv6Addr) -> Vec<u8> {
        self.message(MessageType::Release, xid, Some(server_duid), Some(address))
    }
}

/// The 24-bit transaction ID of a number.
pub fn xid_bytes(xid: u32) -> [u8; 3] {
    let b = xid.to_be_bytes();
    [b[1], b[2], b[3]]
}

fn status_of(opts: &DhcpOptions) -> Option<String> {
    match opts.get(OptionCode::StatusCode) {
        Some(DhcpOption::StatusCode(s)) if s.status != Status::Success => {
            Some(format!("{:?}: {}", s.status, s.msg))
        }
        _ => None,
    }
}

/// Reads a datagram as an answer to transaction `xid` of `client`. Pure and total.
pub fn decode_reply6(bytes: &[u8], xid: u32, client: &Client6) -> Result<Lease6Event, Reply6Error> {
    let msg = super::quiet_panic::quietly(|| Message::decode(&mut Decoder::new(bytes)))
        .map_err(|_| Reply6Error::Malformed("the decoder failed".into()))?
        .map_err(|e| Reply6Error::Malformed(e.to_string()))?;
    if msg.xid() != xid_bytes(xid) {
        return Err(Reply6Error::NotOurs);
    }
    let opts = msg.opts();
    match opts.get(OptionCode::ClientId) {
        Some(DhcpOption::ClientId(id)) if *id == client.duid => {}
        _ => return Err(Reply6Error::NotOurs),
    }
    let server_duid = match opts.get(OptionCode::ServerId) {
        Some(DhcpOption::ServerId(id)) if !id.is_empty() => id.clone(),
        _ => return Err(Reply6Error::Invalid("answer without server identifier")),
    };
    let kind = msg.msg_type();
    if kind != MessageType::Advertise && kind != MessageType::Reply {
        return Err(Reply6Error::Unexpected(kind));
    }
    if let Some(why) = status_of(opts) {
        return Ok(Lease6Event::Refused(why));
    }
    let ia = opts
        .get_all(OptionCode::IANA)
        .unwrap_or(&[])
        .iter()
        .find_map(|o| match o {
            DhcpOption::IANA(ia) if ia.id == client.iaid => Some(ia),
            _ => None,
        });
    let Some(ia) = ia else {
        return Ok(Lease6Event::Refused("no IA_NA for our IAID".into()));
    };
    if let Some(why) = status_of(&ia.opts) {
        return Ok(Lease6Event::Refused(why));
    }
    let addr = ia
        .opts
        .get_all(OptionCode::IAAddr)
        .unwrap_or(&[])
        .iter()
        .find_map(|o| match o {
            DhcpOption::IAAddr(a) if a.valid_life > 0 && is_unicast(a.addr) => Some(a),
            _ => None,
        });
    if kind == MessageType::Advertise {
        return Ok(Lease6Event::Advertise {
            server_duid,
            address: addr.map(|a| a.addr),
        });
    }
    let Some(addr) = addr else {
        return Ok(Lease6Event::Refused("REPLY without a valid address".into()));
    };
    let valid_secs = addr.valid_life;
    let preferred = addr.preferred_life.min(valid_secs).max(1);
    let mut t1 = if ia.t1 == 0 || ia.t1 == u32::MAX {
        preferred / 2
    } else {
        ia.t1
    };
    let mut t2 = if ia.t2 == 0 || ia.t2 == u32::MAX {
        (u64::from(preferred) * 8 / 10) as u32
    } else {
        ia.t2
    };
    if t2 > valid_secs {
        t2 = (u64::from(valid_secs) * 8 / 10) as u32;
    }
    if t1 > t2 {
        t1 = t2 / 2;
    }
    Ok(Lease6Event::Reply(Lease6Info {
        address: addr.addr,
        server_duid,
        dns_servers: match opts.get(OptionCode::DomainNameServers) {
            Some(DhcpOption::DomainNameServers(v)) => v.clone(),
            _ => Vec::new(),
        },
        domain_search: match opts.get(OptionCode::DomainSearchList) {
            Some(DhcpOption::DomainSearchList(names)) => names
                .iter()
                .map(|n| n.to_string().trim_end_matches('.').to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            _ => Vec::new(),
        },
        valid_secs,
        t1_secs: t1,
        t2_secs: t2,
    }))
}

fn is_unicast(a: Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast())
}

impl Lease6Info {
    /// The address (a /128: DHCPv6 tells no prefix length; the on-link prefix comes from
    /// router advertisements) and DNS from options 23 and 24.
    pub fn to_result(&self) -> Result100 {
        let mut r = Result100::new(SpecVersion::V1_0_0);
        r.ips.push(IpConfig {
            interface: None,
            address: IpNet::V6(Ipv6Net::new(self.address, 128).expect("128 is a valid prefix")),
            gateway: None,
        });
        r.dns.nameservers = self
            .dns_servers
            .iter()
            .map(|a| IpAddr::V6(*a).to_string())
            .collect();
        r.dns.search = self.domain_search.clone();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(kind: MessageType, xid: u32, client: &Client6, addr: Option<Ipv6Addr>) -> Vec<u8> {
        let mut m = Message::new_with_id(kind, xid_bytes(xid));
        m.opts_mut()
            .insert(DhcpOption::ClientId(client.duid.clone()));
        m.opts_mut()
            .insert(DhcpOption::ServerId(vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6]));
        m.opts_mut()
            .insert(DhcpOption::DomainNameServers(vec!["2001:db8::53"
                .parse()
                .unwrap()]));
        let mut ia = DhcpOptions::new();
        if let Some(addr) = addr {
            ia.insert(DhcpOption::IAAddr(IAAddr {
                addr,
                preferred_life: 100,
                valid_life: 200,
                opts: DhcpOptions::new(),
            }));
        }
        m.opts_mut().insert(DhcpOption::IANA(IANA {
            id: client.iaid,
            t1: 0,
            t2: 0,
            opts: ia,
        }));
        let mut buf = Vec::new();
        m.encode(&mut Encoder::new(&mut buf)).unwrap();
        buf
    }

    #[test]
    fn identity_and_replies() {
        let c = Client6::new("c1/net/eth0");
        assert_eq!(c, Client6::new("c1/net/eth0"));
        assert_ne!(c.duid, Client6::new("c2/net/eth0").duid);
        assert_eq!(&c.duid[..2], &[0, 4]);
        let a: Ipv6Addr = "2001:db8::105".parse().unwrap();
        let adv = decode_reply6(&reply(MessageType::Advertise, 9, &c, Some(a)), 9, &c).unwrap();
        assert!(matches!(adv, Lease6Event::Advertise { address: Some(x), .. } if x == a));
        let Lease6Event::Reply(info) =
            decode_reply6(&reply(MessageType::Reply, 9, &c, Some(a)), 9, &c).unwrap()
        else {
            panic!()
        };
        assert_eq!((info.t1_secs, info.t2_secs, info.valid_secs), (50, 80, 200));
        let r = serde_json::to_value(info.to_result()).unwrap();
        assert_eq!(r["ips"][0]["address"], "2001:db8::105/128");
        assert_eq!(r["dns"]["nameservers"][0], "2001:db8::53");
        assert!(matches!(
            decode_reply6(&reply(MessageType::Reply, 9, &c, None), 9, &c),
            Ok(Lease6Event::Refused(_))
        ));
        assert_eq!(
            decode_reply6(&reply(MessageType::Reply, 9, &c, Some(a)), 8, &c),
            Err(Reply6Error::NotOurs)
        );
        let other = Client6::new("x");
        assert_eq!(
            decode_reply6(&reply(MessageType::Reply, 9, &c, Some(a)), 9, &other),
            Err(Reply6Error::NotOurs)
        );
        let solicit = c.solicit(9);
        assert!(matches!(
            decode_reply6(&solicit, 9, &c),
            Err(Reply6Error::Invalid(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn decode6_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = decode_reply6(&bytes, 0, &Client6::new("c"));
        }
    }
}
