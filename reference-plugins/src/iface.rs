//! Plumbing the interface plugins (bridge, ptp, macvlan, ipvlan, vlan) share, on top of
//! [`crate::netlink`].
//!
//! What this module owns, and what it leaves to others:
//! - namespaces: [`run_in_netns`] runs a closure on a short-lived thread inside a namespace,
//!   for the few things netlink cannot do from outside. The calling thread never changes
//!   namespace (opening the container's namespace per verb is [`crate::netns`]'s);
//! - sysctls of a namespace ([`sysctl_get`], [`sysctl_set`] and the named helpers):
//!   `/proc/sys/net/...` shows the namespace of the thread that opens it, so each access runs
//!   on a thread inside the target namespace. Keys are slash-separated (`net/ipv4/ip_forward`)
//!   so that interface names with dots (`eth0.100`) stay one component;
//! - veth pairs between a container and the host ([`setup_veth`]), with random host names
//!   ([`random_veth_name`]) retried on collision;
//! - applying an IPAM result to a container interface ([`configure_from_result`]: addresses,
//!   IPv6 enablement, link up, DAD settling, routes), with the observable behaviour of
//!   upstream's `ipam.ConfigureIface`;
//! - DEL-side helpers ([`delete_link_and_addrs`]) and dump filters ([`links_with_parent`]);
//! - MAC addresses as text and at random ([`parse_mac`], [`format_mac`], [`random_mac`]).
//!
//! The plugins own everything else: which links to make, which sysctls to set when, the
//! result they print, firewall rules.

use std::fs::File;
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use cni::result::Result100;
use ipnet::IpNet;

pub use crate::netlink::format_mac;
use crate::netlink::{self, AddressSpec, Family, Link, LinkSpec, Netlink, NetlinkError, RouteAdd};

/// How long [`configure_from_result`] waits for IPv6 addresses to leave the tentative state.
pub const DAD_SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`settle_addresses`] looks again.
const SETTLE_INTERVAL: Duration = Duration::from_millis(50);
/// How many random host veth names [`setup_veth`] tries.
const VETH_NAME_TRIES: usize = 10;

/// What the shared plumbing failed with.
#[derive(Debug, thiserror::Error)]
pub enum IfaceError {
    /// A netlink operation failed; the error names the operation.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// A netlink operation failed, with what we were doing.
    #[error("{what}: {source}")]
    Op {
        what: String,
        #[source]
        source: NetlinkError,
    },
    /// Reading or writing a sysctl failed.
    #[error("sysctl {key}: {source}")]
    Sysctl { key: String, source: io::Error },
    /// A thread could not enter the namespace.
    #[error("cannot enter the network namespace: {0}")]
    EnterNetns(io::Error),
    /// A name is taken (the container interface name, or an explicit host veth name).
    #[error("{0}")]
    Exists(String),
    /// Bad input: a MAC address, a sysctl key, a result that names another interface.
    #[error("{0}")]
    Invalid(String),
    /// IPv6 duplicate address detection failed or did not finish.
    #[error("{0}")]
    Dad(String),
}

impl IfaceError {
    /// The netlink error inside, if this is one.
    pub fn netlink(&self) -> Option<&NetlinkError> {
        match self {
            IfaceError::Netlink(e) | IfaceError::Op { source: e, .. } => Some(e),
            _ => None,
        }
    }

    /// No such link, address or route.
    pub fn is_not_found(&self) -> bool {
        self.netlink().is_some_and(NetlinkError::is_not_found)
    }

    fn op(what: impl Into<String>) -> impl FnOnce(NetlinkError) -> IfaceError {
        let what = what.into();
        move |source| IfaceError::Op { what, source }
    }
}

impl From<IfaceError> for cni::Error {
    fn from(e: IfaceError) -> cni::Error {
        cni::Error::internal(e.to_string())
    }
}

pub type Result<T, E = IfaceError> = std::result::Result<T, E>;

// ----- namespaces ------------------------------------------------------------------------

/// Runs `f` on a new thread that has entered the namespace open at `netns` (for example
/// [`Netlink::netns`]), and returns its value. A panic in `f` is resumed here.
pub fn run_in_netns<T: Send>(netns: BorrowedFd<'_>, f: impl FnOnce() -> T + Send) -> Result<T> {
    let fd = netns.as_raw_fd();
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            // SAFETY: plain system call; the descriptor stays open (borrowed) while the
            // scoped thread runs. The thread ends right after `f`, so its namespace does not
            // leak into other work.
            if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                return Err(IfaceError::EnterNetns(io::Error::last_os_error()));
            }
            Ok(f())
        });
        match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

// ----- sysctls ---------------------------------------------------------------------------

