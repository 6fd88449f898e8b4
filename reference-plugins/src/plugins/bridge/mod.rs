//! The `bridge` plugin's work: a Linux bridge in the host namespace, and per attachment a
//! veth pair whose host end is a port of the bridge and whose other end is `CNI_IFNAME` in
//! the container. The kernel state it leaves is upstream's:
//!
//! - **ADD**: the bridge is created when missing (MTU, `vlan_filtering` only when VLANs are
//!   configured; another process creating it at the same moment is no error) or reused (it
//!   must be a bridge), optionally made promiscuous, `accept_ra` off, set up. A veth pair
//!   goes between the container (`CNI_IFNAME`, the requested MAC) and the host (`veth` +
//!   8 hex digits); the host end joins the bridge with hairpin and isolation as configured
//!   and, with VLANs, its VLAN table set (default VLAN removed unless
//!   `preserveDefaultVlan`, access `vlan`, trunk VLANs, native VLAN 1 for a trunk without
//!   `vlan`). With `macspoofchk` the bridge drops frames from the port whose source MAC is
//!   not the container's ([`spoofcheck`]). With IPAM: the delegate's result, every address
//!   on interface 2, gateways computed (`isGateway`: the first address of each subnet when
//!   IPAM names none), a default route per family (`isDefaultGateway`, unless IPAM returned
//!   one with a gateway), the container's DAD/ARP sysctls, then addresses, link up and
//!   routes in the container ([`iface::configure_from_result`]); the gateway addresses go
//!   on the bridge (or on a `<bridge>.<vlan>` port with `vlan`), where another IPv4 address
//!   (or an overlapping IPv6 prefix) is an error unless `forceAddress` replaces it, and the
//!   bridge's MAC is pinned; forwarding is turned on per family; `ipMasq` installs
//!   masquerade rules ([`crate::firewall`]). Without IPAM the container end is only set up
//!   (not even that with `disableContainerInterface`). The plugin then waits up to ~2.5 s
//!   for the host port to be operationally up.
//!   The result lists the bridge, the host veth and the container veth (and the VLAN
//!   gateway port when made), every address on interface 2; a set `dns` in the
//!   configuration replaces IPAM's.
//!   Any failure undoes this attachment's part (masquerade, IPAM reservation with an IPAM
//!   DEL also after a failed IPAM ADD, spoof check, veth pair) before it is reported; a
//!   bridge this ADD created goes too unless another attachment's port joined it meanwhile
//!   (upstream leaves it); an existing bridge and its gateway addresses are shared and stay.
//! - **DEL**: IPAM DEL runs (first, as upstream, while the container link exists: a DHCP
//!   release leaves through it), the container veth goes (with its peer), spoof-check and
//!   masquerade rules of the attachment are removed (found by name and comment, not by
//!   address, so they go even when the namespace is gone; before the link, so that the
//!   kernel's clean-up of both overlaps). A missing namespace, link or rule is no error; the
//!   bridge stays, as upstream leaves it.
//! - **CHECK**: IPAM CHECK, then `prevResult` against the kernel ([`check`]).
//! - **STATUS**: forwarded to IPAM when there is one.
//! - **GC**: forwarded to IPAM when there is one; with `ipMasq`, nftables masquerade rules of
//!   the network whose attachment is not listed as valid are removed ([`gc`]).

mod check;
pub mod config;
pub mod plan;
pub mod spoofcheck;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cni::invoke::delegate;
use cni::result::{Interface, Result100, Route as ResultRoute};
use cni::{CmdArgs, CniResult, Error, SpecVersion};
use ipnet::IpNet;

use self::config::BridgeConf;
use self::plan::{AddPlan, DelPlan};
use crate::delegate::Masquerade as GcMasquerade;
use crate::error::{internal, Context, FirstFailure};
use crate::firewall::{self, Runner};
use crate::iface::{self, IfaceError};
use crate::netlink::{
    AddressSpec, BridgePort, BridgeVlan, Family, Link, LinkSpec, Netlink, VlanTable,
};
use crate::netns;
use crate::plugins::Verbs;
use crate::rollback::Rollback;

pub use check::check;

