//! The host-local configuration: the `ipam` object of the request plus what the runtime adds
//! (`runtimeConfig.ipRanges`, `runtimeConfig.ips`, `args.cni.ips`) and `CNI_ARGS` `IP=`.
//!
//! Keys under `ipam`: `ranges` (list of range sets), the legacy single range `subnet` /
//! `rangeStart` / `rangeEnd` / `gateway` (used only when `subnet` is set, and then put before
//! `ranges`), `routes`, `dataDir` (default [`DEFAULT_DATA_DIR`]) and `resolvConf`.
//! `runtimeConfig.ipRanges` goes before both. Every range set is checked on its own (see
//! [`RangeSet::new`]) and against every other one (no overlaps); below spec 0.3.0 there may be
//! at most one set per address family.
//!
//! Requested addresses are gathered from `args.cni.ips`, else `CNI_ARGS` `IP=`, then
//! `runtimeConfig.ips`, duplicates dropped. `args.cni.ips` (present and not empty) overrides
//! `IP=`, as the conventions require of a plugin that understands `args` (CAP-16); upstream asks
//! for both, so there a request with different addresses of one family in `IP=` and
//! `args.cni.ips` fails with "failed to allocate all requested IPs" (UPSTREAM-28). Each may be
//! written `ip` or `ip/prefix`; the prefix is ignored.

use std::net::IpAddr;
use std::path::PathBuf;

use cni::args::CniArgs;
use cni::conventions::IpRange;
use cni::result::Route;
use cni::{Error, SpecVersion};
use ipnet::IpNet;
use serde::Deserialize;

use super::allocator::RangeSet;

/// Where the stores live unless `dataDir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// Where a requested address came from; decides the error code when it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `CNI_ARGS` `IP=` (an environment value: code 4).
    CniArgs,
    /// `args.cni.ips` (configuration: code 7).
    Args,
    /// `runtimeConfig.ips` (configuration: code 7).
    RuntimeConfig,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::CniArgs => "CNI_ARGS IP",
            Source::Args => "args.cni.ips",
            Source::RuntimeConfig => "runtimeConfig.ips",
        }
    }

    /// The error for a bad value from this source.
    pub fn error(self, msg: impl Into<String>) -> Error {
        match self {
            Source::CniArgs => Error::invalid_env(msg),
            _ => Error::invalid_config(msg),
        }
    }
}

/// A requested address and its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requested {
    pub ip: IpAddr,
    pub source: Source,
}

/// Where the store of a network lives: all DEL and GC need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    pub network: String,
    pub data_dir: PathBuf,
}

/// A checked host-local configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct IpamConfig {
    pub location: StoreLocation,
    /// Range sets in order: `runtimeConfig.ipRanges`, legacy range, `ranges`.
    pub ranges: Vec<RangeSet>,
    pub routes: Vec<Route>,
    pub resolv_conf: Option<PathBuf>,
    /// In channel order, without duplicates.
    pub requested: Vec<Requested>,
}

#[derive(Deserialize)]
struct RawNet {
    #[serde(default)]
    name: String,
    ipam: Option<RawIpam>,
    #[serde(rename = "runtimeConfig", default)]
    runtime_config: Option<RawRuntimeConfig>,
    #[serde(default)]
    args: Option<RawArgs>,
}

#[derive(Deserialize)]
struct RawIpam {
    #[serde(default)]
    subnet: Option<IpNet>,
    #[serde(rename = "rangeStart", default)]
    range_start: Option<IpAddr>,
    #[serde(rename = "rangeEnd", default)]
    range_end: Option<IpAddr>,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default)]
    ranges: Option<Vec<Vec<IpRange>>>,
    #[serde(default)]
    routes: Option<Vec<Route>>,
    #[serde(rename = "dataDir", default)]
    data_dir: Option<String>,
    #[serde(rename = "resolvConf", default)]
    resolv_conf: Option<String>,
}

