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
//!   layout; upstream skips it when the namespace or link is gone (UPSTREAM-6). DEL runs
//!   every step even when IPAM DEL fails, and reports the first failure.
//! - CHECK also checks the masquerade rules when `ipMasq` is set.
//! - GC is forwarded to IPAM, and masquerade rules of this network whose attachment is not
//!   in the valid list are removed (upstream ptp has no GC).

use std::net::IpAddr;

use cni::invoke::delegate;
use cni::result::{CniResult, Interface};
use cni::{CmdArgs, Error};
use ipnet::IpNet;

pub mod config;
pub mod plan;

use self::config::PtpConf;
use self::plan::{AddPlan, DelPlan};
use crate::check::{check_mac, Expected};
use crate::delegate::Masquerade as GcMasquerade;
use crate::error::{internal, Context, FirstFailure};
use crate::firewall::{self, MasqSpec, Masquerade, Runner};
use crate::iface::{self, IfaceError};
use crate::netlink::{
    AddressSpec, Netlink, Route, RouteAdd, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_TABLE_MAIN,
};
use crate::netns;
use crate::plugins::Verbs;
use crate::rollback::Rollback;

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

/// ADD: see the module documentation.
pub fn add(args: &CmdArgs) -> Result<CniResult, Error> {
    let plan = AddPlan::new(args)?;
    let (conf, netns) = (&plan.conf, plan.netns.as_str());

    // Everything that can be checked without changing anything, before IPAM runs.
    let mut cont = netns::open_path(netns)?;
    match cont.link(args.ifname.as_str()) {
        Ok(_) => {
            return Err(internal(format!(
                "ptp: container already has an interface named {:?}",
                args.ifname
            )))
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e).with_context(|| format!("ptp: look up {:?}", args.ifname)),
    }
    let mut host = Netlink::open().context("ptp: open the host namespace")?;
    let masq = if let Some(spec) = &plan.masq {
        spec.validate()
            .map_err(|e| Error::invalid_config(format!("ptp: ipMasq: {e}")))?;
        let backend = conf.ip_masq_backend.map(|b| b.as_str());
        Some(firewall::select(backend, Runner::new()).context("ptp: no usable ipMasq backend")?)
    } else {
        None
    };

    let mut rollback = Rollback::new("ptp", &mut cont);
    // Recorded before the call: the spec asks a caller to run the delegate's DEL after its
    // ADD failed too (a half-made reservation is the delegate's to release).
    rollback.on_failure("IPAM ADD", |_: &mut Netlink| {
        delegate::del(&conf.ipam_type, &args.stdin)
    });
    let ipam = delegate::add(&conf.ipam_type, &args.stdin, args.version)?;
    let result = add_after_ipam(args, &plan, &mut rollback, &mut host, masq.as_deref(), ipam)?;
    rollback.commit();
    Ok(result)
}

fn add_after_ipam<'a>(
    args: &'a CmdArgs,
    plan: &AddPlan,
    rollback: &mut Rollback<'a, Netlink>,
    host: &mut Netlink,
    masq: Option<&'a dyn Masquerade>,
    ipam: CniResult,
) -> Result<CniResult, Error> {
    let (conf, netns) = (&plan.conf, plan.netns.as_str());
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
        .context("ptp: could not enable IP forwarding")?;

    let ifname = args.ifname.as_str();
    let setup = iface::setup_veth(rollback.ctx(), host, ifname, None, conf.mtu, None);
    // A name that turned out to be taken belongs to someone else; after any other outcome
    // the pair may exist, maybe half set up, and goes on failure.
    if !matches!(setup, Err(IfaceError::Exists(_))) {
        rollback.on_failure("veth pair", move |cont: &mut Netlink| {
            iface::delete_link_and_addrs(cont, ifname).map(drop)
        });
    }
    let pair = setup.context("ptp")?;

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
    let cont = rollback.ctx();
    iface::configure_from_result(cont, index, &result, ifname).context("ptp")?;
    route_through_gateways(cont, index, &gateways)?;
    setup_host_end(host, pair.host.index, &pair.host.name, &gateways)?;

    if let (Some(backend), Some(spec)) = (masq, &plan.masq) {
        let mut spec = spec.clone();
        spec.ips = result.ips.iter().map(|ip| ip.address).collect();
        let outcome = backend.setup(&spec);
        rollback.on_failure("ipMasq rules", move |_: &mut Netlink| {
            backend.teardown(&spec)
        });
        outcome.context("ptp: setting up ipMasq")?;
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
            Err(e) => return Err(e).with_context(|| format!("ptp: delete route {subnet}")),
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
                Err(e) => return Err(e).context("ptp: add route in the container"),
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
                return Err(e).with_context(|| format!("ptp: add gateway address {gw} to {name:?}"))
            }
        }
        let route = Route::new(host_net(addr.addr()))
            .dev(index)
            .scope(RT_SCOPE_HOST);
        match host.add_route(&route) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("ptp: add host route to {} via {name:?}", addr.addr())
                })
            }
        }
    }
    Ok(())
}

