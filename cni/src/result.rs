//! Results for every spec version, and conversion between them.
//!
//! There are three layouts ("families", see [`ResultFamily`]):
//! [`Result020`] for 0.1.0/0.2.0, [`Result040`] for 0.3.0/0.3.1/0.4.0 and [`Result100`] for
//! 1.0.0/1.1.0. [`CniResult`] wraps one of them. Parsing picks the layout from the result's own
//! `cniVersion`; [`CniResult::convert_to`] moves between versions exactly as far as the target
//! version can carry the data and fails where it cannot (a legacy result needs an address).
//! Nothing here does I/O.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::version::{ResultFamily, SpecVersion};

/// DNS settings of a result (and of the `dns` config key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `nameservers`: name server addresses, in order of preference.
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `domain`: the local domain for short names.
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `search`: the search domains, in order.
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `options`: resolver options (as in resolv.conf).
    pub options: Vec<String>,
}

impl Dns {
    /// Whether no field is set (the `dns` key is then left out).
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// A route. `mtu`, `advmss`, `priority`, `table` and `scope` exist from 1.1.0 on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// `dst`: the destination network.
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `gw`: the next hop; absent for the interface's default gateway or a direct route.
    pub gw: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `mtu`: the route's MTU (1.1.0).
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `advmss`: the TCP MSS to advertise (1.1.0).
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `priority`: the route's metric (1.1.0).
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `table`: the routing table (1.1.0).
    pub table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `scope`: the route's scope (1.1.0).
    pub scope: Option<u8>,
}

impl Route {
    /// A route to `dst` through `gw`, with no 1.1.0 field.
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Route {
        Route {
            dst,
            gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }

    /// The route without its 1.1.0-only fields.
    pub fn basic(&self) -> Route {
        Route::new(self.dst, self.gw)
    }

    fn is_v4(&self) -> bool {
        matches!(self.dst, IpNet::V4(_))
    }
}

/// An interface of a result. `mtu`, `socketPath` and `pciID` exist from 1.1.0 on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// `name`: the interface name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `mac`: its hardware address.
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `mtu`: its MTU (1.1.0).
    pub mtu: Option<u32>,
    /// The `CNI_NETNS` path for container interfaces; absent for host interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(
        rename = "socketPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `socketPath`: the socket of a userspace interface (1.1.0).
    pub socket_path: Option<String>,
    #[serde(rename = "pciID", default, skip_serializing_if = "Option::is_none")]
    /// `pciID`: the PCI address of a device interface (1.1.0).
    pub pci_id: Option<String>,
}

impl Interface {
    /// The interface without its 1.1.0-only fields.
    pub fn basic(&self) -> Interface {
        Interface {
            name: self.name.clone(),
            mac: self.mac.clone(),
            sandbox: self.sandbox.clone(),
            ..Interface::default()
        }
    }
}

/// Address family label of a 0.3.x/0.4.0 `ips` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IpVersion {
    #[serde(rename = "4")]
    /// IPv4 (`"4"`).
    V4,
    #[serde(rename = "6")]
    /// IPv6 (`"6"`).
    V6,
}

impl IpVersion {
    /// The family label of `addr`.
    pub fn of(addr: &IpNet) -> IpVersion {
        match addr {
            IpNet::V4(_) => IpVersion::V4,
            IpNet::V6(_) => IpVersion::V6,
        }
    }
}

/// An `ips` entry of a 1.0.0/1.1.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    /// Address with prefix length, e.g. `10.1.0.5/24`.
    pub address: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `gateway`: the default gateway for this address, if any.
    pub gateway: Option<IpAddr>,
}

/// An `ips` entry of a 0.3.x/0.4.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig040 {
    /// `version`: the address family label.
    pub version: IpVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `interface`: index into `interfaces`.
    pub interface: Option<usize>,
    /// `address`: the address with its prefix length.
    pub address: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `gateway`: the default gateway for this address, if any.
    pub gateway: Option<IpAddr>,
}

/// The 1.0.0/1.1.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Result100 {
    #[serde(rename = "cniVersion")]
    /// `cniVersion`.
    pub cni_version: SpecVersion,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `interfaces`: the interfaces the plugin created or used.
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `ips`: the addresses assigned.
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `routes`: the routes added.
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    /// `dns`: DNS settings for the container.
    pub dns: Dns,
}

