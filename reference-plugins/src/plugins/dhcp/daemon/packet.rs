//! The DHCPv4 messages of the daemon, as pure functions over bytes (the wire format is
//! `dhcproto`'s): building DISCOVER, REQUEST (selecting, renewing, rebinding) and RELEASE,
//! and [`decode_reply`], received bytes to a [`LeaseEvent`], the one path hostile input takes
//! (fuzzable, never panics). [`LeaseInfo::to_result`] makes the CNI result of a lease.
//!
//! Every message carries the client identifier, the parameter request list (but RELEASE) and
//! the provided options; the BOOTP broadcast flag is set on DISCOVER and on REQUESTs sent
//! before the address is configured, so that servers broadcast their answers to a client
//! that has no address yet.

use std::net::{IpAddr, Ipv4Addr};

use cni::result::{Dns, IpConfig, Result100, Route};
use cni::SpecVersion;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode, UnknownOption};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::plugins::dhcp::protocol::ProvidedOption;

/// Lease time when the server gives none (upstream's default).
pub const DEFAULT_LEASE_SECS: u32 = 3600;
/// `scope link` in a route.
pub const SCOPE_LINK: u8 = 253;

/// What identifies the client in every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub mac: [u8; 6],
    /// Option 61's value: 0x00 then the attachment text, unless `provide` sets option 61.
    pub client_id: Vec<u8>,
    pub request: Vec<u8>,
    pub provide: Vec<ProvidedOption>,
}

impl Client {
    pub fn new(
        mac: [u8; 6],
        attachment_text: &str,
        request: Vec<u8>,
        provide: Vec<ProvidedOption>,
    ) -> Client {
        let client_id = match provide.iter().find(|o| o.code == 61) {
            Some(o) => o.value.as_bytes().to_vec(),
            None => {
                let mut id = vec![0u8];
                id.extend_from_slice(attachment_text.as_bytes());
                id
            }
        };
        Client {
            mac,
            client_id,
            request,
            provide,
        }
    }

    fn message(&self, xid: u32, kind: MessageType, ciaddr: Ipv4Addr, broadcast: bool) -> Message {
        let mut msg = Message::new_with_id(
            xid,
            ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &self.mac,
        );
        if broadcast {
            msg.set_flags(Flags::default().set_broadcast());
        }
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::ClientIdentifier(self.client_id.clone()));
        if kind != MessageType::Release {
            opts.insert(DhcpOption::ParameterRequestList(
                self.request.iter().map(|&c| OptionCode::from(c)).collect(),
            ));
            opts.insert(DhcpOption::MaxMessageSize(1500));
        }
        for o in self.provide.iter().filter(|o| o.code != 61) {
            opts.insert(DhcpOption::Unknown(UnknownOption::new(
                o.code.into(),
                o.value.as_bytes().to_vec(),
            )));
        }
        msg
    }

    /// DHCPDISCOVER, broadcast flag set.
    pub fn discover(&self, xid: u32) -> Vec<u8> {
        encode(&self.message(xid, MessageType::Discover, Ipv4Addr::UNSPECIFIED, true))
    }

    /// DHCPREQUEST answering an offer (SELECTING): requested address and server identifier.
    pub fn request_selecting(&self, xid: u32, offer: &Offer) -> Vec<u8> {
        let mut msg = self.message(xid, MessageType::Request, Ipv4Addr::UNSPECIFIED, true);
        msg.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(offer.address));
        msg.opts_mut()
            .insert(DhcpOption::ServerIdentifier(offer.server_id));
        encode(&msg)
    }

    /// DHCPREQUEST while RENEWING or REBINDING: `ciaddr` set, no requested address, no server
    /// identifier (RFC 2131 4.3.2).
    pub fn request_extend(&self, xid: u32, address: Ipv4Addr) -> Vec<u8> {
        encode(&self.message(xid, MessageType::Request, address, false))
    }

    /// DHCPRELEASE of `address` to `server`, sent from the address itself.
    pub fn release(&self, xid: u32, address: Ipv4Addr, server: Ipv4Addr) -> Vec<u8> {
        let mut msg = self.message(xid, MessageType::Release, address, false);
        msg.opts_mut().insert(DhcpOption::ServerIdentifier(server));
        encode(&msg)
    }
}

fn encode(msg: &Message) -> Vec<u8> {
    let mut buf = Vec::with_capacity(300);
    msg.encode(&mut Encoder::new(&mut buf))
        .expect("a message we build encodes");
    buf
}

/// An OFFER: the address and who offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub address: Ipv4Addr,
    pub server_id: Ipv4Addr,
}

