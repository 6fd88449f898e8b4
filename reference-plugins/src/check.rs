//! CHECK's comparison of an attachment with its `prevResult`, shared by every interface
//! plugin.
//!
//! [`Expected::from_args`] reads the required `prevResult` and finds the attachment's own
//! interface in it (named `CNI_IFNAME`, sandbox `CNI_NETNS`); the plugin then looks its link
//! up and calls the checks here for what every plugin compares the same way:
//!
//! - [`check_mac`]: a MAC listed in the result is the link's, compared as addresses (any case,
//!   any of the separators Go's `net.ParseMAC` accepts: `aa:bb:…`, `aa-bb-…`, `aabb.ccdd.eeff`);
//! - [`Expected::check_addresses`]: every address of the interface (entries without an
//!   `interface` index included) is on the link, and its subnet is routed in the main table;
//! - [`Expected::check_routes`]: every route of the result is in the container (its table,
//!   or main), with its gateway when it names one.
//!
//! What is particular to one plugin (the bridge, the veth peer, a master, a mode, firewall
//! rules) stays with that plugin. Mismatches are internal errors (code 999), as upstream's.

use std::net::IpAddr;

use cni::result::{Interface, Result100};
use cni::{CmdArgs, Error};
use ipnet::IpNet;

use crate::error::{internal, Context};
use crate::iface::parse_mac;
use crate::netlink::{Family, Link, Netlink, RT_TABLE_MAIN};
use crate::netns;

/// The `prevResult` of a CHECK, with the position of the attachment's interface in it.
#[derive(Debug, Clone)]
pub struct Expected {
    /// `prevResult` in the 1.x layout.
    pub result: Result100,
    /// Index of the attachment's interface in `result.interfaces`.
    pub index: usize,
}

impl Expected {
    /// Reads the request's `prevResult` (code 7 when there is none: CHECK needs it) and finds
    /// the interface named `CNI_IFNAME` in sandbox `CNI_NETNS` (code 999 when it is not there).
    pub fn from_args(args: &CmdArgs, plugin: &str) -> Result<Expected, Error> {
        let netns = netns::required(args)?;
        let result = args
            .prev_result()?
            .ok_or_else(|| Error::invalid_config(format!("{plugin}: CHECK requires a prevResult")))?
            .to_v1();
        let index = result
            .interfaces
            .iter()
            .position(|i| i.name == args.ifname && i.sandbox.as_deref() == Some(netns))
            .ok_or_else(|| {
                internal(format!(
                    "{plugin}: prevResult has no interface {:?} with sandbox {netns:?}",
                    args.ifname
                ))
            })?;
        Ok(Expected { result, index })
    }

    /// The attachment's interface as the result lists it.
    pub fn interface(&self) -> &Interface {
        &self.result.interfaces[self.index]
    }

    /// The addresses the result gives the attachment's interface (entries that name no
    /// interface count as its own).
    pub fn addresses(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.result
            .ips
            .iter()
            .filter(|ip| ip.interface.is_none_or(|i| i == self.index))
            .map(|ip| ip.address)
    }

    /// Every address of the interface is on `link`, and its subnet is routed (main table).
    pub fn check_addresses(&self, nl: &mut Netlink, link: &Link) -> Result<(), Error> {
        let want: Vec<IpNet> = self.addresses().collect();
        if want.is_empty() {
            return Ok(());
        }
        let have = nl
            .addresses(link.index, None)
            .with_context(|| format!("cannot list the addresses of {:?}", link.name))?;
        let routes = nl.routes(None).context("cannot list the routes")?;
        for addr in want {
            if !have.iter().any(|a| a.net() == addr) {
                return Err(internal(format!(
                    "address {addr} of prevResult is not on interface {:?}",
                    link.name
                )));
            }
            let subnet = addr.trunc();
            let routed = routes
                .iter()
                .any(|r| r.dst.trunc() == subnet && r.table == Some(RT_TABLE_MAIN));
            if !routed {
                return Err(internal(format!(
                    "no route to {subnet} for address {addr} of interface {:?}",
                    link.name
                )));
            }
        }
        Ok(())
    }

