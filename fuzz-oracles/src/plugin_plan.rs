//! Whole-plugin requests up to the first kernel call: for every reference plugin (bridge, ptp,
//! macvlan, ipvlan, vlan, loopback, tuning, portmap, host-local, dhcp) and every verb, the plan
//! the plugin would execute (`reference_plugins::plan::for_request`, the decoding its verb
//! starts with and takes its names from) from an environment and stdin, checked against what
//! the request itself named.
//!
//! Input: a text header of five lines, then stdin:
//!
//! ```text
//! <plugin> <VERB>        e.g. "bridge ADD"; an unknown plugin or verb is picked by length
//! <CNI_CONTAINERID>
//! <CNI_IFNAME>
//! <CNI_NETNS>            empty: unset
//! <CNI_ARGS>
//! <stdin ...>
//! ```
//!
//! The names a plan may use are derived here from the raw request, independently of the
//! plugins' decoders ([`Allowed`]): keys are matched case-insensitively as Go does, and every
//! spelling's value is allowed. Checked ([`check_plan`]):
//!
//! - a namespace entered is `CNI_NETNS`;
//! - a link in the container is `CNI_IFNAME` or a temporary `veth` name (loopback: `lo`);
//!   in the plugin's namespace, the configured bridge (`cni0` by default) or its
//!   `<bridge>.<vlan>` port (bridge), the `master` or `prevResult`'s interface, or the
//!   default route's interface only without `master` (macvlan, ipvlan, vlan; in the
//!   container's namespace only with `linkInContainer`), or a temporary host veth;
//! - a sysctl is `net/ipv4/ip_forward` or `net/ipv{4,6}/conf/<link>/<leaf>` for a link
//!   allowed in that namespace (`all` only for `forwarding`, `lo` only for `disable_ipv6`,
//!   portmap's route to the container only for `route_localnet`), one path component each,
//!   so the file is under `/proc/sys/net`; tuning's are exactly its configured keys
//!   (`sysctl`, `args.cni.sysctl`) as files (`IFNAME` replaced), first component `net`,
//!   none empty, `.` or `..`, in the container;
//! - nf_tables: the masquerade table's base chain and `masq_checks`, with rules commented
//!   for this network, interface and container ID (bridge, ptp); spoof check: `bridge nat`
//!   chains `PREROUTING` and `cni-br-iface-<containerID>-<ifname>[-mac]`; portmap:
//!   `ip`/`ip6 cni_hostport` chains, rules tagged with this attachment (GC: this network);
//!   iptables `nat`: `CNI-` and 24 hex digits (bridge, ptp), portmap's `CNI-HOSTPORT-*`,
//!   `CNI-DN-`/`CNI-SN-` chains and the jumps from the built-in chains;
//! - files: tuning's `<containerID>_<ifname>.json` in its `dataDir`, host-local's store
//!   `<ipam.dataDir>/<network>`; dhcp talks only to `ipam.daemonSocketPath` (or the default
//!   socket) about this attachment and, on ADD, `CNI_NETNS`;
//! - an IPAM delegate is the configuration's `ipam.type`, called with this verb (or DEL,
//!   ADD's undo);
//! - DEL creates nothing and writes no sysctl; CHECK, STATUS and GC change no link and no
//!   sysctl.
//!
//! Refusals carry a code a decoder documents (1, 2, 3, 4, 6, 7), never the internal one, but
//! for portmap's refusal of a `prevResult` without an address on `CNI_IFNAME` (999, as
//! upstream).

use cni::{CmdArgs, Command, SpecVersion};
use reference_plugins::plan::{self, LinkChange, LinkName, Netns, Plan, SysctlKey, Touch};
use serde_json::Value;
use std::path::PathBuf;

use crate::request::assert_code;

/// The oracle of the `plugin_plan` target.
/// The plugin's arguments for `req`, as skel builds them (the namespace path as given).
fn request_args(req: &PlanRequest) -> Result<CmdArgs, cni::Error> {
    let mut args = CmdArgs::from_request(
        req.verb,
        &req.container_id,
        &req.ifname,
        &req.cni_args,
        req.stdin.to_vec(),
        &SpecVersion::ALL,
    )?;
    args.netns = req.netns.clone();
    Ok(args)
}

