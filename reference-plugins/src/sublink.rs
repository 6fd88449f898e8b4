//! What macvlan, ipvlan and vlan share: a link on a lower device (the *master*) that ends up in
//! the container as `CNI_IFNAME`, addresses from an IPAM plugin (or, for ipvlan, from
//! `prevResult`), and the CHECK, DEL, STATUS and GC around it. The plugins only turn their
//! checked configuration ([`crate::conf`]) into a [`LinkPlan`] or a [`LinkExpect`].
//!
//! # ADD ([`add`])
//!
//! 1. Open the container's namespace (`CNI_NETNS`) and the plugin's own.
//! 2. Find the master: by name, or as the interface of the first default route of the main
//!    table; in the plugin's namespace, or in the container's with `linkInContainer`. macvlan
//!    and vlan also refuse an `mtu` above the master's.
//! 3. Create the link under a temporary `veth` + 8 hex digits name directly inside the
//!    container's namespace (a name that exists in one namespace but not the other cannot
//!    collide), then rename it to `CNI_IFNAME`. The first name tried is the attachment's own
//!    (a hash of container ID and ifname), so that a link an ADD killed before the rename
//!    left behind is found and removed by DEL (and by the next ADD). A taken `CNI_IFNAME` fails the rename, and the
//!    temporary link is removed. macvlan's `bcqueuelen` is applied right after creation.
//! 4. From here on every failure removes the link again and, once the IPAM plugin was
//!    called, runs its DEL (also when its ADD failed, as the spec asks: ADD-8, IPAM-9).
//! 5. Addresses: the IPAM plugin's ADD (an empty `ips` list is an error), or `prevResult`'s
//!    addresses (ipvlan chained without `ipam`), or none (macvlan without `ipam`: the link is
//!    only set up). With addresses, `arp_notify` and `ndisc_notify` are set (macvlan and ipvlan)
//!    and [`iface::configure_from_result`] applies addresses, routes and the link state.
//! 6. The result: the link (`name`, `mac`, `sandbox`), the addresses with `interface` pointing
//!    at it, IPAM's routes, and the configuration's `dns`.
//!
//! # Where this differs from upstream, on purpose
//!
//! - A `prevResult` given to ADD is kept (CHAIN-4): its interfaces stay, the new link is
//!   appended, new addresses and routes are appended. Upstream replaces the whole result (for
//!   ipvlan chained on `prevResult` addresses this drops the earlier interfaces,
//!   UPSTREAM-11); here those addresses move to the ipvlan link, with the earlier interfaces
//!   kept. The result's `dns` is the configuration's when it has one, else `prevResult`'s;
//!   IPAM's `dns` is never used (as upstream macvlan, ipvlan and vlan; bridge and ptp keep it).
//! - The IPAM plugin's DEL also runs when its ADD failed (ADD-8, IPAM-9; upstream only runs
//!   it when a later step fails, UPSTREAM-4).
//! - ipvlan and vlan remove the link when IPAM fails (upstream leaves it, UPSTREAM-5), and
//!   all three remove the temporary link when the rename fails.
//! - A request in 0.1.0/0.2.0 that would end without any address (macvlan without `ipam`)
//!   fails with code 1 before anything is created: those versions cannot express such a
//!   result. Upstream creates the link and then fails to print the result, leaving the link.
//! - DEL reads only `ipam.type` ([`crate::conf::DelConf`]); it never resolves the master, so
//!   it succeeds when the master, the default route, the namespace or the link is gone
//!   (upstream vlan and ipvlan resolve the master on DEL and fail, UPSTREAM-8).
//! - GC is forwarded to the IPAM plugin (upstream has no GC at all, UPSTREAM-12).
//! - CHECK also verifies that the link still sits on the configured master and has the
//!   configured MTU, and checks only the addresses that `prevResult` assigns to this link.
//!
//! Failures that are not configuration errors carry code
//! [`cni::error::INTERNAL_ERROR_CODE`] (999), as upstream's.

use cni::invoke::delegate;
use cni::result::{CniResult, Dns, Interface, Result100};
use cni::version::ResultFamily;
use cni::{CmdArgs, Error, Plugin, SpecVersion};

