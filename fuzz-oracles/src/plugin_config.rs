//! Every interface plugin's configuration decoder (bridge, ptp, macvlan, ipvlan, vlan), what
//! loopback reads (`prevResult`) and DEL's lenient view ([`DelConf`]), from one untrusted
//! request (input format: [`crate::request`]).
//!
//! Each decoder runs on the request as skel hands it over (`from_cmd`) when skel accepts the
//! request, and on the raw bytes otherwise. None may panic. A refusal carries one of the codes
//! `reference_plugins::conf` documents for that plugin (2 unsupported field, 4 invalid
//! `CNI_ARGS`, 6 decoding failure, 7 invalid configuration), never the internal code. An
//! accepted configuration satisfies what the plugin's verbs rely on: interface names the
//! kernel accepts, MTU 1 to `i32::MAX` (or the kernel's default), VLAN IDs in range, a trunk
//! list sorted without duplicates, unicast MACs, an IPAM type that is not empty, the option
//! pairs the module refuses never together; and [`DelConf`], which DEL reads instead, finds
//! the same IPAM type, `ipMasq` and `macspoofchk`, so DEL tears down what ADD set up.

use cni::args::CniArgs;
use cni::result::CniResult;
use cni::Error;
use reference_plugins::conf::{is_valid_ifname, DelConf, MacSource, Master, RequestedMac};
use reference_plugins::plugins::bridge::config::{BridgeConf, MAX_VLAN_ID};
use reference_plugins::plugins::ipvlan::config::{AddressSource, IpvlanConf};
use reference_plugins::plugins::macvlan::config::{MacvlanConf, MacvlanMode};
use reference_plugins::plugins::ptp::config::PtpConf;
use reference_plugins::plugins::vlan::config::VlanConf;

use crate::request::{assert_code, Request};

/// The oracle of the `plugin_config` target.
pub fn plugin_config(data: &[u8]) {
    let req = Request::new(data);
    let del = DelConf::parse(req.stdin);
    if let Some(t) = &del.ipam_type {
        assert!(!t.is_empty(), "DelConf: empty IPAM type");
    }
    let (stdin, args, version) = (req.stdin, &req.cni_args, req.version);
    match &req.built {
        Ok(cmd) => {
            bridge(BridgeConf::from_cmd(cmd), args, &del);
            ptp(PtpConf::from_cmd(cmd), &del);
            macvlan(MacvlanConf::from_cmd(cmd), args, &del);
            ipvlan(IpvlanConf::from_cmd(cmd), &del);
            vlan(VlanConf::from_cmd(cmd), &del);
            // loopback reads nothing but prevResult, as every plugin that chains does.
            match cmd.prev_result() {
                Ok(Some(prev)) => prev_valid("prevResult", &prev),
                Ok(None) => {}
                Err(e) => assert_code("prevResult", &e, &[6]),
            }
        }
        Err(_) => {
            bridge(BridgeConf::parse(stdin, args), args, &del);
            ptp(PtpConf::parse(stdin), &del);
            macvlan(MacvlanConf::parse(stdin, args), args, &del);
            ipvlan(IpvlanConf::parse(stdin, version), &del);
            vlan(VlanConf::parse(stdin), &del);
        }
    }
}

pub(crate) fn prev_valid(what: &str, prev: &CniResult) {
    if let Err(e) = prev.validate() {
        panic!("{what}: an accepted prevResult does not validate ({e}): {prev:?}");
    }
}

fn ifname(plugin: &str, key: &str, name: &str) {
    assert!(
        is_valid_ifname(name),
        "{plugin}: accepted {key} {name:?}, which is no valid interface name"
    );
}

pub(crate) fn mtu(plugin: &str, m: Option<u32>) {
    if let Some(m) = m {
        assert!(
            m > 0 && i32::try_from(m).is_ok(),
            "{plugin}: accepted mtu {m} (0 means the kernel default and is None)"
        );
    }
}

fn ipam_type(plugin: &str, t: Option<&str>) {
    assert_ne!(t, Some(""), "{plugin}: empty IPAM type kept");
}

/// A requested MAC is a unicast, non-zero address that prints and parses back to itself; one
/// taken from `CNI_ARGS` is there.
pub(crate) fn mac(plugin: &str, m: Option<&RequestedMac>, args: &CniArgs) {
    let Some(m) = m else { return };
    let b = m.addr.0;
    assert!(
        b != [0; 6] && b[0] & 1 == 0,
        "{plugin}: accepted MAC {}",
        m.addr
    );
    assert_eq!(
        m.addr.to_string().parse().ok(),
        Some(m.addr),
        "{plugin}: MAC does not print back"
    );
    if m.source == MacSource::CniArgs {
        assert!(args.get("MAC").is_some_and(|v| !v.is_empty()), "{plugin}");
    }
}

/// Code 4 only comes from a `MAC=` in `CNI_ARGS`.
pub(crate) fn refused(plugin: &str, e: &Error, codes: &[u32], args: &CniArgs) {
    assert_code(plugin, e, codes);
    if e.code.code() == 4 {
        assert!(args.get("MAC").is_some(), "{plugin}: code 4 without MAC=");
    }
}

