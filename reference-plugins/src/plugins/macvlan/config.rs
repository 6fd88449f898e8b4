//! The `macvlan` plugin's configuration.
//!
//! | Key | Default | Notes |
//! |---|---|---|
//! | `master` | the default-route interface | resolved by the plugin ([`Master::DefaultRoute`]) |
//! | `mode` | `bridge` | `bridge`, `private`, `vepa`, `passthru`; `""` = `bridge` |
//! | `mtu` | kernel default | 0 = kernel default; at most the master's MTU ([`crate::conf::check_mtu_against_master`]) |
//! | `mac` | none | also `CNI_ARGS` `MAC=` and `runtimeConfig.mac` |
//! | `bcqueuelen` | kernel default | broadcast queue length (u32; 0 = kernel default) |
//! | `linkInContainer` | false | the master lives in the container's namespace |
//! | `ipam` | none | absent, `{}` or an empty type = the link is only set up, no address |
//! | `dns` | empty | always copied into the result, replacing IPAM's (as upstream; bridge and ptp keep IPAM's) |
//!
//! MAC precedence (upstream macvlan's; bridge's differs): config `mac`, then `CNI_ARGS`
//! `MAC=`, then `runtimeConfig.mac`; the last non-empty one wins. `args.cni.mac` is not read.
//!
//! Upstream macvlan has no rule tying a missing `ipam` to `prevResult`: without an IPAM type it
//! is L2 only, chained or not. The kernel's `source` mode is refused (code 2) as upstream
//! refuses it: it needs a list of allowed source MACs, for which the plugin has no key.

use cni::args::CniArgs;
use cni::result::Dns;
use cni::{CmdArgs, Error};
use serde::Deserialize;

use crate::conf::{
    check_ifname, common, decode, mtu, pick_mac, request_object, runtime_config_mac, unsupported,
    MacSource, Master, RequestedMac, COMMON_KEYS,
};
pub use crate::netlink::MacvlanMode;

const PLUGIN: &str = "macvlan";

/// A checked macvlan configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacvlanConf {
    pub master: Master,
    pub mode: MacvlanMode,
    /// `mtu`; `None` is the kernel's default.
    pub mtu: Option<u32>,
    /// The requested MAC, after precedence.
    pub mac: Option<RequestedMac>,
    /// `bcqueuelen`; `None` (absent or 0) is the kernel's default.
    pub bcqueuelen: Option<u32>,
    /// `linkInContainer`: look the master up in the container's namespace.
    pub link_in_container: bool,
    /// `ipam.type` when non-empty; `None` = no address.
    pub ipam_type: Option<String>,
    /// `dns`, copied into the result as is (possibly empty).
    pub dns: Dns,
}

const KEYS: &[&str] = &[
    "master",
    "mode",
    "mtu",
    "mac",
    "bcqueuelen",
    "linkInContainer",
];

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    master: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    mtu: Option<i64>,
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    bcqueuelen: Option<u32>,
    #[serde(rename = "linkInContainer", default)]
    link_in_container: Option<bool>,
}

/// `mode`: upstream's names, `bridge` when absent; the kernel's `source` mode is not one
/// upstream's macvlan offers (code 2).
fn mode(raw: Option<&str>) -> Result<MacvlanMode, Error> {
    match raw.unwrap_or("") {
        "" => Ok(MacvlanMode::Bridge),
        other => other
            .parse()
            .ok()
            .filter(|m| *m != MacvlanMode::Source)
            .ok_or_else(|| {
                unsupported(format!(
                    "macvlan: unsupported mode {other:?} (expected \"bridge\", \"private\", \
                     \"vepa\" or \"passthru\")"
                ))
            }),
    }
}

