//! Route operations: dump, add (exclusively, appending or replacing), delete.

use super::Netlink;
use crate::error::Result;
use crate::socket::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use crate::types::{Family, Route, RouteAdd};
use crate::wire::route as wire;
use crate::wire::{RTM_DELROUTE, RTM_GETROUTE, RTM_NEWROUTE};

impl Netlink {
    /// Routes of every table, IPv4 and/or IPv6 (the local table and the kernel's own
    /// routes included; filter on [`Route::table`], [`Route::oif`]...). Multipath routes
    /// are reported without gateway.
    pub fn routes(&mut self, family: Option<Family>) -> Result<Vec<Route>> {
        let msg = wire::dump_routes_message(family);
        let op = "list routes";
        let replies = self.socket.dump(op, RTM_GETROUTE, &msg)?;
        let mut routes = wire::routes_from(op, &replies)?;
        routes.retain(|route| family.is_none() || family == Some(route.family()));
        Ok(routes)
    }

    /// Adds a route exclusively ([`RouteAdd::Exclusive`]).
    pub fn add_route(&mut self, route: &Route) -> Result<()> {
        self.add_route_with(route, RouteAdd::Exclusive)
    }

    /// Adds or replaces a route ([`RouteAdd::Replace`]): the same call twice succeeds.
    pub fn replace_route(&mut self, route: &Route) -> Result<()> {
        self.add_route_with(route, RouteAdd::Replace)
    }

    /// Adds a route the way `how` says.
    pub fn add_route_with(&mut self, route: &Route, how: RouteAdd) -> Result<()> {
        let flags = match how {
            RouteAdd::Exclusive => NLM_F_CREATE | NLM_F_EXCL,
            RouteAdd::Append => NLM_F_CREATE,
            RouteAdd::Replace => NLM_F_CREATE | NLM_F_REPLACE,
        };
        let op = format!("add route {}", describe_route(route));
        let msg = wire::route_message(route, false);
        self.socket
            .request(&op, RTM_NEWROUTE, flags, &msg)
            .map(drop)
    }

    /// Deletes the first route matching `route` (its `None` fields match anything; table
    /// defaults to main). A missing route is
    /// [`NetlinkError::NotFound`](crate::NetlinkError::NotFound).
    pub fn delete_route(&mut self, route: &Route) -> Result<()> {
        let op = format!("delete route {}", describe_route(route));
        let msg = wire::route_message(route, true);
        self.socket.request(&op, RTM_DELROUTE, 0, &msg).map(drop)
    }
}

/// `10.0.0.0/8 via 10.1.0.1 dev index 3 table 254`, for error messages.
fn describe_route(r: &Route) -> String {
    let mut s = r.dst.trunc().to_string();
    if let Some(gw) = r.gateway {
        s.push_str(&format!(" via {gw}"));
    }
    if let Some(oif) = r.oif {
        s.push_str(&format!(" dev index {oif}"));
    }
    if let Some(src) = r.prefsrc {
        s.push_str(&format!(" src {src}"));
    }
    if let Some(t) = r.table {
        s.push_str(&format!(" table {t}"));
    }
    if let Some(p) = r.priority {
        s.push_str(&format!(" metric {p}"));
    }
    s
}
