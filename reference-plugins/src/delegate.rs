//! What an interface plugin forwards to its IPAM delegate besides ADD, CHECK and DEL: STATUS
//! and GC. The IPAM plugin holds the only long-lived state of macvlan, ipvlan and vlan, so
//! their GC is the delegate's; bridge and ptp also own masquerade rules, which GC removes for
//! attachments no longer valid ([`crate::firewall::gc_masquerade`]).
//!
//! Both read the configuration leniently ([`DelConf`]): a configuration that became invalid
//! must not keep GC from releasing what it can.

use cni::invoke::delegate;
use cni::{CmdArgs, Error};

use crate::conf::DelConf;
use crate::error::{Context, FirstFailure};
use crate::firewall::{self, Runner};

/// STATUS: the IPAM plugin's answer when the configuration names one, else available.
pub fn status(args: &CmdArgs) -> Result<(), Error> {
    match DelConf::parse(&args.stdin).ipam_type {
        Some(ipam) => delegate::status(&ipam, &args.stdin),
        None => Ok(()),
    }
}

/// Whether the plugin owns masquerade rules that GC cleans up (bridge and ptp with `ipMasq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Masquerade {
    /// The plugin has no masquerade rules (macvlan, ipvlan, vlan).
    NotOwned,
    /// The plugin writes masquerade rules when its configuration has `ipMasq`.
    OwnedWithIpMasq,
}

/// GC: the IPAM plugin's GC (when the configuration names one), then, for a plugin that owns
/// masquerade rules and has `ipMasq`, the rules of this network whose attachment is not in
/// `cni.dev/valid-attachments`. Both run; the first failure is reported.
pub fn gc(args: &CmdArgs, masquerade: Masquerade) -> Result<(), Error> {
    let conf = DelConf::parse(&args.stdin);
    let mut failure = FirstFailure::default();
    if let Some(ipam) = &conf.ipam_type {
        failure.note(delegate::gc(ipam, &args.stdin));
    }
    if masquerade == Masquerade::OwnedWithIpMasq && conf.ip_masq {
        failure.note(
            firewall::gc_masquerade(&args.conf, Runner::new())
                .map(drop)
                .context("cannot remove stale ipMasq rules"),
        );
    }
    failure.into_result()
}