impl MacvlanConf {
    /// Reads and checks a request's configuration with its `CNI_ARGS`.
    pub fn parse(stdin: &[u8], cni_args: &CniArgs) -> Result<MacvlanConf, Error> {
        let known: Vec<&str> = KEYS.iter().chain(COMMON_KEYS).copied().collect();
        let mut map = request_object(PLUGIN, stdin, &known)?;
        let common = common(PLUGIN, &mut map)?;
        let runtime_config_mac = runtime_config_mac(PLUGIN, &mut map)?;
        let raw: Raw = decode(PLUGIN, &map)?;

        let master = match raw.master.filter(|m| !m.is_empty()) {
            Some(name) => {
                check_ifname(PLUGIN, "master", &name)?;
                Master::Named(name)
            }
            None => Master::DefaultRoute,
        };
        let mac = pick_mac(
            PLUGIN,
            &[
                (MacSource::Config, raw.mac.as_deref()),
                (MacSource::CniArgs, cni_args.get("MAC")),
                (MacSource::RuntimeConfig, runtime_config_mac.as_deref()),
            ],
        )?;
        Ok(MacvlanConf {
            master,
            mode: mode(raw.mode.as_deref())?,
            mtu: mtu(PLUGIN, raw.mtu)?,
            mac,
            bcqueuelen: raw.bcqueuelen.filter(|&q| q != 0),
            link_in_container: raw.link_in_container.unwrap_or(false),
            ipam_type: common.ipam_type,
            dns: common.dns,
        })
    }

    /// [`MacvlanConf::parse`] on what skel hands the plugin.
    pub fn from_cmd(args: &CmdArgs) -> Result<MacvlanConf, Error> {
        MacvlanConf::parse(&args.stdin, &args.args)
    }

