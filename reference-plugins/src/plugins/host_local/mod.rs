//! host-local IPAM: addresses from configured ranges, recorded in a store on local disk that
//! upstream's host-local can read and write too.
//!
//! - [`config`]: the `ipam` keys, `runtimeConfig.ipRanges`/`ips`, `args.cni.ips`, `CNI_ARGS IP=`.
//! - [`allocator`]: ranges, range sets and the allocation order (pure).
//! - [`store`]: the files under `<dataDir>/<network>/` and their lock.
//! - [`dns`]: `resolvConf` parsing.
//!
//! The verbs below hold the store lock for their whole run. Error codes: 4 (bad container ID,
//! ifname or `CNI_ARGS IP`), 5 (store I/O), 7 (bad configuration), 50 (STATUS: cannot serve
//! ADD), and the plugin codes [`CODE_NO_ADDRESS`], [`CODE_ADDRESS_UNAVAILABLE`],
//! [`CODE_DUPLICATE`] and [`CODE_NOT_RESERVED`].
//!
//! # Where we differ from upstream host-local, on purpose
//!
//! The store format, the allocation order and the handling of requested addresses are
//! upstream's. Otherwise:
//! - Errors carry spec codes (4, 5, 7, 50) or the plugin codes above; upstream reports 999.
//! - Unknown `CNI_ARGS` keys are ignored (UPSTREAM-9); upstream refuses them unless
//!   `IgnoreUnknown` is set.
//! - Stricter ranges: the gateway must lie in the subnet and be of its family, an IPv4 gateway
//!   may not be the broadcast address (no route can go through it), and `rangeStart` may not
//!   come after `rangeEnd` (upstream accepts all three; the last makes its iterator leave the
//!   subnet). The subnet address and the IPv4 broadcast address are never handed out, even
//!   when an explicit `rangeStart`/`rangeEnd` includes them, and cannot be requested.
//! - The duplicate-allocation check also covers requested addresses (upstream only checks it
//!   for automatic allocation).
//! - The lock is held for the whole verb (all range sets of an ADD), not once per range set.
//! - Only files named by an address are reservations: upstream's id-only fallback could match,
//!   and release, `last_reserved_ip.<n>` when its content equals a container ID.
//! - Symbolic links are never followed in the store (see [`store`]).
//! - DEL, CHECK, GC and STATUS create nothing when the store does not exist (upstream creates
//!   the directory and the lock file for every verb); DEL and GC only need the network name and
//!   `dataDir`, so they still work when the ranges of the configuration became invalid.
//! - CHECK also fails when an address of `prevResult` inside our ranges is not reserved for the
//!   attachment (upstream only looks for any reservation of it).
//! - GC and STATUS are implemented (upstream answers success without doing anything).
//! - If recording `last_reserved_ip` fails, the new reservation is removed again (upstream
//!   leaves it behind while failing the ADD).
//! - Requested addresses are matched to range sets in a fixed order (`IP=`, `args.cni.ips`,
//!   `runtimeConfig.ips`); upstream walks a Go map, so which surplus address it reports varies.

pub mod allocator;
pub mod config;
pub mod dns;
pub mod store;

use crate::plugins::Verbs;
use std::collections::HashSet;
use std::net::IpAddr;

use cni::config::Attachment;
use cni::result::{CniResult, Dns, IpConfig, Result100};
use cni::{Error, ErrorCode, SpecVersion};

use allocator::{Range, RangeSet};
use config::{IpamConfig, Requested, StoreLocation};
use store::{OpenMode, Store};

/// ADD: a range set has no free address left.
pub const CODE_NO_ADDRESS: u32 = 100;
/// ADD: a requested address is already reserved.
pub const CODE_ADDRESS_UNAVAILABLE: u32 = 101;
/// ADD: the (container ID, ifname) already holds an address in a range set.
pub const CODE_DUPLICATE: u32 = 102;
/// CHECK: the reservation of the attachment is gone.
pub const CODE_NOT_RESERVED: u32 = 103;