/// What an ACK grants, all the result and the timers need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub server_id: Ipv4Addr,
    pub routers: Vec<Ipv4Addr>,
    /// Option 121 (destination, gateway).
    pub classless_routes: Vec<(Ipv4Net, Ipv4Addr)>,
    /// Option 33 (destination, gateway).
    pub static_routes: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub dns_servers: Vec<Ipv4Addr>,
    pub domain_name: Option<String>,
    pub domain_search: Vec<String>,
    pub lease_secs: u32,
    pub t1_secs: u32,
    pub t2_secs: u32,
}

/// What a received datagram means for a client waiting on `xid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseEvent {
    Offer(Offer),
    Ack(LeaseInfo),
    Nak {
        server_id: Option<Ipv4Addr>,
        message: Option<String>,
    },
}

/// Why a received datagram is no event for us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("not a DHCP message: {0}")]
    Malformed(String),
    #[error("not a BOOTREPLY")]
    NotReply,
    #[error("for another transaction or client")]
    NotOurs,
    #[error("message type {0:?} is not an answer to a client")]
    Unexpected(Option<MessageType>),
    #[error("{0}")]
    Invalid(&'static str),
}

/// Reads a received datagram as an answer to transaction `xid` of the client with hardware
/// address `mac`. Pure and total: any input gives an event or an error.
pub fn decode_reply(bytes: &[u8], xid: u32, mac: &[u8; 6]) -> Result<LeaseEvent, ReplyError> {
    let msg = super::quiet_panic::quietly(|| Message::decode(&mut Decoder::new(bytes)))
        .map_err(|_| ReplyError::Malformed("the decoder failed".into()))?
        .map_err(|e| ReplyError::Malformed(e.to_string()))?;
    if msg.opcode() != Opcode::BootReply {
        return Err(ReplyError::NotReply);
    }
    // `chaddr()` slices by `hlen`, which a hostile packet sets above 16: read the field only
    // for an Ethernet-sized address.
    if msg.xid() != xid || msg.hlen() != 6 || msg.chaddr() != &mac[..] {
        return Err(ReplyError::NotOurs);
    }
    let opts = msg.opts();
    let server_id = match opts.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    };
    match opts.msg_type() {
        Some(MessageType::Offer) => {
            let address = usable_address(msg.yiaddr())?;
            let server_id =
                server_id.ok_or(ReplyError::Invalid("offer without server identifier"))?;
            Ok(LeaseEvent::Offer(Offer { address, server_id }))
        }
        Some(MessageType::Ack) => Ok(LeaseEvent::Ack(lease_info(&msg, server_id)?)),
        Some(MessageType::Nak) => Ok(LeaseEvent::Nak {
            server_id,
            message: match opts.get(OptionCode::Message) {
                Some(DhcpOption::Message(m)) => Some(m.clone()),
                _ => None,
            },
        }),
        other => Err(ReplyError::Unexpected(other)),
    }
}

fn usable_address(ip: Ipv4Addr) -> Result<Ipv4Addr, ReplyError> {
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        Err(ReplyError::Invalid(
            "the offered address is not a unicast host address",
        ))
    } else {
        Ok(ip)
    }
}

/// The classful prefix of an address (RFC 2132 option 33 destinations; a missing option 1).
fn classful_prefix(ip: Ipv4Addr) -> u8 {
    match ip.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

fn lease_info(msg: &Message, server_id: Option<Ipv4Addr>) -> Result<LeaseInfo, ReplyError> {
    let address = usable_address(msg.yiaddr())?;
    let opts = msg.opts();
    let prefix_len = match opts.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(mask)) => {
            let bits = u32::from(*mask);
            let len = bits.leading_ones();
            if bits.checked_shl(len).unwrap_or(0) != 0 || len == 0 || len > 32 {
                return Err(ReplyError::Invalid("the subnet mask is not contiguous"));
            }
            len as u8
        }
        _ => classful_prefix(address),
    };
    let ips = |code| match opts.get(code) {
        Some(DhcpOption::Router(v) | DhcpOption::DomainNameServer(v)) => v.clone(),
        _ => Vec::new(),
    };
    let secs = |code| match opts.get(code) {
        Some(
            DhcpOption::AddressLeaseTime(s) | DhcpOption::Renewal(s) | DhcpOption::Rebinding(s),
        ) => Some(*s),
        _ => None,
    };
    let lease_secs = secs(OptionCode::AddressLeaseTime)
        .unwrap_or(DEFAULT_LEASE_SECS)
        .max(1);
    let mut t1_secs = secs(OptionCode::Renewal).unwrap_or(lease_secs / 2);
    let mut t2_secs =
        secs(OptionCode::Rebinding).unwrap_or((u64::from(lease_secs) * 85 / 100) as u32);
    if t2_secs > lease_secs {
        t2_secs = (u64::from(lease_secs) * 85 / 100) as u32;
    }
    if t1_secs > t2_secs {
        t1_secs = t2_secs / 2 + t2_secs % 2;
    }
    let server_id = server_id.unwrap_or(msg.siaddr());
    Ok(LeaseInfo {
        address,
        prefix_len,
        server_id,
        routers: ips(OptionCode::Router)
            .into_iter()
            .filter(|r| !r.is_unspecified())
            .collect(),
        classless_routes: match opts.get(OptionCode::ClasslessStaticRoute) {
            Some(DhcpOption::ClasslessStaticRoute(r)) => r.clone(),
            _ => Vec::new(),
        },
        static_routes: match opts.get(OptionCode::StaticRoutingTable) {
            Some(DhcpOption::StaticRoutingTable(r)) => r.clone(),
            _ => Vec::new(),
        },
        dns_servers: ips(OptionCode::DomainNameServer),
        domain_name: match opts.get(OptionCode::DomainName) {
            Some(DhcpOption::DomainName(d)) => Some(trim_dot(d)).filter(|d| !d.is_empty()),
            _ => None,
        },
        domain_search: match opts.get(OptionCode::DomainSearch) {
            Some(DhcpOption::DomainSearch(names)) => names
                .iter()
                .map(|n| trim_dot(&n.to_string()))
                .filter(|n| !n.is_empty())
                .collect(),
            _ => Vec::new(),
        },
        lease_secs,
        t1_secs,
        t2_secs,
    })
}