/// How long ADD waits, at most, for the host end of the veth to be operationally up
/// (upstream sleeps 0, 50, 500, 1000 and 1000 ms between looks).
const PORT_UP_TIMEOUT: Duration = Duration::from_millis(2550);
/// How often it looks.
const PORT_UP_INTERVAL: Duration = Duration::from_millis(10);

fn mac_bytes(link: &Link) -> Option<[u8; 6]> {
    link.mac.as_deref().and_then(|m| m.try_into().ok())
}

// ----- the bridge --------------------------------------------------------------------------

/// Creates the bridge or reuses the existing one (see the module documentation). Returns
/// it as read after creation, before any port joined, and whether this call created it.
fn ensure_bridge(host: &mut Netlink, conf: &BridgeConf) -> Result<(Link, bool), Error> {
    let name = conf.bridge.as_str();
    let failed = |e: String| internal(format!("failed to create bridge {name:?}: {e}"));
    let mut spec = LinkSpec::bridge(name, conf.vlan_filtering().then_some(true));
    spec.mtu = conf.mtu;
    let created = match host.create_link(&spec) {
        Ok(()) => true,
        // Already there, or created by a concurrent ADD a moment ago: reuse it.
        Err(e) if e.is_exists() => false,
        Err(e) => return Err(failed(format!("could not add {name:?}: {e}"))),
    };
    if conf.promisc_mode {
        host.set_promisc(name, true)
            .map_err(|e| failed(format!("could not set promiscuous mode on {name:?}: {e}")))?;
    }
    let br = bridge_by_name(host, name).map_err(|e| failed(e.msg))?;
    // The plugin owns the bridge's routes; upstream ignores a failure here too.
    let _ = iface::sysctl_set(
        host.netns(),
        &format!("net/ipv6/conf/{name}/accept_ra"),
        "0",
    );
    host.set_up(br.index)
        .map_err(|e| failed(format!("could not set {name:?} up: {e}")))?;
    Ok((br, created))
}

/// After a failed ADD that created the bridge: deletes it again unless a port joined it
/// meanwhile (another attachment's ADD uses it), so a config error leaves no bridge behind.
fn remove_unused_bridge(host: &mut Netlink, br: &Link) {
    let Ok(links) = host.links() else { return };
    if links.iter().any(|l| l.master == Some(br.index)) {
        return;
    }
    let _ = host.delete_link(br.index);
}

/// The link `name`, which must be a bridge.
pub(crate) fn bridge_by_name(nl: &mut Netlink, name: &str) -> Result<Link, Error> {
    let link = nl
        .link(name)
        .map_err(|e| internal(format!("could not look up {name:?}: {e}")))?;
    if !link.is_kind("bridge") {
        return Err(internal(format!(
            "{name:?} already exists but is not a bridge"
        )));
    }
    Ok(link)
}

/// How a port joins the bridge.
struct PortSetup<'a> {
    hairpin: bool,
    isolated: bool,
    vlan: Option<u16>,
    trunk: &'a [u16],
    preserve_default_vlan: bool,
}

/// Makes link `port` (named `name`) a port of bridge `br` with `setup`'s settings.
fn join_bridge(
    host: &mut Netlink,
    port: u32,
    name: &str,
    br: &Link,
    setup: &PortSetup<'_>,
) -> Result<(), Error> {
    host.set_master(port, br.index)
        .with_context(|| format!("failed to connect {name:?} to bridge {:?}", br.name))?;
    let opts = BridgePort {
        hairpin: Some(setup.hairpin),
        isolated: Some(setup.isolated),
        ..BridgePort::default()
    };
    host.set_bridge_port(port, &opts)
        .with_context(|| format!("failed to set hairpin mode and isolation of {name:?}"))?;
    let vlan_err = |what: &str| format!("failed to {what} on interface {name:?}");
    if (setup.vlan.is_some() || !setup.trunk.is_empty()) && !setup.preserve_default_vlan {
        for v in host
            .bridge_vlans(port)
            .with_context(|| vlan_err("list the VLANs"))?
        {
            host.bridge_vlan_del(port, v.vid, VlanTable::Port)
                .with_context(|| vlan_err("remove the default VLAN"))?;
        }
    }
    if let Some(vid) = setup.vlan {
        host.bridge_vlan_add(port, BridgeVlan::access(vid), VlanTable::Port)
            .with_context(|| vlan_err("set up the VLAN tag"))?;
    }
    for &vid in setup.trunk {
        host.bridge_vlan_add(port, BridgeVlan::tagged(vid), VlanTable::Port)
            .with_context(|| vlan_err("set up the trunk VLAN tags"))?;
    }
    if setup.vlan.is_none() && !setup.trunk.is_empty() {
        // A trunk without `vlan` gets native VLAN 1 (upstream's compatibility rule).
        host.bridge_vlan_add(port, BridgeVlan::access(1), VlanTable::Port)
            .with_context(|| vlan_err("set up the native VLAN"))?;
    }
    Ok(())
}