use crate::check::{check_mac, Expected};
use crate::conf::{check_mtu_against_master, Master};
use crate::delegate::Masquerade;
use crate::error::{internal, Context};
use crate::iface;
use crate::netlink::{
    IpvlanFlag, IpvlanMode, Link, LinkData, LinkSpec, MacvlanMode, Netlink, RT_TABLE_MAIN,
};
use crate::netns;
use crate::plan::{LinkChange, LinkName, Netns, Plan, SysctlKey};
use crate::rollback::Rollback;

/// How many temporary names ADD tries before giving up.
const TEMP_NAME_TRIES: usize = 10;

/// The kind of link and its kind-specific settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    Macvlan {
        mode: MacvlanMode,
        /// `IFLA_MACVLAN_BC_QUEUE_LEN`; `None` keeps the kernel's default.
        bcqueuelen: Option<u32>,
    },
    Ipvlan {
        mode: IpvlanMode,
        /// `None` creates the kernel's default (`bridge`).
        flag: Option<IpvlanFlag>,
    },
    Vlan {
        id: u16,
    },
}

impl SubKind {
    /// The kernel's `IFLA_INFO_KIND`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            SubKind::Macvlan { .. } => "macvlan",
            SubKind::Ipvlan { .. } => "ipvlan",
            SubKind::Vlan { .. } => "vlan",
        }
    }

    /// The plugin's name, for messages.
    fn plugin(&self) -> &'static str {
        self.kind_name()
    }

    fn spec<'a>(&self, name: &'a str, master: u32) -> LinkSpec<'a> {
        match *self {
            SubKind::Macvlan { mode, .. } => LinkSpec::macvlan(name, master, mode),
            SubKind::Ipvlan { mode, flag } => {
                LinkSpec::ipvlan(name, master, mode, flag.unwrap_or_default())
            }
            SubKind::Vlan { id } => LinkSpec::vlan(name, master, id),
        }
    }

    /// Whether `mtu` must not exceed the master's (macvlan and vlan, as upstream).
    fn mtu_bounded_by_master(&self) -> bool {
        !matches!(self, SubKind::Ipvlan { .. })
    }

    /// Whether ADD sets `arp_notify`/`ndisc_notify` on the link (macvlan and ipvlan, as
    /// upstream; its vlan does not).
    fn notifies(&self) -> bool {
        !matches!(self, SubKind::Vlan { .. })
    }
}

/// Where ADD takes the link's addresses from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// None: the link is only set up (macvlan without `ipam`).
    None,
    /// This IPAM plugin's ADD.
    Ipam(String),
    /// The `ips` and `routes` of `prevResult` (ipvlan chained without `ipam`).
    PrevResult,
}

/// What one sublink plugin decides itself: its name, what ADD makes of a request and what
/// CHECK expects of it. Every verb is this module's ([`SublinkPlugin`]).
pub trait SublinkKind {
    /// The plugin's name, as upstream's binary is called.
    const NAME: &'static str;
    /// What ADD does for this request.
    fn plan(&self, args: &CmdArgs) -> Result<LinkPlan, Error>;
    /// What CHECK expects for this request.
    fn expect(&self, args: &CmdArgs) -> Result<LinkExpect, Error>;
}

/// The [`Plugin`] of a sublink kind, for [`cni::skel::plugin_main`]: ADD and CHECK over the
/// kind's plan and expectation, DEL, STATUS and GC as this module does them for all three.
pub struct SublinkPlugin<K>(pub K);

impl<K: SublinkKind> Plugin for SublinkPlugin<K> {
    fn about(&self) -> String {
        crate::about(K::NAME)
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        crate::plugins::locked(K::NAME, args, |a| add(a, &self.0.plan(a)?))
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::plugins::locked(K::NAME, args, |a| check(a, &self.0.expect(a)?))
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::plugins::locked(K::NAME, args, del)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::delegate::status(args)
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::delegate::gc(args, Masquerade::NotOwned)
    }
}