fn trim_dot(name: &str) -> String {
    name.trim_end_matches('\0')
        .trim_end_matches('.')
        .to_string()
}

impl LeaseInfo {
    /// The abbreviated IPAM result: the address with option 1's mask and the first router as
    /// gateway; routes from option 121 (a 0.0.0.0 gateway is a link-scoped route), else
    /// option 33 and a default route through the first router; every route with `priority`
    /// as metric; DNS from options 6, 15 and 119.
    pub fn to_result(&self, priority: Option<u32>) -> Result100 {
        let mut r = Result100::new(SpecVersion::V1_0_0);
        let address = Ipv4Net::new(self.address, self.prefix_len)
            .unwrap_or_else(|_| Ipv4Net::from(self.address));
        r.ips.push(IpConfig {
            interface: None,
            address: IpNet::V4(address),
            gateway: self.routers.first().map(|g| IpAddr::V4(*g)),
        });
        let route = |dst: Ipv4Net, gw: Ipv4Addr| Route {
            dst: IpNet::V4(dst),
            gw: (!gw.is_unspecified()).then_some(IpAddr::V4(gw)),
            mtu: None,
            advmss: None,
            priority,
            table: None,
            scope: gw.is_unspecified().then_some(SCOPE_LINK),
        };
        if !self.classless_routes.is_empty() {
            r.routes = self
                .classless_routes
                .iter()
                .map(|(dst, gw)| route(dst.trunc(), *gw))
                .collect();
        } else {
            for (dst, gw) in &self.static_routes {
                let net = Ipv4Net::new(*dst, classful_prefix(*dst)).expect("prefix <= 32");
                r.routes.push(route(net.trunc(), *gw));
            }
            if let Some(gw) = self.routers.first() {
                r.routes.push(route(Ipv4Net::default(), *gw));
            }
        }
        r.dns = Dns {
            nameservers: self.dns_servers.iter().map(|ip| ip.to_string()).collect(),
            domain: self.domain_name.clone(),
            search: self.domain_search.clone(),
            options: Vec::new(),
        };
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

    fn client() -> Client {
        Client::new(
            MAC,
            "c1/net/eth0",
            vec![3, 1, 121],
            vec![ProvidedOption {
                code: 12,
                value: "pod".into(),
            }],
        )
    }

    fn reply(kind: MessageType, xid: u32, opts: Vec<DhcpOption>) -> Vec<u8> {
        let mut m = Message::new_with_id(
            xid,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(10, 9, 0, 50),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &MAC,
        );
        m.set_opcode(Opcode::BootReply);
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        for o in opts {
            m.opts_mut().insert(o);
        }
        encode(&m)
    }

    #[test]
    fn requests_carry_identity_and_rfc_fields() {
        let c = client();
        let d = Message::decode(&mut Decoder::new(&c.discover(7))).unwrap();
        assert!(d.flags().broadcast());
        assert_eq!(
            d.opts().get(OptionCode::ClientIdentifier),
            Some(&DhcpOption::ClientIdentifier(b"\0c1/net/eth0".to_vec()))
        );
        match d.opts().get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) => assert_eq!(h, "pod"),
            other => panic!("{other:?}"),
        }
        let renew = Message::decode(&mut Decoder::new(
            &c.request_extend(8, Ipv4Addr::new(10, 9, 0, 50)),
        ))
        .unwrap();
        assert_eq!(renew.ciaddr(), Ipv4Addr::new(10, 9, 0, 50));
        assert!(renew.opts().get(OptionCode::RequestedIpAddress).is_none());
        assert!(renew.opts().get(OptionCode::ServerIdentifier).is_none());
        assert!(!renew.flags().broadcast());
        let rel = Message::decode(&mut Decoder::new(&c.release(
            9,
            Ipv4Addr::new(10, 9, 0, 50),
            Ipv4Addr::new(10, 9, 0, 1),
        )))
        .unwrap();
        assert_eq!(rel.opts().msg_type(), Some(MessageType::Release));
        assert_eq!(rel.ciaddr(), Ipv4Addr::new(10, 9, 0, 50));
    }

    #[test]
    fn ack_to_result() {
        let sid = Ipv4Addr::new(10, 9, 0, 1);
        let bytes = reply(
            MessageType::Ack,
            5,
            vec![
                DhcpOption::ServerIdentifier(sid),
                DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
                DhcpOption::Router(vec![sid]),
                DhcpOption::DomainNameServer(vec![Ipv4Addr::new(10, 9, 0, 53)]),
                DhcpOption::DomainName("example.test".into()),
                DhcpOption::AddressLeaseTime(120),
            ],
        );
        let LeaseEvent::Ack(info) = decode_reply(&bytes, 5, &MAC).unwrap() else {
            panic!()
        };
        assert_eq!((info.t1_secs, info.t2_secs), (60, 102));
        let r = serde_json::to_value(info.to_result(Some(5))).unwrap();
        assert_eq!(r["ips"][0]["address"], "10.9.0.50/24");
        assert_eq!(r["ips"][0]["gateway"], "10.9.0.1");
        assert_eq!(r["routes"][0]["dst"], "0.0.0.0/0");
        assert_eq!(r["routes"][0]["priority"], 5);
        assert_eq!(r["dns"]["nameservers"][0], "10.9.0.53");
        assert_eq!(r["dns"]["domain"], "example.test");

        let bytes = reply(
            MessageType::Ack,
            5,
            vec![
                DhcpOption::ServerIdentifier(sid),
                DhcpOption::Router(vec![sid]),
                DhcpOption::ClasslessStaticRoute(vec![
                    ("10.9.0.0/24".parse().unwrap(), Ipv4Addr::UNSPECIFIED),
                    ("0.0.0.0/0".parse().unwrap(), sid),
                ]),
            ],
        );
        let LeaseEvent::Ack(info) = decode_reply(&bytes, 5, &MAC).unwrap() else {
            panic!()
        };
        let r = info.to_result(None);
        assert_eq!(
            r.ips[0].address.to_string(),
            "10.9.0.50/8",
            "classful without option 1"
        );
        assert_eq!(r.routes.len(), 2);
        assert_eq!(r.routes[0].scope, Some(SCOPE_LINK));
        assert_eq!(r.routes[0].gw, None);
        assert_eq!(r.routes[1].gw, Some(IpAddr::V4(sid)));
    }

    #[test]
    fn foreign_and_broken_replies_are_refused() {
        let offer = reply(
            MessageType::Offer,
            5,
            vec![DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 9, 0, 1))],
        );
        assert!(matches!(
            decode_reply(&offer, 5, &MAC),
            Ok(LeaseEvent::Offer(_))
        ));
        assert_eq!(decode_reply(&offer, 6, &MAC), Err(ReplyError::NotOurs));
        assert_eq!(decode_reply(&offer, 5, &[9; 6]), Err(ReplyError::NotOurs));
        let no_sid = reply(MessageType::Offer, 5, vec![]);
        assert!(matches!(
            decode_reply(&no_sid, 5, &MAC),
            Err(ReplyError::Invalid(_))
        ));
        let ours = client().discover(5);
        assert_eq!(decode_reply(&ours, 5, &MAC), Err(ReplyError::NotReply));
        for cut in [0, 10, 100, 239, 240, 241, offer.len() - 1] {
            let _ = decode_reply(&offer[..cut], 5, &MAC);
        }
        // A hardware address length beyond chaddr's 16 bytes (found by fuzzing: dhcproto's
        // chaddr() panicked on it).
        let mut long_hlen = offer.clone();
        long_hlen[2] = 249;
        assert_eq!(decode_reply(&long_hlen, 5, &MAC), Err(ReplyError::NotOurs));
        let bad_mask = reply(
            MessageType::Ack,
            5,
            vec![DhcpOption::SubnetMask(Ipv4Addr::new(255, 0, 255, 0))],
        );
        assert!(matches!(
            decode_reply(&bad_mask, 5, &MAC),
            Err(ReplyError::Invalid(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = decode_reply(&bytes, 0, &MAC);
        }
    }
}