pub fn plugin_plan(data: &[u8]) {
    let Some(req) = PlanRequest::parse(data) else {
        return;
    };
    // skel refuses a verb whose required variables are unset (empty reads as unset), before
    // anything else; `from_request` leaves that check to its caller.
    let present = |k: &str| match k {
        "CNI_CONTAINERID" => !req.container_id.is_empty(),
        "CNI_IFNAME" => !req.ifname.is_empty(),
        "CNI_NETNS" => req.netns.is_some(),
        _ => true,
    };
    if !req.verb.required_vars().iter().all(|k| present(k)) {
        return;
    }
    let args = match request_args(&req) {
        Ok(args) => args,
        Err(e) => return assert_code("skel", &e, &[1, 2, 3, 4, 6, 7]),
    };
    let outcome = plan::for_request(req.plugin, &args).expect("a covered plugin");
    match outcome {
        // portmap refuses a prevResult without an address on CNI_IFNAME with the internal
        // code, as upstream does.
        Err(e) if req.plugin == "portmap" && e.msg.contains("has no address on interface") => {
            assert_eq!(e.code.code(), 999, "{e}")
        }
        Err(e) => assert_code(req.plugin, &e, &[1, 2, 3, 4, 6, 7]),
        Ok(p) => {
            assert_eq!(
                (p.plugin, p.verb),
                (req.plugin, req.verb),
                "plan of another verb"
            );
            let allowed = Allowed::from_request(&req);
            if let Err(e) = check_plan(&p, &allowed) {
                panic!("{} {:?}: {e}\nplan: {:#?}", req.plugin, req.verb, p.touches);
            }
        }
    }
}

/// A request as the target's input gives it.
pub struct PlanRequest<'a> {
    pub plugin: &'static str,
    pub verb: Command,
    pub container_id: String,
    pub ifname: String,
    pub netns: Option<String>,
    pub cni_args: String,
    pub stdin: &'a [u8],
}

const VERBS: [Command; 5] = [
    Command::Add,
    Command::Check,
    Command::Del,
    Command::Status,
    Command::Gc,
];