#[derive(Deserialize)]
struct RawRuntimeConfig {
    #[serde(rename = "ipRanges", default)]
    ip_ranges: Option<Vec<Vec<IpRange>>>,
    #[serde(default)]
    ips: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawArgs {
    #[serde(default)]
    cni: Option<RawArgsCni>,
}

#[derive(Deserialize)]
struct RawArgsCni {
    #[serde(default)]
    ips: Option<Vec<String>>,
}

/// Only what locating the store needs, so DEL and GC still work when the ranges of a
/// configuration have become invalid.
#[derive(Deserialize)]
struct RawLocation {
    #[serde(default)]
    name: String,
    ipam: Option<RawIpamLocation>,
}

#[derive(Deserialize)]
struct RawIpamLocation {
    #[serde(rename = "dataDir", default)]
    data_dir: Option<String>,
}

fn bad_config(e: impl std::fmt::Display) -> Error {
    Error::invalid_config("invalid host-local configuration").with_details(e)
}

fn data_dir(raw: Option<String>) -> PathBuf {
    match raw {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

const MISSING_IPAM: &str = "IPAM configuration missing: the 'ipam' key is required";

impl StoreLocation {
    /// Reads `name` and `ipam.dataDir` of a request.
    pub fn parse(stdin: &[u8]) -> Result<StoreLocation, Error> {
        let raw: RawLocation = serde_json::from_slice(stdin).map_err(bad_config)?;
        let ipam = raw
            .ipam
            .ok_or_else(|| Error::invalid_config(MISSING_IPAM))?;
        Ok(StoreLocation {
            network: raw.name,
            data_dir: data_dir(ipam.data_dir),
        })
    }
}

/// Parses a requested address: `ip` or `ip/prefix`, IPv4-mapped IPv6 read as IPv4.
pub fn parse_requested(s: &str) -> Option<IpAddr> {
    let ip = match s.split_once('/') {
        Some(_) => s.parse::<IpNet>().ok()?.addr(),
        None => s.parse::<IpAddr>().ok()?,
    };
    Some(ip.to_canonical())
}

impl IpamConfig {
    /// Reads and checks the configuration of a request at `version`, with its `CNI_ARGS`.
    pub fn parse(
        stdin: &[u8],
        cni_args: &CniArgs,
        version: SpecVersion,
    ) -> Result<IpamConfig, Error> {
        let raw: RawNet = serde_json::from_slice(stdin).map_err(bad_config)?;
        let ipam = raw
            .ipam
            .ok_or_else(|| Error::invalid_config(MISSING_IPAM))?;

        let mut requested: Vec<Requested> = Vec::new();
        let mut request = |s: &str, source: Source| -> Result<(), Error> {
            let ip = parse_requested(s).ok_or_else(|| {
                source.error(format!(
                    "{}: {s:?} is not an IP address (expected ip or ip/prefix)",
                    source.describe()
                ))
            })?;
            if !requested.iter().any(|r| r.ip == ip) {
                requested.push(Requested { ip, source });
            }
            Ok(())
        };
        let args_ips = raw
            .args
            .and_then(|a| a.cni)
            .and_then(|c| c.ips)
            .filter(|ips| !ips.is_empty());
        match args_ips {
            Some(ips) => {
                for ip in &ips {
                    request(ip, Source::Args)?;
                }
            }
            // `IP=` with an empty value requests nothing, as upstream.
            None => {
                if let Some(ip) = cni_args.get("IP").filter(|v| !v.is_empty()) {
                    request(ip, Source::CniArgs)?;
                }
            }
        }
        let (rc_ranges, rc_ips) = match raw.runtime_config {
            Some(rc) => (rc.ip_ranges, rc.ips),
            None => (None, None),
        };
        for ip in rc_ips.iter().flatten() {
            request(ip, Source::RuntimeConfig)?;
        }

        let mut raw_sets: Vec<Vec<IpRange>> = rc_ranges.unwrap_or_default();
        if let Some(subnet) = ipam.subnet {
            raw_sets.push(vec![IpRange {
                subnet,
                range_start: ipam.range_start,
                range_end: ipam.range_end,
                gateway: ipam.gateway,
            }]);
        }
        raw_sets.extend(ipam.ranges.unwrap_or_default());
        if raw_sets.is_empty() {
            return Err(Error::invalid_config(
                "no IP ranges specified: set ipam.ranges (or ipam.subnet, or the ipRanges capability)",
            ));
        }
        let mut ranges = Vec::with_capacity(raw_sets.len());
        for (i, set) in raw_sets.iter().enumerate() {
            let set = RangeSet::new(set)
                .map_err(|e| Error::invalid_config(format!("invalid range set {i}: {e}")))?;
            ranges.push(set);
        }
        if version < SpecVersion::V0_3_0 {
            let v4 = ranges.iter().filter(|s| s.is_v4()).count();
            if v4 > 1 || ranges.len() - v4 > 1 {
                return Err(Error::invalid_config(format!(
                    "CNI version {version} does not support more than one address per family"
                )));
            }
        }
        for (i, a) in ranges.iter().enumerate() {
            for (j, b) in ranges.iter().enumerate().skip(i + 1) {
                if let Some((ra, rb)) = a.overlap_with(b) {
                    return Err(Error::invalid_config(format!(
                        "range set {i} overlaps with range set {j} ({ra} and {rb})"
                    )));
                }
            }
        }

        Ok(IpamConfig {
            location: StoreLocation {
                network: raw.name,
                data_dir: data_dir(ipam.data_dir),
            },
            ranges,
            routes: ipam.routes.unwrap_or_default(),
            resolv_conf: ipam
                .resolv_conf
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            requested,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, cni_args: &str) -> Result<IpamConfig, Error> {
        IpamConfig::parse(
            json.as_bytes(),
            &CniArgs::parse(cni_args).unwrap(),
            SpecVersion::V1_0_0,
        )
    }

    #[test]
    fn order_of_range_sets_and_requests() {
        let c = parse(
            r#"{"name":"n","ipam":{"type":"host-local","subnet":"10.1.0.0/24",
                "ranges":[[{"subnet":"10.2.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]},
               "runtimeConfig":{"ipRanges":[[{"subnet":"10.3.0.0/24"}]],"ips":["10.2.0.9/24","10.1.0.7"]},
               "args":{"cni":{"ips":["10.1.0.7"]}}}"#,
            "IP=10.3.0.4",
        )
        .unwrap();
        let subnets: Vec<String> = c
            .ranges
            .iter()
            .map(|s| s.ranges()[0].subnet().to_string())
            .collect();
        assert_eq!(subnets, ["10.3.0.0/24", "10.1.0.0/24", "10.2.0.0/24"]);
        let req: Vec<(String, Source)> = c
            .requested
            .iter()
            .map(|r| (r.ip.to_string(), r.source))
            .collect();
        assert_eq!(
            req,
            [
                ("10.1.0.7".into(), Source::Args),
                ("10.2.0.9".into(), Source::RuntimeConfig)
            ],
            "args.cni.ips overrides CNI_ARGS IP="
        );
        assert_eq!(c.location.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.routes.len(), 1);
    }

    #[test]
    fn cni_args_ip_counts_when_args_has_no_ips() {
        for args in [r#""args":{"cni":{"ips":[]}},"#, r#""args":{"cni":{}},"#, ""] {
            let c = parse(
                &format!(r#"{{"name":"n",{args}"ipam":{{"subnet":"10.1.0.0/24"}}}}"#),
                "IP=10.1.0.4",
            )
            .unwrap();
            let req: Vec<(String, Source)> = c
                .requested
                .iter()
                .map(|r| (r.ip.to_string(), r.source))
                .collect();
            assert_eq!(req, [("10.1.0.4".into(), Source::CniArgs)], "{args}");
        }
    }

    #[test]
    fn errors_have_codes() {
        let code = |j: &str, a: &str| parse(j, a).unwrap_err().code.code();
        assert_eq!(code(r#"{"name":"n"}"#, ""), 7);
        assert_eq!(code(r#"{"name":"n","ipam":{}}"#, ""), 7);
        assert_eq!(
            code(r#"{"name":"n","ipam":{"subnet":"10.0.0.0/24"}}"#, "IP=x"),
            4
        );
        assert_eq!(
            code(
                r#"{"name":"n","ipam":{"subnet":"10.0.0.0/24"},"args":{"cni":{"ips":["x"]}}}"#,
                ""
            ),
            7
        );
        assert_eq!(
            code(
                r#"{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.0.0.0/25"}]]}}"#,
                ""
            ),
            7
        );
        assert_eq!(code(r#"{"name":"n","ipam":{"ranges":"nope"}}"#, ""), 7);
    }

    #[test]
    fn legacy_versions_take_one_address_per_family() {
        let j = br#"{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.1.0.0/24"}]]}}"#;
        let a = CniArgs::default();
        assert!(IpamConfig::parse(j, &a, SpecVersion::V0_2_0).is_err());
        assert!(IpamConfig::parse(j, &a, SpecVersion::V0_3_0).is_ok());
        let j = br#"{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"2001:db8::/64"}]]}}"#;
        assert!(IpamConfig::parse(j, &a, SpecVersion::V0_1_0).is_ok());
    }

    #[test]
    fn requested_forms() {
        assert_eq!(
            parse_requested("10.0.0.1/8"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_requested("::ffff:10.0.0.1"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(parse_requested(""), None);
        assert_eq!(parse_requested("10.0.0.1/33"), None);
    }
}