/// `/proc/sys/<key>` for a slash-separated key; refuses keys that could leave `/proc/sys`.
fn sysctl_path(key: &str) -> Result<String> {
    let key = key.trim_start_matches('/');
    let ok = !key.is_empty()
        && key
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    if !ok {
        return Err(IfaceError::Invalid(format!("invalid sysctl key {key:?}")));
    }
    Ok(format!("/proc/sys/{key}"))
}

/// Checks an interface name before it becomes part of a sysctl path.
fn ifname_component(ifname: &str) -> Result<&str> {
    if ifname.is_empty() || ifname == "." || ifname == ".." || ifname.contains('/') {
        return Err(IfaceError::Invalid(format!(
            "invalid interface name {ifname:?}"
        )));
    }
    Ok(ifname)
}

/// Reads sysctl `key` (`net/ipv4/ip_forward`) in the namespace open at `netns`, without the
/// trailing newline.
pub fn sysctl_get(netns: BorrowedFd<'_>, key: &str) -> Result<String> {
    let path = sysctl_path(key)?;
    let read = run_in_netns(netns, || -> io::Result<String> {
        let mut s = String::new();
        File::open(&path)?.read_to_string(&mut s)?;
        Ok(s.trim_end_matches('\n').to_string())
    })?;
    read.map_err(|source| IfaceError::Sysctl {
        key: key.to_string(),
        source,
    })
}

/// Writes sysctl `key` in the namespace open at `netns`.
pub fn sysctl_set(netns: BorrowedFd<'_>, key: &str, value: &str) -> Result<()> {
    let path = sysctl_path(key)?;
    let written = run_in_netns(netns, || std::fs::write(&path, value))?;
    written.map_err(|source| IfaceError::Sysctl {
        key: key.to_string(),
        source,
    })
}

/// Writes `value` unless the sysctl already holds it (so a read-only `/proc/sys` that already
/// has the right value is no error). Returns whether it wrote.
fn sysctl_ensure(netns: BorrowedFd<'_>, key: &str, value: &str) -> Result<bool> {
    if sysctl_get(netns, key)? == value {
        return Ok(false);
    }
    sysctl_set(netns, key, value).map(|()| true)
}

/// Turns on forwarding for `family` in the namespace: `net/ipv4/ip_forward` or
/// `net/ipv6/conf/all/forwarding`. No write when it is on already.
pub fn enable_ip_forward(netns: BorrowedFd<'_>, family: Family) -> Result<()> {
    let key = match family {
        Family::V4 => "net/ipv4/ip_forward",
        Family::V6 => "net/ipv6/conf/all/forwarding",
    };
    sysctl_ensure(netns, key, "1").map(drop)
}

/// Turns on forwarding for each family that has an address in `result`.
pub fn enable_forward_for(netns: BorrowedFd<'_>, result: &Result100) -> Result<()> {
    for family in [Family::V4, Family::V6] {
        if result
            .ips
            .iter()
            .any(|ip| Family::of(&ip.address.addr()) == family)
        {
            enable_ip_forward(netns, family)?;
        }
    }
    Ok(())
}

/// IPv6 duplicate address detection on `ifname`: `accept_dad` 1 (with `enhanced_dad` 1
/// where the kernel has it) or 0.
pub fn set_dad(netns: BorrowedFd<'_>, ifname: &str, enabled: bool) -> Result<()> {
    let ifname = ifname_component(ifname)?;
    if enabled {
        // Optional: older kernels lack it.
        let _ = sysctl_set(netns, &format!("net/ipv6/conf/{ifname}/enhanced_dad"), "1");
    }
    let value = if enabled { "1" } else { "0" };
    sysctl_set(netns, &format!("net/ipv6/conf/{ifname}/accept_dad"), value)
}

/// `net/ipv4/conf/<ifname>/arp_notify`: send gratuitous ARP when the link comes up or its
/// address changes.
pub fn set_arp_notify(netns: BorrowedFd<'_>, ifname: &str, on: bool) -> Result<()> {
    let ifname = ifname_component(ifname)?;
    let key = format!("net/ipv4/conf/{ifname}/arp_notify");
    sysctl_set(netns, &key, if on { "1" } else { "0" })
}

/// `net/ipv6/conf/<ifname>/ndisc_notify`: the IPv6 counterpart of [`set_arp_notify`].
pub fn set_ndisc_notify(netns: BorrowedFd<'_>, ifname: &str, on: bool) -> Result<()> {
    let ifname = ifname_component(ifname)?;
    let key = format!("net/ipv6/conf/{ifname}/ndisc_notify");
    sysctl_set(netns, &key, if on { "1" } else { "0" })
}

