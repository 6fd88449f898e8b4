//! The `portmap` plugin: ports of the node forwarded to a container, a chained plugin that
//! runs after the one that made the container's interface (bridge, ptp) and reads the
//! container's addresses from `prevResult`.
//!
//! - ADD: checks the configuration and every mapping ([`config`]), takes the first IPv4 and
//!   the first IPv6 address of `prevResult` on `CNI_IFNAME`, and forwards each mapping of a
//!   family to the address of that family: DNAT for packets to the node's own addresses, and
//!   with `snat` masquerade for hairpin connections (the container to itself through the
//!   node) and, for IPv4, from `127.0.0.1` (with `route_localnet=1` on the node's interface
//!   towards the container, as upstream). UDP conntrack entries of the mapped host ports are
//!   then deleted, so a stale one does not keep sending a flow elsewhere. The output is
//!   `prevResult` as it came.
//! - DEL: removes the attachment's rules, found by container ID and interface name, whether
//!   or not the request repeats the mappings, and whatever the network is called now.
//! - CHECK: every rule the mappings call for is in place, exactly, and no other rule of the
//!   attachment.
//! - GC: removes the rules of this network whose attachment is not in
//!   `cni.dev/valid-attachments`.
//! - STATUS: whether the firewall backend answers here.
//!
//! Backends: nftables ([`nftables`]: upstream v1.9's table layout, written over netlink, no
//! process started on any verb, the table and chains included) and iptables ([`iptables`]:
//! upstream's chains, written with one `iptables-restore` per family).
//!
//! Where this differs from upstream, on purpose (entries of
//! `conformance-cases/upstream-deviations.toml`):
//!
//! - Everything is checked before anything changes: ports 1–65535, protocol, `hostIP`,
//!   duplicate mappings, conditions (upstream checks `port > 0` and finds the rest out from
//!   iptables or nft half-way through), and a mapping for one host address of a family the
//!   container has no address of is an error (upstream skips it silently). UPSTREAM-21.
//! - The default backend is nftables, written over netlink (upstream: iptables unless only
//!   nftables works, through the tools). UPSTREAM-23.
//! - DEL does not need `portMappings` (upstream does nothing without them), finds rules by
//!   container ID and interface so a renamed network leaks nothing (UPSTREAM-19), keeps the
//!   other interfaces of the container (UPSTREAM-20), and also removes the iptables layout of
//!   the attachment when there is one (a node moving from upstream's plugin to this one).
//! - ADD with `prevResult` but no address on `CNI_IFNAME` fails instead of forwarding
//!   nothing.
//! - CHECK passes after a good ADD whatever families the container has (upstream 1.1.1 fails
//!   without IPv6, plugins#819), and compares whole rules, not rule counts. UPSTREAM-22.
//! - GC and STATUS are implemented (upstream has neither). UPSTREAM-24.
//! - A failed ADD leaves nothing: `route_localnet` gets its old value back.

pub mod config;
pub mod iptables;
pub mod nftables;
pub mod plan;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use cni::result::CniResult;
use cni::{CmdArgs, Error, ErrorCode};

use self::config::{check_families, container_addresses, Backend, PortmapConf, Protocol};
use self::nftables::{Family, Tag, V4, V6};
use crate::error::{internal, Context, FirstFailure};
use crate::firewall;
use crate::iface;
use crate::netlink::nfnetlink::conntrack;
use crate::netlink::Netlink;
use crate::plugins::Verbs;
use crate::rollback::Rollback;

/// The attachment's container addresses (first IPv4, first IPv6 on `CNI_IFNAME`), with
/// their prefixes.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub v4: Option<IpNet>,
    pub v6: Option<IpNet>,
}

impl Addresses {
    /// The families with an address, and the address.
    pub fn each(&self) -> impl Iterator<Item = (Family, IpAddr)> {
        self.nets().map(|(f, n)| (f, n.addr()))
    }

    /// The families with an address, and the address with its prefix.
    pub fn nets(&self) -> impl Iterator<Item = (Family, IpNet)> {
        [self.v4.map(|n| (V4, n)), self.v6.map(|n| (V6, n))]
            .into_iter()
            .flatten()
    }

    fn of(&self, family: Family) -> Option<IpNet> {
        self.nets().find(|(f, _)| *f == family).map(|(_, n)| n)
    }
}

