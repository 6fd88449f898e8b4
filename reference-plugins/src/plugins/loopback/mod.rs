//! The `loopback` plugin's work: bring `lo` up or down in a container namespace, report its
//! addresses, and check it is up.
//!
//! Observable behaviour follows the upstream plugin: the interface is always `lo`, whatever
//! `CNI_IFNAME` says; ADD fails if `lo` carries an address outside the loopback ranges; the
//! result (without a `prevResult`) names `lo` with an all-zero MAC and the first IPv4 and the
//! first IPv6 address the kernel lists for it (`127.0.0.1/8`, and `::1/128` only when the
//! namespace has IPv6); DEL succeeds when there is no namespace any more
//! ([`crate::netns::open_for_del`]). Failures are reported with the internal-error code, 999,
//! as upstream does.
//!
//! One deliberate difference: Debian's upstream 1.1.1 prints its 1.0.0-layout result under
//! the requested label (a `0.2.0` result with `interfaces` and `ips`, a `0.4.0` one without
//! `version` on its IPs). We convert to the requested version's layout, as the spec asks
//! (`ip4`/`ip6` for 0.2.0).

use ipnet::IpNet;

use cni::result::{CniResult, Interface, IpConfig, Result100};
use cni::{Command, Error, SpecVersion};

use crate::error::{internal, Context};
use crate::netlink::{Address, Netlink};
use crate::netns;
use crate::plan::{LinkChange, LinkName, Netns, Plan};
use crate::plugins::{nothing_held, Verbs};

/// The only interface this plugin touches.
pub const LO: &str = "lo";
/// The MAC address reported for `lo`.
pub const LO_MAC: &str = "00:00:00:00:00:00";

/// The addresses `lo` reports once up: the first of each family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopbackAddrs {
    pub v4: Option<IpNet>,
    pub v6: Option<IpNet>,
}

/// Brings `lo` up in the namespace at `netns` and returns its addresses. Fails if any address
/// on `lo` is not a loopback address.
pub fn up(netns: &str) -> Result<LoopbackAddrs, Error> {
    let mut nl = open(netns)?;
    let lo = nl.index_of(LO).context(LO)?;
    nl.set_up(lo).context("failed to set lo up")?;
    let addrs = nl
        .addresses(lo, None)
        .context("failed to list lo's addresses")?;
    if let Some(bad) = addrs.iter().find(|a| !a.addr.is_loopback()) {
        return Err(internal(format!(
            "lo carries {}, which is not a loopback address",
            bad.addr
        )));
    }
    let first = |v4: bool| {
        addrs
            .iter()
            .find(|a| a.addr.is_ipv4() == v4)
            .and_then(to_net)
    };
    Ok(LoopbackAddrs {
        v4: first(true),
        v6: first(false),
    })
}

/// The result of an ADD without `prevResult`: `lo` in `netns`, with its addresses.
pub fn result(netns: &str, addrs: &LoopbackAddrs) -> CniResult {
    let mut r = Result100::new(SpecVersion::LATEST);
    r.interfaces.push(Interface {
        name: LO.into(),
        mac: Some(LO_MAC.into()),
        sandbox: Some(netns.into()),
        ..Interface::default()
    });
    for address in [addrs.v4, addrs.v6].into_iter().flatten() {
        r.ips.push(IpConfig {
            interface: Some(0),
            address,
            gateway: None,
        });
    }
    CniResult::V1(r)
}

/// CHECK: `lo` exists in `netns` and is up.
pub fn check(netns: &str) -> Result<(), Error> {
    let lo = open(netns)?.link(LO).context(LO)?;
    if !lo.is_up() {
        return Err(internal("loopback interface lo is down"));
    }
    Ok(())
}

/// DEL: brings `lo` down. Nothing to do, and success, when there is no namespace (absent
/// `CNI_NETNS`, a path that no longer exists or that is not a namespace).
pub fn down(netns: Option<&str>) -> Result<(), Error> {
    let Some(mut nl) = netns::open_path_for_del(netns)? else {
        return Ok(());
    };
    // By name: one request, the kernel resolves `lo` itself.
    nl.set_down(LO).context("failed to set lo down")
}

fn open(netns: &str) -> Result<Netlink, Error> {
    Netlink::open_in(netns).with_context(|| format!("failed to open netns {netns:?}"))
}

fn to_net(a: &Address) -> Option<IpNet> {
    IpNet::new(a.addr, a.prefix_len).ok()
}

/// The plan of `args`'s verb ([`crate::plan`]): `lo` in the container's namespace, set up
/// by ADD (after `prevResult` decoded) and down by DEL; CHECK, STATUS and GC change nothing.
pub fn plan(args: &cni::CmdArgs) -> Result<Plan, Error> {
    let mut plan = Plan::new("loopback", args.command);
    let lo = LinkName::named(LO);
    match args.command {
        Command::Add => {
            args.prev_result()?;
            plan.enter(netns::required(args)?);
            plan.link(Netns::Container, &lo, LinkChange::Change);
        }
        Command::Check => plan.enter(netns::required(args)?),
        Command::Del => {
            if let Some(path) = &args.netns {
                plan.enter(path);
                plan.link(Netns::Container, &lo, LinkChange::Change);
            }
        }
        Command::Status | Command::Gc | Command::Version => {}
    }
    Ok(plan)
}

/// What `src/bin/loopback.rs` runs. ADD reads `prevResult` first, so a bad one fails before
/// the namespace is touched, and passes it on unchanged when there is one.
pub const PLUGIN: Verbs = Verbs {
    name: "loopback",
    add: |args| {
        let prev = args.prev_result()?;
        let netns = netns::required(args)?;
        let addrs = up(netns)?;
        Ok(prev.unwrap_or_else(|| result(netns, &addrs)))
    },
    check: |args| check(netns::required(args)?),
    del: |args| down(args.netns.as_deref()),
    status: nothing_held,
    gc: nothing_held,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_shape() {
        let addrs = LoopbackAddrs {
            v4: Some("127.0.0.1/8".parse().unwrap()),
            v6: Some("::1/128".parse().unwrap()),
        };
        let r = result("/run/netns/x", &addrs);
        let v = r.to_value();
        assert_eq!(v["interfaces"][0]["name"], "lo");
        assert_eq!(v["interfaces"][0]["mac"], LO_MAC);
        assert_eq!(v["interfaces"][0]["sandbox"], "/run/netns/x");
        assert_eq!(v["ips"][0]["address"], "127.0.0.1/8");
        assert_eq!(v["ips"][1]["address"], "::1/128");
        assert_eq!(v["ips"][1]["interface"], 0);
        let legacy = r.convert_to(SpecVersion::V0_2_0).unwrap().to_value();
        assert_eq!(legacy["ip4"]["ip"], "127.0.0.1/8");
        assert_eq!(legacy["ip6"]["ip"], "::1/128");
    }

    #[test]
    fn del_without_namespace_is_a_no_op() {
        assert!(down(None).is_ok());
        assert!(down(Some("/run/netns/cnirs-never-existed")).is_ok());
        let not_a_namespace = tempfile::NamedTempFile::new().unwrap();
        assert!(down(not_a_namespace.path().to_str()).is_ok());
    }
}