/// `net/ipv6/conf/<ifname>/accept_ra` = 0: the plugin, not router advertisements, owns the
/// interface's routes.
pub fn disable_accept_ra(netns: BorrowedFd<'_>, ifname: &str) -> Result<()> {
    let ifname = ifname_component(ifname)?;
    sysctl_set(netns, &format!("net/ipv6/conf/{ifname}/accept_ra"), "0")
}

/// Makes sure IPv6 is not disabled on `ifname` (`disable_ipv6` = 0). A sysctl that cannot be
/// read (no IPv6 at all) is skipped, as upstream does; one that cannot be written is an error.
pub fn enable_ipv6(netns: BorrowedFd<'_>, ifname: &str) -> Result<()> {
    let ifname = ifname_component(ifname)?;
    let key = format!("net/ipv6/conf/{ifname}/disable_ipv6");
    match sysctl_get(netns, &key) {
        Err(IfaceError::Sysctl { .. }) => Ok(()),
        Err(e) => Err(e),
        Ok(v) if v == "0" => Ok(()),
        Ok(_) => sysctl_set(netns, &key, "0"),
    }
}

/// `net/ipv6/conf/<ifname>/keep_addr_on_down` = 1: IPv6 addresses survive the link going
/// down.
pub fn keep_addr_on_down(netns: BorrowedFd<'_>, ifname: &str) -> Result<()> {
    let ifname = ifname_component(ifname)?;
    sysctl_set(
        netns,
        &format!("net/ipv6/conf/{ifname}/keep_addr_on_down"),
        "1",
    )
}

// ----- veth pairs ------------------------------------------------------------------------

/// Both ends of a veth pair made by [`setup_veth`], as read back after creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethPair {
    /// The host end, up.
    pub host: Link,
    /// The container end, still down (see [`configure_from_result`]).
    pub container: Link,
}

/// Creates a veth pair: `ifname` in the container's namespace (the one `container` works in)
/// and its peer in the host's (`host`'s), named `host_name` or, when `None`, a
/// [`random_veth_name`] (retried on collision). `mtu` applies to both ends, `mac` to the
/// container end. The host end is set up, with `accept_ra` off; the container end is left
/// down.
///
/// A taken `ifname`, or a taken explicit `host_name`, is [`IfaceError::Exists`].
pub fn setup_veth(
    container: &mut Netlink,
    host: &mut Netlink,
    ifname: &str,
    host_name: Option<&str>,
    mtu: Option<u32>,
    mac: Option<[u8; 6]>,
) -> Result<VethPair> {
    let mut created = None;
    for _ in 0..VETH_NAME_TRIES {
        let peer = host_name.map_or_else(random_veth_name, str::to_string);
        let outcome = {
            let mut spec = LinkSpec::veth(ifname, &peer, Some(host.netns()));
            spec.mtu = mtu;
            spec.mac = mac;
            container.create_link(&spec)
        };
        match outcome {
            Ok(()) => {
                created = Some(peer);
                break;
            }
            Err(e) if e.is_exists() => {
                let peer_taken = host.link(peer.as_str()).is_ok();
                if peer_taken && host_name.is_none() {
                    continue;
                }
                return Err(IfaceError::Exists(format!(
                    "cannot create veth pair {ifname:?}/{peer:?}: {} already exists",
                    if peer_taken {
                        format!("host interface {peer:?}")
                    } else {
                        format!("container interface {ifname:?}")
                    }
                )));
            }
            Err(e) => return Err(IfaceError::op("create veth pair")(e)),
        }
    }
    let Some(peer) = created else {
        return Err(IfaceError::Exists(format!(
            "no free host veth name after {VETH_NAME_TRIES} tries"
        )));
    };
    let cont = container
        .link(ifname)
        .map_err(IfaceError::op(format!("look up {ifname:?}")))?;
    let host_link = host.link(peer.as_str()).map_err(IfaceError::op(format!(
        "look up {peer:?} in the host namespace"
    )))?;
    host.set_up(host_link.index)
        .map_err(IfaceError::op(format!("set {peer:?} up")))?;
    // The plugin owns the host end's routes; a failure here is not worth failing ADD.
    let _ = disable_accept_ra(host.netns(), &peer);
    let host_link = host.link(host_link.index).map_err(IfaceError::op(format!(
        "look up {peer:?} in the host namespace"
    )))?;
    Ok(VethPair {
        host: host_link,
        container: cont,
    })
}