// ----- DEL -------------------------------------------------------------------------------

/// DEL: IPAM DEL, then the container interface (the host end goes with it), while the
/// masquerade rules are torn down by name around them. Every step runs; the first failure is
/// reported. Succeeds when the namespace or the interface is already gone.
pub fn del(args: &CmdArgs) -> Result<(), Error> {
    let plan = DelPlan::new(args);
    let conf = &plan.conf;
    let delete_attachment = || {
        let mut failure = FirstFailure::default();
        if let Some(ipam_type) = &conf.ipam_type {
            failure.note(delegate::del(ipam_type, &args.stdin));
        }
        failure.note(netns::delete_container_link(args));
        failure
    };
    let (masq, mut failure) = if let Some(spec) = &plan.masq {
        firewall::teardown_around(spec, &Runner::new(), delete_attachment)
    } else {
        (Ok(()), delete_attachment())
    };
    failure.note(masq.context("ptp: tearing down ipMasq"));
    failure.into_result()
}

// ----- CHECK -----------------------------------------------------------------------------

/// CHECK: IPAM CHECK, then the container interface (a veth with `prevResult`'s MAC), its
/// addresses and routes against `prevResult`, then the masquerade rules.
pub fn check(args: &CmdArgs) -> Result<(), Error> {
    let conf = PtpConf::from_cmd(args)?;
    let mut cont = netns::open(args)?;
    delegate::check(&conf.ipam_type, &args.stdin)?;
    let want = Expected::from_args(args, "ptp")?;

    let name = &want.interface().name;
    let link = match cont.link(name.as_str()) {
        Ok(link) => link,
        Err(e) if e.is_not_found() => {
            return Err(internal(format!(
                "ptp: container interface {name:?} of prevResult not found"
            )))
        }
        Err(e) => return Err(e).with_context(|| format!("ptp: look up {name:?}")),
    };
    if !link.is_kind("veth") {
        return Err(internal(format!(
            "ptp: container interface {:?} is not a veth ({})",
            link.name,
            link.kind.as_deref().unwrap_or("no kind")
        )));
    }
    check_mac("ptp: container interface", want.interface(), &link)?;
    want.check_addresses(&mut cont, &link)?;
    want.check_routes(&mut cont)?;

    if conf.ip_masq {
        let backend = conf.ip_masq_backend.map(|b| b.as_str());
        firewall::select(backend, Runner::new())
            .and_then(|b| b.check(&masq_spec(args, want.addresses())))
            .context("ptp: checking ipMasq")?;
    }
    Ok(())
}

// ----- the plugin ------------------------------------------------------------------------

/// What `src/bin/ptp.rs` runs. STATUS: whatever the IPAM plugin says, once the configuration
/// is valid. GC: forwarded to the IPAM plugin; with `ipMasq`, masquerade rules of this
/// network whose attachment is not valid any more are removed.
pub const PLUGIN: Verbs = Verbs {
    name: "ptp",
    add,
    check,
    del,
    status: |args| {
        PtpConf::from_cmd(args)?;
        crate::delegate::status(args)
    },
    gc: |args| crate::delegate::gc(args, GcMasquerade::OwnedWithIpMasq),
};