    /// Whether IPAM runs (otherwise the link is only set up).
    pub fn is_layer3(&self) -> bool {
        self.ipam_type.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::MacAddr;

    fn parse_args(json: &str, cni_args: &str) -> Result<MacvlanConf, Error> {
        MacvlanConf::parse(json.as_bytes(), &CniArgs::parse(cni_args).unwrap())
    }

    fn parse(json: &str) -> Result<MacvlanConf, Error> {
        parse_args(json, "")
    }

    fn with(extra: &str) -> String {
        format!(r#"{{"cniVersion":"1.0.0","name":"mynet","type":"macvlan"{extra}}}"#)
    }

    #[test]
    fn defaults() {
        assert_eq!(
            parse(&with("")).unwrap(),
            MacvlanConf {
                master: Master::DefaultRoute,
                mode: MacvlanMode::Bridge,
                mtu: None,
                mac: None,
                bcqueuelen: None,
                link_in_container: false,
                ipam_type: None,
                dns: Dns::default(),
            }
        );
        let c = parse(&with(
            r#","master":"","mode":"","bcqueuelen":0,"mtu":0,"ipam":{}"#,
        ))
        .unwrap();
        assert_eq!(c.master, Master::DefaultRoute);
        assert_eq!(c.mode, MacvlanMode::Bridge);
        assert_eq!((c.bcqueuelen, c.mtu, c.is_layer3()), (None, None, false));
    }

    #[test]
    fn docs_example() {
        let c = parse(
            r#"{
                "name": "mynet",
                "type": "macvlan",
                "master": "eth0",
                "linkInContainer": false,
                "ipam": {"type": "dhcp"}
            }"#,
        )
        .unwrap();
        assert_eq!(c.master, Master::Named("eth0".into()));
        assert!(!c.link_in_container);
        assert_eq!(c.ipam_type.as_deref(), Some("dhcp"));
        assert!(c.is_layer3());
    }

    #[test]
    fn modes() {
        let cases = [
            ("bridge", MacvlanMode::Bridge, 4),
            ("private", MacvlanMode::Private, 1),
            ("vepa", MacvlanMode::Vepa, 2),
            ("passthru", MacvlanMode::Passthru, 8),
        ];
        for (s, want, kernel) in cases {
            let c = parse(&with(&format!(r#","mode":"{s}""#))).unwrap();
            assert_eq!(c.mode, want);
            assert_eq!(c.mode.as_str(), s);
            assert_eq!(c.mode.kernel_value(), kernel);
            assert_eq!(MacvlanMode::from_kernel_value(kernel), Some(want));
        }
        // `source` (16) is a kernel mode the configuration refuses (see `errors`); 32 is none.
        assert_eq!(MacvlanMode::from_kernel_value(32), None);
    }

    #[test]
    fn each_key() {
        let c = parse(&with(
            r#","master":"eth1","mtu":1400,"bcqueuelen":2000,"linkInContainer":true,
               "ipam":{"type":"host-local"},"dns":{"nameservers":["10.0.0.1"]},"other":1"#,
        ))
        .unwrap();
        assert_eq!(c.master, Master::Named("eth1".into()));
        assert_eq!(c.mtu, Some(1400));
        assert_eq!(c.bcqueuelen, Some(2000));
        assert!(c.link_in_container);
        assert_eq!(c.dns.nameservers, ["10.0.0.1"]);
        // Case folding, as Go's decoder.
        let c = parse(&with(
            r#","Master":"eth2","MODE":"vepa","Mtu":1300,"BcQueueLen":5,"LINKINCONTAINER":true,"MAC":"c2:00:00:00:00:05""#,
        ))
        .unwrap();
        assert_eq!(c.master, Master::Named("eth2".into()));
        assert_eq!(c.mode, MacvlanMode::Vepa);
        assert_eq!((c.mtu, c.bcqueuelen), (Some(1300), Some(5)));
        assert!(c.link_in_container);
        assert_eq!(c.mac.unwrap().source, MacSource::Config);
        assert_eq!(KEYS.len(), 6);
    }

    #[test]
    fn mac_precedence() {
        let cfg = r#","mac":"c2:00:00:00:00:01""#;
        let rc = r#","runtimeConfig":{"mac":"c2:00:00:00:00:03"}"#;
        let args = r#","args":{"cni":{"mac":"c2:00:00:00:00:09"}}"#;
        let env = "MAC=c2:00:00:00:00:02";
        // (configuration, CNI_ARGS, expected winner)
        type Case<'a> = (String, &'a str, Option<(&'a str, MacSource)>);
        let cases: &[Case] = &[
            (
                with(cfg),
                "",
                Some(("c2:00:00:00:00:01", MacSource::Config)),
            ),
            (
                with(cfg),
                env,
                Some(("c2:00:00:00:00:02", MacSource::CniArgs)),
            ),
            (
                with(&format!("{cfg}{rc}")),
                env,
                Some(("c2:00:00:00:00:03", MacSource::RuntimeConfig)),
            ),
            // args.cni.mac is not a macvlan channel.
            (with(args), "", None),
            // ... so its shape does not matter either (upstream macvlan has no `args` field).
            (with(r#","args":{"cni":"x"}"#), "", None),
            (
                with(&format!("{cfg}{args}")),
                "",
                Some(("c2:00:00:00:00:01", MacSource::Config)),
            ),
            (
                with(r#","mac":"c2:00:00:00:00:01","runtimeConfig":{"mac":""}"#),
                "MAC=",
                Some(("c2:00:00:00:00:01", MacSource::Config)),
            ),
        ];
        for (json, env, want) in cases {
            let got = parse_args(json, env)
                .unwrap()
                .mac
                .map(|m| (m.addr.to_string(), m.source));
            let want = want.map(|(a, s)| (a.to_string(), s));
            assert_eq!(got, want, "{json} / {env}");
        }
        assert_eq!(
            parse(&with(r#","mac":"c200.0000.0007""#))
                .unwrap()
                .mac
                .unwrap()
                .addr,
            MacAddr([0xc2, 0, 0, 0, 0, 7])
        );
    }

    #[test]
    fn errors_and_codes() {
        let cases: &[(String, &str, u32)] = &[
            (with(r#","mode":"source""#), "", 2),
            (with(r#","mode":"Bridge""#), "", 2),
            (with(r#","mode":"l2""#), "", 2),
            (with(r#","mode":1"#), "", 7),
            (with(r#","mtu":-1"#), "", 7),
            (with(r#","bcqueuelen":-1"#), "", 7),
            (with(r#","bcqueuelen":4294967296"#), "", 7),
            (with(r#","master":"eth 0""#), "", 7),
            (with(r#","master":"0123456789abcdef""#), "", 7),
            (with(r#","master":["eth0"]"#), "", 7),
            (with(r#","linkInContainer":1"#), "", 7),
            (with(r#","mac":"c2:00:00:00:00""#), "", 7),
            (
                with(r#","runtimeConfig":{"mac":"ff:ff:ff:ff:ff:ff"}"#),
                "",
                7,
            ),
            (with(""), "MAC=00:00:00:00:00:00", 4),
            (with(r#","mac":"c2:00:00:00:00:01""#), "MAC=nope", 4),
        ];
        for (json, env, want) in cases {
            let e = parse_args(json, env).expect_err(json);
            assert_eq!(e.code.code(), *want, "{json}: {}", e.msg);
            assert!(e.msg.contains("macvlan"), "{}", e.msg);
        }
    }
}