/// `veth` and eight random hex digits (what upstream names host ends; NetworkManager leaves
/// `veth*` alone).
pub fn random_veth_name() -> String {
    let b: [u8; 4] = random_bytes();
    format!("veth{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
}

// ----- applying a result -----------------------------------------------------------------

/// Applies the IPAM result `result` to interface `ifname` (index `ifindex`) in `nl`'s
/// namespace, the way upstream's `ipam.ConfigureIface` does:
///
/// 1. `result.interfaces` must not be empty;
/// 2. every `ips` entry with an `interface` index must point at an interface named `ifname`
///    (entries without one are skipped); its address is added, IPv4 ones with the subnet's
///    broadcast address. Before the first IPv6 address, IPv6 is enabled on `lo` and
///    `ifname` and `keep_addr_on_down` set on `ifname`. The first IPv4 and first IPv6
///    gateway are remembered;
/// 3. the link is set up; if there is an IPv6 gateway, we wait (up to
///    [`DAD_SETTLE_TIMEOUT`]) for its IPv6 addresses to leave the tentative state;
/// 4. every route of `result.routes` is added on `ifname`, through its own gateway or else
///    the remembered gateway of its family, with its metric, table and scope (its `mtu` and
///    `advmss` are not applied, as upstream). Routes are added without `NLM_F_EXCL`, like
///    Go's `RouteAddEcmp`.
pub fn configure_from_result(
    nl: &mut Netlink,
    ifindex: u32,
    result: &Result100,
    ifname: &str,
) -> Result<()> {
    if result.interfaces.is_empty() {
        return Err(IfaceError::Invalid(format!(
            "cannot configure {ifname:?}: the result has no interfaces"
        )));
    }
    let (mut gw4, mut gw6) = (None, None);
    let mut ipv6_enabled = false;
    for ipc in &result.ips {
        let Some(i) = ipc.interface else {
            continue;
        };
        if result.interfaces.get(i).map(|iface| iface.name.as_str()) != Some(ifname) {
            return Err(IfaceError::Invalid(format!(
                "cannot add address {} to {ifname:?}: its interface index {i} names another \
                 interface",
                ipc.address
            )));
        }
        let v6 = ipc.address.addr().is_ipv6();
        if v6 && !ipv6_enabled {
            for name in ["lo", ifname] {
                enable_ipv6(nl.netns(), name)?;
            }
            keep_addr_on_down(nl.netns(), ifname)?;
            ipv6_enabled = true;
        }
        let spec = AddressSpec::new(ipc.address).with_default_broadcast();
        nl.add_address(ifindex, &spec)
            .map_err(IfaceError::op(format!(
                "add address {} to {ifname:?}",
                ipc.address
            )))?;
        match ipc.gateway {
            Some(gw @ IpAddr::V4(_)) if gw4.is_none() => gw4 = Some(gw),
            Some(gw @ IpAddr::V6(_)) if gw6.is_none() => gw6 = Some(gw),
            _ => {}
        }
    }

    nl.set_up(ifindex)
        .map_err(IfaceError::op(format!("set {ifname:?} up")))?;

    if gw6.is_some() {
        settle_addresses(nl, ifindex, DAD_SETTLE_TIMEOUT)?;
    }

    for r in &result.routes {
        let gw = r.gw.or(match r.dst {
            IpNet::V4(_) => gw4,
            IpNet::V6(_) => gw6,
        });
        let mut route = netlink::Route::new(r.dst).dev(ifindex);
        route.gateway = gw;
        route.priority = r.priority;
        route.table = r.table;
        route.scope = r.scope;
        nl.add_route_with(&route, RouteAdd::Append)
            .map_err(IfaceError::op(format!(
                "add route {}{} on {ifname:?}",
                r.dst,
                gw.map(|g| format!(" via {g}")).unwrap_or_default()
            )))?;
    }
    Ok(())
}

/// Waits until no IPv6 address of link `index` is tentative (duplicate address detection
/// done). Fails at once if one failed DAD; after `timeout`, fails only if the link is
/// operationally up (a link without carrier never finishes DAD, and that is not an error).
pub fn settle_addresses(nl: &mut Netlink, index: u32, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let addrs = nl
            .addresses(index, Some(Family::V6))
            .map_err(IfaceError::op("list IPv6 addresses"))?;
        if let Some(bad) = addrs.iter().find(|a| a.is_dad_failed()) {
            return Err(IfaceError::Dad(format!(
                "IPv6 address {} failed duplicate address detection",
                bad.addr
            )));
        }
        if !addrs.iter().any(|a| a.is_tentative()) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let link = nl.link(index).map_err(IfaceError::op("look up link"))?;
            if link.is_oper_up() {
                return Err(IfaceError::Dad(format!(
                    "{:?} still has tentative IPv6 addresses after {timeout:?}",
                    link.name
                )));
            }
            return Ok(());
        }
        std::thread::sleep(SETTLE_INTERVAL);
    }
}

// ----- DEL and dumps ---------------------------------------------------------------------

