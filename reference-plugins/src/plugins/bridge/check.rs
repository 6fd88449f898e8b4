//! CHECK: the IPAM plugin's CHECK, then the `prevResult` against the kernel.
//!
//! - the bridge (the result's interface named like the configured bridge) exists in the host
//!   namespace, outside any sandbox, is a bridge, has the listed MAC, and is promiscuous
//!   exactly when `promiscMode` says so;
//! - the container interface (named `CNI_IFNAME`, sandbox equal to `CNI_NETNS`) exists in
//!   the namespace, is a veth with the listed MAC, and is up (unless
//!   `disableContainerInterface`);
//! - among the other host interfaces of the result, one is a veth that is the container
//!   veth's peer and a port of the bridge, with the listed MAC;
//! - every address of the container interface is on it, with a route to its subnet; every
//!   route of the result is in the container's routing table (its own table when it names
//!   one), with its gateway when it has one;
//! - with `ipMasq` the masquerade rules of every address are in place, with `macspoofchk`
//!   the spoof-check rules (neither is checked upstream: resources the plugin owns, CHECK-4).
//!
//! Interfaces the result lists for other sandboxes, or that are not veths, are skipped: a
//! later plugin may have added them (CHECK-2).

use cni::result::{Interface, Result100};
use cni::{CmdArgs, Error};
use ipnet::IpNet;

use super::config::BridgeConf;
use super::spoofcheck::SpoofCheck;
use super::{bridge_by_name, fail, netns_of, open_netns};
use crate::firewall::{self, MasqSpec, Runner};
use crate::netlink::{Family, Link, Netlink, RT_TABLE_MAIN};

use cni::invoke::delegate;

/// MAC strings compare as addresses (any case, any of Go's separators).
fn same_mac(listed: &str, link: &Link) -> bool {
    match (crate::iface::parse_mac(listed), link.mac.as_deref()) {
        (Ok(a), Some(b)) => a[..] == *b,
        _ => false,
    }
}

fn check_mac(what: &str, intf: &Interface, link: &Link) -> Result<(), Error> {
    match intf.mac.as_deref() {
        Some(m) if !m.is_empty() && !same_mac(m, link) => Err(fail(format!(
            "{what} {:?}: MAC {m} in prevResult, {} in the kernel",
            intf.name,
            link.mac_string().unwrap_or_default()
        ))),
        _ => Ok(()),
    }
}

fn unsandboxed(intf: &Interface) -> bool {
    intf.sandbox.as_deref().is_none_or(str::is_empty)
}