fn bridge(r: Result<BridgeConf, Error>, args: &CniArgs, del: &DelConf) {
    let c = match r {
        Ok(c) => c,
        Err(e) => return refused("bridge", &e, &[2, 4, 6, 7], args),
    };
    ifname("bridge", "bridge", &c.bridge);
    mtu("bridge", c.mtu);
    ipam_type("bridge", c.ipam_type.as_deref());
    mac("bridge", c.mac.as_ref(), args);
    assert!(!c.is_default_gateway || c.is_gateway, "bridge: {c:?}");
    assert!(c.ip_masq_backend.is_none() || c.ip_masq, "bridge: {c:?}");
    assert!(!(c.hairpin_mode && c.promisc_mode), "bridge: {c:?}");
    assert!(
        !(c.disable_container_interface && c.ipam_type.is_some()),
        "bridge: {c:?}"
    );
    let vlan_ok = |v: u16| (1..=MAX_VLAN_ID).contains(&v);
    assert!(c.vlan.into_iter().all(vlan_ok), "bridge: vlan {:?}", c.vlan);
    let trunk = c.trunk_vlans();
    assert!(trunk.iter().all(|&v| vlan_ok(v)), "bridge: trunk {trunk:?}");
    assert!(
        trunk.windows(2).all(|w| w[0] < w[1]),
        "bridge: trunk not sorted and unique: {trunk:?}"
    );
    if let Some(gw) = c.gateway_vlan_ifname() {
        ifname("bridge", "gateway VLAN interface", &gw);
    }
    assert_eq!(del.ipam_type, c.ipam_type, "bridge: DEL's IPAM type");
    assert_eq!(del.ip_masq, c.ip_masq, "bridge: DEL's ipMasq");
    assert_eq!(del.macspoofchk, c.macspoofchk, "bridge: DEL's macspoofchk");
}

fn ptp(r: Result<PtpConf, Error>, del: &DelConf) {
    let c = match r {
        Ok(c) => c,
        Err(e) => return assert_code("ptp", &e, &[2, 6, 7]),
    };
    mtu("ptp", c.mtu);
    ipam_type("ptp", Some(&c.ipam_type));
    assert!(c.ip_masq_backend.is_none() || c.ip_masq, "ptp: {c:?}");
    assert_eq!(
        del.ipam_type.as_ref(),
        Some(&c.ipam_type),
        "ptp: DEL's IPAM"
    );
    assert_eq!(del.ip_masq, c.ip_masq, "ptp: DEL's ipMasq");
}

fn macvlan(r: Result<MacvlanConf, Error>, args: &CniArgs, del: &DelConf) {
    let c = match r {
        Ok(c) => c,
        Err(e) => return refused("macvlan", &e, &[2, 4, 6, 7], args),
    };
    if let Master::Named(m) = &c.master {
        ifname("macvlan", "master", m);
    }
    assert_ne!(c.mode, MacvlanMode::Source, "macvlan: source mode accepted");
    mtu("macvlan", c.mtu);
    mac("macvlan", c.mac.as_ref(), args);
    assert_ne!(
        c.bcqueuelen,
        Some(0),
        "macvlan: bcqueuelen 0 is the default"
    );
    ipam_type("macvlan", c.ipam_type.as_deref());
    assert_eq!(del.ipam_type, c.ipam_type, "macvlan: DEL's IPAM type");
}

fn ipvlan(r: Result<IpvlanConf, Error>, del: &DelConf) {
    let c = match r {
        Ok(c) => c,
        Err(e) => return assert_code("ipvlan", &e, &[2, 6, 7]),
    };
    if let Some(m) = &c.master {
        ifname("ipvlan", "master", m);
    }
    mtu("ipvlan", c.mtu);
    ipam_type("ipvlan", c.ipam_type.as_deref());
    if let Some(prev) = &c.prev_result {
        prev_valid("ipvlan", &CniResult::V1(prev.clone()));
    }
    match c.resolve_master() {
        Ok(Master::Named(m)) => ifname("ipvlan", "resolved master", &m),
        Ok(Master::DefaultRoute) => assert!(c.master.is_none() && c.prev_result.is_none()),
        Err(e) => assert_code("ipvlan master", &e, &[7]),
    }
    match c.address_source() {
        Ok(AddressSource::Ipam(t)) => assert_eq!(Some(t), c.ipam_type),
        Ok(AddressSource::PrevResult) => assert!(
            c.ipam_type.is_none() && c.prev_result.as_ref().is_some_and(|p| !p.ips.is_empty())
        ),
        Err(e) => assert_code("ipvlan addresses", &e, &[7]),
    }
    assert_eq!(del.ipam_type, c.ipam_type, "ipvlan: DEL's IPAM type");
}

fn vlan(r: Result<VlanConf, Error>, del: &DelConf) {
    let c = match r {
        Ok(c) => c,
        Err(e) => return assert_code("vlan", &e, &[6, 7]),
    };
    ifname("vlan", "master", &c.master);
    assert!(c.vlan_id <= MAX_VLAN_ID, "vlan: vlanId {}", c.vlan_id);
    mtu("vlan", c.mtu);
    ipam_type("vlan", Some(&c.ipam_type));
    assert_eq!(
        del.ipam_type.as_ref(),
        Some(&c.ipam_type),
        "vlan: DEL's IPAM"
    );
}
