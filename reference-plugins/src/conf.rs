//! Configuration of the interface plugins (bridge, ptp, macvlan, ipvlan, vlan): the request's
//! stdin read into one typed, checked struct per plugin, with upstream's keys and defaults.
//! Nothing here does I/O; what needs the host (the default-route interface, the master's MTU)
//! is left to the plugin, with a pure helper where one helps ([`check_mtu_against_master`]).
//!
//! - each plugin's own config type (`plugins::<name>::config`, e.g.
//!   [`crate::plugins::bridge::config::BridgeConf`]): for ADD, CHECK and STATUS. They check
//!   everything upstream checks on any verb *and* what upstream only finds out half-way through
//!   ADD (an unknown mode, a bad MAC, a missing `ipam`), so a plugin can refuse before it
//!   changes anything.
//! - [`DelConf`]: what DEL needs (the IPAM type, `ipMasq`, `macspoofchk`), read leniently so a
//!   configuration that became invalid, or a master that vanished, never blocks DEL
//!   (UPSTREAM-8; a failing DEL also stops the runtime's reverse walk of a list, so the
//!   plugins before it would never get theirs).
//!
//! # Decoding rules (those of Go's `encoding/json`, which upstream uses)
//!
//! - Unknown keys are ignored.
//! - Key names match case-insensitively when there is no exact match (`"vlanID"` is read as
//!   `vlanId`, `"MTU"` as `mtu`); when two spellings of one key appear, the later one wins.
//!   Only ASCII case is folded.
//! - `null` means "absent": the default applies (`"bridge": null` is `cni0`).
//! - Types are strict: `"portIsolation": "true"` is an error, although the upstream bridge
//!   page shows exactly that example (upstream rejects it too).
//!
//! # Error codes
//!
//! - 7 (invalid network config): a value of the wrong type, out of range, missing where
//!   required, or two keys that contradict each other.
//! - 2 (unsupported field): a well-formed value this plugin does not implement, e.g. an
//!   unknown `mode`, `ipvlan` `flag` or `ipMasqBackend`.
//! - 4 (invalid environment variables): a malformed `MAC=` in `CNI_ARGS`.
//! - 6 (decoding failure): a `prevResult` that cannot be read (as [`cni::CmdArgs::prev_result`]).
//!
//! Upstream reports every one of these as code 999.
//!
//! # Where we are stricter than upstream, on purpose
//!
//! A negative `mtu` is refused (upstream bridge, ptp and ipvlan silently use the kernel
//! default). Interface names we create or look up (`bridge`, `master`) must be valid kernel
//! names (1 to 15 bytes, no `/`, `:` or white space, not `.` or `..`). MAC addresses must be
//! 48-bit unicast; upstream only learns this from the kernel. Unknown `CNI_ARGS` keys are
//! ignored (UPSTREAM-9: upstream refuses them unless `IgnoreUnknown` is set), as host-local
//! does. Plugin-specific differences are listed in each module.

use std::fmt;
use std::str::FromStr;

