//! Route messages: `RTM_NEWROUTE`/`RTM_DELROUTE` bodies for a [`Route`] (with the defaults
//! of `ip route add`, or the wildcards of a delete), the route dump, and replies parsed
//! into [`Route`].

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use netlink_packet_core::Parseable;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;

use super::{address_family, RTM_NEWROUTE};
use crate::error::{NetlinkError, Result};
use crate::socket::Reply;
use crate::types::{Family, Route, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN};

/// `RTPROT_BOOT`, the protocol `ip route add` gives routes (and ours get).
const RTPROT_BOOT: u8 = 3;

/// The body of `RTM_NEWROUTE` (or, with `delete`, `RTM_DELROUTE`) for `route`.
pub(crate) fn route_message(route: &Route, delete: bool) -> RouteMessage {
    let mut msg = RouteMessage::default();
    let dst = route.dst.trunc();
    let h = &mut msg.header;
    h.address_family = address_family(Some(route.family()));
    h.destination_prefix_length = dst.prefix_len();
    let table = route.table.unwrap_or(RT_TABLE_MAIN);
    h.table = u8::try_from(table).unwrap_or(0);
    if delete {
        // Wildcards: the kernel matches any scope, protocol and type.
        h.scope = RouteScope::from(route.scope.unwrap_or(RT_SCOPE_NOWHERE));
        h.protocol = RouteProtocol::from(route.protocol.unwrap_or(0));
        h.kind = RouteType::Unspec;
    } else {
        h.scope = RouteScope::from(route.scope.unwrap_or(RT_SCOPE_UNIVERSE));
        h.protocol = RouteProtocol::from(route.protocol.unwrap_or(RTPROT_BOOT));
        h.kind = RouteType::Unicast;
    }
    let attrs = &mut msg.attributes;
    attrs.push(RouteAttribute::Table(table));
    if dst.prefix_len() > 0 {
        attrs.push(RouteAttribute::Destination(RouteAddress::from(dst.addr())));
    }
    if let Some(gw) = route.gateway {
        attrs.push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(oif) = route.oif {
        attrs.push(RouteAttribute::Oif(oif));
    }
    if let Some(src) = route.prefsrc {
        attrs.push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    if let Some(p) = route.priority {
        attrs.push(RouteAttribute::Priority(p));
    }
    let mut metrics = Vec::new();
    if let Some(mtu) = route.mtu {
        metrics.push(RouteMetric::Mtu(mtu));
    }
    if let Some(advmss) = route.advmss {
        metrics.push(RouteMetric::Advmss(advmss));
    }
    if !metrics.is_empty() && !delete {
        attrs.push(RouteAttribute::Metrics(metrics));
    }
    msg
}

/// The `RTM_GETROUTE` dump body for the routes of `family` (all families with `None`).
pub(crate) fn dump_routes_message(family: Option<Family>) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = address_family(family);
    msg
}

/// The IPv4 and IPv6 routes of the `RTM_NEWROUTE` messages of a reply, in order (a dump of
/// all families also has multicast and MPLS routes, which are skipped undecoded).
pub(crate) fn routes_from(op: &str, replies: &[Reply]) -> Result<Vec<Route>> {
    let mut routes = Vec::new();
    for reply in replies.iter().filter(|r| r.kind == RTM_NEWROUTE) {
        let fam = reply.payload.first().copied();
        if fam != Some(libc::AF_INET as u8) && fam != Some(libc::AF_INET6 as u8) {
            continue;
        }
        let msg =
            RouteMessage::parse(&reply.payload[..]).map_err(|e| NetlinkError::decode(op, e))?;
        routes.extend(route_from(msg));
    }
    Ok(routes)
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route_from(msg: RouteMessage) -> Option<Route> {
    let h = &msg.header;
    let unspecified: IpAddr = match h.address_family {
        AddressFamily::Inet => Ipv4Addr::UNSPECIFIED.into(),
        AddressFamily::Inet6 => std::net::Ipv6Addr::UNSPECIFIED.into(),
        _ => return None,
    };
    let mut dst = unspecified;
    let mut route = Route::new(IpNet::new(unspecified, 0).ok()?);
    route.table = Some(u32::from(h.table));
    route.scope = Some(h.scope.into());
    route.protocol = Some(h.protocol.into());
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = route_addr(a)?,
            RouteAttribute::Gateway(a) => route.gateway = route_addr(a),
            RouteAttribute::PrefSource(a) => route.prefsrc = route_addr(a),
            RouteAttribute::Oif(i) => route.oif = Some(*i),
            RouteAttribute::Priority(p) => route.priority = Some(*p),
            RouteAttribute::Table(t) => route.table = Some(*t),
            RouteAttribute::Metrics(metrics) => {
                for m in metrics {
                    match m {
                        RouteMetric::Mtu(v) => route.mtu = Some(*v),
                        RouteMetric::Advmss(v) => route.advmss = Some(*v),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    route.dst = IpNet::new(dst, h.destination_prefix_length).ok()?;
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::{assert_bytes, emit};

    #[test]
    #[cfg(target_endian = "little")]
    fn route_golden_bytes() {
        let route = Route::new("10.2.7.9/16".parse().unwrap())
            .via("10.1.0.1".parse().unwrap())
            .dev(3)
            .table(100)
            .priority(50);
        assert_bytes(
            &emit(&route_message(&route, false)),
            "02 10 00 00 64 03 00 01 00000000 # rtmsg: AF_INET, /16, table 100, boot, universe, unicast
            0800 0f00 64000000                # RTA_TABLE 100
            0800 0100 0a020000                # RTA_DST 10.2.0.0
            0800 0500 0a010001                # RTA_GATEWAY 10.1.0.1
            0800 0400 03000000                # RTA_OIF 3
            0800 0600 32000000                # RTA_PRIORITY 50",
        );
        let delete = Route::new("10.2.0.0/16".parse().unwrap()).dev(3);
        assert_bytes(
            &emit(&route_message(&delete, true)),
            "02 10 00 00 fe 00 ff 00 00000000 # rtmsg: AF_INET, /16, main, any protocol, any scope, any type
            0800 0f00 fe000000                # RTA_TABLE 254
            0800 0100 0a020000                # RTA_DST 10.2.0.0
            0800 0400 03000000                # RTA_OIF 3",
        );
        let v6 = Route::new("::/0".parse().unwrap())
            .via("2001:db8::1".parse().unwrap())
            .src("2001:db8::5".parse().unwrap())
            .table(1000)
            .scope(RT_SCOPE_UNIVERSE)
            .mtu(1400)
            .advmss(1360);
        assert_bytes(
            &emit(&route_message(&v6, false)),
            "0a 00 00 00 00 03 00 01 00000000                # rtmsg: AF_INET6, /0, table in RTA_TABLE, boot, universe, unicast
            0800 0f00 e8030000                               # RTA_TABLE 1000
            1400 0500 20010db8000000000000000000000001       # RTA_GATEWAY 2001:db8::1
            1400 0700 20010db8000000000000000000000005       # RTA_PREFSRC 2001:db8::5
            1400 0800                                        # RTA_METRICS
              0800 0200 78050000                             #   RTAX_MTU 1400
              0800 0800 50050000                             #   RTAX_ADVMSS 1360",
        );
        assert_bytes(
            &emit(&dump_routes_message(None)),
            "00 00 00 00 00 00 00 00 00000000 # rtmsg: AF_UNSPEC",
        );
    }
}