/// Everything ADD needs, from a plugin's checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    pub kind: SubKind,
    pub master: Master,
    /// The master lives in the container's namespace.
    pub link_in_container: bool,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    pub addresses: Addresses,
    /// The configuration's `dns`.
    pub dns: Dns,
    /// The request's `prevResult` in the 1.x layout.
    pub prev: Option<Result100>,
}

/// What CHECK compares the container's link with, from a plugin's checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkExpect {
    pub kind: SubKind,
    /// `None`: the master cannot be named from the configuration alone (ipvlan chained
    /// without `master`, where ADD took it from a `prevResult` CHECK does not see); only the
    /// link is checked then.
    pub master: Option<Master>,
    pub link_in_container: bool,
    pub mtu: Option<u32>,
    /// The IPAM plugin whose CHECK runs first.
    pub ipam_type: Option<String>,
}

fn open_own() -> Result<Netlink, Error> {
    Netlink::open().context("cannot open a netlink socket")
}

/// The interface of the first default route (`0.0.0.0/0`, then `::/0`) of the main table.
pub fn default_route_interface(nl: &mut Netlink) -> Result<Link, Error> {
    let routes = nl.routes(None).context("cannot list routes")?;
    let oif = routes
        .iter()
        .filter(|r| r.table.unwrap_or(RT_TABLE_MAIN) == RT_TABLE_MAIN && r.is_default())
        .find_map(|r| r.oif)
        .ok_or_else(|| internal("no default route interface found (and no master given)"))?;
    nl.link(oif)
        .with_context(|| format!("cannot look up default route interface {oif}"))
}

/// The master link in `nl`'s namespace.
pub fn find_master(nl: &mut Netlink, master: &Master) -> Result<Link, Error> {
    match master {
        Master::Named(name) => nl
            .link(name.as_str())
            .with_context(|| format!("failed to lookup master {name:?}")),
        Master::DefaultRoute => default_route_interface(nl),
    }
}

/// ADD (see the module documentation).
pub fn add(args: &CmdArgs, plan: &LinkPlan) -> Result<CniResult, Error> {
    let plugin = plan.kind.plugin();
    let netns = netns::required(args)?;
    let will_have_ip = match &plan.addresses {
        Addresses::None => plan.prev.as_ref().is_some_and(|p| !p.ips.is_empty()),
        Addresses::Ipam(_) | Addresses::PrevResult => true,
    };
    if args.version.family() == ResultFamily::Legacy && !will_have_ip {
        return Err(Error::incompatible_version(format!(
            "{plugin}: without ipam the result has no IP address, which a {} result cannot \
             express",
            args.version
        )));
    }

    let mut cont = netns::open(args)?;
    let mut own = if plan.link_in_container {
        None
    } else {
        Some(open_own()?)
    };
    let master = {
        let nl = own.as_mut().unwrap_or(&mut cont);
        find_master(nl, &plan.master)?
    };
    if plan.kind.mtu_bounded_by_master() {
        check_mtu_against_master(plan.mtu, &master.name, master.mtu.unwrap_or(u32::MAX))?;
    }

    let pending = pending_name(args);
    let index = create_renamed(
        &mut cont,
        own.as_mut(),
        plan,
        &master,
        &args.ifname,
        &pending,
    )?;
    let mut rollback = Rollback::new(plugin, &mut cont);
    rollback.on_failure(format!("{plugin} link"), move |cont: &mut Netlink| {
        cont.delete_link(index)
    });
    if let SubKind::Macvlan {
        bcqueuelen: Some(len),
        ..
    } = plan.kind
    {
        rollback
            .ctx()
            .set_macvlan_bc_queue_len(index, len)
            .with_context(|| format!("macvlan: cannot set bcqueuelen {len}"))?;
    }
    let link = rollback
        .ctx()
        .link(index)
        .with_context(|| format!("failed to refetch {plugin} {:?}", args.ifname))?;
    let iface = Interface {
        name: args.ifname.clone(),
        mac: link.mac_string(),
        sandbox: Some(netns.to_string()),
        ..Interface::default()
    };

    // The link's own part of the result: its interface at index 0.
    let mut mine = Result100::new(SpecVersion::LATEST);
    mine.interfaces.push(iface);
    let moved_prev_ips = match &plan.addresses {
        Addresses::None => false,
        Addresses::Ipam(ipam_type) => {
            // Recorded before the call: a delegate that fails ADD gets its DEL too (ADD-8).
            let stdin = args.stdin.as_slice();
            rollback.on_failure("IPAM ADD", move |_: &mut Netlink| {
                delegate::del(ipam_type, stdin)
            });
            let got = delegate::add(ipam_type, &args.stdin, args.version)?;
            let got = got.to_v1();
            if got.ips.is_empty() {
                return Err(internal("IPAM plugin returned missing IP config"));
            }
            mine.ips = got.ips;
            mine.routes = got.routes;
            false
        }
        Addresses::PrevResult => {
            let prev = plan.prev.as_ref().ok_or_else(|| {
                Error::invalid_config(format!("{plugin}: no prevResult to take addresses from"))
            })?;
            mine.ips = prev.ips.clone();
            mine.routes = prev.routes.clone();
            true
        }
    };
    let cont = rollback.ctx();
    if mine.ips.is_empty() {
        cont.set_up(index)
            .with_context(|| format!("failed to set {:?} up", args.ifname))?;
    } else {
        for ip in &mut mine.ips {
            ip.interface = Some(0);
        }
        if plan.kind.notifies() {
            // Best effort, as upstream.
            let _ = iface::set_arp_notify(cont.netns(), &args.ifname, true);
            let _ = iface::set_ndisc_notify(cont.netns(), &args.ifname, true);
        }
        iface::configure_from_result(cont, index, &mine, &args.ifname)?;
    }
    rollback.commit();
    Ok(CniResult::V1(merge(
        plan.prev.clone(),
        mine,
        moved_prev_ips,
        &plan.dns,
    )))
}

