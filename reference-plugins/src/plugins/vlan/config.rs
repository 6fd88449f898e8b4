//! The `vlan` plugin's configuration.
//!
//! | Key | Default | Notes |
//! |---|---|---|
//! | `master` | **required** | the docs mention a default-route default; upstream's code refuses an empty one |
//! | `vlanId` | **required** | 0..=4094 |
//! | `mtu` | kernel default | 0 = kernel default; at most the master's MTU ([`crate::conf::check_mtu_against_master`]) |
//! | `linkInContainer` | false | the master lives in the container's namespace |
//! | `ipam` | **required** | |
//! | `dns` | empty | always copied into the result, replacing IPAM's (as upstream; bridge and ptp keep IPAM's) |
//!
//! Differences from upstream, on purpose: a missing (or `null`) `vlanId` is an error, where
//! upstream takes Go's zero value and creates VLAN 0 (UPSTREAM-10; an explicit 0 is still
//! accepted); a missing `ipam` is an error here, where upstream finds out only after creating
//! the link, by running an IPAM plugin with an empty name (and leaves the link, UPSTREAM-5).
//! Upstream's range message says "between 0 and 4095 inclusive" while it accepts 0..=4094.

use cni::result::Dns;
use cni::{CmdArgs, Error};
use serde::Deserialize;

use crate::conf::{check_ifname, common, decode, mtu, request_object, COMMON_KEYS};

const PLUGIN: &str = "vlan";

/// The highest `vlanId` accepted.
pub const MAX_VLAN_ID: u16 = 4094;

/// A checked vlan configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanConf {
    pub master: String,
    pub vlan_id: u16,
    /// `mtu`; `None` is the kernel's default.
    pub mtu: Option<u32>,
    /// `linkInContainer`: look the master up in the container's namespace.
    pub link_in_container: bool,
    /// `ipam.type`.
    pub ipam_type: String,
    /// `dns`, copied into the result as is (possibly empty).
    pub dns: Dns,
}

const KEYS: &[&str] = &["master", "vlanId", "mtu", "linkInContainer"];

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    master: Option<String>,
    #[serde(rename = "vlanId", default)]
    vlan_id: Option<i64>,
    #[serde(default)]
    mtu: Option<i64>,
    #[serde(rename = "linkInContainer", default)]
    link_in_container: Option<bool>,
}

impl VlanConf {
    /// Reads and checks a request's configuration.
    pub fn parse(stdin: &[u8]) -> Result<VlanConf, Error> {
        let known: Vec<&str> = KEYS.iter().chain(COMMON_KEYS).copied().collect();
        let mut map = request_object(PLUGIN, stdin, &known)?;
        let common = common(PLUGIN, &mut map)?;
        let raw: Raw = decode(PLUGIN, &map)?;

        let master = raw.master.filter(|m| !m.is_empty()).ok_or_else(|| {
            Error::invalid_config("vlan: \"master\" is required: the link to create the VLAN on")
        })?;
        check_ifname(PLUGIN, "master", &master)?;
        let vlan_id = match raw.vlan_id {
            None => {
                return Err(Error::invalid_config(
                    "vlan: \"vlanId\" is required (0 to 4094)",
                ))
            }
            Some(v) if (0..=i64::from(MAX_VLAN_ID)).contains(&v) => v as u16,
            Some(v) => {
                return Err(Error::invalid_config(format!(
                    "vlan: invalid vlanId {v} (must be between 0 and {MAX_VLAN_ID})"
                )))
            }
        };
        let ipam_type = common.ipam_type.ok_or_else(|| {
            Error::invalid_config(
                "vlan: an ipam configuration with a type is required (the IPAM plugin provides \
                 the addresses)",
            )
        })?;
        Ok(VlanConf {
            master,
            vlan_id,
            mtu: mtu(PLUGIN, raw.mtu)?,
            link_in_container: raw.link_in_container.unwrap_or(false),
            ipam_type,
            dns: common.dns,
        })
    }

    /// [`VlanConf::parse`] on what skel hands the plugin.
    pub fn from_cmd(args: &CmdArgs) -> Result<VlanConf, Error> {
        VlanConf::parse(&args.stdin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<VlanConf, Error> {
        VlanConf::parse(json.as_bytes())
    }

    fn with(extra: &str) -> String {
        format!(
            r#"{{"cniVersion":"1.0.0","name":"mynet","type":"vlan","ipam":{{"type":"host-local"}}{extra}}}"#
        )
    }

    #[test]
    fn docs_example() {
        let c = parse(
            r#"{
                "name": "mynet",
                "cniVersion": "0.3.1",
                "type": "vlan",
                "master": "eth0",
                "mtu": 1500,
                "vlanId": 5,
                "linkInContainer": false,
                "ipam": {"type": "host-local", "subnet": "10.1.1.0/24"},
                "dns": {"nameservers": ["10.1.1.1", "8.8.8.8"]}
            }"#,
        )
        .unwrap();
        assert_eq!(
            c,
            VlanConf {
                master: "eth0".into(),
                vlan_id: 5,
                mtu: Some(1500),
                link_in_container: false,
                ipam_type: "host-local".into(),
                dns: Dns {
                    nameservers: vec!["10.1.1.1".into(), "8.8.8.8".into()],
                    ..Dns::default()
                },
            }
        );
    }

    #[test]
    fn defaults_and_keys() {
        let c = parse(&with(r#","master":"eth0","vlanId":0"#)).unwrap();
        assert_eq!((c.vlan_id, c.mtu, c.link_in_container), (0, None, false));
        assert_eq!(c.dns, Dns::default());
        let c = parse(&with(
            r#","master":"eth0","vlanId":4094,"mtu":0,"linkInContainer":true"#,
        ))
        .unwrap();
        assert_eq!((c.vlan_id, c.mtu, c.link_in_container), (4094, None, true));
        // "vlanID" (a common spelling) is read as vlanId, as Go's decoder does.
        let c = parse(&with(
            r#","Master":"eth1","vlanID":12,"MTU":1400,"LINKINCONTAINER":true"#,
        ))
        .unwrap();
        assert_eq!(c.master, "eth1");
        assert_eq!(
            (c.vlan_id, c.mtu, c.link_in_container),
            (12, Some(1400), true)
        );
        assert_eq!(KEYS.len(), 4);
    }

    #[test]
    fn errors_and_codes() {
        let base =
            r#"{"cniVersion":"1.0.0","name":"mynet","type":"vlan","master":"eth0","vlanId":5"#;
        let cases: &[(String, u32)] = &[
            (with(r#","vlanId":5"#), 7),
            (with(r#","master":"","vlanId":5"#), 7),
            (with(r#","master":null,"vlanId":5"#), 7),
            (with(r#","master":"eth0""#), 7),
            (with(r#","master":"eth0","vlanId":null"#), 7),
            (with(r#","master":"eth0","vlanId":-1"#), 7),
            (with(r#","master":"eth0","vlanId":4095"#), 7),
            (with(r#","master":"eth0","vlanId":"5""#), 7),
            (with(r#","master":"eth0","vlanId":5.5"#), 7),
            (with(r#","master":"eth0","vlanId":5,"mtu":-1"#), 7),
            (with(r#","master":"bad/name","vlanId":5"#), 7),
            (format!("{base}}}"), 7),
            (format!(r#"{base},"ipam":{{}}}}"#), 7),
        ];
        for (json, want) in cases {
            let e = parse(json).expect_err(json);
            assert_eq!(e.code.code(), *want, "{json}: {}", e.msg);
            assert!(e.msg.contains("vlan"), "{}", e.msg);
        }
    }
}