use cni::result::Dns;
use cni::{Error, ErrorCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The longest interface name the kernel accepts (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Whether the kernel would accept `name` as an interface name.
pub fn is_valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME_LEN
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

/// Checks a name from `key` with [`is_valid_ifname`] (code 7).
pub(crate) fn check_ifname(plugin: &str, key: &str, name: &str) -> Result<(), Error> {
    if is_valid_ifname(name) {
        Ok(())
    } else {
        Err(Error::invalid_config(format!(
            "{plugin}: invalid {key} {name:?}: an interface name has 1 to {MAX_IFNAME_LEN} bytes \
             and no '/', ':' or white space"
        )))
    }
}

/// A 48-bit unicast Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

/// Why a MAC address string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("{0:?} is not a 48-bit MAC address (expected aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabb.ccdd.eeff)")]
    Syntax(String),
    #[error("{0} is a multicast address; an interface needs a unicast one")]
    Multicast(MacAddr),
    #[error("00:00:00:00:00:00 cannot be an interface address")]
    Zero,
}

impl FromStr for MacAddr {
    type Err = MacError;

    /// The 48-bit forms Go's `net.ParseMAC` reads; hex digits in either case.
    fn from_str(s: &str) -> Result<MacAddr, MacError> {
        let syntax = || MacError::Syntax(s.to_string());
        let hex: String = match s.len() {
            17 => {
                let sep = s.as_bytes()[2];
                if sep != b':' && sep != b'-' {
                    return Err(syntax());
                }
                let groups: Vec<&str> = s.split(sep as char).collect();
                if groups.len() != 6 || groups.iter().any(|g| g.len() != 2) {
                    return Err(syntax());
                }
                groups.concat()
            }
            14 => {
                let groups: Vec<&str> = s.split('.').collect();
                if groups.len() != 3 || groups.iter().any(|g| g.len() != 4) {
                    return Err(syntax());
                }
                groups.concat()
            }
            _ => return Err(syntax()),
        };
        let mut bytes = [0u8; 6];
        for (i, b) in bytes.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(syntax)?;
            if !pair.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(syntax());
            }
            *b = u8::from_str_radix(pair, 16).map_err(|_| syntax())?;
        }
        let mac = MacAddr(bytes);
        if bytes == [0; 6] {
            return Err(MacError::Zero);
        }
        if bytes[0] & 1 == 1 {
            return Err(MacError::Multicast(mac));
        }
        Ok(mac)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Where the MAC address for the container interface came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacSource {
    /// The plugin's own `mac` key (macvlan).
    Config,
    /// `MAC=` in `CNI_ARGS`.
    CniArgs,
    /// `args.cni.mac`.
    ArgsCni,
    /// `runtimeConfig.mac` (the `mac` capability).
    RuntimeConfig,
}

impl MacSource {
    pub fn describe(self) -> &'static str {
        match self {
            MacSource::Config => "mac",
            MacSource::CniArgs => "CNI_ARGS MAC",
            MacSource::ArgsCni => "args.cni.mac",
            MacSource::RuntimeConfig => "runtimeConfig.mac",
        }
    }

    /// The error for a bad value from this source: code 4 for `CNI_ARGS`, else 7.
    fn error(self, plugin: &str, e: MacError) -> Error {
        let msg = format!("{plugin}: invalid {}: {e}", self.describe());
        match self {
            MacSource::CniArgs => Error::invalid_env(msg),
            _ => Error::invalid_config(msg),
        }
    }
}

/// The MAC address requested for the container interface, and its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedMac {
    pub addr: MacAddr,
    pub source: MacSource,
}

/// Picks the last non-empty candidate (candidates in increasing precedence) and checks it.
/// Only the winner is checked, as upstream only ever uses the winner.
pub(crate) fn pick_mac(
    plugin: &str,
    candidates: &[(MacSource, Option<&str>)],
) -> Result<Option<RequestedMac>, Error> {
    let winner = candidates
        .iter()
        .rev()
        .find_map(|(src, v)| v.filter(|s| !s.is_empty()).map(|s| (*src, s)));
    match winner {
        None => Ok(None),
        Some((source, s)) => {
            let addr = s.parse().map_err(|e| source.error(plugin, e))?;
            Ok(Some(RequestedMac { addr, source }))
        }
    }
}

/// The parent link of a macvlan, ipvlan or vlan interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Master {
    /// A link by name.
    Named(String),
    /// `master` was not given: the interface of the first default route, looked up by the
    /// plugin (in the container's namespace when `linkInContainer` is set).
    DefaultRoute,
}

/// How `ipMasq` is implemented (`ipMasqBackend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpMasqBackend {
    Iptables,
    Nftables,
}

impl IpMasqBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            IpMasqBackend::Iptables => "iptables",
            IpMasqBackend::Nftables => "nftables",
        }
    }
}

/// Reads `ipMasqBackend`. Upstream only looks at it when `ipMasq` is set (and then refuses an
/// unknown value); otherwise any value is ignored, and so is it here (`None`).
pub(crate) fn ip_masq_backend(
    plugin: &str,
    ip_masq: bool,
    raw: Option<String>,
) -> Result<Option<IpMasqBackend>, Error> {
    match raw {
        None => Ok(None),
        Some(_) if !ip_masq => Ok(None),
        Some(s) => match s.as_str() {
            "iptables" => Ok(Some(IpMasqBackend::Iptables)),
            "nftables" => Ok(Some(IpMasqBackend::Nftables)),
            _ => Err(unsupported(format!(
                "{plugin}: unknown ipMasqBackend {s:?} (expected \"iptables\" or \"nftables\")"
            ))),
        },
    }
}

/// Checks an `mtu` key: absent, `null` or 0 mean "the kernel's default" (`None`).
pub(crate) fn mtu(plugin: &str, raw: Option<i64>) -> Result<Option<u32>, Error> {
    match raw {
        None | Some(0) => Ok(None),
        Some(m) if m < 0 || m > i64::from(i32::MAX) => Err(Error::invalid_config(format!(
            "{plugin}: invalid mtu {m}: must be 0 (kernel default) or a positive number"
        ))),
        Some(m) => Ok(Some(m as u32)),
    }
}

