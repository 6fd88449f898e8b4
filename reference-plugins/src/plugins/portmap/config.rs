//! The `portmap` plugin's configuration: its keys, and the `portMappings` capability.
//!
//! | Key | Default | Notes |
//! |---|---|---|
//! | `snat` | true | masquerade hairpin traffic and connections from `127.0.0.1` |
//! | `masqAll` | false | with `snat`: masquerade every connection port-forwarded to the container |
//! | `markMasqBit` | 13 | 0–31; the iptables backend's mark; exclusive with `externalSetMarkChain` |
//! | `externalSetMarkChain` | none | iptables only: a chain of the caller's that marks for masquerade |
//! | `conditionsV4`, `conditionsV6` | none | extra matches for the DNAT rules; iptables arguments (first one starts with `-` or `!`) or nftables expressions |
//! | `backend` | see below | `nftables` or `iptables` |
//! | `runtimeConfig.portMappings` | none | `[{hostPort, containerPort, protocol, hostIP}]` |
//!
//! A mapping: `hostPort` and `containerPort` 1–65535; `protocol` `tcp`, `udp` or `sctp` in
//! any case, `tcp` when absent or empty; `hostIP` absent or empty for every address of the
//! node, `0.0.0.0` for every IPv4 one, `::` for every IPv6 one, or one address. Two mappings
//! of one request may not claim the same host port, protocol and destination (the second
//! would never see a packet). Everything is checked before the kernel is touched; a bad
//! mapping is a code-7 error that names it (`runtimeConfig.portMappings[2] {...}: ...`).
//!
//! The backend: `backend` when given; else `iptables` when the configuration has an
//! iptables-only option (`externalSetMarkChain`, iptables-style conditions), `nftables` when
//! it has nftables-style conditions, and otherwise `nftables` (the plugin falls back to
//! iptables where nf_tables does not work but iptables does). Options of the other backend
//! than the one asked for are a code-7 error, as upstream. Upstream defaults to iptables.
//!
//! nftables conditions are nft expressions, as upstream passes them to nft; since this
//! plugin starts no nft, it reads them itself and knows this part of the language:
//! `ip saddr|daddr [==|!=] ADDR[/LEN]` (`ip6` in `conditionsV6`),
//! `[meta] iifname|oifname [==|!=] NAME`, `[meta] mark [==|!=] VALUE`, one after the other
//! (the strings of the list are joined with spaces). Anything else is refused with code 2
//! (unsupported field) before anything changes. They are applied to this attachment's DNAT
//! rules (upstream puts them on the jump shared by every attachment of the node, so the last
//! network to ADD decides for all).
//!
//! Upstream checks only `port > 0`, `markMasqBit` and the backend options, and reports
//! everything as code 999 (UPSTREAM-21).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cni::{CmdArgs, Error, ErrorCode};
use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::conf::{decode, fold_keys, request_object, COMMON_KEYS};

const PLUGIN: &str = "portmap";
/// Upstream's default mark bit (Kubernetes uses 14 and 15, Calico 20 to 31).
pub const DEFAULT_MARK_BIT: u32 = 13;
/// The longest iptables chain name.
const IPT_CHAIN_MAX: usize = 28;

/// A checked portmap configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortmapConf {
    pub snat: bool,
    pub masq_all: bool,
    /// `markMasqBit`, 0–31 (iptables backend).
    pub mark_masq_bit: u32,
    /// `externalSetMarkChain` (iptables backend).
    pub external_set_mark_chain: Option<String>,
    pub conditions_v4: Conditions,
    pub conditions_v6: Conditions,
    pub backend: BackendChoice,
    /// `runtimeConfig.portMappings`, checked.
    pub mappings: Vec<PortMapping>,
}

/// The firewall implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Nftables => "nftables",
            Backend::Iptables => "iptables",
        }
    }
}

/// Which backend the configuration asks for, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// `backend` names it.
    Configured(Backend),
    /// Options only this backend understands (conditions, `externalSetMarkChain`).
    Implied(Backend),
    /// Nothing says: nftables, or iptables where only iptables works (the plugin decides).
    Default,
}

impl BackendChoice {
    /// The backend the configuration fixes, if it fixes one.
    pub fn fixed(self) -> Option<Backend> {
        match self {
            BackendChoice::Configured(b) | BackendChoice::Implied(b) => Some(b),
            BackendChoice::Default => None,
        }
    }
}

/// `conditionsV4` or `conditionsV6`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Conditions {
    #[default]
    None,
    /// iptables arguments, one per string, as upstream appends them to its rules.
    Iptables(Vec<String>),
    /// nftables matches, read.
    Nftables(Vec<Match>),
}