/// Deletes link `name` and returns the global unicast addresses it carried (for tearing down
/// what was set up for them, such as masquerading). `Ok(None)`: there is no such link.
pub fn delete_link_and_addrs(nl: &mut Netlink, name: &str) -> Result<Option<Vec<IpNet>>> {
    let link = match nl.link(name) {
        Ok(link) => link,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(IfaceError::op(format!("look up {name:?}"))(e)),
    };
    let addrs = nl
        .addresses(link.index, None)
        .map_err(IfaceError::op(format!("list addresses of {name:?}")))?;
    match nl.delete_link(link.index) {
        Ok(()) => {}
        // Gone in the meantime (a veth whose peer was deleted): as good as deleted.
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(IfaceError::op(format!("delete {name:?}"))(e)),
    }
    Ok(Some(
        addrs
            .iter()
            .filter(|a| is_global_unicast(&a.addr))
            .map(|a| a.net())
            .collect(),
    ))
}

/// What Go's `IP.IsGlobalUnicast` accepts: not unspecified, loopback, multicast, link-local
/// or the IPv4 broadcast address.
fn is_global_unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_multicast()
                || v4.is_link_local()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => {
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// Links of `nl`'s namespace whose `IFLA_LINK` is `parent`: the host end of a veth whose
/// container end reported `parent` as its peer index, or the macvlan/ipvlan/vlan links of a
/// lower device. Indexes are per namespace: a veth peer index names a link in the peer's
/// namespace, and may equal an unrelated index here.
pub fn links_with_parent(nl: &mut Netlink, parent: u32) -> Result<Vec<Link>> {
    Ok(nl
        .links()
        .map_err(IfaceError::op("list links"))?
        .into_iter()
        .filter(|l| l.parent == Some(parent))
        .collect())
}

// ----- MAC addresses ---------------------------------------------------------------------

/// Parses a 6-byte MAC address: `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or
/// `aabb.ccdd.eeff` (the forms Go's `net.ParseMAC` reads for Ethernet), any case.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || IfaceError::Invalid(format!("invalid MAC address {s:?}"));
    let hex_pair = |p: &str| -> Option<u8> {
        (p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u8::from_str_radix(p, 16).ok())
            .flatten()
    };
    let mut out = [0u8; 6];
    if s.len() == 17 {
        let sep = s.as_bytes()[2];
        if sep != b':' && sep != b'-' {
            return Err(bad());
        }
        let parts: Vec<&str> = s.split(sep as char).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        for (o, p) in out.iter_mut().zip(parts) {
            *o = hex_pair(p).ok_or_else(bad)?;
        }
        return Ok(out);
    }
    if s.len() == 14 {
        let groups: Vec<&str> = s.split('.').collect();
        if groups.len() != 3 || groups.iter().any(|g| g.len() != 4) {
            return Err(bad());
        }
        for (i, g) in groups.iter().enumerate() {
            out[2 * i] = hex_pair(&g[..2]).ok_or_else(bad)?;
            out[2 * i + 1] = hex_pair(&g[2..]).ok_or_else(bad)?;
        }
        return Ok(out);
    }
    Err(bad())
}

