//! The `ipvlan` plugin's configuration.
//!
//! | Key | Default | Notes |
//! |---|---|---|
//! | `master` | see below | the parent link |
//! | `mode` | `l2` | `l2`, `l3`, `l3s`; `""` = `l2` |
//! | `flag` | kernel default (`bridge`) | `bridge`, `private`, `vepa`; **not an upstream key** |
//! | `mtu` | kernel default | 0 = kernel default |
//! | `linkInContainer` | false | the master lives in the container's namespace |
//! | `ipam` | see below | |
//! | `dns` | empty | always copied into the result, replacing IPAM's (as upstream; bridge and ptp keep IPAM's) |
//!
//! Chaining (ADD only, hence separate methods):
//! - [`IpvlanConf::resolve_master`]: `master` if given; else, with a `prevResult`, its only
//!   interface (an error unless it has exactly one, named); else the default-route interface.
//! - [`IpvlanConf::address_source`]: the IPAM plugin if `ipam.type` is set; else the addresses
//!   of `prevResult`; with neither, an error. Upstream finds that out only after creating the
//!   link, by running an IPAM plugin with an empty name, and leaves the link behind
//!   (UPSTREAM-5).
//!
//! `flag` is kept from the brief this module was written to: upstream ipvlan has no such key
//! (requested in containernetworking/plugins#1032) and ignores it, always creating the
//! kernel's default (`bridge`). When the key is absent this plugin does the same; when it is
//! present it is honoured, which is the one place it acts differently from upstream.

use cni::result::{CniResult, Dns, Result100};
use cni::{CmdArgs, Error, SpecVersion};
use serde::Deserialize;
use serde_json::Value;

use crate::conf::{
    check_ifname, common, decode, mtu, request_object, unsupported, Master, COMMON_KEYS,
};

const PLUGIN: &str = "ipvlan";

/// `mode` and `flag` (an extension, see the module documentation): the netlink crate's types,
/// which know their kernel values.
pub use crate::netlink::{IpvlanFlag, IpvlanMode};

/// Where the addresses of the ipvlan link come from on ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressSource {
    /// Run this IPAM plugin.
    Ipam(String),
    /// Use the `ips` (and routes) of `prevResult` ([`IpvlanConf::prev_result`]).
    PrevResult,
}

/// A checked ipvlan configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvlanConf {
    /// `master` when non-empty; see [`IpvlanConf::resolve_master`].
    pub master: Option<String>,
    pub mode: IpvlanMode,
    /// `flag`; `None` leaves the kernel's default (`bridge`), as upstream always does.
    pub flag: Option<IpvlanFlag>,
    /// `mtu`; `None` is the kernel's default.
    pub mtu: Option<u32>,
    /// `linkInContainer`: look the master up in the container's namespace.
    pub link_in_container: bool,
    /// `ipam.type` when non-empty.
    pub ipam_type: Option<String>,
    /// `dns`, copied into the result as is (possibly empty).
    pub dns: Dns,
    /// `prevResult` in the 1.x layout; `None` when absent, `null` or `{}`.
    pub prev_result: Option<Result100>,
}

const KEYS: &[&str] = &["master", "mode", "flag", "mtu", "linkInContainer"];

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    master: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    mtu: Option<i64>,
    #[serde(rename = "linkInContainer", default)]
    link_in_container: Option<bool>,
}

fn mode(raw: Option<&str>) -> Result<IpvlanMode, Error> {
    Ok(match raw.unwrap_or("") {
        "" | "l2" => IpvlanMode::L2,
        "l3" => IpvlanMode::L3,
        "l3s" => IpvlanMode::L3s,
        other => {
            return Err(unsupported(format!(
                "ipvlan: unsupported mode {other:?} (expected \"l2\", \"l3\" or \"l3s\")"
            )))
        }
    })
}

fn flag(raw: Option<&str>) -> Result<Option<IpvlanFlag>, Error> {
    Ok(match raw {
        None | Some("") => None,
        Some("bridge") => Some(IpvlanFlag::Bridge),
        Some("private") => Some(IpvlanFlag::Private),
        Some("vepa") => Some(IpvlanFlag::Vepa),
        Some(other) => {
            return Err(unsupported(format!(
                "ipvlan: unsupported flag {other:?} (expected \"bridge\", \"private\" or \"vepa\")"
            )))
        }
    })
}