impl Result100 {
    /// An empty result labelled with `version` (must be 1.0.0 or 1.1.0 when serialized as is;
    /// use [`CniResult::convert_to`] for others).
    pub fn new(version: SpecVersion) -> Result100 {
        Result100 {
            cni_version: version,
            interfaces: Vec::new(),
            ips: Vec::new(),
            routes: Vec::new(),
            dns: Dns::default(),
        }
    }
}

/// The 0.3.0/0.3.1/0.4.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Result040 {
    #[serde(rename = "cniVersion")]
    /// `cniVersion`.
    pub cni_version: SpecVersion,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `interfaces`: the interfaces the plugin created or used.
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `ips`: the addresses assigned, each labelled with its family.
    pub ips: Vec<IpConfig040>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `routes`: the routes added.
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    /// `dns`: DNS settings for the container.
    pub dns: Dns,
}

/// One address family of a 0.1.0/0.2.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyIpConfig {
    /// `ip`: the address with its prefix length.
    pub ip: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `gateway`: the default gateway, if any.
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `routes`: the routes of this family.
    pub routes: Vec<Route>,
}

/// The 0.1.0/0.2.0 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Result020 {
    #[serde(rename = "cniVersion")]
    /// `cniVersion`.
    pub cni_version: SpecVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `ip4`: the IPv4 address.
    pub ip4: Option<LegacyIpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `ip6`: the IPv6 address.
    pub ip6: Option<LegacyIpConfig>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    /// `dns`: DNS settings for the container.
    pub dns: Dns,
}

/// A result of any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CniResult {
    /// A 0.1.0 or 0.2.0 result.
    Legacy(Result020),
    /// A 0.3.0, 0.3.1 or 0.4.0 result.
    V04(Result040),
    /// A 1.0.0 or 1.1.0 result.
    V1(Result100),
}

/// Why a result could not be read, checked or converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    #[error("result is not valid JSON for its version: {0}")]
    /// The text is not JSON of the layout its version uses.
    Decode(String),
    #[error("result has no cniVersion and no version to assume")]
    /// No `cniVersion`, and the caller gave none to assume.
    MissingVersion,
    #[error("unknown result version {0:?}")]
    /// `cniVersion` names no spec version.
    UnknownVersion(String),
    #[error("result labelled {label} does not use the {family:?} layout")]
    /// The layout does not match the version label.
    WrongFamily {
        /// The version the result names.
        label: SpecVersion,
        /// The layout that version uses.
        family: ResultFamily,
    },
    #[error("cannot convert to {0}: the result has no IP address")]
    /// A 0.1.0/0.2.0 result needs an address, and there is none.
    NoAddressForLegacy(SpecVersion),
    #[error("ips[{ip}] names interface {index} but there are {count} interfaces")]
    /// An `ips` entry points past the end of `interfaces`.
    BadInterfaceIndex {
        /// Which `ips` entry.
        ip: usize,
        /// The index it names.
        index: usize,
        /// How many interfaces there are.
        count: usize,
    },
    #[error("ips[{0}] is labelled with the wrong address family")]
    /// An `ips` entry's `version` label does not match its address.
    FamilyMismatch(usize),
    #[error("gateway {gateway} of ips[{ip}] is not of the address's family")]
    /// A gateway of the other family than its address.
    GatewayFamily {
        /// Which `ips` entry.
        ip: usize,
        /// The gateway.
        gateway: IpAddr,
    },
}

impl CniResult {
    /// Reads a result, choosing the layout from its `cniVersion`. A result without one is taken
    /// to be in `assume` (VER-13), or fails when `assume` is `None`.
    ///
    /// A result that names its version once, as a known version string, is read straight
    /// into its layout (`direct::parse`); anything else goes through a `serde_json::Value`
    /// ([`CniResult::from_value`]), which decides and words every error. Both give the same
    /// result for any input the direct reading accepts.
    pub fn parse(bytes: &[u8], assume: Option<SpecVersion>) -> Result<CniResult, ResultError> {
        if let Some(r) = direct::parse(bytes) {
            return Ok(r);
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ResultError::Decode(e.to_string()))?;
        CniResult::from_value(value, assume)
    }