/// The requested address each range set takes (the first one inside it, in request order),
/// or the requests no range set takes.
fn assign_requests(cfg: &IpamConfig) -> Result<Vec<Option<Requested>>, Vec<Requested>> {
    let mut pending = cfg.requested.clone();
    let assigned = cfg
        .ranges
        .iter()
        .map(|set| {
            let pos = pending.iter().position(|r| set.contains(r.ip))?;
            Some(pending.remove(pos))
        })
        .collect();
    if pending.is_empty() {
        Ok(assigned)
    } else {
        Err(pending)
    }
}

fn usable_in(set: &RangeSet, ip: &IpAddr) -> bool {
    set.range_for(*ip)
        .is_some_and(|r| r.unusable_reason(*ip).is_none())
}

/// ADD: one address from every range set for (id, ifname). On any failure the addresses this
/// call reserved are released again.
pub fn add(cfg: &IpamConfig, id: &str, ifname: &str) -> Result<CniResult, Error> {
    store::check_container_id(id)?;
    store::check_ifname(ifname)?;
    let assigned = assign_requests(cfg).map_err(|left| {
        let list: Vec<String> = left.iter().map(|r| r.ip.to_string()).collect();
        left[0].source.error(format!(
            "failed to allocate all requested IPs: {} (outside every range set, or a range set \
             already takes another requested address)",
            list.join(", ")
        ))
    })?;
    let dns = match &cfg.resolv_conf {
        Some(path) => dns::read_resolv_conf(path)?,
        None => Dns::default(),
    };

    let mut store = Store::open(&cfg.location, OpenMode::Create)?
        .ok_or_else(|| Error::io("host-local store could not be created"))?;
    let entries = store.entries(true)?;
    let mut taken: HashSet<IpAddr> = entries.iter().map(|e| e.ip).collect();
    let mut reserved_now: Vec<IpAddr> = Vec::with_capacity(cfg.ranges.len());
    let mut result = Result100::new(SpecVersion::LATEST);

    let outcome = (|| -> Result<(), Error> {
        for (idx, (set, request)) in cfg.ranges.iter().zip(&assigned).enumerate() {
            if let Some(e) = entries
                .iter()
                .find(|e| (e.is_for(id, ifname) || e.is_legacy_for(id)) && set.contains(e.ip))
            {
                return Err(Error::plugin(
                    CODE_DUPLICATE,
                    format!(
                        "{} is already allocated to container {id} (ifname {ifname}) in range set \
                         {idx}; duplicate allocation is not allowed",
                        e.ip
                    ),
                ));
            }
            let (ip, range) = match request {
                Some(r) => reserve_requested(&store, &taken, set, idx, r, id, ifname)?,
                None => reserve_next(&store, &taken, set, idx, id, ifname)?,
            };
            taken.insert(ip);
            reserved_now.push(ip);
            result.ips.push(IpConfig {
                interface: None,
                address: range.address(ip),
                gateway: Some(range.gateway()),
            });
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        for ip in reserved_now {
            let _ = store.release_ip(ip);
        }
        return Err(e);
    }
    result.routes = cfg.routes.clone();
    result.dns = dns;
    Ok(CniResult::V1(result))
}

fn reserve_requested<'a>(
    store: &Store,
    taken: &HashSet<IpAddr>,
    set: &'a RangeSet,
    idx: usize,
    request: &Requested,
    id: &str,
    ifname: &str,
) -> Result<(IpAddr, &'a Range), Error> {
    let ip = request.ip;
    let range = set
        .range_for(ip)
        .expect("requests are only assigned to range sets that contain them");
    if let Some(why) = range.unusable_reason(ip) {
        return Err(request.source.error(format!(
            "requested IP address {ip} ({}) is {why} of range {range} and cannot be allocated",
            request.source.describe()
        )));
    }
    if taken.contains(&ip) || !store.reserve(ip, id, ifname, idx)? {
        return Err(Error::plugin(
            CODE_ADDRESS_UNAVAILABLE,
            format!("requested IP address {ip} is not available in range set {idx}: {set}"),
        ));
    }
    Ok((ip, range))
}

fn reserve_next<'a>(
    store: &Store,
    taken: &HashSet<IpAddr>,
    set: &'a RangeSet,
    idx: usize,
    id: &str,
    ifname: &str,
) -> Result<(IpAddr, &'a Range), Error> {
    let used = taken.iter().filter(|ip| usable_in(set, ip)).count() as u128;
    if used < set.capacity() {
        for (ip, range) in set.candidates(store.last_reserved(idx)) {
            if !taken.contains(&ip) && store.reserve(ip, id, ifname, idx)? {
                return Ok((ip, range));
            }
        }
    }
    Err(Error::plugin(
        CODE_NO_ADDRESS,
        format!("no IP addresses available in range set {idx}: {set}"),
    ))
}