impl IpvlanConf {
    /// Reads and checks a request's configuration; `version` is the request's, in which a
    /// `prevResult` without its own `cniVersion` is read.
    pub fn parse(stdin: &[u8], version: SpecVersion) -> Result<IpvlanConf, Error> {
        let known: Vec<&str> = KEYS.iter().chain(COMMON_KEYS).copied().collect();
        let mut map = request_object(PLUGIN, stdin, &known)?;
        let common = common(PLUGIN, &mut map)?;
        let raw: Raw = decode(PLUGIN, &map)?;

        let master = raw.master.filter(|m| !m.is_empty());
        if let Some(name) = &master {
            check_ifname(PLUGIN, "master", name)?;
        }
        let prev_result = match map.get("prevResult") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) if o.is_empty() => None,
            Some(v) => Some(
                CniResult::from_value(v.clone(), Some(version))
                    .map_err(|e| {
                        Error::decode("ipvlan: could not parse prevResult").with_details(e)
                    })?
                    .to_v1(),
            ),
        };
        Ok(IpvlanConf {
            master,
            mode: mode(raw.mode.as_deref())?,
            flag: flag(raw.flag.as_deref())?,
            mtu: mtu(PLUGIN, raw.mtu)?,
            link_in_container: raw.link_in_container.unwrap_or(false),
            ipam_type: common.ipam_type,
            dns: common.dns,
            prev_result,
        })
    }

    /// [`IpvlanConf::parse`] on what skel hands the plugin.
    pub fn from_cmd(args: &CmdArgs) -> Result<IpvlanConf, Error> {
        IpvlanConf::parse(&args.stdin, args.version)
    }

    /// The parent link for ADD (code 7 when chained without `master` and `prevResult` does not
    /// have exactly one named interface).
    pub fn resolve_master(&self) -> Result<Master, Error> {
        if let Some(name) = &self.master {
            return Ok(Master::Named(name.clone()));
        }
        let Some(prev) = &self.prev_result else {
            return Ok(Master::DefaultRoute);
        };
        match prev.interfaces.as_slice() {
            [only] if !only.name.is_empty() => {
                check_ifname(PLUGIN, "master (from prevResult)", &only.name)?;
                Ok(Master::Named(only.name.clone()))
            }
            ifaces => Err(Error::invalid_config(format!(
                "ipvlan: no master given and prevResult has {} interfaces; chained without \
                 master, prevResult must list exactly one named interface",
                ifaces.len()
            ))),
        }
    }

    /// Where ADD takes the addresses from (code 7 when there is no IPAM type and no
    /// `prevResult` with addresses).
    pub fn address_source(&self) -> Result<AddressSource, Error> {
        if let Some(t) = &self.ipam_type {
            return Ok(AddressSource::Ipam(t.clone()));
        }
        match &self.prev_result {
            Some(prev) if !prev.ips.is_empty() => Ok(AddressSource::PrevResult),
            Some(_) => Err(Error::invalid_config(
                "ipvlan: no ipam configured and prevResult has no IP addresses to use",
            )),
            None => Err(Error::invalid_config(
                "ipvlan: an ipam configuration with a type is required unless chained after a \
                 plugin whose prevResult carries IP addresses",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<IpvlanConf, Error> {
        IpvlanConf::parse(json.as_bytes(), SpecVersion::V1_0_0)
    }

    fn with(extra: &str) -> String {
        format!(r#"{{"cniVersion":"1.0.0","name":"mynet","type":"ipvlan"{extra}}}"#)
    }

    const PREV_ONE: &str = r#","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth7"}],
        "ips":[{"address":"10.1.2.3/24","interface":0}]}"#;

    #[test]
    fn defaults() {
        let c = parse(&with(r#","ipam":{"type":"host-local"}"#)).unwrap();
        assert_eq!(
            c,
            IpvlanConf {
                master: None,
                mode: IpvlanMode::L2,
                flag: None,
                mtu: None,
                link_in_container: false,
                ipam_type: Some("host-local".into()),
                dns: Dns::default(),
                prev_result: None,
            }
        );
        assert_eq!(c.resolve_master().unwrap(), Master::DefaultRoute);
        let c = parse(&with(r#","master":"","mode":"","flag":"","prevResult":{}"#)).unwrap();
        assert_eq!(
            (c.master, c.mode, c.flag, c.prev_result),
            (None, IpvlanMode::L2, None, None)
        );
    }

    #[test]
    fn docs_example() {
        let c = IpvlanConf::parse(
            br#"{
                "name": "mynet",
                "type": "ipvlan",
                "master": "eth0",
                "linkInContainer": false,
                "ipam": {"type": "host-local", "subnet": "10.1.2.0/24"}
            }"#,
            SpecVersion::V0_1_0,
        )
        .unwrap();
        assert_eq!(c.resolve_master().unwrap(), Master::Named("eth0".into()));
        assert_eq!(
            c.address_source().unwrap(),
            AddressSource::Ipam("host-local".into())
        );
        assert!(!c.link_in_container);
    }

    #[test]
    fn modes_and_flags() {
        for (s, m, k) in [
            ("l2", IpvlanMode::L2, 0),
            ("l3", IpvlanMode::L3, 1),
            ("l3s", IpvlanMode::L3s, 2),
        ] {
            let c = parse(&with(&format!(r#","mode":"{s}""#))).unwrap();
            assert_eq!((c.mode, c.mode.as_str(), c.mode.kernel_value()), (m, s, k));
            assert_eq!(IpvlanMode::from_kernel_value(k), Some(m));
        }
        for (s, f, k) in [
            ("bridge", IpvlanFlag::Bridge, 0),
            ("private", IpvlanFlag::Private, 1),
            ("vepa", IpvlanFlag::Vepa, 2),
        ] {
            let c = parse(&with(&format!(r#","flag":"{s}""#))).unwrap();
            assert_eq!(c.flag, Some(f));
            assert_eq!((f.as_str(), f.kernel_value()), (s, k));
        }
    }

    #[test]
    fn each_key() {
        let c = parse(&with(
            r#","master":"eth1","mtu":1400,"linkInContainer":true,"dns":{"domain":"x"},"zz":null"#,
        ))
        .unwrap();
        assert_eq!(c.master.as_deref(), Some("eth1"));
        assert_eq!(c.mtu, Some(1400));
        assert!(c.link_in_container);
        assert_eq!(c.dns.domain.as_deref(), Some("x"));
        let c = parse(&with(
            r#","MASTER":"eth2","Mode":"l3s","FLAG":"vepa","MTU":1300,"LinkInContainer":true"#,
        ))
        .unwrap();
        assert_eq!(c.master.as_deref(), Some("eth2"));
        assert_eq!((c.mode, c.flag), (IpvlanMode::L3s, Some(IpvlanFlag::Vepa)));
        assert_eq!(c.mtu, Some(1300));
        assert!(c.link_in_container);
        assert_eq!(KEYS.len(), 5);
    }

    #[test]
    fn chained() {
        // No master, no ipam: both come from prevResult.
        let c = parse(&with(PREV_ONE)).unwrap();
        assert_eq!(c.resolve_master().unwrap(), Master::Named("eth7".into()));
        assert_eq!(c.address_source().unwrap(), AddressSource::PrevResult);
        assert_eq!(c.prev_result.as_ref().unwrap().ips.len(), 1);
        // ipam wins over prevResult addresses; master wins over prevResult's interface.
        let c = parse(&with(&format!(
            r#"{PREV_ONE},"ipam":{{"type":"dhcp"}},"master":"eth0""#
        )))
        .unwrap();
        assert_eq!(c.resolve_master().unwrap(), Master::Named("eth0".into()));
        assert_eq!(
            c.address_source().unwrap(),
            AddressSource::Ipam("dhcp".into())
        );
        // A 0.4.0 prevResult in a 0.4.0 request.
        let c = IpvlanConf::parse(
            br#"{"cniVersion":"0.4.0","name":"n","type":"ipvlan","prevResult":{
                "interfaces":[{"name":"net1"}],"ips":[{"version":"4","address":"10.0.0.2/24"}]}}"#,
            SpecVersion::V0_4_0,
        )
        .unwrap();
        assert_eq!(c.resolve_master().unwrap(), Master::Named("net1".into()));
        assert_eq!(c.address_source().unwrap(), AddressSource::PrevResult);
    }

    #[test]
    fn chained_errors() {
        let cases: &[(&str, u32)] = &[
            // No single named interface.
            (
                r#","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"a"},{"name":"b"}]}"#,
                7,
            ),
            (
                r#","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":""}]}"#,
                7,
            ),
            (
                r#","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}"#,
                7,
            ),
        ];
        for (extra, want) in cases {
            let c = parse(&with(extra)).unwrap();
            assert_eq!(
                c.resolve_master().unwrap_err().code.code(),
                *want,
                "{extra}"
            );
        }
        // No ipam and no prevResult addresses.
        let c = parse(&with("")).unwrap();
        assert_eq!(c.address_source().unwrap_err().code.code(), 7);
        let c = parse(&with(
            r#","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"a"}]}"#,
        ))
        .unwrap();
        assert_eq!(c.address_source().unwrap_err().code.code(), 7);
        assert!(c.resolve_master().is_ok());
    }

    #[test]
    fn errors_and_codes() {
        let cases: &[(String, u32)] = &[
            (with(r#","mode":"l4""#), 2),
            (with(r#","mode":"L2""#), 2),
            (with(r#","flag":"passthru""#), 2),
            (with(r#","mode":2"#), 7),
            (with(r#","mtu":-1"#), 7),
            (with(r#","master":"a:b""#), 7),
            (with(r#","linkInContainer":"false""#), 7),
            (with(r#","prevResult":{"cniVersion":"9.9.9"}"#), 6),
            (
                with(r#","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"nope"}]}"#),
                6,
            ),
            (with(r#","prevResult":[]"#), 6),
        ];
        for (json, want) in cases {
            let e = parse(json).expect_err(json);
            assert_eq!(e.code.code(), *want, "{json}: {}", e.msg);
            assert!(e.msg.contains("ipvlan"), "{}", e.msg);
        }
    }
}
