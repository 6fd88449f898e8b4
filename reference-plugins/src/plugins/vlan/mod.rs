//! The `vlan` plugin: an 802.1Q link with `vlanId` on `master` becomes `CNI_IFNAME` in the
//! container, with IPAM's addresses.
//!
//! Keys and defaults: [`config`] (`master`, `vlanId` and `ipam` are required). The
//! work, and where it differs from upstream: [`crate::sublink`].
//!
//! - ADD: master looked up in the plugin's namespace (in the container's with
//!   `linkInContainer`), `mtu` at most the master's.
//! - CHECK: IPAM's CHECK, then the link: type vlan, `vlanId`, on the master, MAC as in
//!   `prevResult`, `mtu` when configured, addresses, routes.
//! - DEL: IPAM's DEL, then the link; success when anything is gone already (the master is
//!   never looked up, unlike upstream, UPSTREAM-8).
//! - STATUS, GC: forwarded to the IPAM plugin.
//!
//! Each (master, `vlanId`) pair can serve one container: the kernel refuses a second link
//! with the same id on one master, and ADD fails then.

use cni::skel::CmdArgs;
use cni::Error;

pub mod config;

use self::config::VlanConf;
use crate::conf::Master;
use crate::sublink::{Addresses, LinkExpect, LinkPlan, SubKind, SublinkKind};

/// The plugin's kind; `SublinkPlugin(Vlan)` is the plugin, for [`cni::skel::plugin_main`].
pub struct Vlan;

impl SublinkKind for Vlan {
    const NAME: &'static str = "vlan";

    /// What ADD does for this request.
    fn plan(&self, args: &CmdArgs) -> Result<LinkPlan, Error> {
        let conf = VlanConf::from_cmd(args)?;
        Ok(LinkPlan {
            kind: SubKind::Vlan { id: conf.vlan_id },
            master: Master::Named(conf.master),
            link_in_container: conf.link_in_container,
            mtu: conf.mtu,
            mac: None,
            addresses: Addresses::Ipam(conf.ipam_type),
            dns: conf.dns,
            prev: args.prev_result()?.map(|r| r.to_v1()),
        })
    }

    /// What CHECK expects for this request.
    fn expect(&self, args: &CmdArgs) -> Result<LinkExpect, Error> {
        let conf = VlanConf::from_cmd(args)?;
        Ok(LinkExpect {
            kind: SubKind::Vlan { id: conf.vlan_id },
            master: Some(Master::Named(conf.master)),
            link_in_container: conf.link_in_container,
            mtu: conf.mtu,
            ipam_type: Some(conf.ipam_type),
        })
    }
}

/// What `src/bin/vlan.rs` runs: the shared sublink verbs over this kind.
pub const PLUGIN: crate::sublink::SublinkPlugin<Vlan> = crate::sublink::SublinkPlugin(Vlan);