/// The rule of macvlan and vlan: the MTU must not exceed the master's (upstream:
/// `[0, master MTU]`). Call it once the master's MTU is known (code 7).
pub fn check_mtu_against_master(
    mtu: Option<u32>,
    master: &str,
    master_mtu: u32,
) -> Result<(), Error> {
    match mtu {
        Some(m) if m > master_mtu => Err(Error::invalid_config(format!(
            "invalid mtu {m}: must be at most the MTU of master {master:?} ({master_mtu})"
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn unsupported(msg: String) -> Error {
    Error::new(ErrorCode::UnsupportedField, msg)
}

/// What DEL needs, read so that it cannot fail: a key with a value of the wrong type counts as
/// absent. Upstream DEL re-reads (and for vlan and ipvlan, re-resolves) the whole configuration
/// and fails when it became invalid or the master vanished (UPSTREAM-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelConf {
    /// `ipam.type` when non-empty: the IPAM plugin to call DEL on.
    pub ipam_type: Option<String>,
    /// `ipMasq` (bridge, ptp): tear down the masquerade rules.
    pub ip_masq: bool,
    /// `macspoofchk` (bridge): tear down the spoof-check rules.
    pub macspoofchk: bool,
}

impl DelConf {
    pub fn parse(stdin: &[u8]) -> DelConf {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(stdin) else {
            return DelConf::default();
        };
        let map = fold_keys(map, &["ipam", "ipMasq", "macspoofchk"]);
        let flag = |k: &str| map.get(k).and_then(Value::as_bool).unwrap_or(false);
        let ipam_type = match map.get("ipam") {
            Some(Value::Object(ipam)) => fold_keys(ipam.clone(), &["type"])
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            _ => None,
        };
        DelConf {
            ipam_type,
            ip_masq: flag("ipMasq"),
            macspoofchk: flag("macspoofchk"),
        }
    }
}

// ---- decoding helpers shared by the plugin modules ----

/// Renames keys that match one of `known` case-insensitively (and not exactly) to the known
/// spelling, keeping input order; a later key overwrites an earlier one, as in Go.
pub(crate) fn fold_keys(map: Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let key = if known.contains(&k.as_str()) {
            k
        } else {
            match known.iter().find(|n| n.eq_ignore_ascii_case(&k)) {
                Some(n) => (*n).to_string(),
                None => k,
            }
        };
        out.insert(key, v);
    }
    out
}

/// Folds the keys of the object at `map[key]`, if it is one.
fn fold_nested(map: &mut Map<String, Value>, key: &str, known: &[&str]) {
    if let Some(Value::Object(inner)) = map.get_mut(key) {
        *inner = fold_keys(std::mem::take(inner), known);
    }
}

/// The request as an object with the plugin's keys folded (see the module documentation).
pub(crate) fn request_object(
    plugin: &str,
    stdin: &[u8],
    known: &[&str],
) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(stdin) {
        Ok(Value::Object(map)) => Ok(fold_keys(map, known)),
        Ok(_) => Err(Error::decode(format!(
            "{plugin}: the network configuration is not a JSON object"
        ))),
        Err(e) => Err(Error::decode(format!(
            "{plugin}: the network configuration is not valid JSON: {e}"
        ))),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    plugin: &str,
    map: &Map<String, Value>,
) -> Result<T, Error> {
    T::deserialize(Value::Object(map.clone()))
        .map_err(|e| Error::invalid_config(format!("invalid {plugin} configuration: {e}")))
}

/// The keys common to every interface plugin that the modules read themselves.
pub(crate) const COMMON_KEYS: &[&str] = &["ipam", "dns", "args", "runtimeConfig", "prevResult"];

#[derive(Deserialize)]
pub(crate) struct RawIpam {
    #[serde(rename = "type", default)]
    plugin_type: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawDns {
    #[serde(default)]
    nameservers: Option<Vec<String>>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    search: Option<Vec<String>>,
    #[serde(default)]
    options: Option<Vec<String>>,
}

/// The shared part every module reads: `ipam.type` and `dns`.
pub(crate) struct Common {
    /// `ipam.type` when non-empty (an absent or empty `ipam`, or `ipam: {}`, is `None`).
    pub(crate) ipam_type: Option<String>,
    pub(crate) dns: Dns,
    /// Whether `dns` counts as given for bridge and ptp, which keep IPAM's DNS otherwise: any
    /// of `nameservers`, `search`, `options` present (even empty) or a non-empty `domain`.
    pub(crate) dns_set: bool,
}

/// Decodes an object-valued key (`None` when absent or `null`). serde would also read a struct
/// from a JSON array; Go does not, so anything but an object is refused here (code 7).
fn nested<T: DeserializeOwned>(
    plugin: &str,
    key: &str,
    v: Option<&Value>,
) -> Result<Option<T>, Error> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => T::deserialize(v.clone())
            .map(Some)
            .map_err(|e| Error::invalid_config(format!("{plugin}: invalid {key}: {e}"))),
        Some(other) => Err(Error::invalid_config(format!(
            "{plugin}: invalid {key}: expected an object, got {other}"
        ))),
    }
}

pub(crate) fn common(plugin: &str, map: &mut Map<String, Value>) -> Result<Common, Error> {
    fold_nested(map, "ipam", &["type"]);
    fold_nested(map, "dns", &["nameservers", "domain", "search", "options"]);
    let ipam: Option<RawIpam> = nested(plugin, "ipam", map.get("ipam"))?;
    let raw_dns: Option<RawDns> = nested(plugin, "dns", map.get("dns"))?;
    let (dns, dns_set) = match raw_dns {
        None => (Dns::default(), false),
        Some(d) => {
            let set = d.nameservers.is_some()
                || d.search.is_some()
                || d.options.is_some()
                || d.domain.as_deref().is_some_and(|s| !s.is_empty());
            let dns = Dns {
                nameservers: d.nameservers.unwrap_or_default(),
                domain: d.domain.filter(|s| !s.is_empty()),
                search: d.search.unwrap_or_default(),
                options: d.options.unwrap_or_default(),
            };
            (dns, set)
        }
    };
    Ok(Common {
        ipam_type: ipam.and_then(|i| i.plugin_type).filter(|t| !t.is_empty()),
        dns,
        dns_set,
    })
}

#[derive(Deserialize)]
struct RawMacHolder {
    #[serde(default)]
    mac: Option<String>,
}

/// `runtimeConfig.mac`. Only this key of `runtimeConfig` is read, so a capability meant for
/// another plugin (a `portMappings` entry, say) cannot make this one fail.
pub(crate) fn runtime_config_mac(
    plugin: &str,
    map: &mut Map<String, Value>,
) -> Result<Option<String>, Error> {
    fold_nested(map, "runtimeConfig", &["mac"]);
    Ok(
        nested::<RawMacHolder>(plugin, "runtimeConfig", map.get("runtimeConfig"))?
            .and_then(|r| r.mac),
    )
}

/// `args.cni.mac` (only that key is read).
pub(crate) fn args_cni_mac(
    plugin: &str,
    map: &mut Map<String, Value>,
) -> Result<Option<String>, Error> {
    fold_nested(map, "args", &["cni"]);
    if let Some(Value::Object(args)) = map.get_mut("args") {
        fold_nested(args, "cni", &["mac"]);
    }
    let args: Option<Map<String, Value>> = nested(plugin, "args", map.get("args"))?;
    let cni = args.as_ref().and_then(|a| a.get("cni"));
    Ok(nested::<RawMacHolder>(plugin, "args.cni", cni)?.and_then(|c| c.mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_forms() {
        let cases: &[(&str, Result<[u8; 6], &str>)] = &[
            (
                "c2:11:22:33:44:55",
                Ok([0xc2, 0x11, 0x22, 0x33, 0x44, 0x55]),
            ),
            (
                "C2-11-22-33-44-5F",
                Ok([0xc2, 0x11, 0x22, 0x33, 0x44, 0x5f]),
            ),
            ("c211.2233.4455", Ok([0xc2, 0x11, 0x22, 0x33, 0x44, 0x55])),
            ("c2:11:22:33:44", Err("syntax")),
            ("c2:11:22:33:44:55:66:77", Err("syntax")),
            ("c2:11-22:33:44:55", Err("syntax")),
            ("c2:11:22:33:44:5g", Err("syntax")),
            ("c2:1:122:33:44:55", Err("syntax")),
            ("+2:11:22:33:44:55", Err("syntax")),
            ("", Err("syntax")),
            ("01:00:5e:00:00:01", Err("multicast")),
            ("ff:ff:ff:ff:ff:ff", Err("multicast")),
            ("00:00:00:00:00:00", Err("zero")),
        ];
        for (input, want) in cases {
            let got = input.parse::<MacAddr>();
            match (want, &got) {
                (Ok(bytes), Ok(mac)) => assert_eq!(&mac.0, bytes, "{input}"),
                (Err("syntax"), Err(MacError::Syntax(_)))
                | (Err("multicast"), Err(MacError::Multicast(_)))
                | (Err("zero"), Err(MacError::Zero)) => {}
                _ => panic!("{input}: want {want:?}, got {got:?}"),
            }
        }
        assert_eq!(
            "C2-11-22-33-44-5F".parse::<MacAddr>().unwrap().to_string(),
            "c2:11:22:33:44:5f"
        );
    }

    #[test]
    fn ifnames() {
        for ok in ["cni0", "a", "br-0123456789ab", "eth0.100", "x@y"] {
            assert!(is_valid_ifname(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\tb",
            "0123456789abcdef",
        ] {
            assert!(!is_valid_ifname(bad), "{bad:?}");
        }
    }

    #[test]
    fn folding_prefers_exact_and_later_keys() {
        let map: Map<String, Value> =
            serde_json::from_str(r#"{"MTU":1,"other":2,"mtu":3,"VlanID":4}"#).unwrap();
        let folded = fold_keys(map, &["mtu", "vlanId"]);
        assert_eq!(folded["mtu"], 3);
        assert_eq!(folded["vlanId"], 4);
        assert_eq!(folded["other"], 2);
        let map: Map<String, Value> = serde_json::from_str(r#"{"mtu":1,"Mtu":9}"#).unwrap();
        assert_eq!(fold_keys(map, &["mtu"])["mtu"], 9);
    }

    #[test]
    fn mtu_values() {
        assert_eq!(mtu("p", None).unwrap(), None);
        assert_eq!(mtu("p", Some(0)).unwrap(), None);
        assert_eq!(mtu("p", Some(1400)).unwrap(), Some(1400));
        for bad in [-1, i64::from(i32::MAX) + 1] {
            assert_eq!(mtu("p", Some(bad)).unwrap_err().code.code(), 7);
        }
        assert!(check_mtu_against_master(Some(1500), "eth0", 1500).is_ok());
        assert!(check_mtu_against_master(None, "eth0", 1500).is_ok());
        let e = check_mtu_against_master(Some(1501), "eth0", 1500).unwrap_err();
        assert_eq!(e.code.code(), 7);
        assert!(e.msg.contains("1500"), "{}", e.msg);
    }

    #[test]
    fn masq_backend() {
        assert_eq!(ip_masq_backend("p", true, None).unwrap(), None);
        assert_eq!(
            ip_masq_backend("p", true, Some("nftables".into())).unwrap(),
            Some(IpMasqBackend::Nftables)
        );
        assert_eq!(
            ip_masq_backend("p", true, Some("iptables".into())).unwrap(),
            Some(IpMasqBackend::Iptables)
        );
        // Only looked at when ipMasq is set, as upstream.
        assert_eq!(
            ip_masq_backend("p", false, Some("pf".into())).unwrap(),
            None
        );
        let e = ip_masq_backend("p", true, Some("pf".into())).unwrap_err();
        assert_eq!(e.code.code(), 2);
        assert_eq!(
            ip_masq_backend("p", true, Some("NFTables".into()))
                .unwrap_err()
                .code
                .code(),
            2
        );
    }

    #[test]
    fn del_conf_never_fails() {
        let cases: &[(&str, DelConf)] = &[
            (
                r#"{"name":"n","type":"bridge","ipMasq":true,"macspoofchk":true,"mtu":"bad",
                    "vlan":99999,"ipam":{"type":"host-local"}}"#,
                DelConf {
                    ipam_type: Some("host-local".into()),
                    ip_masq: true,
                    macspoofchk: true,
                },
            ),
            (
                r#"{"IPAM":{"TYPE":"dhcp"},"IPMASQ":true}"#,
                DelConf {
                    ipam_type: Some("dhcp".into()),
                    ip_masq: true,
                    macspoofchk: false,
                },
            ),
            (r#"{"ipam":{},"ipMasq":"yes"}"#, DelConf::default()),
            (r#"{"ipam":{"type":""}}"#, DelConf::default()),
            (r#"{"ipam":"host-local"}"#, DelConf::default()),
            (r#"[1,2]"#, DelConf::default()),
            (r#"not json"#, DelConf::default()),
        ];
        for (json, want) in cases {
            assert_eq!(&DelConf::parse(json.as_bytes()), want, "{json}");
        }
    }
}
