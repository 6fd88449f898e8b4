//! Routes: a route as asked for or read back ([`Route`]), how an add treats an existing one
//! ([`RouteAdd`]), and the scope and table numbers callers name (`RT_SCOPE_*`,
//! `RT_TABLE_*`).

use ipnet::IpNet;
use std::net::IpAddr;

use super::Family;

/// Route scopes (`RT_SCOPE_*`).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
/// In a delete request: match routes of any scope.
pub const RT_SCOPE_NOWHERE: u8 = 255;
/// The main routing table (`RT_TABLE_MAIN`), where routes go unless told otherwise.
pub const RT_TABLE_MAIN: u32 = 254;
/// The local table (`RT_TABLE_LOCAL`): the kernel's routes to its own addresses.
pub const RT_TABLE_LOCAL: u32 = 255;

/// A route, as asked for or as read back from a dump.
///
/// In requests, `None` fields take the defaults of `ip route add`: table main, scope
/// universe, protocol boot, no metric. In a delete, `None` fields match any value. Read back,
/// `table`, `scope` and `protocol` are always set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination; host bits are dropped on the wire (`10.1.0.5/24` means `10.1.0.0/24`).
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    /// Output device index (`RTA_OIF`).
    pub oif: Option<u32>,
    /// Preferred source address (`RTA_PREFSRC`).
    pub prefsrc: Option<IpAddr>,
    /// `RT_SCOPE_*`.
    pub scope: Option<u8>,
    /// Routing table id.
    pub table: Option<u32>,
    /// Metric (`RTA_PRIORITY`).
    pub priority: Option<u32>,
    /// `RTPROT_*`.
    pub protocol: Option<u8>,
    /// `RTAX_MTU`.
    pub mtu: Option<u32>,
    /// `RTAX_ADVMSS`.
    pub advmss: Option<u32>,
}

impl Route {
    pub fn new(dst: IpNet) -> Route {
        Route {
            dst,
            gateway: None,
            oif: None,
            prefsrc: None,
            scope: None,
            table: None,
            priority: None,
            protocol: None,
            mtu: None,
            advmss: None,
        }
    }

    pub fn family(&self) -> Family {
        Family::of(&self.dst.addr())
    }

    pub fn via(mut self, gateway: IpAddr) -> Self {
        self.gateway = Some(gateway);
        self
    }

    pub fn dev(mut self, oif: u32) -> Self {
        self.oif = Some(oif);
        self
    }

    pub fn src(mut self, prefsrc: IpAddr) -> Self {
        self.prefsrc = Some(prefsrc);
        self
    }

    pub fn scope(mut self, scope: u8) -> Self {
        self.scope = Some(scope);
        self
    }

    pub fn table(mut self, table: u32) -> Self {
        self.table = Some(table);
        self
    }

    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = Some(priority);
        self
    }

    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    pub fn advmss(mut self, advmss: u32) -> Self {
        self.advmss = Some(advmss);
        self
    }

    /// The default route of the main table is this one's destination (`0.0.0.0/0`, `::/0`).
    pub fn is_default(&self) -> bool {
        self.dst.prefix_len() == 0
    }
}

/// How [`Netlink::add_route_with`](crate::Netlink::add_route_with) treats a route that
/// already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAdd {
    /// Fail with [`NetlinkError::Exists`](crate::NetlinkError::Exists) if a route with the
    /// same destination, table and metric exists (`ip route add`).
    Exclusive,
    /// Add next to existing routes (`NLM_F_CREATE` alone, Go netlink's `RouteAddEcmp`):
    /// only an identical route fails; for IPv6 a second gateway for the same destination and
    /// metric joins it as a multipath next hop.
    Append,
    /// Replace the route with the same destination, table and metric, or add it
    /// (`ip route replace`): idempotent.
    Replace,
}