/// One nftables match of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `ip saddr 10.0.0.0/8`, `ip6 daddr != fd00::1`.
    Addr {
        field: AddrField,
        eq: bool,
        net: IpNet,
    },
    /// `iifname "eth0"`, `oifname != "lo"`.
    Ifname { dir: IfDir, eq: bool, name: String },
    /// `meta mark 0x10`.
    Mark { eq: bool, value: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrField {
    Saddr,
    Daddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfDir {
    In,
    Out,
}

/// A mapping's transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// `IPPROTO_*`.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

/// Where on the node a mapping listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostIp {
    /// No `hostIP` (or an empty one): every address of both families.
    Any,
    /// `0.0.0.0`: every IPv4 address.
    AnyV4,
    /// `::`: every IPv6 address.
    AnyV6,
    /// One address.
    Addr(IpAddr),
}

impl HostIp {
    /// Whether this mapping applies to the family of IPv4 (`v6` false) or IPv6.
    pub fn covers(self, v6: bool) -> bool {
        match self {
            HostIp::Any => true,
            HostIp::AnyV4 => !v6,
            HostIp::AnyV6 => v6,
            HostIp::Addr(a) => a.is_ipv6() == v6,
        }
    }

    /// The destination address to match in `v6`'s family: `None` for every address.
    pub fn addr(self) -> Option<IpAddr> {
        match self {
            HostIp::Addr(a) => Some(a),
            _ => None,
        }
    }
}

/// One checked `portMappings` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    pub host_ip: HostIp,
    /// `runtimeConfig.portMappings[i] <the entry as given>`, for messages.
    pub describe: String,
}

const KEYS: &[&str] = &[
    "snat",
    "masqAll",
    "markMasqBit",
    "externalSetMarkChain",
    "conditionsV4",
    "conditionsV6",
    "backend",
];

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    snat: Option<bool>,
    #[serde(rename = "masqAll", default)]
    masq_all: Option<bool>,
    #[serde(rename = "markMasqBit", default)]
    mark_masq_bit: Option<i64>,
    #[serde(rename = "externalSetMarkChain", default)]
    external_set_mark_chain: Option<String>,
    #[serde(rename = "conditionsV4", default)]
    conditions_v4: Option<Vec<String>>,
    #[serde(rename = "conditionsV6", default)]
    conditions_v6: Option<Vec<String>>,
    #[serde(default)]
    backend: Option<String>,
}

impl PortmapConf {
    /// Reads and checks a request's configuration, its mappings included.
    pub fn parse(stdin: &[u8]) -> Result<PortmapConf, Error> {
        let known: Vec<&str> = KEYS.iter().chain(COMMON_KEYS).copied().collect();
        let map = request_object(PLUGIN, stdin, &known)?;
        let raw: Raw = decode(PLUGIN, &map)?;

        let mark_masq_bit = match raw.mark_masq_bit {
            None => DEFAULT_MARK_BIT,
            Some(b @ 0..=31) => b as u32,
            Some(b) => {
                return Err(Error::invalid_config(format!(
                    "portmap: invalid markMasqBit {b}: must be between 0 and 31"
                )))
            }
        };
        if raw.mark_masq_bit.is_some() && raw.external_set_mark_chain.is_some() {
            return Err(Error::invalid_config(
                "portmap: markMasqBit and externalSetMarkChain cannot both be given",
            ));
        }
        if let Some(chain) = &raw.external_set_mark_chain {
            check_iptables_chain(chain)?;
        }

        let (v4_kind, v4) = conditions("conditionsV4", raw.conditions_v4, false)?;
        let (v6_kind, v6) = conditions("conditionsV6", raw.conditions_v6, true)?;
        let mut wants: Vec<(Backend, &str)> = Vec::new();
        if raw.external_set_mark_chain.is_some() {
            wants.push((Backend::Iptables, "externalSetMarkChain"));
        }
        if let Some(b) = v4_kind {
            wants.push((b, "conditionsV4"));
        }
        if let Some(b) = v6_kind {
            wants.push((b, "conditionsV6"));
        }
        let configured = match raw.backend.as_deref() {
            None => None,
            Some("nftables") => Some(Backend::Nftables),
            Some("iptables") => Some(Backend::Iptables),
            Some(other) => {
                return Err(Error::new(
                    ErrorCode::UnsupportedField,
                    format!(
                        "portmap: unknown backend {other:?} (expected \"nftables\" or \"iptables\")"
                    ),
                ))
            }
        };
        let backend = backend_choice(configured, &wants)?;

        Ok(PortmapConf {
            snat: raw.snat.unwrap_or(true),
            masq_all: raw.masq_all.unwrap_or(false),
            mark_masq_bit,
            external_set_mark_chain: raw.external_set_mark_chain,
            conditions_v4: v4,
            conditions_v6: v6,
            backend,
            mappings: port_mappings(map.get("runtimeConfig"))?,
        })
    }

    /// [`PortmapConf::parse`] on what skel hands the plugin.
    pub fn from_cmd(args: &CmdArgs) -> Result<PortmapConf, Error> {
        PortmapConf::parse(&args.stdin)
    }

    /// The conditions of one family.
    pub fn conditions(&self, v6: bool) -> &Conditions {
        if v6 {
            &self.conditions_v6
        } else {
            &self.conditions_v4
        }
    }
}