/// The host veth `<bridge>.<vlan>` that carries the gateway addresses with `vlan`: made
/// (both ends in the host namespace, the peer a port of the bridge on VLAN `vlan`) when
/// missing.
fn ensure_vlan_interface(
    host: &mut Netlink,
    br: &Link,
    name: &str,
    vlan: u16,
    preserve_default_vlan: bool,
) -> Result<Link, Error> {
    match host.link(name) {
        Ok(link) => return Ok(link),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(internal(format!("failed to find interface {name:?}: {e}"))),
    }
    let failed = |e: String| internal(format!("failed to create vlan gateway {name:?}: {e}"));
    let mut other = Netlink::open().map_err(|e| failed(e.to_string()))?;
    let pair = match iface::setup_veth(&mut other, host, name, None, br.mtu, None) {
        Ok(pair) => pair,
        // A concurrent ADD made it a moment ago: use that one.
        Err(IfaceError::Exists(e)) => return host.link(name).map_err(|_| failed(e)),
        Err(e) => return Err(failed(e.to_string())),
    };
    let setup = PortSetup {
        hairpin: false,
        isolated: false,
        vlan: Some(vlan),
        trunk: &[],
        preserve_default_vlan,
    };
    join_bridge(host, pair.host.index, &pair.host.name, br, &setup)?;
    host.set_up(pair.container.index)
        .with_context(|| format!("failed to set {name:?} up"))?;
    host.link(pair.container.index)
        .with_context(|| format!("failed to look up {name:?}"))
}

/// Puts gateway address `gw` on `link` (see the module documentation) and pins the link's
/// MAC to `mac` (the bridge otherwise takes the lowest port MAC, which changes as ports
/// come and go).
fn ensure_addr(
    nl: &mut Netlink,
    link: &Link,
    gw: IpNet,
    force: bool,
    mac: Option<[u8; 6]>,
) -> Result<(), Error> {
    let family = Family::of(&gw.addr());
    let name = &link.name;
    let addrs = nl
        .addresses(link.index, Some(family))
        .context("could not get list of IP addresses")?;
    for a in addrs {
        let have = a.net();
        if have == gw {
            return Ok(());
        }
        // Several IPv6 prefixes may live on the bridge as long as they do not overlap.
        let conflicts =
            family == Family::V4 || have.contains(&gw.addr()) || gw.contains(&have.addr());
        if conflicts {
            if !force {
                return Err(internal(format!(
                    "{name:?} already has an IP address different from {gw}"
                )));
            }
            match nl.delete_address(link.index, have) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(internal(format!(
                        "could not remove IP address {have} from {name:?}: {e}"
                    )))
                }
            }
        }
    }
    match nl.add_address(link.index, &AddressSpec::new(gw).with_default_broadcast()) {
        Ok(()) => {}
        // A concurrent ADD put the same address there first.
        Err(e) if e.is_exists() => {}
        Err(e) => {
            return Err(internal(format!(
                "could not add IP address to {name:?}: {e}"
            )))
        }
    }
    // A bridge whose ports all left has no address (all zero) until the next one joins:
    // then the one it has now, taken from that port, is pinned instead.
    let mac = match mac {
        Some(m) if m != [0; 6] => Some(m),
        _ => nl
            .link(link.index)
            .ok()
            .as_ref()
            .and_then(mac_bytes)
            .filter(|m| *m != [0; 6]),
    };
    if let Some(mac) = mac {
        nl.set_mac(link.index, mac)
            .with_context(|| format!("could not set the MAC of {name:?}"))?;
    }
    Ok(())
}

// ----- gateways ----------------------------------------------------------------------------

/// The gateway addresses (with their subnet's prefix) to put on the bridge, per family.
#[derive(Debug, Default, PartialEq, Eq)]
struct Gateways {
    v4: Vec<IpNet>,
    v6: Vec<IpNet>,
}