/// The final result: `mine` alone, or `prev` with `mine`'s interface appended (see the module
/// documentation). `moved`: `mine`'s addresses are `prev`'s own, now on the new link.
fn merge(prev: Option<Result100>, mut mine: Result100, moved: bool, dns: &Dns) -> Result100 {
    let Some(mut out) = prev else {
        mine.dns = dns.clone();
        return mine;
    };
    let at = out.interfaces.len();
    out.interfaces.extend(mine.interfaces);
    if moved {
        for ip in &mut out.ips {
            ip.interface = Some(at);
        }
    } else {
        out.ips.extend(mine.ips.into_iter().map(|mut ip| {
            ip.interface = Some(at);
            ip
        }));
        out.routes.extend(mine.routes);
    }
    if !dns.is_empty() {
        out.dns = dns.clone();
    }
    out.cni_version = SpecVersion::LATEST;
    out
}

/// The attachment's own temporary name: `veth` and 8 hex digits of a hash of container ID
/// and ifname. A link of that name in the container is one an ADD of this attachment created
/// and was stopped (killed) before renaming: ADD and DEL remove it.
fn pending_name(args: &CmdArgs) -> String {
    let h = [args.container_id.as_str(), "\0", args.ifname.as_str()]
        .iter()
        .flat_map(|p| p.bytes())
        .fold(0x811c_9dc5u32, |h, b| {
            (h ^ b as u32).wrapping_mul(0x0100_0193)
        });
    format!("veth{h:08x}")
}