/// The backend from `backend` and the options that imply one (`wants`: backend and key).
fn backend_choice(
    configured: Option<Backend>,
    wants: &[(Backend, &str)],
) -> Result<BackendChoice, Error> {
    let keys_of = |b: Backend| -> Vec<&str> {
        wants
            .iter()
            .filter(|(w, _)| *w == b)
            .map(|(_, k)| *k)
            .collect()
    };
    let chosen = match configured {
        Some(b) => b,
        None => match wants.first() {
            None => return Ok(BackendChoice::Default),
            Some((b, _)) => *b,
        },
    };
    let other = match chosen {
        Backend::Nftables => Backend::Iptables,
        Backend::Iptables => Backend::Nftables,
    };
    let wrong = keys_of(other);
    if !wrong.is_empty() {
        let asked = match configured {
            Some(_) => "was configured".to_string(),
            None => format!("is implied by {}", keys_of(chosen).join(", ")),
        };
        return Err(Error::invalid_config(format!(
            "portmap: the {} backend {asked}, but {} {} {}-specific",
            chosen.as_str(),
            wrong.join(", "),
            if wrong.len() == 1 { "is" } else { "are" },
            other.as_str()
        )));
    }
    Ok(match configured {
        Some(b) => BackendChoice::Configured(b),
        None => BackendChoice::Implied(chosen),
    })
}

/// An iptables chain name a rule can jump to.
fn check_iptables_chain(chain: &str) -> Result<(), Error> {
    let ok = !chain.is_empty()
        && chain.len() <= IPT_CHAIN_MAX
        && !chain.starts_with(['-', '!'])
        && chain
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\'');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_config(format!(
            "portmap: invalid externalSetMarkChain {chain:?}: an iptables chain name has 1 to \
             {IPT_CHAIN_MAX} printable characters, no quotes, and does not start with '-' or '!'"
        )))
    }
}

/// `conditionsV4`/`V6`: their backend (as upstream detects it: the first string starts with
/// `-` or `!` for iptables) and their content.
fn conditions(
    key: &str,
    raw: Option<Vec<String>>,
    v6: bool,
) -> Result<(Option<Backend>, Conditions), Error> {
    let Some(list) = raw.filter(|l| l.first().is_some_and(|s| !s.is_empty())) else {
        return Ok((None, Conditions::None));
    };
    if list[0].starts_with(['-', '!']) {
        for arg in &list {
            if arg.chars().any(|c| c.is_control() || c == '"') {
                return Err(Error::invalid_config(format!(
                    "portmap: {key}: iptables argument {arg:?} contains a quote or a control \
                     character"
                )));
            }
        }
        return Ok((Some(Backend::Iptables), Conditions::Iptables(list)));
    }
    let matches = parse_nft_conditions(key, &list.join(" "), v6)?;
    Ok((Some(Backend::Nftables), Conditions::Nftables(matches)))
}

/// The words of an nft expression; a double-quoted word may hold spaces.
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => word.push(c),
                    None => return Err("a quote is not closed".to_string()),
                }
            }
            out.push(format!("\"{word}\""));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// The supported nftables conditions (see the module documentation).
fn parse_nft_conditions(key: &str, text: &str, v6: bool) -> Result<Vec<Match>, Error> {
    let unsupported = |why: String| {
        Error::new(
            ErrorCode::UnsupportedField,
            format!(
                "portmap: {key} {text:?}: {why}; this plugin writes nftables rules itself and \
                 knows only `ip saddr|daddr [!=] ADDR[/LEN]` (`ip6` for IPv6), \
                 `[meta] iifname|oifname [!=] NAME` and `[meta] mark [!=] VALUE`"
            ),
        )
    };
    let invalid = |why: String| Error::invalid_config(format!("portmap: {key} {text:?}: {why}"));
    let words = words(text).map_err(invalid)?;
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: usize| words.get(i).map(String::as_str);
    while let Some(w) = word(i) {
        i += 1;
        let w = if w == "meta" {
            let Some(next) = word(i) else {
                return Err(unsupported("`meta` without a key".to_string()));
            };
            i += 1;
            if !matches!(next, "iifname" | "oifname" | "mark") {
                return Err(unsupported(format!("unknown meta key {next:?}")));
            }
            next
        } else {
            w
        };
        // The operator, if any: `==` (also `eq`, or none) or `!=` (`ne`).
        let operator = |i: &mut usize| match word(*i) {
            Some("==") | Some("eq") => {
                *i += 1;
                true
            }
            Some("!=") | Some("ne") => {
                *i += 1;
                false
            }
            _ => true,
        };
        match w {
            "ip" | "ip6" => {
                if (w == "ip6") != v6 {
                    return Err(invalid(format!(
                        "`{w}` matches do not belong in {key} (they apply to {} packets)",
                        if v6 { "IPv6" } else { "IPv4" }
                    )));
                }
                let field = match word(i) {
                    Some("saddr") => AddrField::Saddr,
                    Some("daddr") => AddrField::Daddr,
                    other => {
                        return Err(unsupported(format!(
                            "`{w} {}` is not supported",
                            other.unwrap_or("")
                        )))
                    }
                };
                i += 1;
                let eq = operator(&mut i);
                let value = word(i).ok_or_else(|| invalid(format!("`{w}` without a value")))?;
                i += 1;
                let net = parse_net(value, v6).map_err(|e| invalid(e.to_string()))?;
                out.push(Match::Addr { field, eq, net });
            }
            "iifname" | "oifname" => {
                let eq = operator(&mut i);
                let value = word(i).ok_or_else(|| invalid(format!("`{w}` without a name")))?;
                i += 1;
                let name = value.trim_matches('"').to_string();
                if name.contains('*') || value.starts_with('{') || value.starts_with('$') {
                    return Err(unsupported(format!(
                        "{value}: wildcards, sets and variables are not supported"
                    )));
                }
                if !crate::conf::is_valid_ifname(&name) {
                    return Err(invalid(format!("{value} is not an interface name")));
                }
                let dir = if w == "iifname" {
                    IfDir::In
                } else {
                    IfDir::Out
                };
                out.push(Match::Ifname { dir, eq, name });
            }
            "mark" => {
                let eq = operator(&mut i);
                let value = word(i).ok_or_else(|| invalid("`mark` without a value".into()))?;
                i += 1;
                let parsed = match value.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => value.parse(),
                };
                let value = parsed
                    .map_err(|_| unsupported(format!("mark value {value:?} is not a number")))?;
                out.push(Match::Mark { eq, value });
            }
            other => return Err(unsupported(format!("{other:?} is not supported"))),
        }
    }
    Ok(out)
}