/// The first address of `net`'s subnet after the network address.
fn first_host(net: &IpNet) -> IpAddr {
    match net.network() {
        IpAddr::V4(a) => IpAddr::from(u32::from(a).wrapping_add(1).to_be_bytes()),
        IpAddr::V6(a) => IpAddr::from(u128::from(a).wrapping_add(1).to_be_bytes()),
    }
}

fn default_net(addr: &IpAddr) -> IpNet {
    match addr {
        IpAddr::V4(_) => "0.0.0.0/0".parse().expect("valid"),
        IpAddr::V6(_) => "::/0".parse().expect("valid"),
    }
}

/// Points every address at the container interface (index 2), fills in missing gateways
/// (`isGateway`), adds a default route per family (`isDefaultGateway`, unless one with a
/// gateway is there) and collects the bridge's gateway addresses.
fn calc_gateways(result: &mut Result100, conf: &BridgeConf) -> Gateways {
    let mut gws = Gateways::default();
    let (mut default4, mut default6) = (false, false);
    for i in 0..result.ips.len() {
        let ip = &mut result.ips[i];
        ip.interface = Some(2);
        if ip.gateway.is_none() && conf.is_gateway {
            ip.gateway = Some(first_host(&ip.address));
        }
        let (address, gateway) = (ip.address, ip.gateway);
        let v4 = address.addr().is_ipv4();
        let found = if v4 { &mut default4 } else { &mut default6 };
        if conf.is_default_gateway {
            let dflt = default_net(&address.addr());
            if !*found {
                *found = result
                    .routes
                    .iter()
                    .any(|r| r.gw.is_some() && r.dst == dflt);
            }
            if !*found {
                result.routes.push(ResultRoute::new(dflt, gateway));
                *found = true;
            }
        }
        if conf.is_gateway {
            if let Some(gw) = gateway {
                let net = IpNet::new(gw, address.prefix_len()).expect("same family, same prefix");
                if v4 {
                    gws.v4.push(net);
                } else {
                    gws.v6.push(net);
                }
            }
        }
    }
    gws
}

// ----- ADD ---------------------------------------------------------------------------------

/// ADD (see the module documentation).
pub fn add(args: &CmdArgs) -> Result<CniResult, Error> {
    let plan = AddPlan::new(args)?;
    let (conf, netns) = (&plan.conf, plan.netns.as_str());
    let mut host = Netlink::open().context("cannot open netlink")?;
    let (br, created) = ensure_bridge(&mut host, conf)?;
    let mut cont = match netns::open_path(netns) {
        Ok(c) => c,
        Err(e) => {
            if created {
                remove_unused_bridge(&mut host, &br);
            }
            return Err(e);
        }
    };
    let mut rollback = Rollback::new("bridge", &mut cont);
    match add_attachment(args, &plan, &mut host, &mut rollback, &br) {
        Ok(result) => {
            rollback.commit();
            Ok(result)
        }
        Err(e) => {
            // The attachment's part first (its port leaves the bridge), then the bridge.
            drop(rollback);
            if created {
                remove_unused_bridge(&mut host, &br);
            }
            Err(e)
        }
    }
}

