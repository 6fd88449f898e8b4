//! The `ipvlan` plugin: an ipvlan link on a master becomes `CNI_IFNAME` in the container. The
//! link shares the master's MAC address.
//!
//! Keys and defaults: [`config`]. The work, and where it differs from upstream:
//! [`crate::sublink`].
//!
//! - ADD: the master is `master`; else, chained, the one interface of `prevResult`; else the
//!   interface of the default route (in the container's namespace with `linkInContainer`).
//!   Addresses come from the IPAM plugin, or, chained without `ipam`, from `prevResult` (they
//!   move to the ipvlan link; the earlier interfaces stay in the result, unlike upstream).
//! - CHECK: IPAM's CHECK, then the link: type ipvlan, `mode`, on `master` when the
//!   configuration names one, MAC as in `prevResult`, `mtu` when configured, addresses, routes.
//! - DEL: IPAM's DEL, then the link; success when anything is gone already (the master is
//!   never looked up, unlike upstream).
//! - STATUS, GC: forwarded to the IPAM plugin, if any.

use cni::skel::CmdArgs;
use cni::Error;

pub mod config;

use self::config::{AddressSource, IpvlanConf};
use crate::conf::Master;
use crate::sublink::{Addresses, LinkExpect, LinkPlan, SubKind, SublinkKind};

/// The plugin's kind; `SublinkPlugin(Ipvlan)` is the plugin, for [`cni::skel::plugin_main`].
pub struct Ipvlan;

fn kind(conf: &IpvlanConf) -> SubKind {
    SubKind::Ipvlan {
        mode: conf.mode,
        flag: conf.flag,
    }
}

impl SublinkKind for Ipvlan {
    const NAME: &'static str = "ipvlan";

    /// What ADD does for this request.
    fn plan(&self, args: &CmdArgs) -> Result<LinkPlan, Error> {
        let conf = IpvlanConf::from_cmd(args)?;
        let master = conf.resolve_master()?;
        let addresses = match conf.address_source()? {
            AddressSource::Ipam(t) => Addresses::Ipam(t),
            AddressSource::PrevResult => Addresses::PrevResult,
        };
        Ok(LinkPlan {
            kind: kind(&conf),
            master,
            link_in_container: conf.link_in_container,
            mtu: conf.mtu,
            mac: None,
            addresses,
            dns: conf.dns,
            prev: conf.prev_result,
        })
    }

    /// What CHECK expects for this request.
    fn expect(&self, args: &CmdArgs) -> Result<LinkExpect, Error> {
        let conf = IpvlanConf::from_cmd(args)?;
        Ok(LinkExpect {
            kind: kind(&conf),
            master: conf.master.clone().map(Master::Named),
            link_in_container: conf.link_in_container,
            mtu: conf.mtu,
            ipam_type: conf.ipam_type,
        })
    }
}

/// What `src/bin/ipvlan.rs` runs: the shared sublink verbs over this kind.
pub const PLUGIN: crate::sublink::SublinkPlugin<Ipvlan> = crate::sublink::SublinkPlugin(Ipvlan);