/// An address or prefix of the family of `v6`, as a condition writes it.
fn parse_net(value: &str, v6: bool) -> Result<IpNet, String> {
    let net = match value.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => value
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("{value:?} is not an address or prefix"))?,
    };
    if net.addr().is_ipv6() != v6 {
        return Err(format!(
            "{value} is not an {} address",
            if v6 { "IPv6" } else { "IPv4" }
        ));
    }
    if net.prefix_len() == 0 {
        return Err(format!("{value} matches every address; leave it out"));
    }
    if net.trunc() != net {
        return Err(format!(
            "{value} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// `runtimeConfig.portMappings`, checked (see the module documentation).
fn port_mappings(runtime_config: Option<&Value>) -> Result<Vec<PortMapping>, Error> {
    let rc = match runtime_config {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(rc)) => fold_keys(rc.clone(), &["portMappings"]),
        Some(other) => {
            return Err(Error::invalid_config(format!(
                "portmap: invalid runtimeConfig: expected an object, got {other}"
            )))
        }
    };
    let list = match rc.get("portMappings") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(Error::invalid_config(format!(
                "portmap: invalid runtimeConfig.portMappings: expected a list, got {other}"
            )))
        }
    };
    let mut out: Vec<PortMapping> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let describe = format!("runtimeConfig.portMappings[{i}] {entry}");
        let m = port_mapping(entry, describe.clone())?;
        if let Some(earlier) = out.iter().find(|o| clash(o, &m)) {
            return Err(Error::invalid_config(format!(
                "portmap: {describe}: host port {}/{} {} is already mapped by {}",
                m.host_port,
                m.protocol.as_str(),
                match m.host_ip {
                    HostIp::Addr(a) => format!("on {a}"),
                    _ => "on the same addresses".to_string(),
                },
                earlier.describe
            )));
        }
        out.push(m);
    }
    Ok(out)
}

/// Whether two mappings claim the same packets: same port and protocol, and for some
/// family the same destination (every address, or one address).
fn clash(a: &PortMapping, b: &PortMapping) -> bool {
    a.host_port == b.host_port
        && a.protocol == b.protocol
        && [false, true].iter().any(|&v6| {
            a.host_ip.covers(v6) && b.host_ip.covers(v6) && a.host_ip.addr() == b.host_ip.addr()
        })
}