/// A random locally administered unicast MAC address.
pub fn random_mac() -> [u8; 6] {
    let mut mac: [u8; 6] = random_bytes();
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// Bytes from the kernel's random source (`getrandom(2)`, else `/dev/urandom`). Names and
/// MACs need no secrecy, so if both fail (they do not, short of a broken system) the bytes
/// come from the clock, the PID and a counter.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SAFETY: the buffer is valid for N bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), N, 0) };
    if n == N as isize {
        return buf;
    }
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
    {
        return buf;
    }
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for chunk in buf.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let v = h.finish().to_ne_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use cni::result::{Interface, IpConfig, Route as ResultRoute};
    use cni::SpecVersion;
    use netns_sandbox::Netns;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn macs() {
        let want = [0x0a, 0x58, 0x0a, 0xf4, 0x00, 0xff];
        assert_eq!(parse_mac("0a:58:0a:f4:00:ff").unwrap(), want);
        assert_eq!(parse_mac("0A-58-0A-F4-00-FF").unwrap(), want);
        assert_eq!(parse_mac("0a58.0af4.00ff").unwrap(), want);
        for bad in [
            "",
            "0a:58:0a:f4:00",
            "0a:58:0a:f4:00:ff:01",
            "0a:58-0a:f4:00:ff",
            "0g:58:0a:f4:00:ff",
            "0a:58:0a:f4:00:+f",
            "0a58.0af4.00f",
            "0a58:0af4:00ff",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_mac(&want), "0a:58:0a:f4:00:ff");
        for _ in 0..64 {
            let m = random_mac();
            assert_eq!(m[0] & 0x03, 0x02, "locally administered unicast");
            assert_eq!(parse_mac(&format_mac(&m)).unwrap(), m);
        }
        assert_ne!(random_mac(), random_mac());
    }

    #[test]
    fn veth_names() {
        let names: std::collections::HashSet<String> =
            (0..100).map(|_| random_veth_name()).collect();
        assert_eq!(names.len(), 100);
        for n in &names {
            assert_eq!(n.len(), 12);
            assert!(n.starts_with("veth"));
            assert!(n[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }

    #[test]
    fn sysctl_keys_stay_in_proc_sys() {
        assert_eq!(
            sysctl_path("net/ipv4/ip_forward").unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("/net/ipv4/conf/eth0.100/arp_notify").unwrap(),
            "/proc/sys/net/ipv4/conf/eth0.100/arp_notify"
        );
        for bad in ["", "net/../../etc/passwd", "net//x", "net/./x", "/"] {
            assert!(
                matches!(sysctl_path(bad), Err(IfaceError::Invalid(_))),
                "{bad:?}"
            );
        }
        let own = File::open("/proc/thread-self/ns/net").unwrap();
        assert!(set_arp_notify(own.as_fd(), "../all", true).is_err());
        assert!(set_dad(own.as_fd(), "", true).is_err());
    }

    #[test]
    fn sysctls_land_in_the_namespace() {
        let ns = Netns::new("if-sysctl").unwrap();
        let ours = File::open("/proc/thread-self/ns/net").unwrap();
        let before = sysctl_get(ours.as_fd(), "net/ipv4/ip_forward").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        let fd = nl.netns();
        // A new namespace starts with init_net's IPv4 settings (`conf/all` and `conf/default`
        // are copied while net.core.devconf_inherit_init_net is 0), so on a host that forwards
        // (every Docker or Kubernetes node) ip_forward is already 1 here. Start this namespace,
        // and only it, from 0, so that the 1 below is the code's doing.
        let started = sysctl_get(fd, "net/ipv4/ip_forward").unwrap();
        if started != "0" {
            sysctl_set(fd, "net/ipv4/ip_forward", "0").unwrap();
        }
        assert_eq!(sysctl_get(fd, "net/ipv4/ip_forward").unwrap(), "0");
        enable_ip_forward(fd, Family::V4).unwrap();
        enable_ip_forward(fd, Family::V4).unwrap();
        enable_ip_forward(fd, Family::V6).unwrap();
        assert_eq!(sysctl_get(fd, "net/ipv4/ip_forward").unwrap(), "1");
        assert_eq!(sysctl_get(fd, "net/ipv6/conf/all/forwarding").unwrap(), "1");
        assert_eq!(
            sysctl_get(ours.as_fd(), "net/ipv4/ip_forward").unwrap(),
            before,
            "the caller's namespace is untouched"
        );

        nl.create_link(&LinkSpec::veth("eth0", "peer0", None))
            .unwrap();
        let fd = nl.netns();
        set_dad(fd, "eth0", false).unwrap();
        assert_eq!(
            sysctl_get(fd, "net/ipv6/conf/eth0/accept_dad").unwrap(),
            "0"
        );
        set_dad(fd, "eth0", true).unwrap();
        assert_eq!(
            sysctl_get(fd, "net/ipv6/conf/eth0/accept_dad").unwrap(),
            "1"
        );
        set_arp_notify(fd, "eth0", true).unwrap();
        assert_eq!(
            sysctl_get(fd, "net/ipv4/conf/eth0/arp_notify").unwrap(),
            "1"
        );
        set_ndisc_notify(fd, "eth0", true).unwrap();
        disable_accept_ra(fd, "eth0").unwrap();
        assert_eq!(sysctl_get(fd, "net/ipv6/conf/eth0/accept_ra").unwrap(), "0");
        sysctl_set(fd, "net/ipv6/conf/eth0/disable_ipv6", "1").unwrap();
        enable_ipv6(fd, "eth0").unwrap();
        assert_eq!(
            sysctl_get(fd, "net/ipv6/conf/eth0/disable_ipv6").unwrap(),
            "0"
        );
        keep_addr_on_down(fd, "eth0").unwrap();
        // No such interface.
        let e = set_arp_notify(fd, "nosuch0", true).unwrap_err();
        assert!(matches!(e, IfaceError::Sysctl { .. }), "{e:?}");
        assert!(enable_ipv6(fd, "nosuch0").is_ok(), "unreadable is skipped");
    }

    #[test]
    fn threads_enter_and_leave() {
        let ns = Netns::new("if-thread").unwrap();
        let f = File::open(ns.path()).unwrap();
        let inode = |p: &str| std::fs::metadata(p).unwrap().ino();
        let own = inode("/proc/thread-self/ns/net");
        let seen = run_in_netns(f.as_fd(), || inode("/proc/thread-self/ns/net")).unwrap();
        assert_eq!(seen, std::fs::metadata(ns.path()).unwrap().ino());
        assert_eq!(inode("/proc/thread-self/ns/net"), own);
        // Not a namespace.
        let not_ns = File::open("/proc/self/status").unwrap();
        let e = run_in_netns(not_ns.as_fd(), || ()).unwrap_err();
        assert!(matches!(e, IfaceError::EnterNetns(_)), "{e:?}");
    }

    #[test]
    fn errors_become_internal_cni_errors() {
        let e = IfaceError::Invalid("bad".into());
        let as_cni: cni::Error = e.into();
        assert_eq!(as_cni.code.code(), cni::error::INTERNAL_ERROR_CODE);
        assert_eq!(as_cni.msg, "bad");
    }

    #[test]
    fn veth_setup_names_and_collisions() {
        let cont = Netns::new("if-veth-c").unwrap();
        let host = Netns::new("if-veth-h").unwrap();
        let mut c = Netlink::open_in(cont.path()).unwrap();
        let mut h = Netlink::open_in(host.path()).unwrap();
        let mac = [0x02, 0xaa, 0, 0, 0, 1];
        let pair = setup_veth(&mut c, &mut h, "eth0", None, Some(1400), Some(mac)).unwrap();
        assert!(pair.host.name.starts_with("veth"));
        assert!(pair.host.is_up());
        assert!(!pair.container.is_up());
        assert_eq!(pair.container.mac.as_deref(), Some(&mac[..]));
        assert_eq!(
            (pair.host.mtu, pair.container.mtu),
            (Some(1400), Some(1400))
        );
        assert_eq!(pair.container.veth_peer_index(), Some(pair.host.index));
        let found = links_with_parent(&mut h, pair.container.index).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, pair.host.name);
        assert_eq!(
            sysctl_get(
                h.netns(),
                &format!("net/ipv6/conf/{}/accept_ra", pair.host.name)
            )
            .unwrap(),
            "0"
        );

        // The container name is taken.
        let e = setup_veth(&mut c, &mut h, "eth0", None, None, None).unwrap_err();
        assert!(matches!(e, IfaceError::Exists(_)), "{e}");
        assert!(e.to_string().contains("\"eth0\""), "{e}");
        // An explicit host name that is taken.
        let e = setup_veth(&mut c, &mut h, "eth1", Some(&pair.host.name), None, None).unwrap_err();
        assert!(matches!(e, IfaceError::Exists(_)), "{e}");
        assert!(e.to_string().contains(&pair.host.name), "{e}");
        // An explicit free one.
        let p2 = setup_veth(&mut c, &mut h, "eth1", Some("hostside1"), None, None).unwrap();
        assert_eq!(p2.host.name, "hostside1");

        // DEL: addresses come back, then nothing is there.
        c.add_address(p2.container.index, &AddressSpec::new(net("10.22.0.2/24")))
            .unwrap();
        let addrs = delete_link_and_addrs(&mut c, "eth1").unwrap().unwrap();
        assert_eq!(addrs, vec![net("10.22.0.2/24")]);
        assert!(h.link("hostside1").unwrap_err().is_not_found());
        assert_eq!(delete_link_and_addrs(&mut c, "eth1").unwrap(), None);
        assert!(delete_link_and_addrs(&mut c, "eth0")
            .unwrap()
            .unwrap()
            .is_empty());
        assert_eq!(h.links().unwrap().len(), 1);
    }

    fn result_for(ifname: &str) -> Result100 {
        let mut r = Result100::new(SpecVersion::LATEST);
        r.interfaces.push(Interface {
            name: "host0".into(),
            ..Interface::default()
        });
        r.interfaces.push(Interface {
            name: ifname.into(),
            sandbox: Some("/x".into()),
            ..Interface::default()
        });
        r
    }

    #[test]
    fn configure_refuses_what_upstream_refuses() {
        let ns = Netns::new("if-conf-bad").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        nl.create_link(&LinkSpec::veth("eth0", "peer0", None))
            .unwrap();
        let idx = nl.link("eth0").unwrap().index;

        let empty = Result100::new(SpecVersion::LATEST);
        let e = configure_from_result(&mut nl, idx, &empty, "eth0").unwrap_err();
        assert!(matches!(e, IfaceError::Invalid(_)), "{e}");

        let mut other = result_for("eth0");
        other.ips.push(IpConfig {
            interface: Some(0),
            address: net("10.5.0.2/24"),
            gateway: None,
        });
        let e = configure_from_result(&mut nl, idx, &other, "eth0").unwrap_err();
        assert!(matches!(e, IfaceError::Invalid(_)), "{e}");
        other.ips[0].interface = Some(7);
        assert!(configure_from_result(&mut nl, idx, &other, "eth0").is_err());

        // Entries without an interface are skipped; the link still comes up.
        other.ips[0].interface = None;
        configure_from_result(&mut nl, idx, &other, "eth0").unwrap();
        assert!(nl.link(idx).unwrap().is_up());
        assert!(nl.addresses(idx, Some(Family::V4)).unwrap().is_empty());

        // An address already there is an error, as upstream.
        let mut twice = result_for("eth0");
        twice.ips.push(IpConfig {
            interface: Some(1),
            address: net("10.5.0.2/24"),
            gateway: None,
        });
        configure_from_result(&mut nl, idx, &twice, "eth0").unwrap();
        let e = configure_from_result(&mut nl, idx, &twice, "eth0").unwrap_err();
        assert!(e.netlink().is_some_and(NetlinkError::is_exists), "{e}");
    }

    #[test]
    fn configure_applies_gateways_and_route_fields() {
        let ns = Netns::new("if-conf").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        nl.create_link(&LinkSpec::veth("eth0", "peer0", None))
            .unwrap();
        let peer = nl.link("peer0").unwrap().index;
        nl.set_up(peer).unwrap();
        let idx = nl.link("eth0").unwrap().index;
        let mut r = result_for("eth0");
        r.ips.push(IpConfig {
            interface: Some(1),
            address: net("10.6.0.2/24"),
            gateway: Some("10.6.0.1".parse().unwrap()),
        });
        r.ips.push(IpConfig {
            interface: Some(1),
            address: net("10.7.0.2/24"),
            gateway: Some("10.7.0.1".parse().unwrap()),
        });
        r.routes.push(ResultRoute::new(net("0.0.0.0/0"), None));
        let mut special = ResultRoute::new(net("10.50.0.0/16"), Some("10.7.0.1".parse().unwrap()));
        special.priority = Some(77);
        special.table = Some(200);
        r.routes.push(special);
        configure_from_result(&mut nl, idx, &r, "eth0").unwrap();

        // Without any gateway of its family a route stays a device route, and may be
        // link-scoped (with a gateway the kernel would refuse that scope).
        nl.create_link(&LinkSpec::veth("eth1", "peer1", None))
            .unwrap();
        let idx1 = nl.link("eth1").unwrap().index;
        let mut r1 = result_for("eth1");
        r1.ips.push(IpConfig {
            interface: Some(1),
            address: net("10.8.0.2/24"),
            gateway: None,
        });
        let mut link_scope = ResultRoute::new(net("10.60.0.0/16"), None);
        link_scope.scope = Some(netlink::RT_SCOPE_LINK);
        r1.routes.push(link_scope);
        configure_from_result(&mut nl, idx1, &r1, "eth1").unwrap();

        let routes = nl.routes(Some(Family::V4)).unwrap();
        let find = |dst: &str| routes.iter().find(|x| x.dst == net(dst)).cloned();
        let d = find("0.0.0.0/0").unwrap();
        assert_eq!(
            d.gateway,
            Some("10.6.0.1".parse().unwrap()),
            "first v4 gateway"
        );
        assert_eq!(d.oif, Some(idx));
        let s = find("10.50.0.0/16").unwrap();
        assert_eq!(
            (s.gateway, s.priority, s.table),
            (Some("10.7.0.1".parse().unwrap()), Some(77), Some(200))
        );
        let l = find("10.60.0.0/16").unwrap();
        assert_eq!(l.scope, Some(netlink::RT_SCOPE_LINK));
        assert_eq!((l.gateway, l.oif), (None, Some(idx1)));
        let brd = ns
            .command("ip")
            .args(["-j", "-4", "addr", "show", "dev", "eth0"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&brd.stdout).unwrap();
        assert_eq!(v[0]["addr_info"][0]["broadcast"], "10.6.0.255");
    }

    #[test]
    fn settling_without_carrier_is_not_an_error() {
        let ns = Netns::new("if-settle").unwrap();
        let mut nl = Netlink::open_in(ns.path()).unwrap();
        nl.create_link(&LinkSpec::veth("eth0", "peer0", None))
            .unwrap();
        let idx = nl.link("eth0").unwrap().index;
        nl.set_up(idx).unwrap(); // the peer stays down: no carrier, DAD never runs
        nl.add_address(idx, &AddressSpec::new(net("2001:db8::9/64")))
            .unwrap();
        let tentative = nl.addresses(idx, Some(Family::V6)).unwrap();
        assert!(tentative.iter().any(|a| a.is_tentative()), "{tentative:?}");
        let t = Instant::now();
        settle_addresses(&mut nl, idx, Duration::from_millis(200)).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(200));
    }
}
