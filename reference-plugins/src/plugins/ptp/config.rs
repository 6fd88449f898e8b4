//! The `ptp` plugin's configuration.
//!
//! | Key | Default | Notes |
//! |---|---|---|
//! | `ipMasq` | false | |
//! | `ipMasqBackend` | none (the plugin picks) | `iptables`/`nftables`, only read with `ipMasq` |
//! | `mtu` | kernel default | 0 = kernel default; both veth ends |
//! | `ipam` | **required** | the IPAM `gateway` becomes the host-side address |
//! | `dns` | none | replaces IPAM's DNS only when "set" (as bridge) |
//!
//! Upstream has no explicit check for a missing `ipam`; ADD then fails when it tries to run an
//! IPAM plugin with an empty name. Here that is a code-7 error before anything is created.

use cni::result::Dns;
use cni::{CmdArgs, Error};
use serde::Deserialize;

use crate::conf::{
    common, decode, ip_masq_backend, mtu, request_object, IpMasqBackend, COMMON_KEYS,
};

const PLUGIN: &str = "ptp";

/// A checked ptp configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtpConf {
    pub ip_masq: bool,
    /// `ipMasqBackend`; `None` when not given (or when `ipMasq` is off).
    pub ip_masq_backend: Option<IpMasqBackend>,
    /// `mtu`; `None` is the kernel's default.
    pub mtu: Option<u32>,
    /// `ipam.type`.
    pub ipam_type: String,
    /// The config's `dns` when "set" (see [`crate::plugins::bridge::config::BridgeConf::dns`]).
    pub dns: Option<Dns>,
}

const KEYS: &[&str] = &["ipMasq", "ipMasqBackend", "mtu"];

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "ipMasq", default)]
    ip_masq: Option<bool>,
    #[serde(rename = "ipMasqBackend", default)]
    ip_masq_backend: Option<String>,
    #[serde(default)]
    mtu: Option<i64>,
}

impl PtpConf {
    /// Reads and checks a request's configuration.
    pub fn parse(stdin: &[u8]) -> Result<PtpConf, Error> {
        let known: Vec<&str> = KEYS.iter().chain(COMMON_KEYS).copied().collect();
        let mut map = request_object(PLUGIN, stdin, &known)?;
        let common = common(PLUGIN, &mut map)?;
        let raw: Raw = decode(PLUGIN, &map)?;
        let ip_masq = raw.ip_masq.unwrap_or(false);
        let ipam_type = common.ipam_type.ok_or_else(|| {
            Error::invalid_config(
                "ptp: an ipam configuration with a type is required (the IPAM plugin provides \
                 the addresses)",
            )
        })?;
        Ok(PtpConf {
            ip_masq,
            ip_masq_backend: ip_masq_backend(PLUGIN, ip_masq, raw.ip_masq_backend)?,
            mtu: mtu(PLUGIN, raw.mtu)?,
            ipam_type,
            dns: common.dns_set.then_some(common.dns),
        })
    }

    /// [`PtpConf::parse`] on what skel hands the plugin.
    pub fn from_cmd(args: &CmdArgs) -> Result<PtpConf, Error> {
        PtpConf::parse(&args.stdin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<PtpConf, Error> {
        PtpConf::parse(json.as_bytes())
    }

    fn with(extra: &str) -> String {
        format!(
            r#"{{"cniVersion":"1.0.0","name":"mynet","type":"ptp","ipam":{{"type":"host-local","subnet":"10.1.1.0/24"}}{extra}}}"#
        )
    }

    #[test]
    fn docs_example_and_defaults() {
        let c = parse(
            r#"{
                "name": "mynet",
                "type": "ptp",
                "ipam": {"type": "host-local", "subnet": "10.1.1.0/24"},
                "dns": {"nameservers": ["10.1.1.1", "8.8.8.8"]}
            }"#,
        )
        .unwrap();
        assert_eq!(
            c,
            PtpConf {
                ip_masq: false,
                ip_masq_backend: None,
                mtu: None,
                ipam_type: "host-local".into(),
                dns: Some(Dns {
                    nameservers: vec!["10.1.1.1".into(), "8.8.8.8".into()],
                    ..Dns::default()
                }),
            }
        );
        assert_eq!(parse(&with("")).unwrap().dns, None);
        assert_eq!(
            parse(&with(r#","dns":{"search":[]}"#)).unwrap().dns,
            Some(Dns::default())
        );
    }

    #[test]
    fn each_key() {
        let c = parse(&with(
            r#","ipMasq":true,"ipMasqBackend":"nftables","mtu":1450,"x":{}"#,
        ))
        .unwrap();
        assert!(c.ip_masq);
        assert_eq!(c.ip_masq_backend, Some(IpMasqBackend::Nftables));
        assert_eq!(c.mtu, Some(1450));
        let c = parse(&with(
            r#","IPMASQ":true,"IpMasqBackend":"iptables","Mtu":1400"#,
        ))
        .unwrap();
        assert!(c.ip_masq);
        assert_eq!(c.ip_masq_backend, Some(IpMasqBackend::Iptables));
        assert_eq!(c.mtu, Some(1400));
        assert_eq!(
            parse(&with(r#","ipMasqBackend":"pf""#))
                .unwrap()
                .ip_masq_backend,
            None
        );
        assert_eq!(parse(&with(r#","mtu":0"#)).unwrap().mtu, None);
    }

    #[test]
    fn errors_and_codes() {
        let base = r#"{"cniVersion":"1.0.0","name":"mynet","type":"ptp""#;
        let cases: &[(String, u32)] = &[
            (format!("{base}}}"), 7),
            (format!(r#"{base},"ipam":{{}}}}"#), 7),
            (format!(r#"{base},"ipam":{{"type":""}}}}"#), 7),
            (format!(r#"{base},"ipam":null}}"#), 7),
            (with(r#","ipMasq":"true""#), 7),
            (with(r#","mtu":-5"#), 7),
            (with(r#","mtu":"1500""#), 7),
            (with(r#","ipMasq":true,"ipMasqBackend":"ebtables""#), 2),
            (with(r#","dns":[]"#), 7),
        ];
        for (json, want) in cases {
            let e = parse(json).expect_err(json);
            assert_eq!(e.code.code(), *want, "{json}: {}", e.msg);
            assert!(e.msg.contains("ptp"), "{}", e.msg);
        }
    }
}
