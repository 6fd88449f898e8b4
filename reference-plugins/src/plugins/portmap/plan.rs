//! What portmap's verbs work on, decided from the request before any kernel call
//! ([`crate::plan`]): [`AddPlan`] is what ADD takes its configuration, container addresses
//! and rule tag from; [`plan`] lists what each verb changes. The backend is chosen at run
//! time (nftables where it answers), so the plan lists both layouts' names.

use cni::{CmdArgs, CniResult, Command, Error};

use super::config::PortmapConf;
use super::nftables::{self, Tag, V4, V6};
use super::{iptables, prepare, tag, Addresses};
use crate::plan::{LinkName, Netns, Plan, SysctlKey};

/// ADD's decisions.
pub struct AddPlan {
    pub conf: PortmapConf,
    pub prev: CniResult,
    /// `None`: no mappings, nothing to do.
    pub addrs: Option<Addresses>,
    /// The comment identity of the attachment's rules.
    pub tag: Tag,
}

impl AddPlan {
    pub fn new(args: &CmdArgs) -> Result<AddPlan, Error> {
        let (conf, prev, addrs) = prepare(args, "ADD")?;
        Ok(AddPlan {
            conf,
            prev,
            addrs,
            tag: tag(args),
        })
    }

    fn touches(&self, args: &CmdArgs, plan: &mut Plan) {
        let Some(addrs) = &self.addrs else {
            return;
        };
        if self.conf.snat && addrs.v4.is_some() {
            plan.sysctl(
                Netns::Own,
                SysctlKey::interface("ipv4", &LinkName::RouteInterface, "route_localnet"),
            );
        }
        let comment = self.tag.comment();
        for family in [V4, V6] {
            nftables::plan_touches(plan, family, &comment, true);
        }
        iptables::plan_touches(plan, Some(&self.conf), &iptables::ids(args));
    }
}

/// The plan of `args`'s verb ([`crate::plan`]).
pub fn plan(args: &CmdArgs) -> Result<Plan, Error> {
    let mut plan = Plan::new("portmap", args.command);
    match args.command {
        Command::Add => AddPlan::new(args)?.touches(args, &mut plan),
        Command::Del => {
            let comment = tag(args).comment();
            for family in [V4, V6] {
                nftables::plan_touches(&mut plan, family, &comment, false);
            }
            iptables::plan_touches(&mut plan, None, &iptables::ids(args));
        }
        // CHECK and STATUS only read.
        Command::Check => {
            prepare(args, "CHECK")?;
        }
        Command::Status => {
            PortmapConf::from_cmd(args)?;
        }
        Command::Gc => {
            if args.conf.gc_valid_attachments().is_some() {
                let prefix = nftables::network_comment_prefix(&args.conf.name);
                for family in [V4, V6] {
                    nftables::plan_touches(&mut plan, family, &prefix, false);
                }
            }
        }
        Command::Version => {}
    }
    Ok(plan)
}