/// DEL: releases every reservation of (id, ifname) in the network's store. Succeeds when there
/// is none, and when the store does not exist (nothing is created).
pub fn del(loc: &StoreLocation, id: &str, ifname: &str) -> Result<(), Error> {
    store::check_container_id(id)?;
    store::check_ifname(ifname)?;
    let Some(mut store) = Store::open(loc, OpenMode::Existing)? else {
        return Ok(());
    };
    store.release_by_id(id, ifname)?;
    Ok(())
}

/// CHECK: (id, ifname) must hold a reservation, and every address of `prev` that lies in one of
/// the configured range sets must be reserved for it. Creates nothing.
pub fn check(
    cfg: &IpamConfig,
    id: &str,
    ifname: &str,
    prev: Option<&CniResult>,
) -> Result<(), Error> {
    store::check_container_id(id)?;
    store::check_ifname(ifname)?;
    let missing = || {
        Error::plugin(
            CODE_NOT_RESERVED,
            format!(
                "host-local: no address is reserved for container {id} (ifname {ifname}) in \
                 network {}",
                cfg.location.network
            ),
        )
    };
    let Some(mut store) = Store::open(&cfg.location, OpenMode::ReadOnly)? else {
        return Err(missing());
    };
    let entries = store.entries(true)?;
    let mine = store::owned_by(&entries, id, ifname);
    if mine.is_empty() {
        return Err(missing());
    }
    if let Some(prev) = prev {
        for ip in prev.to_v1().ips.iter().map(|c| c.address.addr()) {
            let ours = cfg.ranges.iter().any(|s| s.contains(ip));
            if ours && !mine.iter().any(|e| e.ip == ip.to_canonical()) {
                return Err(Error::plugin(
                    CODE_NOT_RESERVED,
                    format!(
                        "host-local: {ip} from prevResult is not reserved for container {id} \
                         (ifname {ifname})"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// GC: releases every reservation of the network not owned by one of `valid`. `None` (the
/// request named no valid attachments) removes nothing.
pub fn gc(loc: &StoreLocation, valid: Option<&[Attachment]>) -> Result<(), Error> {
    let Some(valid) = valid else {
        return Ok(());
    };
    let Some(mut store) = Store::open(loc, OpenMode::Existing)? else {
        return Ok(());
    };
    store.gc(valid)?;
    Ok(())
}

/// STATUS: code 50 when the store cannot be created or written, or when a range set has no
/// free address. Creates nothing.
pub fn status(cfg: &IpamConfig) -> Result<(), Error> {
    status_of(&cfg.location, &cfg.ranges)
}

/// [`status`] of the store at `location` with the range sets `ranges` (none: the ranges come
/// from the runtime's `ipRanges` at ADD, and only the store is judged).
fn status_of(location: &StoreLocation, ranges: &[RangeSet]) -> Result<(), Error> {
    let unavailable = |msg: String| Error::new(ErrorCode::PluginNotAvailable, msg);
    store::check_usable(location).map_err(|why| {
        unavailable("host-local data directory is not usable".into()).with_details(why)
    })?;
    let store = Store::open(location, OpenMode::ReadOnly)
        .map_err(|e| unavailable("host-local store is not usable".into()).with_details(e))?;
    let Some(mut store) = store else {
        return Ok(());
    };
    let entries = store
        .entries(false)
        .map_err(|e| unavailable("host-local store is not readable".into()).with_details(e))?;
    for (idx, set) in ranges.iter().enumerate() {
        let used = entries.iter().filter(|e| usable_in(set, &e.ip)).count() as u128;
        if used >= set.capacity() {
            return Err(unavailable(format!(
                "no IP addresses available in range set {idx}: {set}"
            )));
        }
    }
    Ok(())
}

// ----- the plugin --------------------------------------------------------------------------

/// Whether a request's config enables the `ipRanges` capability and names no ranges of its
/// own (`ipam.ranges`, `ipam.subnet`).
fn ranges_from_runtime(conf: &cni::config::NetConf) -> bool {
    let enabled = conf.capabilities.as_ref().and_then(|c| c.get("ipRanges")) == Some(&true);
    let ipam = conf.ipam.as_ref();
    let own = |k: &str| {
        ipam.and_then(|i| i.extra.get(k))
            .is_some_and(|v| !v.is_null())
    };
    enabled && !own("ranges") && !own("subnet")
}

fn config_of(args: &cni::CmdArgs) -> Result<IpamConfig, Error> {
    IpamConfig::parse(&args.stdin, &args.args, args.version)
}

/// The plan of `args`'s verb ([`crate::plan`]): the store directory ADD, DEL and GC write
/// in, from the same decoding the verbs start with; CHECK and STATUS only read.
pub fn plan(args: &cni::CmdArgs) -> Result<crate::plan::Plan, Error> {
    use crate::plan::{Plan, Touch};
    use cni::Command;
    let mut plan = Plan::new("host-local", args.command);
    match args.command {
        Command::Add => {
            let cfg = config_of(args)?;
            store::check_container_id(&args.container_id)?;
            store::check_ifname(&args.ifname)?;
            plan.push(Touch::DirEntries(store::dir(&cfg.location)?));
        }
        Command::Del => {
            let location = StoreLocation::parse(&args.stdin)?;
            plan.push(Touch::DirEntries(store::dir(&location)?));
        }
        Command::Gc => {
            let location = StoreLocation::parse(&args.stdin)?;
            if args.conf.gc_valid_attachments().is_some() {
                plan.push(Touch::DirEntries(store::dir(&location)?));
            }
        }
        Command::Check => {
            args.prev_result()?;
            config_of(args)?;
        }
        Command::Status => {
            if config_of(args).is_err() && ranges_from_runtime(&args.conf) {
                StoreLocation::parse(&args.stdin)?;
            } else {
                config_of(args)?;
            }
        }
        Command::Version => {}
    }
    Ok(plan)
}

/// What `src/bin/host-local.rs` runs. DEL and GC only need the store's location, so they
/// work even when the ranges of the configuration became invalid.
pub const PLUGIN: Verbs = Verbs {
    name: "host-local",
    add: |args| add(&config_of(args)?, &args.container_id, &args.ifname),
    check: |args| {
        let prev = args.prev_result()?;
        check(
            &config_of(args)?,
            &args.container_id,
            &args.ifname,
            prev.as_ref(),
        )
    },
    del: |args| {
        let location = StoreLocation::parse(&args.stdin)?;
        del(&location, &args.container_id, &args.ifname)
    },
    status: |args| match config_of(args) {
        Ok(cfg) => status(&cfg),
        // STATUS carries no runtimeConfig: a config that takes its ranges from the ipRanges
        // capability names none, and is ready when its store is.
        Err(_) if ranges_from_runtime(&args.conf) => {
            status_of(&StoreLocation::parse(&args.stdin)?, &[])
        }
        Err(e) => Err(e),
    },
    gc: |args| {
        let valid = args.conf.gc_valid_attachments();
        gc(&StoreLocation::parse(&args.stdin)?, valid.as_deref())
    },
};