    /// As [`CniResult::parse`], from a JSON value (a `prevResult`, say).
    pub fn from_value(
        mut value: serde_json::Value,
        assume: Option<SpecVersion>,
    ) -> Result<CniResult, ResultError> {
        let obj = value
            .as_object_mut()
            .ok_or_else(|| ResultError::Decode("result is not a JSON object".into()))?;
        let version = match obj.get("cniVersion") {
            Some(serde_json::Value::String(s)) => {
                SpecVersion::from_exact(s).ok_or_else(|| ResultError::UnknownVersion(s.clone()))?
            }
            Some(other) => return Err(ResultError::UnknownVersion(other.to_string())),
            None => {
                let v = assume.ok_or(ResultError::MissingVersion)?;
                obj.insert("cniVersion".into(), v.as_str().into());
                v
            }
        };
        let decode = |e: serde_json::Error| ResultError::Decode(e.to_string());
        let result = match version.family() {
            ResultFamily::Legacy => {
                CniResult::Legacy(serde_json::from_value(value).map_err(decode)?)
            }
            ResultFamily::V04 => CniResult::V04(serde_json::from_value(value).map_err(decode)?),
            ResultFamily::V1 => CniResult::V1(serde_json::from_value(value).map_err(decode)?),
        };
        result.validate()?;
        Ok(result)
    }

    /// The version the result is labelled with.
    pub fn version(&self) -> SpecVersion {
        match self {
            CniResult::Legacy(r) => r.cni_version,
            CniResult::V04(r) => r.cni_version,
            CniResult::V1(r) => r.cni_version,
        }
    }

    /// Checks the internal consistency the spec demands: the label matches the layout, interface
    /// indexes point into `interfaces`, 0.4.0 family labels match the addresses, gateways match
    /// their address's family.
    pub fn validate(&self) -> Result<(), ResultError> {
        let label = self.version();
        let family = match self {
            CniResult::Legacy(_) => ResultFamily::Legacy,
            CniResult::V04(_) => ResultFamily::V04,
            CniResult::V1(_) => ResultFamily::V1,
        };
        if label.family() != family {
            return Err(ResultError::WrongFamily { label, family });
        }
        let check = |ifaces: usize,
                     i: usize,
                     index: Option<usize>,
                     address: &IpNet,
                     gw: Option<IpAddr>|
         -> Result<(), ResultError> {
            if let Some(index) = index {
                if index >= ifaces {
                    return Err(ResultError::BadInterfaceIndex {
                        ip: i,
                        index,
                        count: ifaces,
                    });
                }
            }
            if let Some(gateway) = gw {
                if gateway.is_ipv4() != matches!(address, IpNet::V4(_)) {
                    return Err(ResultError::GatewayFamily { ip: i, gateway });
                }
            }
            Ok(())
        };
        match self {
            CniResult::Legacy(r) => {
                for (i, (cfg, v4)) in [(&r.ip4, true), (&r.ip6, false)].into_iter().enumerate() {
                    if let Some(cfg) = cfg {
                        if matches!(cfg.ip, IpNet::V4(_)) != v4 {
                            return Err(ResultError::FamilyMismatch(i));
                        }
                        check(0, i, None, &cfg.ip, cfg.gateway)?;
                    }
                }
            }
            CniResult::V04(r) => {
                for (i, ip) in r.ips.iter().enumerate() {
                    if IpVersion::of(&ip.address) != ip.version {
                        return Err(ResultError::FamilyMismatch(i));
                    }
                    check(r.interfaces.len(), i, ip.interface, &ip.address, ip.gateway)?;
                }
            }
            CniResult::V1(r) => {
                for (i, ip) in r.ips.iter().enumerate() {
                    check(r.interfaces.len(), i, ip.interface, &ip.address, ip.gateway)?;
                }
            }
        }
        Ok(())
    }