fn port_mapping(entry: &Value, describe: String) -> Result<PortMapping, Error> {
    let bad = |why: String| Error::invalid_config(format!("portmap: {describe}: {why}"));
    let Value::Object(map) = entry else {
        return Err(bad("a mapping is an object".to_string()));
    };
    let map: Map<String, Value> = fold_keys(
        map.clone(),
        &["hostPort", "containerPort", "protocol", "hostIP"],
    );
    let port = |key: &str| -> Result<u16, Error> {
        match map.get(key) {
            None | Some(Value::Null) => Err(bad(format!("{key} is missing"))),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(p @ 1..=65535) => Ok(p as u16),
                Some(p) => Err(bad(format!("{key} {p} is out of range 1-65535"))),
                None => Err(bad(format!("{key} {n} is not a port number"))),
            },
            Some(other) => Err(bad(format!("{key} {other} is not a number"))),
        }
    };
    let host_port = port("hostPort")?;
    let container_port = port("containerPort")?;
    let text = |key: &str| -> Result<Option<&str>, Error> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.is_empty())),
            Some(other) => Err(bad(format!("{key} {other} is not a string"))),
        }
    };
    let protocol = match text("protocol")?.map(str::to_ascii_lowercase).as_deref() {
        None | Some("tcp") => Protocol::Tcp,
        Some("udp") => Protocol::Udp,
        Some("sctp") => Protocol::Sctp,
        Some(other) => return Err(bad(format!("protocol {other:?} is not tcp, udp or sctp"))),
    };
    let host_ip = match text("hostIP")? {
        None => HostIp::Any,
        Some(s) => match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) if a == Ipv4Addr::UNSPECIFIED => HostIp::AnyV4,
            Ok(IpAddr::V6(a)) if a == Ipv6Addr::UNSPECIFIED => HostIp::AnyV6,
            Ok(IpAddr::V6(a)) if a.to_ipv4_mapped().is_some() => {
                return Err(bad(format!(
                    "hostIP {s} is an IPv4-mapped IPv6 address; give the IPv4 address"
                )))
            }
            Ok(a) if a.is_multicast() || a == IpAddr::V4(Ipv4Addr::BROADCAST) => {
                return Err(bad(format!("hostIP {s} is not a unicast address")))
            }
            Ok(a) => HostIp::Addr(a),
            Err(_) => return Err(bad(format!("hostIP {s:?} is not an IP address"))),
        },
    };
    Ok(PortMapping {
        host_port,
        container_port,
        protocol,
        host_ip,
        describe,
    })
}

/// The container's addresses a mapping forwards to, with their prefixes: the first IPv4 and
/// the first IPv6 address of `prevResult` on `ifname` (an address naming no interface
/// counts; one naming an interface counts when it is `ifname` inside a sandbox), as
/// upstream picks them.
pub fn container_addresses(
    result: &cni::result::Result100,
    ifname: &str,
) -> (Option<IpNet>, Option<IpNet>) {
    let mut v4 = None;
    let mut v6 = None;
    for ip in &result.ips {
        if let Some(i) = ip.interface {
            if let Some(intf) = result.interfaces.get(i) {
                let in_sandbox = intf.sandbox.as_deref().is_some_and(|s| !s.is_empty());
                if intf.name != ifname || !in_sandbox {
                    continue;
                }
            }
        }
        let slot = if ip.address.addr().is_ipv4() {
            &mut v4
        } else {
            &mut v6
        };
        slot.get_or_insert(ip.address);
    }
    (v4, v6)
}

