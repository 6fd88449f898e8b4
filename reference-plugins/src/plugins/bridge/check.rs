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

use cni::result::Interface;
use cni::{CmdArgs, Error};

use super::bridge_by_name;
use super::config::BridgeConf;
use super::spoofcheck::SpoofCheck;
use crate::check::{check_mac, Expected};
use crate::error::{internal, Context};
use crate::firewall::{self, MasqSpec, Runner};
use crate::netlink::Netlink;
use crate::netns;

use cni::invoke::delegate;

fn unsandboxed(intf: &Interface) -> bool {
    intf.sandbox.as_deref().is_none_or(str::is_empty)
}

/// CHECK (see the module documentation).
pub fn check(args: &CmdArgs) -> Result<(), Error> {
    let conf = BridgeConf::from_cmd(args)?;
    let mut cont = netns::open(args)?;
    if let Some(ipam) = &conf.ipam_type {
        delegate::check(ipam, &args.stdin)?;
    }
    let want = Expected::from_args(args, "bridge")?;
    let result = &want.result;
    let mut host = Netlink::open().context("cannot open netlink")?;

    // The bridge.
    let br_intf = result
        .interfaces
        .iter()
        .rev()
        .find(|i| i.name == conf.bridge && unsandboxed(i))
        .ok_or_else(|| {
            internal(format!(
                "prevResult lists no host interface for bridge {:?}",
                conf.bridge
            ))
        })?;
    let br = bridge_by_name(&mut host, &conf.bridge)?;
    check_mac("bridge", br_intf, &br)?;
    if br.is_promisc() != conf.promisc_mode {
        return Err(internal(format!(
            "bridge {:?}: promiscMode is {} but the bridge is{} promiscuous",
            br.name,
            conf.promisc_mode,
            if br.is_promisc() { "" } else { " not" }
        )));
    }

    // The container end.
    let cont_intf = want.interface();
    let cont_link = cont
        .link(args.ifname.as_str())
        .with_context(|| format!("container interface {:?} not found", args.ifname))?;
    if !cont_link.is_kind("veth") {
        return Err(internal(format!(
            "container interface {:?} is not a veth",
            args.ifname
        )));
    }
    check_mac("container interface", cont_intf, &cont_link)?;
    if !conf.disable_container_interface && !cont_link.is_up() {
        return Err(internal(format!(
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
        return Err(internal(format!(
            "the host veth of {:?} on bridge {:?} was not found",
            args.ifname, conf.bridge
        )));
    }

    want.check_addresses(&mut cont, &cont_link)?;
    want.check_routes(&mut cont)?;

    if conf.ip_masq && conf.is_layer3() {
        let spec = MasqSpec::new(
            &args.conf.name,
            &args.container_id,
            &args.ifname,
            want.addresses(),
        );
        firewall::select(conf.ip_masq_backend.map(|b| b.as_str()), Runner::new())
            .and_then(|backend| backend.check(&spec))
            .map_err(|e| internal(e.to_string()))?;
    }
    if conf.macspoofchk {
        SpoofCheck::new(&args.container_id, &args.ifname)
            .check(cont_intf.mac.as_deref().filter(|m| !m.is_empty()))
            .map_err(internal)?;
    }
    Ok(())
}
