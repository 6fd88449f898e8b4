//! The `ptp` plugin's work: a veth pair per container, routed rather than bridged.
//!
//! The kernel state after ADD is that of the upstream plugin:
//!
//! - a veth pair: the container end is `CNI_IFNAME`, the host end `veth` + 8 hex digits;
//!   `mtu` applies to both ends;
//! - in the container, each IPAM address with its prefix. The kernel's connected route for
//!   the prefix is replaced by a link-scope host route (`/32` or `/128`) to the gateway and a
//!   route for the prefix via the gateway, both with the address as preferred source, so
//!   everything goes through the host end, even traffic to neighbours in the same subnet.
//!   IPAM's routes (a default route, say) go via the gateway of their family;
//! - on the host end, each gateway as a `/32` (`/128`) address, and a host-scope route to
//!   each container address; forwarding on for each family in use;
//! - with `ipMasq`, masquerade for each container address ([`crate::firewall`]).
//!
//! The result lists the host end (name, MAC) and the container end (name, MAC, sandbox);
//! every `ips` entry points at the container end. The config's `dns` replaces IPAM's only
//! when given (see [`PtpConf::dns`]).
//!
//! Where this differs from upstream, on purpose:
//!
//! - ADD checks the configuration, the namespace, the interface name and the firewall
//!   backend before IPAM runs, and undoes everything it did when a later step fails (the
//!   veth pair, masquerade rules, the IPAM reservation). Upstream only releases the
//!   reservation and leaves the veth pair behind.
//! - An IPAM address without a gateway is refused with a clear message (upstream fails on
//!   a nil address half-way through).
//! - Two addresses of one family that share a gateway are accepted (upstream fails adding the
//!   gateway's address or route a second time).
//! - DEL tears masquerade down by the attachment's name (network, interface, container ID)
//!   whether or not the interface is still there, in both the nftables and the iptables
//!   layout; upstream skips it when the namespace or link is gone (catalogue E11). DEL runs
//!   every step even when IPAM DEL fails, and reports the first failure.
//! - CHECK also checks the masquerade rules when `ipMasq` is set.
//! - GC is forwarded to IPAM, and masquerade rules of this network whose attachment is not
//!   in the valid list are removed (upstream ptp has no GC).

use std::net::IpAddr;

use cni::invoke::delegate;
use cni::result::{CniResult, Interface, Result100};
use cni::{CmdArgs, Error};
use ipnet::IpNet;

pub mod config;

use self::config::PtpConf;
use crate::conf::DelConf;
use crate::firewall::{self, FirewallError, MasqSpec, Masquerade, Runner};
use crate::iface::{self, IfaceError, INTERNAL};
use crate::netlink::{
    AddressSpec, Netlink, NetlinkError, Route, RouteAdd, RT_SCOPE_HOST, RT_SCOPE_LINK,
    RT_TABLE_MAIN,
};

fn internal(msg: impl Into<String>) -> Error {
    Error::plugin(INTERNAL, msg)
}

fn fw_error(what: &str, e: FirewallError) -> Error {
    internal(format!("ptp: {what}: {e}"))
}

fn nl_error(what: impl std::fmt::Display, e: NetlinkError) -> Error {
    internal(format!("ptp: {what}: {e}"))
}

/// `CNI_NETNS`, which skel guarantees for ADD and CHECK.
fn netns(args: &CmdArgs) -> Result<&str, Error> {
    args.netns
        .as_deref()
        .ok_or_else(|| Error::invalid_env("ptp: CNI_NETNS is required"))
}

/// The masquerade spec of this attachment.
fn masq_spec(args: &CmdArgs, ips: impl IntoIterator<Item = IpNet>) -> MasqSpec {
    MasqSpec::new(
        args.conf.name.clone(),
        args.container_id.clone(),
        args.ifname.clone(),
        ips,
    )
}

/// A host route for `addr` (`/32` or `/128`).
fn host_net(addr: IpAddr) -> IpNet {
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    IpNet::new(addr, bits).expect("a full-length prefix is valid")
}