/// The attachment's part of ADD: everything it makes is recorded in `rollback`.
fn add_attachment<'a>(
    args: &'a CmdArgs,
    plan: &'a AddPlan,
    host: &mut Netlink,
    rollback: &mut Rollback<'a, Netlink>,
    br: &Link,
) -> Result<CniResult, Error> {
    let (conf, netns) = (&plan.conf, plan.netns.as_str());
    let ifname = args.ifname.as_str();
    let mac = conf.mac.map(|m| m.addr.0);
    let pair = iface::setup_veth(rollback.ctx(), host, ifname, None, conf.mtu, mac)
        .map_err(|e| internal(e.to_string()))?;
    rollback.on_failure("container veth", move |cont: &mut Netlink| {
        match cont.delete_link(ifname) {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    });
    let setup = PortSetup {
        hairpin: conf.hairpin_mode,
        isolated: conf.port_isolation,
        vlan: conf.vlan,
        trunk: conf.trunk_vlans(),
        preserve_default_vlan: conf.preserve_default_vlan,
    };
    join_bridge(host, pair.host.index, &pair.host.name, br, &setup)?;

    let cont_mac = pair.container.mac_string();
    let mut result = Result100::new(SpecVersion::LATEST);
    result.interfaces = vec![
        Interface {
            name: br.name.clone(),
            mac: br.mac_string(),
            ..Interface::default()
        },
        Interface {
            name: pair.host.name.clone(),
            mac: pair.host.mac_string(),
            ..Interface::default()
        },
        Interface {
            name: ifname.to_string(),
            mac: cont_mac.clone(),
            sandbox: Some(netns.to_string()),
            ..Interface::default()
        },
    ];

    if let Some(sc) = plan.spoofcheck.clone() {
        let mac = cont_mac.as_deref().unwrap_or_default();
        let outcome = sc.setup(&pair.host.name, mac);
        rollback.on_failure("macspoofchk rules", move |_: &mut Netlink| sc.teardown());
        outcome.context("failed to set up macspoofchk")?;
    }

    if let Some(ipam) = &conf.ipam_type {
        add_addresses(args, plan, ipam, host, rollback, br, &pair, &mut result)?;
    } else if !conf.disable_container_interface {
        rollback
            .ctx()
            .set_up(pair.container.index)
            .with_context(|| format!("failed to set {ifname:?} up"))?;
    }

    let host_veth = if conf.disable_container_interface {
        host.link(pair.host.index)
            .with_context(|| format!("failed to look up {:?}", pair.host.name))?
    } else {
        wait_port_up(host, &pair.host)?
    };
    // The host end's MAC may have changed; the bridge's changes when its first port joins.
    result.interfaces[1].mac = host_veth.mac_string();
    result.interfaces[0].mac = bridge_by_name(host, &conf.bridge)?.mac_string();
    if let Some(dns) = &conf.dns {
        result.dns = dns.clone();
    }
    let result = CniResult::V1(result);
    // A result the requested version cannot carry (no address below 0.3.0) fails here, while
    // this ADD can still be undone, rather than in skel after it.
    result.convert_to(args.version).map_err(|e| {
        Error::incompatible_version(format!("cannot express the result in {}", args.version))
            .with_details(e)
    })?;
    Ok(result)
}

/// The IPAM part of ADD: the delegate's addresses on the container end, the gateways on the
/// bridge (or its VLAN port), forwarding, and masquerading.
#[allow(clippy::too_many_arguments)]
fn add_addresses<'a>(
    args: &'a CmdArgs,
    plan: &AddPlan,
    ipam: &'a str,
    host: &mut Netlink,
    rollback: &mut Rollback<'a, Netlink>,
    br: &Link,
    pair: &iface::VethPair,
    result: &mut Result100,
) -> Result<(), Error> {
    let conf = &plan.conf;
    let ifname = args.ifname.as_str();
    // Recorded before the call: a delegate that fails ADD gets its DEL too (ADD-8).
    rollback.on_failure("IPAM ADD", move |_: &mut Netlink| {
        delegate::del(ipam, &args.stdin)
    });
    let ipam_result = delegate::add(ipam, &args.stdin, args.version)?.to_v1();
    result.ips = ipam_result.ips;
    result.routes = ipam_result.routes;
    result.dns = ipam_result.dns;
    if result.ips.is_empty() {
        return Err(internal("IPAM plugin returned missing IP config"));
    }
    let gws = calc_gateways(result, conf);

    let cont = rollback.ctx();
    // Best effort, as upstream: a missing sysctl is not worth failing for.
    let _ = iface::set_dad(cont.netns(), ifname, conf.enable_dad);
    let _ = iface::set_arp_notify(cont.netns(), ifname, true);
    iface::configure_from_result(cont, pair.container.index, result, ifname)
        .with_context(|| format!("failed to configure {ifname:?}"))?;

    if conf.is_gateway {
        put_gateways(plan, host, br, &gws, result)?;
    }

    if let Some(spec) = &plan.masq {
        let backend = firewall::select(conf.ip_masq_backend.map(|b| b.as_str()), Runner::new())
            .context("ipMasq")?;
        let mut spec = spec.clone();
        spec.ips = result.ips.iter().map(|ip| ip.address).collect();
        let outcome = backend.setup(&spec);
        rollback.on_failure("ipMasq rules", move |_: &mut Netlink| {
            backend.teardown(&spec)
        });
        outcome.context("failed to set up ipMasq")?;
    }
    Ok(())
}