/// Checks that every mapping with one host address has a container address of that
/// address's family (code 7, naming the mapping); mappings for every address of a family
/// the container lacks are skipped, as upstream does.
pub fn check_families(mappings: &[PortMapping], v4: bool, v6: bool) -> Result<(), Error> {
    for m in mappings {
        if let HostIp::Addr(a) = m.host_ip {
            let (has, family) = if a.is_ipv4() {
                (v4, "IPv4")
            } else {
                (v6, "IPv6")
            };
            if !has {
                return Err(Error::invalid_config(format!(
                    "portmap: {}: hostIP {a} is {family}, but the container has no {family} \
                     address on this interface",
                    m.describe
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<PortmapConf, Error> {
        PortmapConf::parse(json.as_bytes())
    }

    fn with(extra: &str) -> String {
        format!(r#"{{"cniVersion":"1.0.0","name":"pm","type":"portmap"{extra}}}"#)
    }

    fn maps(list: &str) -> String {
        with(&format!(r#","runtimeConfig":{{"portMappings":{list}}}"#))
    }

    fn err(json: &str) -> Error {
        parse(json).expect_err(json)
    }

    #[test]
    fn defaults() {
        let c = parse(&with("")).unwrap();
        assert_eq!(
            c,
            PortmapConf {
                snat: true,
                masq_all: false,
                mark_masq_bit: 13,
                external_set_mark_chain: None,
                conditions_v4: Conditions::None,
                conditions_v6: Conditions::None,
                backend: BackendChoice::Default,
                mappings: vec![],
            }
        );
        // null is absent, as in Go; so are an empty runtimeConfig and an empty list.
        let c = parse(&with(
            r#","snat":null,"markMasqBit":null,"conditionsV4":null,"runtimeConfig":{}"#,
        ))
        .unwrap();
        assert!(c.snat);
        assert_eq!(c.mark_masq_bit, 13);
        assert!(parse(&maps("[]")).unwrap().mappings.is_empty());
        assert!(parse(&maps("null")).unwrap().mappings.is_empty());
        assert!(parse(&with(r#","runtimeConfig":null"#))
            .unwrap()
            .mappings
            .is_empty());
    }

    #[test]
    fn each_key() {
        let c = parse(&with(
            r#","snat":false,"masqAll":true,"markMasqBit":31,"backend":"iptables","x":1"#,
        ))
        .unwrap();
        assert!(!c.snat);
        assert!(c.masq_all);
        assert_eq!(c.mark_masq_bit, 31);
        assert_eq!(c.backend, BackendChoice::Configured(Backend::Iptables));
        // Go matches keys without regard to case.
        let c = parse(&with(r#","SNAT":false,"MasqAll":true,"MARKMASQBIT":0"#)).unwrap();
        assert!(!c.snat && c.masq_all);
        assert_eq!(c.mark_masq_bit, 0);
        let c = parse(&with(r#","externalSetMarkChain":"KUBE-MARK-MASQ""#)).unwrap();
        assert_eq!(c.external_set_mark_chain.as_deref(), Some("KUBE-MARK-MASQ"));
        assert_eq!(c.backend, BackendChoice::Implied(Backend::Iptables));
    }

    #[test]
    fn mappings() {
        let c = parse(&maps(
            r#"[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
                {"hostPort":53,"containerPort":5353,"protocol":"UDP","hostIP":"10.0.0.1"},
                {"HostPort":9,"containerport":9,"Protocol":"sctp","HOSTIP":"::"},
                {"hostPort":65535,"containerPort":1,"hostIP":""},
                {"hostPort":65535,"containerPort":1,"protocol":"udp","hostIP":"0.0.0.0"},
                {"hostPort":8080,"containerPort":80,"hostIP":"fd00::1"}]"#,
        ))
        .unwrap();
        let got: Vec<(u16, u16, Protocol, HostIp)> = c
            .mappings
            .iter()
            .map(|m| (m.host_port, m.container_port, m.protocol, m.host_ip))
            .collect();
        assert_eq!(
            got,
            [
                (8080, 80, Protocol::Tcp, HostIp::Any),
                (
                    53,
                    5353,
                    Protocol::Udp,
                    HostIp::Addr("10.0.0.1".parse().unwrap())
                ),
                (9, 9, Protocol::Sctp, HostIp::AnyV6),
                (65535, 1, Protocol::Tcp, HostIp::Any),
                (65535, 1, Protocol::Udp, HostIp::AnyV4),
                (
                    8080,
                    80,
                    Protocol::Tcp,
                    HostIp::Addr("fd00::1".parse().unwrap())
                ),
            ]
        );
        assert!(c.mappings[1]
            .describe
            .starts_with("runtimeConfig.portMappings[1] {"));
        // Other capabilities beside portMappings are not this plugin's business.
        assert!(parse(&with(
            r#","runtimeConfig":{"mac":"zz","portMappings":[{"hostPort":1,"containerPort":2}]}"#
        ))
        .is_ok());
    }

    #[test]
    fn bad_mappings_are_code_7_and_named() {
        let cases: &[(&str, &str)] = &[
            (
                r#"[{"hostPort":0,"containerPort":80}]"#,
                "hostPort 0 is out of range",
            ),
            (r#"[{"hostPort":65536,"containerPort":80}]"#, "out of range"),
            (r#"[{"hostPort":-1,"containerPort":80}]"#, "out of range"),
            (r#"[{"hostPort":80,"containerPort":0}]"#, "containerPort 0"),
            (r#"[{"hostPort":80}]"#, "containerPort is missing"),
            (
                r#"[{"hostPort":80.5,"containerPort":80}]"#,
                "not a port number",
            ),
            (r#"[{"hostPort":"80","containerPort":80}]"#, "not a number"),
            (
                r#"[{"hostPort":80,"containerPort":80,"protocol":"icmp"}]"#,
                "not tcp, udp or sctp",
            ),
            (
                r#"[{"hostPort":80,"containerPort":80,"protocol":6}]"#,
                "not a string",
            ),
            (
                r#"[{"hostPort":80,"containerPort":80,"hostIP":"10.0.0.256"}]"#,
                "not an IP address",
            ),
            (
                r#"[{"hostPort":80,"containerPort":80,"hostIP":"10.0.0.0/8"}]"#,
                "not an IP address",
            ),
            (
                r#"[{"hostPort":80,"containerPort":80,"hostIP":"fe80::1%eth0"}]"#,
                "not an IP address",
            ),
            (
                r#"[{"hostPort":80,"containerPort":80,"hostIP":"::ffff:10.0.0.1"}]"#,
                "IPv4-mapped",
            ),
            (
                r#"[{"hostPort":80,"containerPort":80,"hostIP":"224.0.0.1"}]"#,
                "not a unicast",
            ),
            (r#"[7]"#, "a mapping is an object"),
            (r#"{"hostPort":80}"#, "expected a list"),
        ];
        for (list, want) in cases {
            let e = err(&maps(list));
            assert_eq!(e.code.code(), 7, "{list}: {}", e.msg);
            assert!(e.msg.contains(want), "{list}: {}", e.msg);
            if list.starts_with('[') {
                assert!(
                    e.msg.contains("runtimeConfig.portMappings[0] "),
                    "{list}: {}",
                    e.msg
                );
            }
        }
        let e = err(&with(r#","runtimeConfig":[1]"#));
        assert_eq!(e.code.code(), 7);
        // The second entry is the one named.
        let e = err(&maps(
            r#"[{"hostPort":80,"containerPort":80},{"hostPort":80,"containerPort":80,"protocol":"x"}]"#,
        ));
        assert!(e.msg.contains("portMappings[1]"), "{}", e.msg);
    }

    #[test]
    fn duplicates_are_refused_by_destination() {
        let dup = |a: &str, b: &str| {
            parse(&maps(&format!(
                r#"[{{"hostPort":80,"containerPort":1{a}}},{{"hostPort":80,"containerPort":2{b}}}]"#
            )))
        };
        for (a, b) in [
            ("", ""),
            ("", r#","protocol":"TCP""#),
            ("", r#","hostIP":"0.0.0.0""#),
            ("", r#","hostIP":"::""#),
            (r#","hostIP":"10.0.0.1""#, r#","hostIP":"10.0.0.1""#),
            (r#","hostIP":"fd00::1""#, r#","hostIP":"fd00:0::1""#),
        ] {
            let e = dup(a, b).expect_err(&format!("{a} {b}"));
            assert_eq!(e.code.code(), 7);
            assert!(
                e.msg.contains("portMappings[1]") && e.msg.contains("already mapped by"),
                "{}",
                e.msg
            );
            assert!(e.msg.contains("portMappings[0]"), "{}", e.msg);
        }
        for (a, b) in [
            ("", r#","protocol":"udp""#),
            (r#","hostIP":"0.0.0.0""#, r#","hostIP":"::""#),
            ("", r#","hostIP":"10.0.0.1""#),
            (r#","hostIP":"10.0.0.1""#, r#","hostIP":"10.0.0.2""#),
        ] {
            assert!(dup(a, b).is_ok(), "{a} {b}");
        }
    }

    #[test]
    fn mark_bit_and_external_chain() {
        for bad in ["-1", "32", "1000"] {
            let e = err(&with(&format!(r#","markMasqBit":{bad}"#)));
            assert_eq!(e.code.code(), 7);
            assert!(e.msg.contains("between 0 and 31"), "{}", e.msg);
        }
        assert_eq!(err(&with(r#","markMasqBit":"13""#)).code.code(), 7);
        let e = err(&with(
            r#","markMasqBit":13,"externalSetMarkChain":"MARK-IT""#,
        ));
        assert!(e.msg.contains("cannot both"), "{}", e.msg);
        for bad in ["", "-x", "a b", "X".repeat(29).as_str(), "a\"b"] {
            let e = err(&with(&format!(
                r#","externalSetMarkChain":{}"#,
                serde_json::to_string(bad).unwrap()
            )));
            assert_eq!(e.code.code(), 7, "{bad:?}");
        }
    }

    #[test]
    fn backend_from_key_and_options() {
        let b = |extra: &str| parse(&with(extra)).map(|c| c.backend);
        assert_eq!(
            b(r#","backend":"nftables""#).unwrap(),
            BackendChoice::Configured(Backend::Nftables)
        );
        assert_eq!(
            b(r#","conditionsV4":["-s","10.0.0.0/8"]"#).unwrap(),
            BackendChoice::Implied(Backend::Iptables)
        );
        assert_eq!(
            b(r#","conditionsV6":["!","-s","fd00::/8"]"#).unwrap(),
            BackendChoice::Implied(Backend::Iptables)
        );
        assert_eq!(
            b(r#","conditionsV4":["ip saddr 10.0.0.0/8"]"#).unwrap(),
            BackendChoice::Implied(Backend::Nftables)
        );
        assert_eq!(
            b(r#","conditionsV4":[""],"conditionsV6":[]"#).unwrap(),
            BackendChoice::Default
        );
        let e = b(r#","backend":"pf""#).unwrap_err();
        assert_eq!(e.code.code(), 2);
        let e = b(r#","backend":"NFTABLES""#).unwrap_err();
        assert_eq!(e.code.code(), 2);
        let e = b(r#","backend":"nftables","externalSetMarkChain":"X""#).unwrap_err();
        assert_eq!(e.code.code(), 7);
        assert!(
            e.msg.contains("externalSetMarkChain is iptables-specific"),
            "{}",
            e.msg
        );
        let e = b(r#","backend":"iptables","conditionsV4":["ip daddr 10.0.0.1"]"#).unwrap_err();
        assert!(
            e.msg.contains("conditionsV4 is nftables-specific"),
            "{}",
            e.msg
        );
        let e = b(r#","conditionsV4":["-d","10.0.0.1"],"conditionsV6":["ip6 daddr fd00::1"]"#)
            .unwrap_err();
        assert_eq!(e.code.code(), 7);
        assert!(e.msg.contains("implied by conditionsV4"), "{}", e.msg);
    }

    #[test]
    fn nft_conditions() {
        let cond = |key: &str, list: &str| {
            parse(&with(&format!(r#","{key}":{list}"#))).map(|c| {
                if key == "conditionsV4" {
                    c.conditions_v4
                } else {
                    c.conditions_v6
                }
            })
        };
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(
            cond(
                "conditionsV4",
                r#"["ip saddr != 10.0.0.0/8", "ip", "daddr", "192.168.1.1", "iifname \"eth0\"", "meta oifname != lo", "mark 0x10", "meta mark ne 7"]"#
            )
            .unwrap(),
            Conditions::Nftables(vec![
                Match::Addr {
                    field: AddrField::Saddr,
                    eq: false,
                    net: net("10.0.0.0/8")
                },
                Match::Addr {
                    field: AddrField::Daddr,
                    eq: true,
                    net: net("192.168.1.1/32")
                },
                Match::Ifname {
                    dir: IfDir::In,
                    eq: true,
                    name: "eth0".into()
                },
                Match::Ifname {
                    dir: IfDir::Out,
                    eq: false,
                    name: "lo".into()
                },
                Match::Mark {
                    eq: true,
                    value: 16
                },
                Match::Mark {
                    eq: false,
                    value: 7
                },
            ])
        );
        assert_eq!(
            cond("conditionsV6", r#"["ip6 daddr == fd00::/64"]"#).unwrap(),
            Conditions::Nftables(vec![Match::Addr {
                field: AddrField::Daddr,
                eq: true,
                net: net("fd00::/64")
            }])
        );
        // Outside the subset: code 2, before anything happens.
        for bad in [
            r#"["tcp sport 1024"]"#,
            r#"["ip protocol tcp"]"#,
            r#"["iifname eth*"]"#,
            r#"["iifname { eth0, eth1 }"]"#,
            r#"["meta nfproto ipv4"]"#,
            r#"["ct state new"]"#,
            r#"["mark and 0x1 == 0x1"]"#,
        ] {
            let e = cond("conditionsV4", bad).unwrap_err();
            assert_eq!(e.code.code(), 2, "{bad}: {}", e.msg);
        }
        // Malformed or of the wrong family: code 7.
        for (key, bad) in [
            ("conditionsV4", r#"["ip saddr 10.0.0.300"]"#),
            ("conditionsV4", r#"["ip saddr 10.0.0.1/8"]"#),
            ("conditionsV4", r#"["ip saddr 0.0.0.0/0"]"#),
            ("conditionsV4", r#"["ip saddr fd00::1"]"#),
            ("conditionsV4", r#"["ip6 saddr fd00::1"]"#),
            ("conditionsV6", r#"["ip saddr 10.0.0.1"]"#),
            ("conditionsV4", r#"["ip saddr"]"#),
            ("conditionsV4", r#"["iifname \"eth0"]"#),
            ("conditionsV4", r#"["iifname 0123456789abcdef"]"#),
            ("conditionsV4", r#"["iifname \"eth 0\""]"#),
        ] {
            let e = cond(key, bad).unwrap_err();
            assert_eq!(e.code.code(), 7, "{bad}: {}", e.msg);
        }
        assert_eq!(
            cond("conditionsV4", r#"["-s", "10.0.0.0/8"]"#).unwrap(),
            Conditions::Iptables(vec!["-s".into(), "10.0.0.0/8".into()])
        );
        assert_eq!(
            cond("conditionsV4", r#"["-s", "a\"b"]"#)
                .unwrap_err()
                .code
                .code(),
            7
        );
        assert_eq!(cond("conditionsV4", r#""-s""#).unwrap_err().code.code(), 7);
    }

    #[test]
    fn addresses_from_prev_result() {
        let result: cni::result::Result100 = serde_json::from_value(serde_json::json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "veth1", "mac": "aa:bb:cc:dd:ee:01"},
                {"name": "eth0", "sandbox": "/run/netns/x"},
                {"name": "eth1", "sandbox": "/run/netns/x"}
            ],
            "ips": [
                {"address": "10.9.0.1/24", "interface": 0},
                {"address": "10.9.1.5/24", "interface": 2},
                {"address": "10.9.0.5/24", "interface": 1},
                {"address": "10.9.0.6/24", "interface": 1},
                {"address": "fd00::5/64"}
            ]
        }))
        .unwrap();
        assert_eq!(
            container_addresses(&result, "eth0"),
            (
                Some("10.9.0.5/24".parse().unwrap()),
                Some("fd00::5/64".parse().unwrap())
            )
        );
        assert_eq!(
            container_addresses(&result, "eth1").0,
            Some("10.9.1.5/24".parse().unwrap())
        );
        assert_eq!(
            container_addresses(&result, "veth1").0,
            None,
            "a host-side interface is no container's"
        );
    }

    #[test]
    fn host_ip_family_must_have_a_container_address() {
        let c = parse(&maps(
            r#"[{"hostPort":1,"containerPort":1,"hostIP":"::"},
                {"hostPort":2,"containerPort":1,"hostIP":"fd00::1"}]"#,
        ))
        .unwrap();
        assert!(check_families(&c.mappings[..1], true, false).is_ok());
        let e = check_families(&c.mappings, true, false).unwrap_err();
        assert_eq!(e.code.code(), 7);
        assert!(
            e.msg.contains("portMappings[1]") && e.msg.contains("no IPv6"),
            "{}",
            e.msg
        );
        assert!(check_families(&c.mappings, false, true).is_ok());
    }
}