/// What ADD and CHECK both need: the configuration, `prevResult`, and the container's
/// addresses, all checked. `None` when the request has no mappings (nothing to do).
fn prepare(
    args: &CmdArgs,
    verb: &str,
) -> Result<(PortmapConf, CniResult, Option<Addresses>), Error> {
    let conf = PortmapConf::from_cmd(args)?;
    let prev = args.prev_result()?.ok_or_else(|| {
        Error::invalid_config(format!(
            "portmap: {verb} requires a prevResult: portmap is a chained plugin and forwards \
             to the addresses the plugin before it gave the container"
        ))
    })?;
    if conf.mappings.is_empty() {
        return Ok((conf, prev, None));
    }
    let (v4, v6) = container_addresses(&prev.to_v1(), &args.ifname);
    if v4.is_none() && v6.is_none() {
        return Err(internal(format!(
            "portmap: prevResult has no address on interface {:?} to forward the mappings to",
            args.ifname
        )));
    }
    check_families(&conf.mappings, v4.is_some(), v6.is_some())?;
    Ok((conf, prev, Some(Addresses { v4, v6 })))
}

/// The backend the configuration fixes, else nftables where it answers, else iptables where
/// its tools are installed, else nftables (whose failure then says why).
fn backend(conf: &PortmapConf) -> Backend {
    match conf.backend.fixed() {
        Some(b) => b,
        None if nftables::available() => Backend::Nftables,
        None if firewall::iptables_available() => Backend::Iptables,
        None => Backend::Nftables,
    }
}

fn tag(args: &CmdArgs) -> Tag {
    Tag::new(&args.conf.name, &args.container_id, &args.ifname)
}

// ----- ADD -------------------------------------------------------------------------------

/// ADD: see the module documentation.
pub fn add(args: &CmdArgs) -> Result<CniResult, Error> {
    let plan::AddPlan {
        conf,
        prev,
        addrs,
        tag,
    } = plan::AddPlan::new(args)?;
    let Some(addrs) = addrs else {
        return Ok(prev);
    };
    let backend = backend(&conf);
    if backend == Backend::Nftables && !nftables::available() {
        return Err(internal(
            "portmap: nf_tables does not answer in this network namespace",
        ));
    }
    let mut host = Netlink::open().context("portmap: open the host namespace")?;
    let mut rollback = Rollback::new("portmap", &mut host);
    if conf.snat {
        if let Some(IpAddr::V4(v4)) = addrs.v4.map(|n| n.addr()) {
            route_localnet(&mut rollback, v4)?;
        }
    }
    match backend {
        Backend::Nftables => add_nftables(&conf, &tag, &addrs)
            .context("portmap: setting up nftables rules for the port mappings")?,
        Backend::Iptables => iptables::add(&conf, args, &addrs)?,
    }
    rollback.commit();
    flush_udp_conntrack(&conf, &addrs);
    Ok(prev)
}

/// One transaction for both families: the attachment's rules of each family with an
/// address (and the skeleton where needed), its earlier rules gone.
fn add_nftables(conf: &PortmapConf, tag: &Tag, addrs: &Addresses) -> std::io::Result<()> {
    let comment = tag.comment();
    let wanted: Vec<(Family, Vec<_>)> = [V4, V6]
        .into_iter()
        .map(|f| {
            let rules = addrs
                .of(f)
                .map(|a| nftables::attachment_rules(conf, f, a))
                .unwrap_or_default();
            (f, rules)
        })
        .collect();
    nftables::transact(&[V4, V6], |states| {
        let ops: Vec<_> = states
            .iter()
            .flat_map(|(f, state)| {
                let rules = &wanted
                    .iter()
                    .find(|(w, _)| w == f)
                    .expect("both families")
                    .1;
                nftables::add_ops(*f, state, tag, rules, &comment)
            })
            .collect();
        nftables::commit(&ops)
    })
}

/// With `snat`, packets from `127.0.0.1` DNATed to the container must be routable out of
/// the node's interface towards it: `route_localnet=1` there (the interface the node's
/// route to the container's IPv4 address uses; none, nothing to do, as upstream). The old
/// value comes back if ADD fails later.
fn route_localnet(rollback: &mut Rollback<'_, Netlink>, container: Ipv4Addr) -> Result<(), Error> {
    let host = rollback.ctx();
    let Ok(route) = host.route_get(IpAddr::V4(container)) else {
        return Ok(());
    };
    let Some(oif) = route.oif else {
        return Ok(());
    };
    let name = host
        .link(oif)
        .with_context(|| format!("portmap: look up the interface to {container}"))?
        .name;
    let key = format!("net/ipv4/conf/{name}/route_localnet");
    let old = iface::sysctl_get(host.netns(), &key).context("portmap: read route_localnet")?;
    if old != "1" {
        iface::sysctl_set(host.netns(), &key, "1")
            .with_context(|| format!("portmap: unable to enable route_localnet on {name:?}"))?;
        rollback.on_failure("route_localnet", move |host: &mut Netlink| {
            iface::sysctl_set(host.netns(), &key, &old)
        });
    }
    Ok(())
}