impl<'a> PlanRequest<'a> {
    /// `None` when the header is not five lines of UTF-8.
    pub fn parse(data: &'a [u8]) -> Option<PlanRequest<'a>> {
        let mut lines = Vec::with_capacity(5);
        let mut rest = data;
        for _ in 0..5 {
            let nl = rest.iter().position(|&b| b == b'\n')?;
            lines.push(std::str::from_utf8(&rest[..nl]).ok()?);
            rest = &rest[nl + 1..];
        }
        let (name, verb) = lines[0].split_once(' ').unwrap_or((lines[0], ""));
        let covered = plan::COVERED;
        let plugin = covered
            .iter()
            .find(|p| **p == name)
            .copied()
            .unwrap_or(covered[data.len() % covered.len()]);
        let verb = VERBS
            .iter()
            .find(|v| v.as_str() == verb)
            .copied()
            .unwrap_or(VERBS[data.len() % VERBS.len()]);
        Some(PlanRequest {
            plugin,
            verb,
            container_id: lines[1].to_string(),
            ifname: lines[2].to_string(),
            netns: Some(lines[3].to_string()).filter(|s| !s.is_empty()),
            cni_args: lines[4].to_string(),
            stdin: rest,
        })
    }
}

/// The names a request allows its plan to use, read from the raw request.
#[derive(Debug)]
pub struct Allowed {
    pub plugin: &'static str,
    pub verb: Command,
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    pub netns: Option<String>,
    /// Links of the plugin's namespace the configuration names (bridge, its VLAN port,
    /// master).
    pub own_links: Vec<String>,
    /// Whether the master may be the default route's interface (no `master` named).
    pub default_route: bool,
    /// Whether the master may live in the container (`linkInContainer`).
    pub master_in_container: bool,
    /// `ipam.type` in every spelling.
    pub ipam: Vec<String>,
    /// tuning: the configured sysctl keys as files below `/proc/sys`, `IFNAME` replaced.
    pub sysctls: Vec<Vec<String>>,
    /// tuning: `dataDir` in every spelling, and the default; host-local: the store
    /// directories, `ipam.dataDir` (or the default) joined with the network name.
    pub data_dirs: Vec<PathBuf>,
    /// dhcp: `ipam.daemonSocketPath` in every spelling, and the default.
    pub sockets: Vec<PathBuf>,
}

/// A tuning `sysctl` key as the file it names, components below `/proc/sys`: separated by
/// `/`, or by `.` when a `.` comes first (then a `/` stands for a `.`), the first `IFNAME`
/// replaced by the interface name.
fn sysctl_file(key: &str, ifname: &str) -> Vec<String> {
    let dotted = key.chars().find(|c| *c == '.' || *c == '/') == Some('.');
    let mut path = String::with_capacity(key.len());
    for c in key.chars() {
        path.push(match c {
            '.' if dotted => '/',
            '/' if dotted => '.',
            c => c,
        });
    }
    path.replacen("IFNAME", ifname, 1)
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The values of `obj`'s keys equal to `key` ignoring ASCII case.
fn values<'v>(obj: &'v Value, key: &str) -> Vec<&'v Value> {
    match obj {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a spelling of `key` may leave it unset: none, or one that is not a non-empty
/// string (`null` is absent in Go's decoding, and a later spelling overrides an earlier one).
fn unset_or_empty(obj: &Value, key: &str) -> bool {
    let vals = values(obj, key);
    vals.is_empty() || vals.iter().any(|v| v.as_str().is_none_or(str::is_empty))
}

fn strings(obj: &Value, key: &str) -> Vec<String> {
    values(obj, key)
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

impl Allowed {
    pub fn from_request(req: &PlanRequest<'_>) -> Allowed {
        let conf: Value = serde_json::from_slice(req.stdin).unwrap_or(Value::Null);
        let mut a = Allowed {
            plugin: req.plugin,
            verb: req.verb,
            network: conf
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            container_id: req.container_id.clone(),
            ifname: req.ifname.clone(),
            netns: req.netns.clone(),
            own_links: Vec::new(),
            default_route: false,
            master_in_container: false,
            ipam: Vec::new(),
            sysctls: Vec::new(),
            data_dirs: Vec::new(),
            sockets: Vec::new(),
        };
        let ipam_strings = |key: &str| -> Vec<PathBuf> {
            values(&conf, "ipam")
                .into_iter()
                .flat_map(|i| strings(i, key))
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect()
        };
        for ipam in values(&conf, "ipam") {
            a.ipam.extend(strings(ipam, "type"));
        }
        match req.plugin {
            "bridge" => {
                let mut bridges = strings(&conf, "bridge");
                if unset_or_empty(&conf, "bridge") {
                    bridges.push("cni0".into());
                }
                let vlans: Vec<u64> = values(&conf, "vlan")
                    .into_iter()
                    .filter_map(|v| {
                        v.as_u64().or(v
                            .as_f64()
                            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                            .map(|f| f as u64))
                    })
                    .collect();
                for b in &bridges {
                    for v in &vlans {
                        a.own_links.push(format!("{b}.{v}"));
                    }
                }
                a.own_links.extend(bridges);
            }
            "macvlan" | "ipvlan" | "vlan" => {
                let masters = strings(&conf, "master");
                a.default_route = unset_or_empty(&conf, "master");
                a.own_links.extend(masters);
                // ipvlan chained without master takes prevResult's interface.
                for prev in values(&conf, "prevResult") {
                    for ifaces in values(prev, "interfaces") {
                        for i in ifaces.as_array().into_iter().flatten() {
                            a.own_links.extend(strings(i, "name"));
                        }
                    }
                }
                a.master_in_container = values(&conf, "linkInContainer")
                    .into_iter()
                    .any(|v| v.as_bool() == Some(true));
            }
            "tuning" => {
                // `sysctl`, and `args.cni.sysctl` (per attachment).
                let mut maps = values(&conf, "sysctl");
                for args in values(&conf, "args") {
                    for cni in values(args, "cni") {
                        maps.extend(values(cni, "sysctl"));
                    }
                }
                for map in maps {
                    for key in map.as_object().into_iter().flat_map(|m| m.keys()) {
                        a.sysctls.push(sysctl_file(key, &req.ifname));
                    }
                }
                a.data_dirs = strings(&conf, "dataDir")
                    .into_iter()
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect();
                a.data_dirs.push(PathBuf::from("/run/cni/tuning"));
            }
            "host-local" => {
                let one = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/');
                if one(&a.network) {
                    let mut dirs = ipam_strings("dataDir");
                    dirs.push(PathBuf::from("/var/lib/cni/networks"));
                    a.data_dirs = dirs.into_iter().map(|d| d.join(&a.network)).collect();
                }
            }
            "dhcp" => {
                a.sockets = ipam_strings("daemonSocketPath");
                a.sockets.push(PathBuf::from("/run/cni/dhcp.sock"));
            }
            _ => {}
        }
        a
    }

    fn link_ok(&self, netns: Netns, name: &LinkName, change: LinkChange) -> bool {
        match (netns, name) {
            (_, LinkName::Temporary) => true,
            (_, LinkName::RouteInterface) => false,
            (_, LinkName::DefaultRouteInterface) => {
                self.default_route && change == LinkChange::Parent
            }
            (Netns::Container, LinkName::Named(n)) => {
                *n == self.ifname
                    || (self.plugin == "loopback" && n == "lo")
                    || (change == LinkChange::Parent
                        && self.master_in_container
                        && self.own_links.contains(n))
            }
            (Netns::Own, LinkName::Named(n)) => self.own_links.contains(n),
        }
    }

    fn sysctl_ok(&self, netns: Netns, key: &SysctlKey) -> Result<(), String> {
        match key {
            SysctlKey::Global(k) if k == "net/ipv4/ip_forward" && netns == Netns::Own => Ok(()),
            SysctlKey::Global(k) => Err(format!("sysctl {k:?} in {netns:?}")),
            SysctlKey::Path(c) => {
                let one =
                    |s: &String| !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\0']);
                let under_net = c.len() >= 2 && c[0] == "net" && c.iter().all(one);
                if self.plugin == "tuning"
                    && netns == Netns::Container
                    && under_net
                    && self.sysctls.contains(c)
                {
                    Ok(())
                } else {
                    Err(format!(
                        "sysctl /proc/sys/{key} in {netns:?} is not a configured one under \
                         /proc/sys/net"
                    ))
                }
            }
            SysctlKey::Interface { family, link, leaf } => {
                let one = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/');
                if !["ipv4", "ipv6"].contains(family) || !one(leaf) {
                    return Err(format!("sysctl {key} is no per-interface key"));
                }
                let name_ok = match link {
                    LinkName::Named(n) if n == "all" => {
                        *leaf == "forwarding" && netns == Netns::Own
                    }
                    LinkName::Named(n) if n == "lo" && netns == Netns::Container => {
                        *leaf == "disable_ipv6"
                    }
                    LinkName::Named(n) => one(n) && self.link_ok(netns, link, LinkChange::Change),
                    LinkName::Temporary => true,
                    LinkName::DefaultRouteInterface => false,
                    LinkName::RouteInterface => {
                        self.plugin == "portmap"
                            && netns == Netns::Own
                            && *family == "ipv4"
                            && *leaf == "route_localnet"
                    }
                };
                if name_ok {
                    Ok(())
                } else {
                    Err(format!(
                        "sysctl {key} in {netns:?} names a link the request did not"
                    ))
                }
            }
        }
    }

    /// The masquerade comment of this attachment: `<16 hex>-<16 hex>, net: …, if: …, id: …`
    /// without `"`, cut at 128 bytes.
    fn masq_comment_ok(&self, comment: &str) -> bool {
        let hex = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let (Some(h1), Some(h2)) = (comment.get(..16), comment.get(17..33)) else {
            return false;
        };
        let plain = |s: &str| s.replace('"', "");
        let want = format!(
            ", net: {}, if: {}, id: {}",
            plain(&self.network),
            plain(&self.ifname),
            plain(&self.container_id)
        );
        let tail = &comment[33..];
        hex(h1)
            && &comment[16..17] == "-"
            && hex(h2)
            && (tail == want || (comment.len() >= 125 && want.starts_with(tail)))
    }

    /// portmap's tag: `cnirs-portmap <16 hex>-<16 hex> net: N, if: I, id: C` without `"`
    /// and control characters, cut at 128 bytes; on GC the network's part only,
    /// `cnirs-portmap <16 hex>`.
    fn portmap_comment_ok(&self, c: &str) -> bool {
        let hex = |s: Option<&str>| {
            s.is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        let Some(rest) = c.strip_prefix("cnirs-portmap ") else {
            return false;
        };
        if self.verb == Command::Gc {
            return hex(Some(rest));
        }
        let plain = |s: &str| s.replace(|c: char| c == '"' || c.is_control(), "");
        let want = format!(
            " net: {}, if: {}, id: {}",
            plain(&self.network),
            plain(&self.ifname),
            plain(&self.container_id)
        );
        hex(rest.get(..16))
            && rest.get(16..17) == Some("-")
            && hex(rest.get(17..33))
            && rest
                .get(33..)
                .is_some_and(|tail| tail == want || (c.len() >= 125 && want.starts_with(tail)))
    }

    /// A dhcp daemon request names this verb, this attachment (container ID, network,
    /// ifname) and, on ADD, `CNI_NETNS`; GC names this network.
    fn daemon_request_ok(&self, verb: Command, request: &Value) -> bool {
        let attachment = || {
            request["attachment"]
                == serde_json::json!({
                    "containerId": self.container_id,
                    "network": self.network,
                    "ifname": self.ifname,
                })
        };
        match (verb, request["op"].as_str()) {
            (Command::Add, Some("add")) => {
                attachment() && request["netns"].as_str() == self.netns.as_deref()
            }
            (Command::Check, Some("check")) | (Command::Del, Some("del")) => attachment(),
            (Command::Status, Some("status")) => true,
            (Command::Gc, Some("gc")) => request["network"] == self.network.as_str(),
            _ => false,
        }
    }

    fn iptables_ok(&self, table: &str, chain: &str) -> bool {
        let hashed = |prefix: &str| {
            chain.len() == 28
                && chain.starts_with(prefix)
                && chain[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
        };
        table == "nat"
            && match self.plugin {
                "bridge" | "ptp" => hashed("CNI-"),
                "portmap" => {
                    [
                        "CNI-HOSTPORT-DNAT",
                        "CNI-HOSTPORT-SETMARK",
                        "CNI-HOSTPORT-MASQ",
                        "PREROUTING",
                        "OUTPUT",
                        "POSTROUTING",
                    ]
                    .contains(&chain)
                        || hashed("CNI-DN-")
                        || (self.verb == Command::Del && hashed("CNI-SN-"))
                }
                _ => false,
            }
    }

    fn nft_ok(&self, family: &str, table: &str, chain: &str, comment: Option<&str>) -> bool {
        match (family, table) {
            ("inet", "cni_plugins_masquerade") if ["bridge", "ptp"].contains(&self.plugin) => {
                match (chain, comment) {
                    ("postrouting", Some(c)) => [
                        "cni-rs 1: IPv4 multicast is not masqueraded",
                        "cni-rs 1: IPv6 multicast is not masqueraded",
                        "cni-rs 1: on to masq_checks",
                    ]
                    .contains(&c),
                    ("masq_checks", Some(c)) if self.verb == Command::Gc => {
                        c.len() == 16 + ", net: ".len() + self.network.len()
                            && c[..16].bytes().all(|b| b.is_ascii_hexdigit())
                            && c[16..] == format!(", net: {}", self.network)
                    }
                    ("masq_checks", Some(c)) => self.masq_comment_ok(c),
                    _ => false,
                }
            }
            ("ip" | "ip6", "cni_hostport") if self.plugin == "portmap" => match comment {
                None => ["hostports_all", "prerouting", "output"].contains(&chain),
                Some(c) => {
                    ["hostports", "hostip_hostports", "masquerading"].contains(&chain)
                        && self.portmap_comment_ok(c)
                }
            },
            ("bridge", "nat") if self.plugin == "bridge" => {
                let ref_id = format!("{}-{}", self.container_id, self.ifname);
                let own = format!("cni-br-iface-{ref_id}");
                comment == Some(format!("macspoofchk-{ref_id}").as_str())
                    && (chain == "PREROUTING" || chain == own || chain == format!("{own}-mac"))
            }
            _ => false,
        }
    }
}

/// Every touch of `plan` against `allowed` (see the module documentation); the first one that
/// breaks a rule, described.
pub fn check_plan(plan: &Plan, allowed: &Allowed) -> Result<(), String> {
    let reads_only = matches!(plan.verb, Command::Check | Command::Status | Command::Gc);
    for t in &plan.touches {
        let ok = match t {
            Touch::EnterNetns(path) => allowed.netns.as_deref() == Some(path.as_str()),
            Touch::Link {
                netns,
                name,
                change,
            } => {
                if reads_only {
                    return Err(format!("{:?} changes link {name}", plan.verb));
                }
                if plan.verb == Command::Del && *change == LinkChange::Create {
                    return Err(format!("DEL creates link {name}"));
                }
                allowed.link_ok(*netns, name, *change)
            }
            Touch::Sysctl { netns, key } => {
                if reads_only || plan.verb == Command::Del {
                    return Err(format!("{:?} writes sysctl {key}", plan.verb));
                }
                allowed.sysctl_ok(*netns, key)?;
                true
            }
            Touch::Nft {
                family,
                table,
                chain,
                comment,
            } => allowed.nft_ok(family, table, chain, comment.as_deref()),
            Touch::Iptables { table, chain } => allowed.iptables_ok(table, chain),
            Touch::File { dir, name } => {
                allowed.plugin == "tuning"
                    && allowed.data_dirs.contains(dir)
                    && *name == format!("{}_{}.json", allowed.container_id, allowed.ifname)
            }
            Touch::DirEntries(dir) => {
                let verb_ok = match allowed.plugin {
                    "tuning" => plan.verb == Command::Gc,
                    "host-local" => matches!(plan.verb, Command::Add | Command::Del | Command::Gc),
                    _ => false,
                };
                verb_ok && allowed.data_dirs.contains(dir)
            }
            Touch::Daemon { socket, request } => {
                allowed.plugin == "dhcp"
                    && allowed.sockets.contains(socket)
                    && allowed.daemon_request_ok(plan.verb, request)
            }
            Touch::Delegate { plugin, verb } => {
                allowed.ipam.contains(plugin)
                    && (*verb == plan.verb || (plan.verb == Command::Add && *verb == Command::Del))
            }
        };
        if !ok {
            return Err(format!("{t:?} is not named by the request"));
        }
    }
    Ok(())
}

/// What the unit tests below share: a real plan from a request, and planted touches.
#[cfg(test)]
mod test_support {
    use super::*;

    /// The `plugin_plan` seed `name`.
    pub fn seed(name: &str) -> Vec<u8> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/plugin_plan");
        std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The plan of a request (which must have one) and what the request allows; the plan
    /// passes the check.
    pub fn real_plan(data: &[u8]) -> (Plan, Allowed) {
        let req = PlanRequest::parse(data).unwrap();
        let args = request_args(&req).unwrap();
        let p = plan::for_request(req.plugin, &args).unwrap().unwrap();
        let allowed = Allowed::from_request(&req);
        check_plan(&p, &allowed).unwrap();
        (p, allowed)
    }

    /// Each of `plants`, added to the plan on its own, fails the check.
    pub fn caught(p: &Plan, allowed: &Allowed, plants: impl IntoIterator<Item = Touch>) {
        for plant in plants {
            let mut bad = p.clone();
            bad.touches.push(plant.clone());
            assert!(check_plan(&bad, allowed).is_err(), "not caught: {plant:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{caught, real_plan};
    use super::*;

    const BRIDGE: &[u8] = b"bridge ADD\nctr-1\neth0\n/run/netns/x\n\n{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"type\":\"bridge\",\"bridge\":\"br-a\",\"vlan\":7,\"isGateway\":true,\"ipMasq\":true,\"macspoofchk\":true,\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.9.0.0/24\"}}";

    #[test]
    fn a_real_bridge_plan_passes_and_names_its_config() {
        let (p, _) = real_plan(BRIDGE);
        let has = |t: &Touch| p.touches.contains(t);
        assert!(has(&Touch::Link {
            netns: Netns::Own,
            name: LinkName::named("br-a"),
            change: LinkChange::Create
        }));
        assert!(has(&Touch::Link {
            netns: Netns::Own,
            name: LinkName::named("br-a.7"),
            change: LinkChange::Create
        }));
        assert!(has(&Touch::Delegate {
            plugin: "host-local".into(),
            verb: Command::Add
        }));
        assert!(p.touches.iter().any(
            |t| matches!(t, Touch::Nft { chain, .. } if chain == "cni-br-iface-ctr-1-eth0-mac")
        ));
    }

    /// Each planted violation in an otherwise real plan is caught.
    #[test]
    fn planted_violations_are_caught() {
        let (p, allowed) = real_plan(BRIDGE);
        let plants = [
            // A host link the config never named.
            Touch::Link {
                netns: Netns::Own,
                name: LinkName::named("eth1"),
                change: LinkChange::Delete,
            },
            // The container's ifname created on the host side.
            Touch::Link {
                netns: Netns::Own,
                name: LinkName::named("eth0"),
                change: LinkChange::Create,
            },
            // A sysctl outside /proc/sys/net/ipv*/conf/<allowed link>.
            Touch::Sysctl {
                netns: Netns::Own,
                key: SysctlKey::Global("kernel/core_pattern".into()),
            },
            Touch::Sysctl {
                netns: Netns::Container,
                key: SysctlKey::Interface {
                    family: "ipv4",
                    link: LinkName::named(".."),
                    leaf: "arp_notify",
                },
            },
            Touch::Sysctl {
                netns: Netns::Own,
                key: SysctlKey::Interface {
                    family: "ipv4",
                    link: LinkName::named("br-a"),
                    leaf: "../../../kernel/x",
                },
            },
            // Another attachment's masquerade rules.
            Touch::Nft {
                family: "inet",
                table: "cni_plugins_masquerade".into(),
                chain: "masq_checks".into(),
                comment: Some(
                    "0123456789abcdef-0123456789abcdef, net: net1, if: eth0, id: ctr-2".into(),
                ),
            },
            // Another attachment's spoof-check chain, another table.
            Touch::Nft {
                family: "bridge",
                table: "nat".into(),
                chain: "cni-br-iface-ctr-2-eth0".into(),
                comment: Some("macspoofchk-ctr-1-eth0".into()),
            },
            Touch::Nft {
                family: "ip",
                table: "filter".into(),
                chain: "INPUT".into(),
                comment: None,
            },
            Touch::Iptables {
                table: "filter",
                chain: "FORWARD".into(),
            },
            // Another IPAM plugin, another namespace.
            Touch::Delegate {
                plugin: "dhcp".into(),
                verb: Command::Add,
            },
            Touch::EnterNetns("/proc/1/ns/net".into()),
        ];
        caught(&p, &allowed, plants);
        // The verb rules: DEL creating, CHECK changing.
        let mut del = p.clone();
        del.verb = Command::Del;
        assert!(check_plan(&del, &allowed).unwrap_err().contains("DEL"));
        let mut check = p;
        check.verb = Command::Check;
        check.touches.retain(|t| matches!(t, Touch::Link { .. }));
        assert!(check_plan(&check, &allowed).is_err());
    }
}

#[cfg(test)]
mod tuning_tests {
    use super::test_support::{caught, real_plan};
    use super::*;

    const TUNING: &[u8] = b"tuning ADD\nctr-1\neth0\n/run/netns/x\n\n{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"type\":\"tuning\",\"mtu\":1400,\"dataDir\":\"/tmp/tun\",\"sysctl\":{\"net.ipv4.conf.IFNAME.forwarding\":\"1\",\"net/core/somaxconn\":\"512\"},\"prevResult\":{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/x\"}]}}";

    #[test]
    fn tuning_plan_names_its_sysctls_and_saved_file_and_plants_are_caught() {
        let (p, allowed) = real_plan(TUNING);
        let path = |s: &str| s.split('/').map(str::to_string).collect::<Vec<_>>();
        for want in [
            Touch::Sysctl {
                netns: Netns::Container,
                key: SysctlKey::Path(path("net/ipv4/conf/eth0/forwarding")),
            },
            Touch::Sysctl {
                netns: Netns::Container,
                key: SysctlKey::Path(path("net/core/somaxconn")),
            },
            Touch::File {
                dir: "/tmp/tun".into(),
                name: "ctr-1_eth0.json".into(),
            },
        ] {
            assert!(p.touches.contains(&want), "missing {want:?}");
        }
        let plants = [
            Touch::Sysctl {
                netns: Netns::Container,
                key: SysctlKey::Path(path("kernel/core_pattern")),
            },
            Touch::Sysctl {
                netns: Netns::Container,
                key: SysctlKey::Path(path("net/ipv4/conf/eth1/forwarding")),
            },
            Touch::Sysctl {
                netns: Netns::Own,
                key: SysctlKey::Path(path("net/core/somaxconn")),
            },
            Touch::File {
                dir: "/tmp/tun/..".into(),
                name: "ctr-1_eth0.json".into(),
            },
            Touch::File {
                dir: "/tmp/tun".into(),
                name: "ctr-2_eth0.json".into(),
            },
            Touch::DirEntries("/tmp/tun".into()),
        ];
        caught(&p, &allowed, plants);
    }
}

#[cfg(test)]
mod portmap_tests {
    use super::test_support::{caught, real_plan, seed};
    use super::*;

    #[test]
    fn portmap_plan_names_its_chains_and_plants_are_caught() {
        let (p, allowed) = real_plan(&seed("seed-conformance-portmap-ours-portmap-add"));
        assert!(p.touches.contains(&Touch::Sysctl {
            netns: Netns::Own,
            key: SysctlKey::interface("ipv4", &LinkName::RouteInterface, "route_localnet"),
        }));
        let comment = p
            .touches
            .iter()
            .find_map(|t| match t {
                Touch::Nft {
                    comment: Some(c), ..
                } => Some(c.clone()),
                _ => None,
            })
            .unwrap();
        let plants = [
            Touch::Iptables {
                table: "nat",
                chain: "KUBE-SERVICES".into(),
            },
            Touch::Iptables {
                table: "filter",
                chain: "CNI-HOSTPORT-DNAT".into(),
            },
            Touch::Nft {
                family: "ip",
                table: "cni_hostport".into(),
                chain: "hostports".into(),
                comment: Some(comment.replace("id: cnirs-seed-ctr", "id: other")),
            },
            Touch::Nft {
                family: "ip",
                table: "nat".into(),
                chain: "hostports".into(),
                comment: Some(comment),
            },
            Touch::Sysctl {
                netns: Netns::Own,
                key: SysctlKey::interface("ipv4", &LinkName::named("eth0"), "route_localnet"),
            },
        ];
        caught(&p, &allowed, plants);
    }
}

#[cfg(test)]
mod ipam_tests {
    use super::test_support::{caught, real_plan, seed};
    use super::*;

    fn seed_plan(name: &str) -> (Plan, Allowed) {
        real_plan(&seed(name))
    }

    #[test]
    fn host_local_writes_only_its_network_store() {
        let (p, allowed) = seed_plan("seed-host-local-data-dir-add");
        assert_eq!(
            p.touches,
            vec![Touch::DirEntries("/run/cnirs-seed/ipam/hl".into())]
        );
        caught(
            &p,
            &allowed,
            vec![
                Touch::DirEntries("/run/cnirs-seed/ipam".into()),
                Touch::DirEntries("/run/cnirs-seed/ipam/other".into()),
                Touch::DirEntries("/var/lib/cni/networks/hl/..".into()),
                Touch::File {
                    dir: "/run/cnirs-seed/ipam/hl".into(),
                    name: "10.9.0.10".into(),
                },
            ],
        );
    }

    #[test]
    fn dhcp_asks_only_for_its_attachment_at_its_socket() {
        let (p, allowed) = seed_plan("seed-dhcp-macvlan-add");
        let Touch::Daemon { socket, request } = &p.touches[0] else {
            panic!("{p:?}");
        };
        assert_eq!(socket, &PathBuf::from("/run/cni/cnirs-seed-dhcp.sock"));
        let mut other_ctr = request.clone();
        other_ctr["attachment"]["containerId"] = "other".into();
        let mut other_ns = request.clone();
        other_ns["netns"] = "/proc/1/ns/net".into();
        let mut del = request.clone();
        del["op"] = "del".into();
        caught(
            &p,
            &allowed,
            vec![
                Touch::Daemon {
                    socket: "/tmp/elsewhere.sock".into(),
                    request: request.clone(),
                },
                Touch::Daemon {
                    socket: socket.clone(),
                    request: other_ctr,
                },
                Touch::Daemon {
                    socket: socket.clone(),
                    request: other_ns,
                },
                Touch::Daemon {
                    socket: socket.clone(),
                    request: del,
                },
            ],
        );
    }
}

#[cfg(test)]
mod seed_tests {
    use super::*;

    /// The realistic seeds reach a plan (a seed refused by its decoder would exercise only
    /// the refusal): every `seed-*` but the `seed-crash-*` ones.
    #[test]
    fn every_realistic_seed_gets_a_plan() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/plugin_plan");
        let mut seen = 0;
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("seed-") || name.starts_with("seed-crash-") {
                continue;
            }
            let data = std::fs::read(e.path()).unwrap();
            let req = PlanRequest::parse(&data).unwrap();
            let args = request_args(&req).unwrap_or_else(|e| panic!("{name}: {e}"));
            let p = plan::for_request(req.plugin, &args)
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // loopback holds nothing for STATUS or GC to look at; tuning's STATUS and
            // portmap's CHECK and STATUS only read.
            let nothing = match req.plugin {
                "loopback" => matches!(req.verb, Command::Status | Command::Gc),
                "tuning" => req.verb == Command::Status,
                "portmap" | "host-local" => matches!(req.verb, Command::Status | Command::Check),
                _ => false,
            };
            if !nothing {
                assert!(!p.touches.is_empty(), "{name}: an empty plan");
            }
            seen += 1;
        }
        assert!(seen >= 40, "{seen} seeds");
    }
}