    /// Serializes the result in its own version.
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            CniResult::Legacy(r) => serde_json::to_value(r),
            CniResult::V04(r) => serde_json::to_value(r),
            CniResult::V1(r) => serde_json::to_value(r),
        }
        .expect("results serialize")
    }

    /// Serializes the result in its own version, as compact JSON text. Written straight from
    /// the struct (the same text as `to_value().to_string()`, without building the value tree
    /// first).
    pub fn to_json(&self) -> String {
        match self {
            CniResult::Legacy(r) => serde_json::to_string(r),
            CniResult::V04(r) => serde_json::to_string(r),
            CniResult::V1(r) => serde_json::to_string(r),
        }
        .expect("results serialize")
    }

    /// As [`CniResult::to_json`], indented (what a plugin prints).
    pub fn to_json_pretty(&self) -> String {
        match self {
            CniResult::Legacy(r) => serde_json::to_string_pretty(r),
            CniResult::V04(r) => serde_json::to_string_pretty(r),
            CniResult::V1(r) => serde_json::to_string_pretty(r),
        }
        .expect("results serialize")
    }

    /// Converts to `target`, keeping every field the target version can hold.
    pub fn convert_to(&self, target: SpecVersion) -> Result<CniResult, ResultError> {
        match target.family() {
            ResultFamily::V1 => {
                let mut r = self.to_v1();
                r.cni_version = target;
                if target < SpecVersion::V1_1_0 {
                    strip_v11_fields(&mut r.interfaces, &mut r.routes);
                }
                Ok(CniResult::V1(r))
            }
            ResultFamily::V04 => {
                let mut r = self.to_v04();
                r.cni_version = target;
                Ok(CniResult::V04(r))
            }
            ResultFamily::Legacy => {
                let mut r = self.to_legacy(target)?;
                r.cni_version = target;
                Ok(CniResult::Legacy(r))
            }
        }
    }

    /// The data in the 1.x layout (label kept if already 1.x, else 1.1.0).
    pub fn to_v1(&self) -> Result100 {
        match self {
            CniResult::V1(r) => r.clone(),
            CniResult::V04(r) => Result100 {
                cni_version: SpecVersion::LATEST,
                interfaces: r.interfaces.iter().map(Interface::basic).collect(),
                ips: r
                    .ips
                    .iter()
                    .map(|ip| IpConfig {
                        interface: ip.interface,
                        address: ip.address,
                        gateway: ip.gateway,
                    })
                    .collect(),
                routes: r.routes.iter().map(Route::basic).collect(),
                dns: r.dns.clone(),
            },
            CniResult::Legacy(_) => {
                let mut v04 = self.to_v04();
                v04.cni_version = SpecVersion::V0_4_0;
                CniResult::V04(v04).to_v1()
            }
        }
    }

    fn to_v04(&self) -> Result040 {
        match self {
            CniResult::V04(r) => r.clone(),
            CniResult::V1(r) => Result040 {
                cni_version: SpecVersion::V0_4_0,
                interfaces: r.interfaces.iter().map(Interface::basic).collect(),
                ips: r
                    .ips
                    .iter()
                    .map(|ip| IpConfig040 {
                        version: IpVersion::of(&ip.address),
                        interface: ip.interface,
                        address: ip.address,
                        gateway: ip.gateway,
                    })
                    .collect(),
                routes: r.routes.iter().map(Route::basic).collect(),
                dns: r.dns.clone(),
            },
            CniResult::Legacy(r) => {
                let mut out = Result040 {
                    cni_version: SpecVersion::V0_4_0,
                    interfaces: Vec::new(),
                    ips: Vec::new(),
                    routes: Vec::new(),
                    dns: r.dns.clone(),
                };
                for cfg in [&r.ip4, &r.ip6].into_iter().flatten() {
                    out.ips.push(IpConfig040 {
                        version: IpVersion::of(&cfg.ip),
                        interface: None,
                        address: cfg.ip,
                        gateway: cfg.gateway,
                    });
                    out.routes.extend(cfg.routes.iter().map(Route::basic));
                }
                out
            }
        }
    }

    fn to_legacy(&self, target: SpecVersion) -> Result<Result020, ResultError> {
        if let CniResult::Legacy(r) = self {
            return Ok(r.clone());
        }
        let v04 = self.to_v04();
        let first = |version: IpVersion| v04.ips.iter().find(|ip| ip.version == version);
        let legacy = |ip: &IpConfig040, want_v4: bool| LegacyIpConfig {
            ip: ip.address,
            gateway: ip.gateway,
            routes: v04
                .routes
                .iter()
                .filter(|r| r.is_v4() == want_v4)
                .map(Route::basic)
                .collect(),
        };
        let ip4 = first(IpVersion::V4).map(|ip| legacy(ip, true));
        let ip6 = first(IpVersion::V6).map(|ip| legacy(ip, false));
        if ip4.is_none() && ip6.is_none() {
            return Err(ResultError::NoAddressForLegacy(target));
        }
        Ok(Result020 {
            cni_version: target,
            ip4,
            ip6,
            dns: v04.dns,
        })
    }
}