/// Creates the link under a temporary name inside `cont`'s namespace (through `own` when the
/// master lives there, else through `cont`), renames it to `ifname` and returns its index.
/// The first name tried is `pending` (the attachment's own, see [`pending_name`]; a link left
/// under it by an interrupted ADD is removed first), then random ones.
fn create_renamed(
    cont: &mut Netlink,
    own: Option<&mut Netlink>,
    plan: &LinkPlan,
    master: &Link,
    ifname: &str,
    pending: &str,
) -> Result<u32, Error> {
    let plugin = plan.kind.plugin();
    let master_name = &master.name;
    let mut own = own;
    let mut created = None;
    if let Ok(stale) = cont.link(pending) {
        let _ = cont.delete_link(stale.index);
    }
    for attempt in 0..TEMP_NAME_TRIES {
        let tmp = if attempt == 0 {
            pending.to_string()
        } else {
            iface::random_veth_name()
        };
        let mut spec = plan.kind.spec(&tmp, master.index);
        spec.mtu = plan.mtu;
        spec.mac = plan.mac;
        let outcome = match own.as_deref_mut() {
            Some(host) => host.create_link(&spec.in_netns(cont.netns())),
            None => cont.create_link(&spec),
        };
        match outcome {
            Ok(()) => {
                created = Some(tmp);
                break;
            }
            // The temporary name is taken in the container: try another.
            Err(e) if e.is_exists() && cont.link(tmp.as_str()).is_ok() => continue,
            // Something else exists: for vlan, a link with this id on the master.
            Err(e) if e.is_exists() => {
                let what = match plan.kind {
                    SubKind::Vlan { id } => format!(" (master {master_name:?} has VLAN {id})"),
                    _ => String::new(),
                };
                return Err(internal(format!("failed to create {plugin}{what}: {e}")));
            }
            Err(e) if e.is_not_supported() => {
                return Err(internal(format!(
                    "failed to create {plugin}: the kernel has no {} links ({e})",
                    plan.kind.kind_name()
                )))
            }
            Err(e) => return Err(internal(format!("failed to create {plugin}: {e}"))),
        }
    }
    let tmp = created.ok_or_else(|| {
        internal(format!(
            "failed to create {plugin}: no free temporary name after {TEMP_NAME_TRIES} tries"
        ))
    })?;
    let index = cont
        .link(tmp.as_str())
        .with_context(|| format!("cannot find the new {plugin} link {tmp:?}"))?
        .index;
    if let Err(e) = cont.rename(index, ifname) {
        let _ = cont.delete_link(index);
        return Err(if e.is_exists() {
            internal(format!(
                "failed to rename {plugin} to {ifname:?}: the container already has an interface \
                 of that name"
            ))
        } else {
            internal(format!("failed to rename {plugin} to {ifname:?}: {e}"))
        });
    }
    Ok(index)
}

impl LinkPlan {
    /// What [`add`] changes for this plan ([`crate::plan`]).
    pub fn touches(&self, args: &CmdArgs, plan: &mut Plan) -> Result<(), Error> {
        plan.enter(netns::required(args)?);
        let master_ns = if self.link_in_container {
            Netns::Container
        } else {
            Netns::Own
        };
        let master = match &self.master {
            Master::Named(name) => LinkName::named(name.as_str()),
            Master::DefaultRoute => LinkName::DefaultRouteInterface,
        };
        plan.link(master_ns, &master, LinkChange::Parent);
        let ifname = LinkName::named(args.ifname.as_str());
        // The attachment's own temporary name (a stale one removed first), or random ones.
        plan.link(Netns::Container, &LinkName::Temporary, LinkChange::Delete);
        plan.link(Netns::Container, &LinkName::Temporary, LinkChange::Create);
        plan.link(Netns::Container, &ifname, LinkChange::Create);
        if let Addresses::Ipam(ipam) = &self.addresses {
            plan.delegate(ipam, cni::Command::Add);
            plan.delegate(ipam, cni::Command::Del);
        }
        if self.kind.notifies() {
            plan.sysctl(
                Netns::Container,
                SysctlKey::interface("ipv4", &ifname, "arp_notify"),
            );
            plan.sysctl(
                Netns::Container,
                SysctlKey::interface("ipv6", &ifname, "ndisc_notify"),
            );
        }
        plan.configure_from_result(&ifname);
        Ok(())
    }
}