// ----- ADD -------------------------------------------------------------------------------

/// What ADD has done so far, for undoing it when a later step fails.
#[derive(Default)]
struct Undo {
    /// The IPAM reservation exists.
    ipam: bool,
    /// The veth pair (may) exist.
    veth: bool,
    /// Masquerade rules (may) exist for this spec.
    masq: Option<MasqSpec>,
}

/// ADD: see the module documentation.
pub fn add(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = PtpConf::from_cmd(args)?;
    let netns = netns(args)?;

    // Everything that can be checked without changing anything, before IPAM runs.
    let mut cont = Netlink::open_in(netns)
        .map_err(|e| nl_error(format_args!("cannot open netns {netns:?}"), e))?;
    match cont.link(args.ifname.as_str()) {
        Ok(_) => {
            return Err(internal(format!(
                "ptp: container already has an interface named {:?}",
                args.ifname
            )))
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(nl_error(format_args!("look up {:?}", args.ifname), e)),
    }
    let mut host = Netlink::open().map_err(|e| nl_error("open the host namespace", e))?;
    let masq = if conf.ip_masq {
        let spec = masq_spec(args, []);
        spec.validate()
            .map_err(|e| Error::invalid_config(format!("ptp: ipMasq: {e}")))?;
        let backend = conf.ip_masq_backend.map(|b| b.as_str());
        Some(
            firewall::select(backend, Runner::new())
                .map_err(|e| fw_error("no usable ipMasq backend", e))?,
        )
    } else {
        None
    };

    let ipam = match delegate::add(&conf.ipam_type, &args.stdin, args.version) {
        Ok(r) => r,
        Err(e) => {
            // The spec asks a caller to run the delegate's DEL after its ADD failed
            // (a half-made reservation is the delegate's to release).
            let _ = delegate::del(&conf.ipam_type, &args.stdin);
            return Err(e);
        }
    };
    let mut undo = Undo {
        ipam: true,
        ..Undo::default()
    };
    let outcome = add_after_ipam(
        args,
        &conf,
        netns,
        &mut cont,
        &mut host,
        masq.as_deref(),
        ipam,
        &mut undo,
    );
    if outcome.is_err() {
        rollback(args, &conf, &mut cont, masq.as_deref(), &undo);
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
fn add_after_ipam(
    args: &CmdArgs,
    conf: &PtpConf,
    netns: &str,
    cont: &mut Netlink,
    host: &mut Netlink,
    masq: Option<&dyn Masquerade>,
    ipam: CniResult,
    undo: &mut Undo,
) -> Result<CniResult, Error> {
    let mut result = ipam.to_v1();
    if result.ips.is_empty() {
        return Err(internal("ptp: IPAM plugin returned missing IP config"));
    }
    // ptp routes everything through the gateway: each address needs one.
    let mut gateways = Vec::with_capacity(result.ips.len());
    for ip in &result.ips {
        let gw = ip.gateway.ok_or_else(|| {
            internal(format!(
                "ptp: IPAM returned address {} without a gateway; ptp needs one per address \
                 (it becomes the host end's address)",
                ip.address
            ))
        })?;
        gateways.push((ip.address, gw));
    }

    iface::enable_forward_for(host.netns(), &result)
        .map_err(|e| internal(format!("ptp: could not enable IP forwarding: {e}")))?;

    let pair = match iface::setup_veth(cont, host, &args.ifname, None, conf.mtu, None) {
        Ok(pair) => pair,
        Err(e) => {
            // A name that turned out to be taken belongs to someone else; after any other
            // failure the pair may exist half set up, and goes.
            undo.veth = !matches!(e, IfaceError::Exists(_));
            return Err(internal(format!("ptp: {e}")));
        }
    };
    undo.veth = true;

    result.interfaces = vec![
        Interface {
            name: pair.host.name.clone(),
            mac: pair.host.mac_string(),
            ..Interface::default()
        },
        Interface {
            name: pair.container.name.clone(),
            mac: pair.container.mac_string(),
            sandbox: Some(netns.to_string()),
            ..Interface::default()
        },
    ];
    for ip in &mut result.ips {
        ip.interface = Some(1);
    }

    let index = pair.container.index;
    iface::configure_from_result(cont, index, &result, &args.ifname)
        .map_err(|e| internal(format!("ptp: {e}")))?;
    route_through_gateways(cont, index, &gateways)?;
    setup_host_end(host, pair.host.index, &pair.host.name, &gateways)?;

    if let Some(backend) = masq {
        let spec = masq_spec(args, result.ips.iter().map(|ip| ip.address));
        undo.masq = Some(spec.clone());
        backend
            .setup(&spec)
            .map_err(|e| fw_error("setting up ipMasq", e))?;
    }

    if let Some(dns) = &conf.dns {
        result.dns = dns.clone();
    }
    Ok(CniResult::V1(result))
}

/// In the container: replaces each prefix's connected route by a host route to the gateway
/// and a route for the prefix via the gateway, both with the address as source.
fn route_through_gateways(
    cont: &mut Netlink,
    index: u32,
    gateways: &[(IpNet, IpAddr)],
) -> Result<(), Error> {
    for (addr, gw) in gateways {
        let subnet = addr.trunc();
        let connected = Route::new(subnet).dev(index).table(RT_TABLE_MAIN);
        match cont.delete_route(&connected) {
            Ok(()) => {}
            // A /32 or /128 has no connected route; nor has an address whose route
            // another entry of the same prefix already replaced.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(nl_error(format_args!("delete route {subnet}"), e)),
        }
        let to_gw = Route::new(host_net(*gw))
            .dev(index)
            .scope(RT_SCOPE_LINK)
            .src(addr.addr());
        let via_gw = Route::new(subnet).dev(index).via(*gw).src(addr.addr());
        // Next to routes of the same destination on other interfaces (a second attachment
        // of the container to the network reaches the same gateway through its own link).
        for route in [to_gw, via_gw] {
            match cont.add_route_with(&route, RouteAdd::Append) {
                Ok(()) => {}
                // The same gateway and prefix for a second address of the family.
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(nl_error("add route in the container", e)),
            }
        }
    }
    Ok(())
}

/// On the host: each gateway as a full-length address of the host end, and a host route to
/// each container address through it.
fn setup_host_end(
    host: &mut Netlink,
    index: u32,
    name: &str,
    gateways: &[(IpNet, IpAddr)],
) -> Result<(), Error> {
    for (addr, gw) in gateways {
        match host.add_address(index, &AddressSpec::new(host_net(*gw))) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {}
            Err(e) => {
                return Err(nl_error(
                    format_args!("add gateway address {gw} to {name:?}"),
                    e,
                ))
            }
        }
        let route = Route::new(host_net(addr.addr()))
            .dev(index)
            .scope(RT_SCOPE_HOST);
        match host.add_route(&route) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {}
            Err(e) => {
                return Err(nl_error(
                    format_args!("add host route to {} via {name:?}", addr.addr()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// Undoes a failed ADD, best effort: masquerade rules, the veth pair (its host end, host
/// addresses and routes go with it), the IPAM reservation.
fn rollback(
    args: &CmdArgs,
    conf: &PtpConf,
    cont: &mut Netlink,
    masq: Option<&dyn Masquerade>,
    undo: &Undo,
) {
    if let (Some(backend), Some(spec)) = (masq, &undo.masq) {
        let _ = backend.teardown(spec);
    }
    if undo.veth {
        let _ = iface::delete_link_and_addrs(cont, &args.ifname);
    }
    if undo.ipam {
        let _ = delegate::del(&conf.ipam_type, &args.stdin);
    }
}

// ----- DEL -------------------------------------------------------------------------------

/// Whether opening the namespace failed because there is no namespace to work in: the path
/// is gone, or it is not a network namespace (a regular file, say).
fn no_namespace(e: &NetlinkError) -> bool {
    match e {
        NetlinkError::NetnsNotFound { .. } => true,
        NetlinkError::EnterNetns { source, .. } => source.raw_os_error() == Some(libc::EINVAL),
        _ => false,
    }
}

/// DEL: IPAM DEL first, then the container interface (the host end goes with it), then the
/// masquerade rules by name. Succeeds when the namespace or the interface is already gone.
pub fn del(args: &CmdArgs) -> Result<(), Error> {
    let conf = DelConf::parse(&args.stdin);
    let mut first: Option<Error> = None;
    // Found by name, deleted before the link; the clean-up overlaps the link deletion (see
    // `firewall::teardown_before_links`).
    let (masq, linger) = if conf.ip_masq {
        firewall::teardown_before_links(&masq_spec(args, []), &Runner::new())
    } else {
        (Ok(()), None)
    };

    if let Some(ipam_type) = &conf.ipam_type {
        if let Err(e) = delegate::del(ipam_type, &args.stdin) {
            first.get_or_insert(e);
        }
    }

    if let Some(netns) = args.netns.as_deref() {
        match Netlink::open_in(netns) {
            Ok(mut cont) => {
                if let Err(e) = iface::delete_link_and_addrs(&mut cont, &args.ifname) {
                    first.get_or_insert(internal(format!("ptp: {e}")));
                }
            }
            Err(e) if no_namespace(&e) => {}
            Err(e) => {
                first.get_or_insert(nl_error(format_args!("cannot open netns {netns:?}"), e));
            }
        }
    }

    drop(linger);
    if let Err(e) = masq {
        first.get_or_insert(fw_error("tearing down ipMasq", e));
    }

    first.map_or(Ok(()), Err)
}

// ----- CHECK -----------------------------------------------------------------------------

/// CHECK: IPAM CHECK, then the container interface, its addresses and routes against
/// `prevResult`, then the masquerade rules.
pub fn check(args: &CmdArgs) -> Result<(), Error> {
    let conf = PtpConf::from_cmd(args)?;
    let netns = netns(args)?;
    let mut cont = Netlink::open_in(netns)
        .map_err(|e| nl_error(format_args!("cannot open netns {netns:?}"), e))?;

    delegate::check(&conf.ipam_type, &args.stdin)?;

    let prev = args
        .prev_result()?
        .ok_or_else(|| Error::invalid_config("ptp: CHECK requires a prevResult"))?;
    let result = prev.to_v1();

    let Some(pos) = result
        .interfaces
        .iter()
        .position(|i| i.name == args.ifname && i.sandbox.as_deref() == Some(netns))
    else {
        return Err(internal(format!(
            "ptp: prevResult has no interface {:?} with sandbox {netns:?}",
            args.ifname
        )));
    };
    let expected = &result.interfaces[pos];
    check_container_link(&mut cont, expected)?;
    check_addresses(&mut cont, &args.ifname, pos, &result)?;
    check_routes(&mut cont, &result)?;

    if conf.ip_masq {
        let ips = result
            .ips
            .iter()
            .filter(|ip| ip.interface.is_none_or(|i| i == pos))
            .map(|ip| ip.address);
        let backend = conf.ip_masq_backend.map(|b| b.as_str());
        firewall::select(backend, Runner::new())
            .and_then(|b| b.check(&masq_spec(args, ips)))
            .map_err(|e| fw_error("checking ipMasq", e))?;
    }
    Ok(())
}

fn check_container_link(cont: &mut Netlink, expected: &Interface) -> Result<(), Error> {
    let link = match cont.link(expected.name.as_str()) {
        Ok(link) => link,
        Err(e) if e.is_not_found() => {
            return Err(internal(format!(
                "ptp: container interface {:?} of prevResult not found",
                expected.name
            )))
        }
        Err(e) => return Err(nl_error(format_args!("look up {:?}", expected.name), e)),
    };
    if !link.is_kind("veth") {
        return Err(internal(format!(
            "ptp: container interface {:?} is not a veth ({})",
            link.name,
            link.kind.as_deref().unwrap_or("no kind")
        )));
    }
    if let Some(want) = expected.mac.as_deref().filter(|m| !m.is_empty()) {
        let have = link.mac_string().unwrap_or_default();
        let same = iface::parse_mac(want).is_ok_and(|w| link.mac.as_deref() == Some(&w[..]));
        if !same {
            return Err(internal(format!(
                "ptp: interface {:?} has MAC {have}, prevResult says {want}",
                link.name
            )));
        }
    }
    Ok(())
}

/// Each address of the interface (entries without an index included) is on the link with
/// its prefix, and its prefix is routed.
fn check_addresses(
    cont: &mut Netlink,
    ifname: &str,
    pos: usize,
    result: &Result100,
) -> Result<(), Error> {
    let link = cont
        .link(ifname)
        .map_err(|e| nl_error(format_args!("look up {ifname:?}"), e))?;
    let have = cont
        .addresses(link.index, None)
        .map_err(|e| nl_error(format_args!("list addresses of {ifname:?}"), e))?;
    let routes = cont.routes(None).map_err(|e| nl_error("list routes", e))?;
    for ip in result
        .ips
        .iter()
        .filter(|ip| ip.interface.is_none_or(|i| i == pos))
    {
        if !have.iter().any(|a| a.net() == ip.address) {
            return Err(internal(format!(
                "ptp: address {} of prevResult is not on {ifname:?}",
                ip.address
            )));
        }
        let subnet = ip.address.trunc();
        let routed = routes
            .iter()
            .any(|r| r.dst == subnet && r.table == Some(RT_TABLE_MAIN));
        if !routed {
            return Err(internal(format!(
                "ptp: no route for {subnet} (the prefix of {}) in the container",
                ip.address
            )));
        }
    }
    Ok(())
}

/// Each route of the result is in the container's table (its destination, and its gateway
/// when it names one).
fn check_routes(cont: &mut Netlink, result: &Result100) -> Result<(), Error> {
    if result.routes.is_empty() {
        return Ok(());
    }
    let have = cont.routes(None).map_err(|e| nl_error("list routes", e))?;
    for want in &result.routes {
        let dst = want.dst.trunc();
        let table = want.table.unwrap_or(RT_TABLE_MAIN);
        let found = have.iter().any(|r| {
            r.dst == dst && r.table == Some(table) && want.gw.is_none_or(|gw| r.gateway == Some(gw))
        });
        if !found {
            return Err(internal(format!(
                "ptp: route {}{} of prevResult not found in the container",
                want.dst,
                want.gw.map(|g| format!(" via {g}")).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

// ----- STATUS and GC ---------------------------------------------------------------------

/// STATUS: whatever the IPAM plugin says.
pub fn status(args: &CmdArgs) -> Result<(), Error> {
    let conf = PtpConf::from_cmd(args)?;
    delegate::status(&conf.ipam_type, &args.stdin)
}

/// GC: forwarded to the IPAM plugin; with `ipMasq`, masquerade rules of this network whose
/// attachment is not valid any more are removed.
pub fn gc(args: &CmdArgs) -> Result<(), Error> {
    let conf = DelConf::parse(&args.stdin);
    let mut first: Option<Error> = None;
    if let Some(ipam_type) = &conf.ipam_type {
        if let Err(e) = delegate::gc(ipam_type, &args.stdin) {
            first.get_or_insert(e);
        }
    }
    if conf.ip_masq {
        if let Err(e) = firewall::gc_masquerade(&args.conf, Runner::new()) {
            first.get_or_insert(fw_error("removing stale ipMasq rules", e));
        }
    }
    first.map_or(Ok(()), Err)
}

// ----- the plugin ------------------------------------------------------------------------

/// The `ptp` plugin, for [`cni::skel::plugin_main`].
pub struct Ptp;

impl cni::Plugin for Ptp {
    fn about(&self) -> String {
        crate::about("ptp")
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        add(args)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        check(args)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        del(args)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        status(args)
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        gc(args)
    }
}

/// What `src/bin/ptp.rs` runs.
pub const PLUGIN: Ptp = Ptp;