/// The gateway addresses on the bridge, or on its `<bridge>.<vlan>` port with `vlan` (then
/// listed in the result), and forwarding for each family that has one.
fn put_gateways(
    plan: &AddPlan,
    host: &mut Netlink,
    br: &Link,
    gws: &Gateways,
    result: &mut Result100,
) -> Result<(), Error> {
    let conf = &plan.conf;
    let pin = mac_bytes(br);
    let mut vlan_listed = false;
    for (family, list) in [(Family::V4, &gws.v4), (Family::V6, &gws.v6)] {
        for gw in list {
            match (conf.vlan, &plan.vlan_port) {
                (Some(vlan), Some(port)) => {
                    let link =
                        ensure_vlan_interface(host, br, port, vlan, conf.preserve_default_vlan)?;
                    if !vlan_listed {
                        vlan_listed = true;
                        result.interfaces.push(Interface {
                            name: link.name.clone(),
                            mac: link.mac_string(),
                            ..Interface::default()
                        });
                    }
                    let own = mac_bytes(&link);
                    ensure_addr(host, &link, *gw, conf.force_address, own).map_err(|e| {
                        internal(format!(
                            "failed to set vlan interface for bridge with addr: {}",
                            e.msg
                        ))
                    })?;
                }
                _ => ensure_addr(host, br, *gw, conf.force_address, pin)
                    .map_err(|e| internal(format!("failed to set bridge addr: {}", e.msg)))?,
            }
        }
        if !list.is_empty() {
            iface::enable_ip_forward(host.netns(), family)
                .context("failed to enable forwarding")?;
        }
    }
    Ok(())
}

/// Waits until the host end of the veth is operationally up.
fn wait_port_up(host: &mut Netlink, port: &Link) -> Result<Link, Error> {
    let deadline = Instant::now() + PORT_UP_TIMEOUT;
    loop {
        let link = host
            .link(port.index)
            .with_context(|| format!("failed to look up {:?}", port.name))?;
        if link.is_oper_up() {
            return Ok(link);
        }
        if Instant::now() >= deadline {
            return Err(internal(format!(
                "bridge port {:?} in error state: operational state {}",
                port.name,
                link.oper_state
                    .map_or("unknown".to_string(), |s| s.to_string())
            )));
        }
        std::thread::sleep(PORT_UP_INTERVAL);
    }
}

// ----- DEL ---------------------------------------------------------------------------------

/// DEL (see the module documentation). Every step runs; the first failure is reported.
pub fn del(args: &CmdArgs) -> Result<(), Error> {
    let plan = DelPlan::new(args);
    let conf = &plan.conf;
    let delete_attachment = || {
        let mut failure = FirstFailure::default();
        // IPAM first, as upstream, while the container link exists: dhcp's release leaves
        // through it.
        if let Some(ipam) = &conf.ipam_type {
            failure.note(delegate::del(ipam, &args.stdin));
        }
        failure.note(netns::delete_container_link(args));
        if let Some(sc) = &plan.spoofcheck {
            failure.note(sc.teardown().context("failed to tear down macspoofchk"));
        }
        failure
    };
    // The masquerade rules are found by name, without addresses, and deleted around the rest.
    let (masq, mut failure) = if let Some(spec) = &plan.masq {
        firewall::teardown_around(spec, &Runner::new(), delete_attachment)
    } else {
        (Ok(()), delete_attachment())
    };
    failure.note(masq.context("failed to tear down ipMasq"));
    failure.into_result()
}

// ----- the plugin --------------------------------------------------------------------------

/// What `src/bin/bridge.rs` runs. STATUS is the IPAM plugin's answer, or ready without one.
/// GC is forwarded to the IPAM plugin, which drops reservations of attachments not listed;
/// with `ipMasq`, the nftables masquerade rules of this network that belong to no listed
/// attachment are removed (upstream bridge has no GC). Only the nftables layout names the
/// interface in its rules; iptables chains of a stale attachment go with its DEL. Spoof-check
/// chains carry no network name, so they are left to DEL as well.
pub const PLUGIN: Verbs = Verbs {
    name: "bridge",
    add,
    check,
    del,
    status: crate::delegate::status,
    gc: |args| crate::delegate::gc(args, GcMasquerade::OwnedWithIpMasq),
};