/// The plan of `args`'s verb for sublink kind `kind` ([`crate::plan`]): ADD's from the
/// kind's [`LinkPlan`], CHECK's from its [`LinkExpect`] (it changes nothing but may call the
/// IPAM plugin), DEL's, STATUS's and GC's from [`crate::conf::DelConf`] as those verbs read it.
pub fn plan<K: SublinkKind>(kind: &K, args: &CmdArgs) -> Result<Plan, Error> {
    use cni::Command;
    let mut plan = Plan::new(K::NAME, args.command);
    let lenient = crate::conf::DelConf::parse(&args.stdin);
    match args.command {
        Command::Add => kind.plan(args)?.touches(args, &mut plan)?,
        Command::Check => {
            let expect = kind.expect(args)?;
            plan.enter(netns::required(args)?);
            if let Some(ipam) = &expect.ipam_type {
                plan.delegate(ipam, Command::Check);
            }
        }
        Command::Del => {
            if let Some(ipam) = &lenient.ipam_type {
                plan.delegate(ipam, Command::Del);
            }
            plan.delete_container_interface(args, Netns::Container);
        }
        Command::Status | Command::Gc => {
            if let Some(ipam) = &lenient.ipam_type {
                plan.delegate(ipam, args.command);
            }
        }
        Command::Version => {}
    }
    Ok(plan)
}

/// CHECK (see the module documentation).
pub fn check(args: &CmdArgs, expect: &LinkExpect) -> Result<(), Error> {
    let plugin = expect.kind.plugin();
    let mut cont = netns::open(args)?;
    if let Some(ipam_type) = &expect.ipam_type {
        delegate::check(ipam_type, &args.stdin)?;
    }
    let want = Expected::from_args(args, plugin)?;

    let master = match &expect.master {
        None => None,
        Some(m) => Some(if expect.link_in_container {
            find_master(&mut cont, m)?
        } else {
            find_master(&mut open_own()?, m)?
        }),
    };

    let link = cont.link(args.ifname.as_str()).map_err(|e| {
        internal(format!(
            "{plugin}: container interface {:?} not found: {e}",
            args.ifname
        ))
    })?;
    check_link(
        &expect.kind,
        &link,
        want.interface(),
        master.as_ref(),
        expect.mtu,
    )?;
    want.check_addresses(&mut cont, &link)?;
    want.check_routes(&mut cont)
}

/// The link's kind, settings, master, MAC and MTU against what was configured and reported.
fn check_link(
    kind: &SubKind,
    link: &Link,
    want: &Interface,
    master: Option<&Link>,
    mtu: Option<u32>,
) -> Result<(), Error> {
    let plugin = kind.plugin();
    let name = &link.name;
    if !link.is_kind(kind.kind_name()) {
        return Err(internal(format!(
            "{plugin}: container interface {name:?} is not of type {}",
            kind.kind_name()
        )));
    }
    match (kind, link.data) {
        (
            SubKind::Macvlan { mode, .. },
            Some(LinkData::Macvlan {
                mode: Some(current),
            }),
        ) if current != *mode => {
            return Err(internal(format!(
                "{plugin}: container macvlan mode {current} does not match expected value {mode}"
            )))
        }
        (
            SubKind::Ipvlan { mode, .. },
            Some(LinkData::Ipvlan {
                mode: Some(current),
                ..
            }),
        ) if current != *mode => {
            return Err(internal(format!(
                "{plugin}: container ipvlan mode {current} does not match expected value {mode}"
            )))
        }
        (SubKind::Vlan { id }, Some(LinkData::Vlan { id: current })) if current != *id => {
            return Err(internal(format!(
                "{plugin}: container interface {name:?} has VLAN id {current}, expected {id}"
            )))
        }
        _ => {}
    }
    if let Some(m) = master {
        if link.parent != Some(m.index) {
            return Err(internal(format!(
                "{plugin}: container interface {name:?} is not on master {:?}",
                m.name
            )));
        }
    }
    check_mac(&format!("{plugin}: interface"), want, link)?;
    if let (Some(want), Some(current)) = (mtu, link.mtu) {
        if want != current {
            return Err(internal(format!(
                "{plugin}: interface {name:?} has MTU {current}, configured {want}"
            )));
        }
    }
    Ok(())
}

