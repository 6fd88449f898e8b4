//! The `macvlan` plugin: a macvlan link on a master (by default the interface of the default
//! route) becomes `CNI_IFNAME` in the container, with IPAM's addresses, or none at all when the
//! configuration has no `ipam` (the link is only set up).
//!
//! Keys and defaults: [`config`]. The work, and where it differs from upstream:
//! [`crate::sublink`].
//!
//! - ADD: master looked up in the plugin's namespace (in the container's with
//!   `linkInContainer`), `mtu` at most the master's; link created with `mode`, `mtu`, `mac`
//!   (config `mac` < `CNI_ARGS` `MAC=` < `runtimeConfig.mac`) and `bcqueuelen`.
//! - CHECK: IPAM's CHECK, then the link: type macvlan, `mode`, on the master, MAC as in
//!   `prevResult`, `mtu` when configured, `prevResult`'s addresses and routes.
//! - DEL: IPAM's DEL, then the link; success when anything is gone already.
//! - STATUS, GC: forwarded to the IPAM plugin, if any.

use cni::skel::CmdArgs;
use cni::Error;

pub mod config;

use self::config::MacvlanConf;
use crate::sublink::{Addresses, LinkExpect, LinkPlan, SubKind, SublinkKind};

/// The plugin's kind; `SublinkPlugin(Macvlan)` is the plugin, for [`cni::skel::plugin_main`].
pub struct Macvlan;

fn kind(conf: &MacvlanConf) -> SubKind {
    SubKind::Macvlan {
        mode: conf.mode,
        bcqueuelen: conf.bcqueuelen,
    }
}

impl SublinkKind for Macvlan {
    const NAME: &'static str = "macvlan";

    /// What ADD does for this request.
    fn plan(&self, args: &CmdArgs) -> Result<LinkPlan, Error> {
        let conf = MacvlanConf::from_cmd(args)?;
        Ok(LinkPlan {
            kind: kind(&conf),
            master: conf.master.clone(),
            link_in_container: conf.link_in_container,
            mtu: conf.mtu,
            mac: conf.mac.map(|m| m.addr.0),
            addresses: match &conf.ipam_type {
                Some(t) => Addresses::Ipam(t.clone()),
                None => Addresses::None,
            },
            dns: conf.dns,
            prev: args.prev_result()?.map(|r| r.to_v1()),
        })
    }

    /// What CHECK expects for this request.
    fn expect(&self, args: &CmdArgs) -> Result<LinkExpect, Error> {
        let conf = MacvlanConf::from_cmd(args)?;
        Ok(LinkExpect {
            kind: kind(&conf),
            master: Some(conf.master),
            link_in_container: conf.link_in_container,
            mtu: conf.mtu,
            ipam_type: conf.ipam_type,
        })
    }
}

/// What `src/bin/macvlan.rs` runs: the shared sublink verbs over this kind.
pub const PLUGIN: crate::sublink::SublinkPlugin<Macvlan> = crate::sublink::SublinkPlugin(Macvlan);