/// CHECK (see the module documentation).
pub fn check(args: &CmdArgs) -> Result<(), Error> {
    let conf = BridgeConf::from_cmd(args)?;
    let netns = netns_of(args)?;
    let mut cont = open_netns(netns)?;
    if let Some(ipam) = &conf.ipam_type {
        delegate::check(ipam, &args.stdin)?;
    }
    let prev = args
        .prev_result()?
        .ok_or_else(|| Error::invalid_config("bridge: CHECK requires a prevResult"))?;
    let result = prev.to_v1();
    let mut host = Netlink::open().map_err(|e| fail(format!("cannot open netlink: {e}")))?;

    // The bridge.
    let br_intf = result
        .interfaces
        .iter()
        .rev()
        .find(|i| i.name == conf.bridge && unsandboxed(i))
        .ok_or_else(|| {
            fail(format!(
                "prevResult lists no host interface for bridge {:?}",
                conf.bridge
            ))
        })?;
    let br = bridge_by_name(&mut host, &conf.bridge)?;
    check_mac("bridge", br_intf, &br)?;
    if br.is_promisc() != conf.promisc_mode {
        return Err(fail(format!(
            "bridge {:?}: promiscMode is {} but the bridge is{} promiscuous",
            br.name,
            conf.promisc_mode,
            if br.is_promisc() { "" } else { " not" }
        )));
    }

    // The container end.
    let cont_pos = result
        .interfaces
        .iter()
        .position(|i| i.name == args.ifname && i.sandbox.as_deref() == Some(netns))
        .ok_or_else(|| {
            fail(format!(
                "prevResult lists no interface {:?} with sandbox {netns:?}",
                args.ifname
            ))
        })?;
    let cont_intf = &result.interfaces[cont_pos];
    let cont_link = cont.link(args.ifname.as_str()).map_err(|e| {
        fail(format!(
            "container interface {:?} not found: {e}",
            args.ifname
        ))
    })?;
    if !cont_link.is_kind("veth") {
        return Err(fail(format!(
            "container interface {:?} is not a veth",
            args.ifname
        )));
    }
    check_mac("container interface", cont_intf, &cont_link)?;
    if !conf.disable_container_interface && !cont_link.is_up() {
        return Err(fail(format!(
            "container interface {:?} is down",
            args.ifname
        )));
    }

    // The host end: a listed veth peering with the container end, port of the bridge.
    let mut host_veth_found = false;
    for intf in &result.interfaces {
        if intf.name == br_intf.name || intf.name == cont_intf.name || !unsandboxed(intf) {
            continue;
        }
        let Ok(link) = host.link(intf.name.as_str()) else {
            continue;
        };
        let ours = link.is_kind("veth")
            && cont_link.veth_peer_index() == Some(link.index)
            && link.veth_peer_index() == Some(cont_link.index)
            && link.master == Some(br.index);
        if ours {
            check_mac("host veth", intf, &link)?;
            host_veth_found = true;
            break;
        }
    }
    if !host_veth_found {
        return Err(fail(format!(
            "the host veth of {:?} on bridge {:?} was not found",
            args.ifname, conf.bridge
        )));
    }

    check_addresses_and_routes(&mut cont, &cont_link, cont_pos, &result)?;

    if conf.ip_masq && conf.is_layer3() {
        let spec = MasqSpec::new(
            &args.conf.name,
            &args.container_id,
            &args.ifname,
            result
                .ips
                .iter()
                .filter(|ip| ip.interface.is_none_or(|i| i == cont_pos))
                .map(|ip| ip.address),
        );
        firewall::select(conf.ip_masq_backend.map(|b| b.as_str()), Runner::new())
            .and_then(|backend| backend.check(&spec))
            .map_err(|e| fail(e.to_string()))?;
    }
    if conf.macspoofchk {
        SpoofCheck::new(&args.container_id, &args.ifname)
            .check(cont_intf.mac.as_deref().filter(|m| !m.is_empty()))
            .map_err(fail)?;
    }
    Ok(())
}

/// Addresses of the container interface, a route to each one's subnet, and the result's
/// routes, in the container namespace.
fn check_addresses_and_routes(
    cont: &mut Netlink,
    link: &Link,
    cont_pos: usize,
    result: &Result100,
) -> Result<(), Error> {
    let have = cont
        .addresses(link.index, None)
        .map_err(|e| fail(format!("cannot list the addresses of {:?}: {e}", link.name)))?;
    let routes = cont
        .routes(None)
        .map_err(|e| fail(format!("cannot list the routes: {e}")))?;
    for ip in &result.ips {
        if ip.interface.is_some_and(|i| i != cont_pos) {
            continue;
        }
        if !have.iter().any(|a| a.net() == ip.address) {
            return Err(fail(format!(
                "address {} is not on interface {:?}",
                ip.address, link.name
            )));
        }
        let subnet = ip.address.trunc();
        let routed = routes
            .iter()
            .any(|r| r.dst == subnet && r.table == Some(RT_TABLE_MAIN));
        if !routed {
            return Err(fail(format!(
                "no route to {subnet} for address {} of {:?}",
                ip.address, link.name
            )));
        }
    }
    for want in &result.routes {
        let dst: IpNet = want.dst.trunc();
        let table = want.table.unwrap_or(RT_TABLE_MAIN);
        let found = routes.iter().any(|r| {
            r.dst == dst
                && r.table == Some(table)
                && Family::of(&r.dst.addr()) == Family::of(&dst.addr())
                && want.gw.is_none_or(|gw| r.gateway == Some(gw))
        });
        if !found {
            return Err(fail(format!(
                "route to {}{} not found in the container's routing table",
                want.dst,
                want.gw.map(|g| format!(" via {g}")).unwrap_or_default()
            )));
        }
    }
    Ok(())
}
