//! What bridge's verbs work on, decided from the request before any kernel call
//! ([`crate::plan`]): [`AddPlan`] for ADD and [`DelPlan`] for DEL are the values the verbs
//! take their names from (the bridge, the container interface, the VLAN gateway port, the
//! spoof-check and masquerade rules); [`plan`] lists what each verb changes.

use cni::{CmdArgs, Command, Error};

use super::config::BridgeConf;
use super::spoofcheck::SpoofCheck;
use crate::conf::DelConf;
use crate::firewall::MasqSpec;
use crate::netns;
use crate::plan::{LinkChange, LinkName, Netns, Plan, SysctlKey};

/// ADD's decisions.
pub struct AddPlan {
    pub conf: BridgeConf,
    /// `CNI_NETNS`.
    pub netns: String,
    /// The host veth `<bridge>.<vlan>` carrying the gateway addresses (with `vlan` and
    /// `isGateway`).
    pub vlan_port: Option<String>,
    /// With `macspoofchk`.
    pub spoofcheck: Option<SpoofCheck>,
    /// With `ipMasq` and IPAM; the addresses are filled in once IPAM answered.
    pub masq: Option<MasqSpec>,
}

impl AddPlan {
    pub fn new(args: &CmdArgs) -> Result<AddPlan, Error> {
        let conf = BridgeConf::from_cmd(args)?;
        let netns = netns::required(args)?.to_string();
        let vlan_port = match conf.vlan {
            Some(vlan) if conf.is_gateway && conf.ipam_type.is_some() => {
                Some(format!("{}.{vlan}", conf.bridge))
            }
            _ => None,
        };
        let spoofcheck = conf
            .macspoofchk
            .then(|| SpoofCheck::new(&args.container_id, &args.ifname));
        let masq = (conf.ip_masq && conf.ipam_type.is_some())
            .then(|| MasqSpec::new(&args.conf.name, &args.container_id, &args.ifname, []));
        Ok(AddPlan {
            conf,
            netns,
            vlan_port,
            spoofcheck,
            masq,
        })
    }

    fn touches(&self, args: &CmdArgs, plan: &mut Plan) {
        let conf = &self.conf;
        let bridge = LinkName::named(conf.bridge.as_str());
        let ifname = LinkName::named(args.ifname.as_str());
        plan.link(Netns::Own, &bridge, LinkChange::Create);
        plan.sysctl(
            Netns::Own,
            SysctlKey::interface("ipv6", &bridge, "accept_ra"),
        );
        plan.link(Netns::Own, &bridge, LinkChange::Change);
        plan.enter(&self.netns);
        plan.veth_pair(&ifname);
        // The host end joins the bridge, with its VLANs.
        plan.link(Netns::Own, &LinkName::Temporary, LinkChange::Change);
        if let Some(sc) = &self.spoofcheck {
            sc.touches(plan);
        }
        match &conf.ipam_type {
            Some(ipam) => {
                plan.delegate(ipam, Command::Add);
                plan.delegate(ipam, Command::Del);
                for (family, leaf) in [
                    ("ipv6", "enhanced_dad"),
                    ("ipv6", "accept_dad"),
                    ("ipv4", "arp_notify"),
                ] {
                    plan.sysctl(
                        Netns::Container,
                        SysctlKey::interface(family, &ifname, leaf),
                    );
                }
                plan.configure_from_result(&ifname);
                if conf.is_gateway {
                    if let Some(port) = &self.vlan_port {
                        plan.link(
                            Netns::Own,
                            &LinkName::named(port.as_str()),
                            LinkChange::Create,
                        );
                        plan.link(Netns::Own, &LinkName::Temporary, LinkChange::Create);
                        plan.sysctl(
                            Netns::Own,
                            SysctlKey::interface("ipv6", &LinkName::Temporary, "accept_ra"),
                        );
                        plan.link(Netns::Own, &LinkName::Temporary, LinkChange::Change);
                        plan.link(
                            Netns::Own,
                            &LinkName::named(port.as_str()),
                            LinkChange::Change,
                        );
                    }
                    plan.sysctl(Netns::Own, SysctlKey::Global("net/ipv4/ip_forward".into()));
                    plan.sysctl(
                        Netns::Own,
                        SysctlKey::interface("ipv6", &LinkName::named("all"), "forwarding"),
                    );
                }
                if let Some(m) = &self.masq {
                    plan.masquerade(m);
                }
            }
            None if !conf.disable_container_interface => {
                plan.link(Netns::Container, &ifname, LinkChange::Change);
            }
            None => {}
        }
        // A failed ADD that made the bridge removes it again when no port joined meanwhile.
        plan.link(Netns::Own, &bridge, LinkChange::Delete);
    }
}

/// DEL's decisions, from the lenient view of the configuration ([`DelConf`]).
pub struct DelPlan {
    pub conf: DelConf,
    pub spoofcheck: Option<SpoofCheck>,
    /// With `ipMasq` and IPAM: the attachment's rules, found by name.
    pub masq: Option<MasqSpec>,
}

impl DelPlan {
    pub fn new(args: &CmdArgs) -> DelPlan {
        let conf = DelConf::parse(&args.stdin);
        let spoofcheck = conf
            .macspoofchk
            .then(|| SpoofCheck::new(&args.container_id, &args.ifname));
        let masq = (conf.ip_masq && conf.ipam_type.is_some())
            .then(|| MasqSpec::new(&args.conf.name, &args.container_id, &args.ifname, []));
        DelPlan {
            conf,
            spoofcheck,
            masq,
        }
    }

    fn touches(&self, args: &CmdArgs, plan: &mut Plan) {
        if let Some(m) = &self.masq {
            plan.masquerade(m);
        }
        if let Some(ipam) = &self.conf.ipam_type {
            plan.delegate(ipam, Command::Del);
        }
        plan.delete_container_interface(args, Netns::Own);
        if let Some(sc) = &self.spoofcheck {
            sc.touches(plan);
        }
    }
}

/// The plan of `args`'s verb ([`crate::plan`]).
pub fn plan(args: &CmdArgs) -> Result<Plan, Error> {
    let mut plan = Plan::new("bridge", args.command);
    match args.command {
        Command::Add => AddPlan::new(args)?.touches(args, &mut plan),
        Command::Del => DelPlan::new(args).touches(args, &mut plan),
        // CHECK only reads, besides the IPAM plugin's CHECK.
        Command::Check => {
            let conf = BridgeConf::from_cmd(args)?;
            plan.enter(netns::required(args)?);
            if let Some(ipam) = &conf.ipam_type {
                plan.delegate(ipam, Command::Check);
            }
        }
        Command::Status | Command::Gc => {
            let conf = DelConf::parse(&args.stdin);
            if let Some(ipam) = &conf.ipam_type {
                plan.delegate(ipam, args.command);
            }
            if args.command == Command::Gc && conf.ip_masq {
                plan.masquerade_gc(&args.conf.name);
            }
        }
        Command::Version => {}
    }
    Ok(plan)
}
