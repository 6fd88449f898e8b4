//! What ptp's verbs work on, decided from the request before any kernel call
//! ([`crate::plan`]): [`AddPlan`] for ADD and [`DelPlan`] for DEL are the values the verbs
//! take their names from (the container namespace and interface, the masquerade rules);
//! [`plan`] lists what each verb changes.

use cni::{CmdArgs, Command, Error};

use super::config::PtpConf;
use crate::conf::DelConf;
use crate::firewall::MasqSpec;
use crate::netns;
use crate::plan::{LinkChange, LinkName, Netns, Plan, SysctlKey};

/// The masquerade spec of this attachment, without addresses.
fn masq_spec(args: &CmdArgs) -> MasqSpec {
    MasqSpec::new(
        args.conf.name.clone(),
        args.container_id.clone(),
        args.ifname.clone(),
        [],
    )
}

/// ADD's decisions.
pub struct AddPlan {
    pub conf: PtpConf,
    /// `CNI_NETNS`.
    pub netns: String,
    /// With `ipMasq`; the addresses are filled in once IPAM answered.
    pub masq: Option<MasqSpec>,
}

impl AddPlan {
    pub fn new(args: &CmdArgs) -> Result<AddPlan, Error> {
        let conf = PtpConf::from_cmd(args)?;
        let netns = netns::required(args)?.to_string();
        let masq = conf.ip_masq.then(|| masq_spec(args));
        Ok(AddPlan { conf, netns, masq })
    }

    fn touches(&self, args: &CmdArgs, plan: &mut Plan) {
        let ifname = LinkName::named(args.ifname.as_str());
        plan.enter(&self.netns);
        plan.delegate(&self.conf.ipam_type, Command::Add);
        plan.delegate(&self.conf.ipam_type, Command::Del);
        plan.sysctl(Netns::Own, SysctlKey::Global("net/ipv4/ip_forward".into()));
        plan.sysctl(
            Netns::Own,
            SysctlKey::interface("ipv6", &LinkName::named("all"), "forwarding"),
        );
        plan.veth_pair(&ifname);
        plan.configure_from_result(&ifname);
        // The host end's gateway addresses and host routes.
        plan.link(Netns::Own, &LinkName::Temporary, LinkChange::Change);
        if let Some(m) = &self.masq {
            plan.masquerade(m);
        }
        // On failure, the pair goes.
        plan.link(Netns::Container, &ifname, LinkChange::Delete);
    }
}

/// DEL's decisions, from the lenient view of the configuration ([`DelConf`]).
pub struct DelPlan {
    pub conf: DelConf,
    /// With `ipMasq`: the attachment's rules, found by name.
    pub masq: Option<MasqSpec>,
}

impl DelPlan {
    pub fn new(args: &CmdArgs) -> DelPlan {
        let conf = DelConf::parse(&args.stdin);
        let masq = conf.ip_masq.then(|| masq_spec(args));
        DelPlan { conf, masq }
    }

    fn touches(&self, args: &CmdArgs, plan: &mut Plan) {
        if let Some(m) = &self.masq {
            plan.masquerade(m);
        }
        if let Some(ipam) = &self.conf.ipam_type {
            plan.delegate(ipam, Command::Del);
        }
        plan.delete_container_interface(args, Netns::Own);
    }
}

/// The plan of `args`'s verb ([`crate::plan`]).
pub fn plan(args: &CmdArgs) -> Result<Plan, Error> {
    let mut plan = Plan::new("ptp", args.command);
    match args.command {
        Command::Add => AddPlan::new(args)?.touches(args, &mut plan),
        Command::Del => DelPlan::new(args).touches(args, &mut plan),
        // CHECK only reads, besides the IPAM plugin's CHECK.
        Command::Check => {
            let conf = PtpConf::from_cmd(args)?;
            plan.enter(netns::required(args)?);
            plan.delegate(&conf.ipam_type, Command::Check);
        }
        Command::Status => {
            PtpConf::from_cmd(args)?;
            if let Some(ipam) = &DelConf::parse(&args.stdin).ipam_type {
                plan.delegate(ipam, Command::Status);
            }
        }
        Command::Gc => {
            let conf = DelConf::parse(&args.stdin);
            if let Some(ipam) = &conf.ipam_type {
                plan.delegate(ipam, Command::Gc);
            }
            if conf.ip_masq {
                plan.masquerade_gc(&args.conf.name);
            }
        }
        Command::Version => {}
    }
    Ok(plan)
}