#[cfg(test)]
mod tests {
    use super::*;
    use cni::args::CniArgs;
    use cni::result::IpConfig;

    fn conf(extra: &str) -> BridgeConf {
        let json = format!(
            r#"{{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{{"type":"host-local"}}{extra}}}"#
        );
        BridgeConf::parse(json.as_bytes(), &CniArgs::default()).unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn result(ips: &[(&str, Option<&str>)], routes: &[(&str, Option<&str>)]) -> Result100 {
        let mut r = Result100::new(SpecVersion::LATEST);
        r.ips = ips
            .iter()
            .map(|(a, g)| IpConfig {
                interface: None,
                address: net(a),
                gateway: g.map(|g| g.parse().unwrap()),
            })
            .collect();
        r.routes = routes
            .iter()
            .map(|(d, g)| ResultRoute::new(net(d), g.map(|g| g.parse().unwrap())))
            .collect();
        r
    }

    #[test]
    fn first_host_of_subnets() {
        assert_eq!(first_host(&net("10.1.2.77/24")).to_string(), "10.1.2.1");
        assert_eq!(first_host(&net("10.1.2.77/16")).to_string(), "10.1.0.1");
        assert_eq!(first_host(&net("fd00:1::99/64")).to_string(), "fd00:1::1");
        assert_eq!(first_host(&net("10.0.0.5/32")).to_string(), "10.0.0.6");
    }

    #[test]
    fn gateways_without_is_gateway() {
        let mut r = result(&[("10.1.0.5/24", None)], &[]);
        let gws = calc_gateways(&mut r, &conf(""));
        assert_eq!(gws, Gateways::default());
        assert_eq!(r.ips[0].interface, Some(2));
        assert_eq!(r.ips[0].gateway, None);
        assert!(r.routes.is_empty());
    }

    #[test]
    fn gateways_filled_in_and_collected() {
        let mut r = result(
            &[
                ("10.1.0.5/24", None),
                ("10.2.0.5/16", Some("10.2.0.254")),
                ("fd00::5/64", None),
            ],
            &[],
        );
        let gws = calc_gateways(&mut r, &conf(r#","isGateway":true"#));
        assert_eq!(gws.v4, vec![net("10.1.0.1/24"), net("10.2.0.254/16")]);
        assert_eq!(gws.v6, vec![net("fd00::1/64")]);
        assert_eq!(r.ips[0].gateway, Some("10.1.0.1".parse().unwrap()));
        assert!(r.ips.iter().all(|ip| ip.interface == Some(2)));
        assert!(r.routes.is_empty(), "isGateway alone adds no route");
    }

    #[test]
    fn default_routes_once_per_family_unless_ipam_has_one() {
        let mut r = result(
            &[
                ("10.1.0.5/24", None),
                ("10.2.0.5/24", None),
                ("fd00::5/64", None),
            ],
            &[("10.9.0.0/16", Some("10.1.0.7"))],
        );
        calc_gateways(&mut r, &conf(r#","isDefaultGateway":true"#));
        let defaults: Vec<(String, Option<String>)> = r
            .routes
            .iter()
            .filter(|x| x.dst.prefix_len() == 0)
            .map(|x| (x.dst.to_string(), x.gw.map(|g| g.to_string())))
            .collect();
        assert_eq!(
            defaults,
            vec![
                ("0.0.0.0/0".to_string(), Some("10.1.0.1".to_string())),
                ("::/0".to_string(), Some("fd00::1".to_string())),
            ]
        );

        // IPAM's own default route with a gateway wins; one without a gateway does not.
        let mut r = result(&[("10.1.0.5/24", None)], &[("0.0.0.0/0", Some("10.1.0.9"))]);
        calc_gateways(&mut r, &conf(r#","isDefaultGateway":true"#));
        assert_eq!(r.routes.len(), 1);
        let mut r = result(&[("10.1.0.5/24", None)], &[("0.0.0.0/0", None)]);
        calc_gateways(&mut r, &conf(r#","isDefaultGateway":true"#));
        assert_eq!(r.routes.len(), 2);
        assert_eq!(r.routes[1].gw, Some("10.1.0.1".parse().unwrap()));
    }
}