/// DEL: the IPAM plugin's DEL (when the configuration names one), then the link; success when
/// the namespace is gone ([`netns::open_for_del`]) or the link is gone.
pub fn del(args: &CmdArgs) -> Result<(), Error> {
    let conf = crate::conf::DelConf::parse(&args.stdin);
    if let Some(ipam_type) = &conf.ipam_type {
        delegate::del(ipam_type, &args.stdin)?;
    }
    let deleted = netns::delete_container_link(args);
    // A link an interrupted ADD left under the attachment's temporary name.
    if let Ok(Some(mut cont)) = netns::open_for_del(args) {
        if let Ok(stale) = cont.link(pending_name(args).as_str()) {
            let _ = cont.delete_link(stale.index);
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use cni::result::{IpConfig, Route};
    use ipnet::IpNet;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn iface(name: &str) -> Interface {
        Interface {
            name: name.into(),
            sandbox: Some("/run/netns/x".into()),
            ..Interface::default()
        }
    }

    fn with_ips(ifaces: &[&str], ips: &[(&str, usize)]) -> Result100 {
        let mut r = Result100::new(SpecVersion::V1_0_0);
        r.interfaces = ifaces.iter().map(|n| iface(n)).collect();
        r.ips = ips
            .iter()
            .map(|(a, i)| IpConfig {
                interface: Some(*i),
                address: net(a),
                gateway: None,
            })
            .collect();
        r
    }

    #[test]
    fn merge_without_prev_takes_config_dns() {
        let mine = with_ips(&["eth0"], &[("10.0.0.2/24", 0)]);
        let dns = Dns {
            nameservers: vec!["10.0.0.1".into()],
            ..Dns::default()
        };
        let out = merge(None, mine.clone(), false, &dns);
        assert_eq!(out.interfaces, mine.interfaces);
        assert_eq!(out.dns, dns);
        // IPAM's dns is replaced even by an empty config dns (as upstream macvlan, ipvlan, vlan).
        let mut with_dns = mine;
        with_dns.dns.domain = Some("ipam".into());
        assert!(merge(None, with_dns, false, &Dns::default()).dns.is_empty());
    }

    #[test]
    fn merge_appends_to_prev() {
        let mut prev = with_ips(&["host0", "net0"], &[("10.9.0.2/24", 1)]);
        prev.routes.push(Route::new(net("10.50.0.0/16"), None));
        prev.dns.domain = Some("prev".into());
        let mut mine = with_ips(&["eth1"], &[("10.0.0.2/24", 0)]);
        mine.routes.push(Route::new(net("0.0.0.0/0"), None));
        let out = merge(Some(prev), mine, false, &Dns::default());
        let names: Vec<&str> = out.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["host0", "net0", "eth1"]);
        let idx: Vec<Option<usize>> = out.ips.iter().map(|i| i.interface).collect();
        assert_eq!(idx, [Some(1), Some(2)]);
        assert_eq!(out.routes.len(), 2);
        assert_eq!(out.dns.domain.as_deref(), Some("prev"));
        assert_eq!(out.cni_version, SpecVersion::LATEST);
        assert!(CniResult::V1(out).validate().is_ok());
    }

    #[test]
    fn merge_moves_prev_addresses() {
        let prev = with_ips(&["net0"], &[("10.9.0.2/24", 0), ("fd00::2/64", 0)]);
        let mine = with_ips(&["eth1"], &[("10.9.0.2/24", 0), ("fd00::2/64", 0)]);
        let dns = Dns {
            domain: Some("conf".into()),
            ..Dns::default()
        };
        let out = merge(Some(prev), mine, true, &dns);
        assert_eq!(out.interfaces.len(), 2);
        assert_eq!(out.ips.len(), 2, "moved, not duplicated");
        assert!(out.ips.iter().all(|i| i.interface == Some(1)));
        assert_eq!(out.dns, dns);
    }

    #[test]
    fn kinds() {
        let m = SubKind::Macvlan {
            mode: MacvlanMode::Bridge,
            bcqueuelen: None,
        };
        let i = SubKind::Ipvlan {
            mode: IpvlanMode::L2,
            flag: None,
        };
        let v = SubKind::Vlan { id: 5 };
        assert_eq!(
            [m.kind_name(), i.kind_name(), v.kind_name()],
            ["macvlan", "ipvlan", "vlan"]
        );
        assert!(m.mtu_bounded_by_master() && v.mtu_bounded_by_master());
        assert!(!i.mtu_bounded_by_master());
        assert!(m.notifies() && i.notifies() && !v.notifies());
    }
}