/// Deletes the conntrack entries of UDP flows to the mapped host ports (of each family with
/// a container address), so traffic that reached the port before the mapping existed starts
/// over through it. One dump covers both families (the kernel walks its whole table for a
/// dump, shared by every namespace); a namespace with no tracked connection at all (its
/// `nf_conntrack_count` 0, or no conntrack loaded) needs none. Failures are reported on
/// stderr only, as upstream.
fn flush_udp_conntrack(conf: &PortmapConf, addrs: &Addresses) {
    let ports = |v6: bool| -> HashSet<u16> {
        if addrs.of(if v6 { V6 } else { V4 }).is_none() {
            return HashSet::new();
        }
        conf.mappings
            .iter()
            .filter(|m| m.protocol == Protocol::Udp && m.host_ip.covers(v6))
            .map(|m| m.host_port)
            .collect()
    };
    let (ports4, ports6) = (ports(false), ports(true));
    if ports4.is_empty() && ports6.is_empty() {
        return;
    }
    match std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count") {
        Ok(count) if count.trim() == "0" => return,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        _ => {}
    }
    let outcome = conntrack::entries(conntrack::FAMILY_ANY).and_then(|entries| {
        let stale: Vec<conntrack::Entry> = entries
            .into_iter()
            .filter(|e| {
                let ports = if e.dst.is_ipv6() { &ports6 } else { &ports4 };
                e.proto == conntrack::PROTO_UDP && e.dport().is_some_and(|p| ports.contains(&p))
            })
            .collect();
        conntrack::delete(&stale)
    });
    if let Err(e) = outcome {
        eprintln!("portmap: failed to delete stale UDP conntrack entries: {e}");
    }
}

// ----- DEL -------------------------------------------------------------------------------

/// DEL: the attachment's rules in both layouts, found without the request's mappings or
/// configuration (a configuration that became invalid does not keep DEL from cleaning up).
/// Both layouts are tried; the first failure is reported.
pub fn del(args: &CmdArgs) -> Result<(), Error> {
    let tag = tag(args);
    let mut failure = FirstFailure::default();
    if nftables::available() {
        failure.note(
            nftables::transact(&[V4, V6], |states| {
                let ops: Vec<_> = states
                    .iter()
                    .flat_map(|(f, s)| nftables::del_ops(*f, s, &tag))
                    .collect();
                nftables::commit(&ops)
            })
            .context("portmap: removing nftables rules"),
        );
    }
    failure.note(iptables::del(args));
    failure.into_result()
}

// ----- CHECK -----------------------------------------------------------------------------

/// CHECK: see the module documentation.
pub fn check(args: &CmdArgs) -> Result<(), Error> {
    let (conf, _, addrs) = prepare(args, "CHECK")?;
    let Some(addrs) = addrs else {
        return Ok(());
    };
    match backend(&conf) {
        Backend::Nftables => {
            let tag = tag(args);
            for (family, net) in addrs.nets() {
                let state = nftables::TableState::read(family)
                    .context("portmap: reading the nftables rules")?;
                let want = nftables::attachment_rules(&conf, family, net);
                nftables::check_family(family, &state, &tag, &want)
                    .map_err(|e| internal(format!("portmap: {e}")))?;
            }
            Ok(())
        }
        Backend::Iptables => iptables::check(&conf, args, &addrs),
    }
}

// ----- GC and STATUS ---------------------------------------------------------------------

/// GC: rules of this network's attachments that are not valid any more go, in one
/// transaction. Without a valid-attachments list nothing is removed. iptables chains are
/// named by network and container only and are left to DEL.
pub fn gc(args: &CmdArgs) -> Result<(), Error> {
    let Some(valid) = args.conf.gc_valid_attachments() else {
        return Ok(());
    };
    if !nftables::available() {
        return Ok(());
    }
    let valid: Vec<(&str, &str)> = valid
        .iter()
        .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
        .collect();
    nftables::transact(&[V4, V6], |states| {
        let ops: Vec<_> = states
            .iter()
            .flat_map(|(f, s)| nftables::gc_ops(*f, s, &args.conf.name, &valid))
            .collect();
        nftables::commit(&ops)
    })
    .context("portmap: removing stale nftables rules")
}

/// STATUS: the configuration is valid and its backend works here (code 50 otherwise).
pub fn status(args: &CmdArgs) -> Result<(), Error> {
    let conf = PortmapConf::from_cmd(args)?;
    let unavailable = |msg: &str| Err(Error::new(ErrorCode::PluginNotAvailable, msg));
    match backend(&conf) {
        Backend::Nftables if nftables::available() => Ok(()),
        Backend::Nftables => unavailable("portmap: nf_tables does not answer here"),
        Backend::Iptables if firewall::iptables_available() => Ok(()),
        Backend::Iptables => {
            unavailable("portmap: iptables-restore and iptables-save are not installed")
        }
    }
}

/// What `src/bin/portmap.rs` runs.
pub const PLUGIN: Verbs = Verbs {
    name: "portmap",
    add,
    check,
    del,
    status,
    gc,
};