fn strip_v11_fields(interfaces: &mut [Interface], routes: &mut [Route]) {
    for i in interfaces {
        *i = i.basic();
    }
    for r in routes {
        *r = r.basic();
    }
}

impl From<Result100> for CniResult {
    fn from(r: Result100) -> CniResult {
        CniResult::V1(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mac":"aa:bb:cc:dd:ee:ff","mtu":1400,"sandbox":"/run/netns/x"}],
        "ips":[{"interface":0,"address":"10.1.0.5/24","gateway":"10.1.0.1"},{"interface":0,"address":"fd00::5/64"}],
        "routes":[{"dst":"0.0.0.0/0","gw":"10.1.0.1","priority":10},{"dst":"::/0"}],"dns":{"nameservers":["10.1.0.1"]}}"#;

    /// What [`CniResult::parse`] gave before the direct reading: always through a `Value`.
    fn through_value(bytes: &[u8], assume: Option<SpecVersion>) -> Result<CniResult, ResultError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ResultError::Decode(e.to_string()))?;
        CniResult::from_value(value, assume)
    }

    #[test]
    fn the_direct_reading_agrees_with_the_value_path() {
        let deep = format!(
            r#"{{"cniVersion":"1.0.0","x":{}{}}}"#,
            "[".repeat(130),
            "]".repeat(130)
        );
        let inputs: Vec<String> = vec![
            V1.to_string(),
            // The last of two cniVersion keys wins in a Value.
            r#"{"cniVersion":"0.2.0","cniVersion":"1.0.0","ips":[]}"#.into(),
            // A known field twice: the last wins in a Value, a typed read refuses.
            r#"{"cniVersion":"1.0.0","dns":{},"dns":{"domain":"x"}}"#.into(),
            r#"{"cniVersion":"1.0.0","x":1,"x":2}"#.into(),
            r#"{"cniVersion":1}"#.into(),
            r#"{"ips":[]}"#.into(),
            r#"{"cniVersion":"0.4.0","ips":[{"version":"6","address":"10.0.0.1/8"}]}"#.into(),
            r#"{"cni\u0056ersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.1/8"}]}"#.into(),
            r#"{"cniVersion":"1.0.0"} x"#.into(),
            // Numbers beyond an f64 in an unknown key: a Value refuses them, skipping did not.
            r#"{"cniVersion":"0.2.0","ii2":555555550000000.01147E825530}"#.into(),
            format!(r#"{{"cniVersion":"1.0.0","x":-{}}}"#, "9".repeat(400)),
            r#"{"cniVersion":"1.0.0","x":[1e308,2.5E-7,1e+99,true,false]}"#.into(),
            // A lone UTF-16 surrogate in a skipped key or value: a Value refuses it, skipping
            // did not; a whole pair, or the same letters after an escaped backslash, is text.
            r#"{"cniVersion":"0.3.0","interfaces":[{"nam\uD999e":"eth0"}],"dns":{}}"#.into(),
            r#"{"cniVersion":"1.0.0","x":"\udc00"}"#.into(),
            r#"{"cniVersion":"1.0.0","x":"\uD83D\uDE00"}"#.into(),
            r#"{"cniVersion":"1.0.0","x":"\\uD800"}"#.into(),
            deep,
        ];
        let bad_utf8: &[u8] = b"{\"cniVersion\":\"1.0.0\",\"msg\":\"\xff\"}";
        assert!(CniResult::parse(bad_utf8, None).is_err());
        assert_eq!(
            CniResult::parse(bad_utf8, None),
            through_value(bad_utf8, None)
        );
        for text in &inputs {
            for assume in [None, Some(SpecVersion::V0_4_0)] {
                assert_eq!(
                    CniResult::parse(text.as_bytes(), assume),
                    through_value(text.as_bytes(), assume),
                    "{text}"
                );
            }
        }
        assert!(CniResult::parse(inputs.last().unwrap().as_bytes(), None).is_err());
        for lone in [r#""nam\uD999e""#, r#""\udc00""#] {
            let text = inputs.iter().find(|t| t.contains(lone)).unwrap();
            assert!(CniResult::parse(text.as_bytes(), None).is_err(), "{text}");
        }
        assert!(direct::parse(V1.as_bytes()).is_some());
    }

    #[test]
    fn parse_and_validate() {
        let r = CniResult::parse(V1.as_bytes(), None).unwrap();
        assert_eq!(r.version(), SpecVersion::V1_1_0);
        let bad = V1.replace(
            r#""interface":0,"address":"fd00"#,
            r#""interface":3,"address":"fd00"#,
        );
        assert!(matches!(
            CniResult::parse(bad.as_bytes(), None),
            Err(ResultError::BadInterfaceIndex { index: 3, .. })
        ));
        assert!(CniResult::parse(b"{}", None).is_err());
        assert!(CniResult::parse(b"{}", Some(SpecVersion::V1_0_0)).is_ok());
        assert!(CniResult::parse(br#"{"cniVersion":"7.0.0"}"#, None).is_err());
    }

    #[test]
    fn down_to_040_adds_version_and_strips_11_fields() {
        let r = CniResult::parse(V1.as_bytes(), None).unwrap();
        let CniResult::V04(d) = r.convert_to(SpecVersion::V0_4_0).unwrap() else {
            panic!()
        };
        assert_eq!(d.ips[0].version, IpVersion::V4);
        assert_eq!(d.ips[1].version, IpVersion::V6);
        assert_eq!(d.interfaces[0].mtu, None);
        assert_eq!(d.routes[0].priority, None);
        let CniResult::V1(to100) = r.convert_to(SpecVersion::V1_0_0).unwrap() else {
            panic!()
        };
        assert_eq!(to100.interfaces[0].mtu, None);
    }

    #[test]
    fn down_to_legacy_sorts_routes_by_family() {
        let r = CniResult::parse(V1.as_bytes(), None).unwrap();
        let CniResult::Legacy(l) = r.convert_to(SpecVersion::V0_2_0).unwrap() else {
            panic!()
        };
        assert_eq!(l.ip4.as_ref().unwrap().routes.len(), 1);
        assert_eq!(l.ip6.as_ref().unwrap().routes[0].dst.to_string(), "::/0");
        let empty = CniResult::V1(Result100::new(SpecVersion::V1_0_0));
        assert_eq!(
            empty.convert_to(SpecVersion::V0_1_0),
            Err(ResultError::NoAddressForLegacy(SpecVersion::V0_1_0))
        );
    }

    #[test]
    fn json_text_is_the_values_text() {
        let r = CniResult::parse(V1.as_bytes(), None).unwrap();
        let empty = CniResult::V1(Result100::new(SpecVersion::V1_0_0));
        for r in [&r, &empty] {
            for v in SpecVersion::ALL {
                let Ok(c) = r.convert_to(v) else { continue };
                assert_eq!(c.to_json(), c.to_value().to_string(), "{v}");
                assert_eq!(
                    c.to_json_pretty(),
                    serde_json::to_string_pretty(&c.to_value()).unwrap(),
                    "{v}"
                );
            }
        }
    }
}

/// The fast reading of a result: its layout straight from the text, without building a
/// `serde_json::Value` first (an ordered map per object, every key hashed), which made
/// parsing most of the cost of reading, checking and converting a result.
///
/// It only answers when it gives what the `Value` path would: the text is UTF-8 (fields
/// skipped unread are not checked otherwise); the top level is an object
/// with exactly one `cniVersion`, a string naming a known version; the text nests at most
/// [`MAX_DEPTH`] deep (the `Value` path refuses deeper text at 128 levels, while an ignored
/// field read straight is skipped at any depth); the typed layout decodes (so no known field
/// is given twice, where the `Value` path would keep the last) and validates. Otherwise it
/// returns `None` and the caller takes the `Value` path.
mod direct {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    use super::CniResult;
    use crate::version::{ResultFamily, SpecVersion};

    /// Deepest nesting read directly (below serde_json's recursion limit of 128).
    pub(super) const MAX_DEPTH: usize = 100;

    pub(super) fn parse(bytes: &[u8]) -> Option<CniResult> {
        // serde_json checks UTF-8 and surrogate pairs only in the strings it keeps: a skipped
        // field with invalid bytes or a lone surrogate would pass here and fail the Value path.
        std::str::from_utf8(bytes).ok()?;
        if crate::json_text::may_hold_surrogate_escape(bytes) || needs_value_path(bytes) {
            return None;
        }
        let version = top_level_version(bytes)?;
        let result = match version.family() {
            ResultFamily::Legacy => CniResult::Legacy(serde_json::from_slice(bytes).ok()?),
            ResultFamily::V04 => CniResult::V04(serde_json::from_slice(bytes).ok()?),
            ResultFamily::V1 => CniResult::V1(serde_json::from_slice(bytes).ok()?),
        };
        result.validate().ok()?;
        Some(result)
    }

    /// Whether the text must take the `Value` path, read in one pass outside strings: brackets
    /// nesting deeper than [`MAX_DEPTH`], or a number with an exponent of three digits or more
    /// or three hundred digits in a row (serde_json skips an unknown field's number without
    /// checking that it fits an `f64`, which the `Value` path refuses: "number out of range").
    fn needs_value_path(bytes: &[u8]) -> bool {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let (mut run, mut exponent, mut prev) = (0usize, None::<usize>, 0u8);
        for &b in bytes {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                prev = b;
                continue;
            }
            match b {
                b'0'..=b'9' => {
                    run += 1;
                    if let Some(n) = exponent.as_mut() {
                        *n += 1;
                        if *n >= 3 {
                            return true;
                        }
                    }
                    if run >= 300 {
                        return true;
                    }
                }
                b'e' | b'E' if prev.is_ascii_digit() || prev == b'.' => {
                    exponent = Some(0);
                    run = 0;
                }
                b'+' | b'-' if matches!(prev, b'e' | b'E') => {}
                b'.' => run = 0,
                _ => {
                    match b {
                        b'"' => in_string = true,
                        b'[' | b'{' => {
                            depth += 1;
                            if depth > MAX_DEPTH {
                                return true;
                            }
                        }
                        b']' | b'}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    run = 0;
                    exponent = None;
                }
            }
            prev = b;
        }
        false
    }

    /// The top-level `cniVersion` when the text is one object naming it exactly once, as a
    /// string of a known version.
    fn top_level_version(bytes: &[u8]) -> Option<SpecVersion> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let found = de::Deserializer::deserialize_map(&mut de, VersionOnly).ok()?;
        de.end().ok()?;
        SpecVersion::from_exact(&found?)
    }

    /// Reads an object, keeping its only `cniVersion` string and skipping everything else; a
    /// second `cniVersion` is an error.
    struct VersionOnly;

    impl<'de> Visitor<'de> for VersionOnly {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a result object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
            let mut version: Option<String> = None;
            while let Some(is_version) = map.next_key_seed(IsVersionKey)? {
                if !is_version {
                    map.next_value::<IgnoredAny>()?;
                } else if version.is_some() {
                    return Err(de::Error::duplicate_field("cniVersion"));
                } else {
                    version = Some(map.next_value()?);
                }
            }
            Ok(version)
        }
    }

    /// A key, read as whether it is `cniVersion` (without keeping it).
    struct IsVersionKey;

    impl<'de> DeserializeSeed<'de> for IsVersionKey {
        type Value = bool;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for IsVersionKey {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a key")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            Ok(v == "cniVersion")
        }
    }
}