    /// Every route of the result is in `nl`'s namespace: same destination and table (main
    /// when none is named), and the same gateway when the route names one.
    pub fn check_routes(&self, nl: &mut Netlink) -> Result<(), Error> {
        if self.result.routes.is_empty() {
            return Ok(());
        }
        let have = nl.routes(None).context("cannot list the routes")?;
        for want in &self.result.routes {
            let dst = want.dst.trunc();
            let table = want.table.unwrap_or(RT_TABLE_MAIN);
            let family = Family::of(&dst.addr());
            let found = have.iter().any(|r| {
                r.family() == family
                    && r.table == Some(table)
                    && r.dst.trunc() == dst
                    && want.gw.is_none_or(|gw: IpAddr| r.gateway == Some(gw))
            });
            if !found {
                return Err(internal(format!(
                    "route {}{} of prevResult not found in the container's routing table",
                    want.dst,
                    want.gw.map(|g| format!(" via {g}")).unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}

/// Whether a MAC as a result lists it is `link`'s (see the module documentation).
pub fn same_mac(listed: &str, link: &Link) -> bool {
    match (parse_mac(listed), link.mac.as_deref()) {
        (Ok(a), Some(b)) => a[..] == *b,
        _ => false,
    }
}

/// `intf`'s MAC, when the result lists one, is `link`'s; `what` names the interface's role in
/// the message ("container interface", "bridge", …).
pub fn check_mac(what: &str, intf: &Interface, link: &Link) -> Result<(), Error> {
    match intf.mac.as_deref() {
        Some(m) if !m.is_empty() && !same_mac(m, link) => Err(internal(format!(
            "{what} {:?}: MAC {m} in prevResult, {} in the kernel",
            intf.name,
            link.mac_string().unwrap_or_default()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(mac: [u8; 6]) -> Link {
        Link {
            index: 2,
            name: "eth0".into(),
            mac: Some(mac.to_vec()),
            ..Link::default()
        }
    }

    fn intf(mac: &str) -> Interface {
        Interface {
            name: "eth0".into(),
            mac: Some(mac.into()),
            ..Interface::default()
        }
    }

    #[test]
    fn macs_compare_as_addresses_in_every_form_go_reads() {
        let l = link([0xaa, 0xbb, 0xcc, 0x0d, 0xee, 0xff]);
        for listed in [
            "aa:bb:cc:0d:ee:ff",
            "AA:BB:CC:0D:EE:FF",
            "aa-bb-cc-0d-ee-ff",
            "aabb.cc0d.eeff",
        ] {
            assert!(
                check_mac("container interface", &intf(listed), &l).is_ok(),
                "{listed}"
            );
        }
        let e = check_mac("container interface", &intf("aa-bb-cc-0d-ee-00"), &l).unwrap_err();
        assert_eq!(e.code.code(), cni::error::INTERNAL_ERROR_CODE);
        assert!(e.msg.contains("aa-bb-cc-0d-ee-00"), "{}", e.msg);
        assert!(check_mac("x", &intf("not a mac"), &l).is_err());
        assert!(
            check_mac("x", &intf(""), &l).is_ok(),
            "an empty MAC is not compared"
        );
    }

    #[test]
    fn the_attachment_is_found_by_name_and_sandbox() {
        let prev = serde_json::json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "eth0", "sandbox": "/run/netns/other"},
                {"name": "eth0", "sandbox": "/run/netns/mine"}
            ],
            "ips": [
                {"address": "10.1.0.2/24", "interface": 1},
                {"address": "10.2.0.2/24", "interface": 0},
                {"address": "10.3.0.2/24"}
            ]
        });
        let conf = serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "type": "t", "prevResult": prev
        });
        let args = crate::test_args::cmd_args(cni::Command::Check, &conf, Some("/run/netns/mine"));
        let want = Expected::from_args(&args, "t").unwrap();
        assert_eq!(want.index, 1);
        let addrs: Vec<String> = want.addresses().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["10.1.0.2/24", "10.3.0.2/24"]);

        let mut other = args.clone();
        other.ifname = "eth1".into();
        assert!(Expected::from_args(&other, "t").is_err());
        let mut bare = args;
        bare.conf.prev_result = None;
        assert_eq!(
            Expected::from_args(&bare, "t").unwrap_err().code,
            cni::ErrorCode::InvalidNetworkConfig
        );
    }
}
