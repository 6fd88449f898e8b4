//! The `bridge` plugin's configuration.
//!
//! | Key | Default | Notes |
//! |---|---|---|
//! | `bridge` | `cni0` | must be a valid interface name |
//! | `isGateway` | false | |
//! | `isDefaultGateway` | false | implies `isGateway` |
//! | `forceAddress` | false | |
//! | `ipMasq` | false | |
//! | `ipMasqBackend` | none (the plugin picks) | `iptables`/`nftables`, only read with `ipMasq` |
//! | `mtu` | kernel default | 0 = kernel default |
//! | `hairpinMode` | false | not together with `promiscMode` |
//! | `promiscMode` | false | |
//! | `vlan` | none | 0..=4094, 0 = none |
//! | `vlanTrunk` | none | list of `{"id"}` and/or `{"minID","maxID"}`, each 1..=4094 |
//! | `preserveDefaultVlan` | **false** | upstream's default was true until 2025 |
//! | `macspoofchk` | false | |
//! | `enabledad` | false | |
//! | `disableContainerInterface` | false | not together with an IPAM type |
//! | `portIsolation` | false | |
//! | `ipam` | none | absent, `{}` or an empty type = L2 only |
//!
//! The container MAC comes from `CNI_ARGS` `MAC=`, then `args.cni.mac`, then
//! `runtimeConfig.mac`: the last non-empty one wins (upstream bridge's order; upstream's
//! plugins differ among themselves, see macvlan).
//! A `dns` block replaces the IPAM plugin's DNS only when it is "set" (see
//! [`BridgeConf::dns`]).
//!
//! `vlan` and `vlanTrunk` may be combined (`vlan` is then the trunk's native VLAN); with a
//! trunk and no `vlan` the native VLAN is 1 ([`BridgeConf::native_vlan`]).
//!
//! Upstream only rejects `hairpinMode` with `promiscMode`, and `disableContainerInterface`
//! with IPAM, on ADD; here they are refused whenever the full configuration is read (DEL uses
//! [`crate::conf::DelConf`] instead).

use cni::args::CniArgs;
use cni::result::Dns;
use cni::{CmdArgs, Error};
use serde::Deserialize;
use serde_json::Value;

use crate::conf::{
    args_cni_mac, check_ifname, common, decode, fold_keys, ip_masq_backend, mtu, pick_mac,
    request_object, runtime_config_mac, IpMasqBackend, MacSource, RequestedMac, COMMON_KEYS,
    MAX_IFNAME_LEN,
};

const PLUGIN: &str = "bridge";

/// The bridge used when `bridge` is not given.
pub const DEFAULT_BRIDGE: &str = "cni0";
/// The highest VLAN id `vlan` and `vlanTrunk` accept.
pub const MAX_VLAN_ID: u16 = 4094;

/// A checked bridge configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConf {
    /// `bridge`: the bridge to use, created when missing.
    pub bridge: String,
    /// `isGateway`, or `isDefaultGateway` (which implies it).
    pub is_gateway: bool,
    /// `isDefaultGateway`: add a default route via the gateway unless IPAM returned one.
    pub is_default_gateway: bool,
    pub force_address: bool,
    pub ip_masq: bool,
    /// `ipMasqBackend`; `None` when not given (or when `ipMasq` is off): the plugin picks
    /// iptables unless only nftables is available.
    pub ip_masq_backend: Option<IpMasqBackend>,
    /// `mtu`; `None` is the kernel's default.
    pub mtu: Option<u32>,
    pub hairpin_mode: bool,
    pub promisc_mode: bool,
    /// `vlan`; `None` when absent or 0.
    pub vlan: Option<u16>,
    /// `vlanTrunk` expanded: sorted, without duplicates. `Some(empty)` when the key was given
    /// with no usable entry (`[]`, `[{}]`): upstream still turns VLAN filtering on then.
    pub vlan_trunk: Option<Vec<u16>>,
    pub preserve_default_vlan: bool,
    pub macspoofchk: bool,
    /// `enabledad`: keep IPv6 DAD on the container veth.
    pub enable_dad: bool,
    pub disable_container_interface: bool,
    pub port_isolation: bool,
    /// The requested container MAC, after precedence.
    pub mac: Option<RequestedMac>,
    /// `ipam.type` when non-empty; `None` = L2 only.
    pub ipam_type: Option<String>,
    /// The config's `dns` when it is "set" (any of `nameservers`, `search`, `options` present,
    /// even empty, or a non-empty `domain`); it then replaces IPAM's DNS in the result.
    pub dns: Option<Dns>,
}

const KEYS: &[&str] = &[
    "bridge",
    "isGateway",
    "isDefaultGateway",
    "forceAddress",
    "ipMasq",
    "ipMasqBackend",
    "mtu",
    "hairpinMode",
    "promiscMode",
    "vlan",
    "vlanTrunk",
    "preserveDefaultVlan",
    "macspoofchk",
    "enabledad",
    "disableContainerInterface",
    "portIsolation",
];

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    bridge: Option<String>,
    #[serde(rename = "isGateway", default)]
    is_gateway: Option<bool>,
    #[serde(rename = "isDefaultGateway", default)]
    is_default_gateway: Option<bool>,
    #[serde(rename = "forceAddress", default)]
    force_address: Option<bool>,
    #[serde(rename = "ipMasq", default)]
    ip_masq: Option<bool>,
    #[serde(rename = "ipMasqBackend", default)]
    ip_masq_backend: Option<String>,
    #[serde(default)]
    mtu: Option<i64>,
    #[serde(rename = "hairpinMode", default)]
    hairpin_mode: Option<bool>,
    #[serde(rename = "promiscMode", default)]
    promisc_mode: Option<bool>,
    #[serde(default)]
    vlan: Option<i64>,
    #[serde(rename = "vlanTrunk", default)]
    vlan_trunk: Option<Vec<RawTrunk>>,
    #[serde(rename = "preserveDefaultVlan", default)]
    preserve_default_vlan: Option<bool>,
    #[serde(default)]
    macspoofchk: Option<bool>,
    #[serde(default)]
    enabledad: Option<bool>,
    #[serde(rename = "disableContainerInterface", default)]
    disable_container_interface: Option<bool>,
    #[serde(rename = "portIsolation", default)]
    port_isolation: Option<bool>,
}

const TRUNK_KEYS: &[&str] = &["minID", "maxID", "id"];

#[derive(Deserialize)]
struct RawTrunk {
    #[serde(rename = "minID", default)]
    min_id: Option<i64>,
    #[serde(rename = "maxID", default)]
    max_id: Option<i64>,
    #[serde(default)]
    id: Option<i64>,
}

fn bad(msg: String) -> Error {
    Error::invalid_config(format!("{PLUGIN}: {msg}"))
}

fn trunk_id(entry: usize, key: &str, v: i64) -> Result<u16, Error> {
    if (1..=i64::from(MAX_VLAN_ID)).contains(&v) {
        Ok(v as u16)
    } else {
        Err(bad(format!(
            "vlanTrunk[{entry}]: invalid {key} {v} (must be between 1 and {MAX_VLAN_ID})"
        )))
    }
}

/// Expands `vlanTrunk` in upstream's order of checks.
fn collect_trunk(entries: &[RawTrunk]) -> Result<Vec<u16>, Error> {
    let mut vlans: Vec<u16> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match (entry.min_id, entry.max_id) {
            (Some(min), Some(max)) => {
                let min = trunk_id(i, "minID", min)?;
                let max = trunk_id(i, "maxID", max)?;
                if max < min {
                    return Err(bad(format!(
                        "vlanTrunk[{i}]: minID {min} is greater than maxID {max}"
                    )));
                }
                vlans.extend(min..=max);
            }
            (None, Some(_)) => {
                return Err(bad(format!(
                    "vlanTrunk[{i}]: minID and maxID go together; minID is missing"
                )))
            }
            (Some(_), None) => {
                return Err(bad(format!(
                    "vlanTrunk[{i}]: minID and maxID go together; maxID is missing"
                )))
            }
            (None, None) => {}
        }
        if let Some(id) = entry.id {
            vlans.push(trunk_id(i, "id", id)?);
        }
    }
    vlans.sort_unstable();
    vlans.dedup();
    Ok(vlans)
}

impl BridgeConf {
    /// Reads and checks a request's configuration with its `CNI_ARGS`.
    pub fn parse(stdin: &[u8], cni_args: &CniArgs) -> Result<BridgeConf, Error> {
        let known: Vec<&str> = KEYS.iter().chain(COMMON_KEYS).copied().collect();
        let mut map = request_object(PLUGIN, stdin, &known)?;
        if let Some(Value::Array(entries)) = map.get_mut("vlanTrunk") {
            for (i, e) in entries.iter_mut().enumerate() {
                match e {
                    Value::Object(o) => *o = fold_keys(std::mem::take(o), TRUNK_KEYS),
                    // Upstream dereferences a null entry and panics.
                    Value::Null => return Err(bad(format!("vlanTrunk[{i}] is null"))),
                    other => {
                        return Err(bad(format!(
                            "vlanTrunk[{i}]: expected an object, got {other}"
                        )))
                    }
                }
            }
        }
        let common = common(PLUGIN, &mut map)?;
        let args_cni_mac = args_cni_mac(PLUGIN, &mut map)?;
        let runtime_config_mac = runtime_config_mac(PLUGIN, &mut map)?;
        let raw: Raw = decode(PLUGIN, &map)?;

        let vlan = match raw.vlan.unwrap_or(0) {
            0 => None,
            v if (1..=i64::from(MAX_VLAN_ID)).contains(&v) => Some(v as u16),
            v => {
                return Err(bad(format!(
                    "invalid vlan {v} (must be between 0 and {MAX_VLAN_ID})"
                )))
            }
        };
        let vlan_trunk = raw.vlan_trunk.as_deref().map(collect_trunk).transpose()?;

        let mac = pick_mac(
            PLUGIN,
            &[
                (MacSource::CniArgs, cni_args.get("MAC")),
                (MacSource::ArgsCni, args_cni_mac.as_deref()),
                (MacSource::RuntimeConfig, runtime_config_mac.as_deref()),
            ],
        )?;

        let bridge = raw.bridge.unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
        check_ifname(PLUGIN, "bridge", &bridge)?;

        let ip_masq = raw.ip_masq.unwrap_or(false);
        let is_default_gateway = raw.is_default_gateway.unwrap_or(false);
        let conf = BridgeConf {
            bridge,
            is_gateway: raw.is_gateway.unwrap_or(false) || is_default_gateway,
            is_default_gateway,
            force_address: raw.force_address.unwrap_or(false),
            ip_masq,
            ip_masq_backend: ip_masq_backend(PLUGIN, ip_masq, raw.ip_masq_backend)?,
            mtu: mtu(PLUGIN, raw.mtu)?,
            hairpin_mode: raw.hairpin_mode.unwrap_or(false),
            promisc_mode: raw.promisc_mode.unwrap_or(false),
            vlan,
            vlan_trunk,
            preserve_default_vlan: raw.preserve_default_vlan.unwrap_or(false),
            macspoofchk: raw.macspoofchk.unwrap_or(false),
            enable_dad: raw.enabledad.unwrap_or(false),
            disable_container_interface: raw.disable_container_interface.unwrap_or(false),
            port_isolation: raw.port_isolation.unwrap_or(false),
            mac,
            ipam_type: common.ipam_type,
            dns: common.dns_set.then_some(common.dns),
        };

        if conf.disable_container_interface && conf.ipam_type.is_some() {
            return Err(bad(
                "disableContainerInterface cannot be used with IPAM (the container interface \
                 stays down, so it cannot carry addresses)"
                    .into(),
            ));
        }
        if conf.hairpin_mode && conf.promisc_mode {
            return Err(bad(
                "hairpinMode and promiscMode cannot be set at the same time".into(),
            ));
        }
        if let Some(name) = conf.gateway_vlan_ifname() {
            if name.len() > MAX_IFNAME_LEN {
                return Err(bad(format!(
                    "the gateway interface {name:?} for vlan {} on bridge {:?} would be longer \
                     than {MAX_IFNAME_LEN} bytes; use a shorter bridge name",
                    conf.vlan.unwrap_or_default(),
                    conf.bridge
                )));
            }
        }
        Ok(conf)
    }

    /// [`BridgeConf::parse`] on what skel hands the plugin.
    pub fn from_cmd(args: &CmdArgs) -> Result<BridgeConf, Error> {
        BridgeConf::parse(&args.stdin, &args.args)
    }

    /// Whether IPAM runs (otherwise the attachment is L2 only).
    pub fn is_layer3(&self) -> bool {
        self.ipam_type.is_some()
    }

    /// Whether the bridge gets `vlan_filtering` (a `vlan`, or any `vlanTrunk` key at all).
    pub fn vlan_filtering(&self) -> bool {
        self.vlan.is_some() || self.vlan_trunk.is_some()
    }

    /// The trunk VLANs (tagged on the host veth); empty without a trunk.
    pub fn trunk_vlans(&self) -> &[u16] {
        self.vlan_trunk.as_deref().unwrap_or_default()
    }

    /// The untagged PVID of the host veth: `vlan`, or 1 when only trunk VLANs are configured
    /// (upstream's compatibility rule), else none.
    pub fn native_vlan(&self) -> Option<u16> {
        match self.vlan {
            Some(v) => Some(v),
            None if !self.trunk_vlans().is_empty() => Some(1),
            None => None,
        }
    }

    /// Whether the host veth's default VLAN membership is removed before the configured VLANs
    /// are added (some VLAN configured and `preserveDefaultVlan` off).
    pub fn removes_default_vlan(&self) -> bool {
        (self.vlan.is_some() || !self.trunk_vlans().is_empty()) && !self.preserve_default_vlan
    }

    /// `<bridge>.<vlan>`: the host veth that carries the gateway addresses instead of the
    /// bridge when `isGateway` is combined with `vlan` and IPAM.
    pub fn gateway_vlan_ifname(&self) -> Option<String> {
        match self.vlan {
            Some(v) if self.is_gateway && self.is_layer3() => Some(format!("{}.{v}", self.bridge)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::MacAddr;

    fn parse_args(json: &str, cni_args: &str) -> Result<BridgeConf, Error> {
        BridgeConf::parse(json.as_bytes(), &CniArgs::parse(cni_args).unwrap())
    }

    fn parse(json: &str) -> Result<BridgeConf, Error> {
        parse_args(json, "")
    }

    /// A minimal configuration with `extra` spliced in (`extra` starts with a comma or is empty).
    fn with(extra: &str) -> String {
        format!(r#"{{"cniVersion":"1.0.0","name":"mynet","type":"bridge"{extra}}}"#)
    }

    fn code(r: Result<BridgeConf, Error>) -> u32 {
        r.expect_err("expected an error").code.code()
    }

    #[test]
    fn defaults() {
        let c = parse(&with("")).unwrap();
        assert_eq!(
            c,
            BridgeConf {
                bridge: "cni0".into(),
                is_gateway: false,
                is_default_gateway: false,
                force_address: false,
                ip_masq: false,
                ip_masq_backend: None,
                mtu: None,
                hairpin_mode: false,
                promisc_mode: false,
                vlan: None,
                vlan_trunk: None,
                preserve_default_vlan: false,
                macspoofchk: false,
                enable_dad: false,
                disable_container_interface: false,
                port_isolation: false,
                mac: None,
                ipam_type: None,
                dns: None,
            }
        );
        assert!(!c.is_layer3());
        assert!(!c.vlan_filtering());
        assert_eq!(c.native_vlan(), None);
        assert!(!c.removes_default_vlan());
        // null means absent.
        let c = parse(&with(
            r#","bridge":null,"mtu":null,"vlan":null,"preserveDefaultVlan":null"#,
        ))
        .unwrap();
        assert_eq!(c.bridge, "cni0");
        assert_eq!(c.mtu, None);
    }

    #[test]
    fn each_boolean_key() {
        type Get = fn(&BridgeConf) -> bool;
        let cases: &[(&str, Get)] = &[
            ("isGateway", |c| c.is_gateway),
            ("forceAddress", |c| c.force_address),
            ("ipMasq", |c| c.ip_masq),
            ("hairpinMode", |c| c.hairpin_mode),
            ("promiscMode", |c| c.promisc_mode),
            ("preserveDefaultVlan", |c| c.preserve_default_vlan),
            ("macspoofchk", |c| c.macspoofchk),
            ("enabledad", |c| c.enable_dad),
            ("disableContainerInterface", |c| {
                c.disable_container_interface
            }),
            ("portIsolation", |c| c.port_isolation),
        ];
        for (key, get) in cases {
            assert!(
                get(&parse(&with(&format!(r#","{key}":true"#))).unwrap()),
                "{key}"
            );
            assert!(
                !get(&parse(&with(&format!(r#","{key}":false"#))).unwrap()),
                "{key}"
            );
            // Go's decoder folds case when no key matches exactly.
            let upper = key.to_ascii_uppercase();
            assert!(
                get(&parse(&with(&format!(r#","{upper}":true"#))).unwrap()),
                "{upper}"
            );
            // Strict types, like upstream (the docs' `"portIsolation": "true"` is refused).
            assert_eq!(
                code(parse(&with(&format!(r#","{key}":"true""#)))),
                7,
                "{key}"
            );
        }
    }

    #[test]
    fn default_gateway_implies_gateway() {
        let c = parse(&with(r#","isDefaultGateway":true"#)).unwrap();
        assert!(c.is_default_gateway && c.is_gateway);
        let c = parse(&with(r#","isDefaultGateway":true,"isGateway":false"#)).unwrap();
        assert!(c.is_gateway);
    }

    #[test]
    fn docs_example() {
        let c = parse(
            r#"{
                "cniVersion": "1.0.0",
                "name": "mynet",
                "type": "bridge",
                "bridge": "mynet0",
                "isDefaultGateway": true,
                "forceAddress": false,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {"type": "host-local", "subnet": "10.10.0.0/16"}
            }"#,
        )
        .unwrap();
        assert_eq!(c.bridge, "mynet0");
        assert!(c.is_gateway && c.is_default_gateway && c.ip_masq && c.hairpin_mode);
        assert!(!c.force_address);
        assert_eq!(c.ipam_type.as_deref(), Some("host-local"));
        assert!(c.is_layer3());
    }

    #[test]
    fn l2_only_forms() {
        for extra in [
            "",
            r#","ipam":{}"#,
            r#","ipam":null"#,
            r#","ipam":{"type":""}"#,
            r#","disableContainerInterface":true"#,
            r#","disableContainerInterface":true,"ipam":{}"#,
        ] {
            let c = parse(&with(extra)).unwrap();
            assert_eq!(c.ipam_type, None, "{extra}");
        }
    }

    #[test]
    fn values() {
        let c = parse(&with(
            r#","bridge":"br-x","mtu":9000,"ipMasq":true,"ipMasqBackend":"nftables","unknownKey":[1]"#,
        ))
        .unwrap();
        assert_eq!(c.bridge, "br-x");
        assert_eq!(c.mtu, Some(9000));
        assert_eq!(c.ip_masq_backend, Some(IpMasqBackend::Nftables));
        assert_eq!(parse(&with(r#","mtu":0"#)).unwrap().mtu, None);
        // ipMasqBackend is only read with ipMasq, as upstream.
        let c = parse(&with(r#","ipMasqBackend":"bogus""#)).unwrap();
        assert_eq!(c.ip_masq_backend, None);
    }

    #[test]
    fn vlan_and_trunk() {
        let c = parse(&with(r#","vlan":100,"ipam":{}"#)).unwrap();
        assert_eq!(c.vlan, Some(100));
        assert!(c.vlan_filtering());
        assert_eq!(c.native_vlan(), Some(100));
        assert!(c.removes_default_vlan());
        assert_eq!(c.gateway_vlan_ifname(), None);

        // The docs' trunk example: vlan is the native VLAN of the trunk.
        let c = parse(&with(
            r#","bridge":"mynet0","vlan":100,"vlanTrunk":[{"id":101},{"minID":200,"maxID":299}],"ipam":{}"#,
        ))
        .unwrap();
        let mut want = vec![101u16];
        want.extend(200..=299);
        assert_eq!(c.trunk_vlans(), &want[..]);
        assert_eq!(c.native_vlan(), Some(100));

        // Overlaps are merged, the list is sorted; one entry may carry both forms.
        let c = parse(&with(
            r#","vlanTrunk":[{"id":7},{"minID":5,"maxID":6,"id":9},{"minID":6,"maxID":7},{"MINID":1,"MaxId":1}]"#,
        ))
        .unwrap();
        assert_eq!(c.trunk_vlans(), &[1, 5, 6, 7, 9]);
        // Trunk without vlan: native VLAN 1.
        assert_eq!(c.native_vlan(), Some(1));
        assert!(c.removes_default_vlan());
        let c = parse(&with(
            r#","vlanTrunk":[{"id":7}],"preserveDefaultVlan":true"#,
        ))
        .unwrap();
        assert!(!c.removes_default_vlan());

        // An empty trunk list still turns filtering on, as upstream.
        for extra in [r#","vlanTrunk":[]"#, r#","vlanTrunk":[{}]"#] {
            let c = parse(&with(extra)).unwrap();
            assert_eq!(c.vlan_trunk, Some(vec![]), "{extra}");
            assert!(c.vlan_filtering());
            assert_eq!(c.native_vlan(), None);
            assert!(!c.removes_default_vlan());
        }
        assert_eq!(parse(&with(r#","vlan":4094"#)).unwrap().vlan, Some(4094));
        assert_eq!(parse(&with(r#","vlan":0"#)).unwrap().vlan, None);
    }

    #[test]
    fn gateway_vlan_interface() {
        let c = parse(&with(
            r#","bridge":"br0","vlan":42,"isGateway":true,"ipam":{"type":"host-local"}"#,
        ))
        .unwrap();
        assert_eq!(c.gateway_vlan_ifname().as_deref(), Some("br0.42"));
        // Without IPAM there is no gateway address, so no such interface.
        let c = parse(&with(r#","bridge":"br0","vlan":42,"isGateway":true"#)).unwrap();
        assert_eq!(c.gateway_vlan_ifname(), None);
    }

    #[test]
    fn mac_precedence() {
        let rc =
            r#","runtimeConfig":{"mac":"c2:00:00:00:00:03","portMappings":[{"hostPort":70000}]}"#;
        let args = r#","args":{"cni":{"mac":"c2:00:00:00:00:02","labels":[]}}"#;
        let env = "IgnoreUnknown=1;MAC=c2:00:00:00:00:01;K8S_POD_NAME=x";
        // (configuration, CNI_ARGS, expected winner)
        type Case<'a> = (String, &'a str, Option<(&'a str, MacSource)>);
        let cases: &[Case] = &[
            (with(""), "", None),
            (
                with(""),
                env,
                Some(("c2:00:00:00:00:01", MacSource::CniArgs)),
            ),
            (
                with(args),
                env,
                Some(("c2:00:00:00:00:02", MacSource::ArgsCni)),
            ),
            (
                with(&format!("{args}{rc}")),
                env,
                Some(("c2:00:00:00:00:03", MacSource::RuntimeConfig)),
            ),
            (
                with(rc),
                "",
                Some(("c2:00:00:00:00:03", MacSource::RuntimeConfig)),
            ),
            // Empty values do not override.
            (
                with(r#","runtimeConfig":{"mac":""},"args":{"cni":{"mac":""}}"#),
                env,
                Some(("c2:00:00:00:00:01", MacSource::CniArgs)),
            ),
            // Unknown CNI_ARGS keys are ignored (UPSTREAM-9) even without IgnoreUnknown.
            (
                with(""),
                "FOO=1;MAC=c2:00:00:00:00:01",
                Some(("c2:00:00:00:00:01", MacSource::CniArgs)),
            ),
        ];
        for (json, env, want) in cases {
            let c = parse_args(json, env).unwrap();
            let got = c.mac.map(|m| (m.addr.to_string(), m.source));
            let want = want.map(|(a, s)| (a.to_string(), s));
            assert_eq!(got, want, "{json} / {env}");
        }
        assert_eq!(
            parse_args(&with(""), "MAC=C2-00-00-00-00-0A")
                .unwrap()
                .mac
                .unwrap()
                .addr,
            MacAddr([0xc2, 0, 0, 0, 0, 0x0a])
        );
    }

    #[test]
    fn errors_and_codes() {
        let cases: &[(String, &str, u32)] = &[
            (with(r#","vlan":-1"#), "", 7),
            (with(r#","vlan":4095"#), "", 7),
            (with(r#","vlan":"100""#), "", 7),
            (with(r#","vlanTrunk":[{"id":0}]"#), "", 7),
            (with(r#","vlanTrunk":[{"id":4095}]"#), "", 7),
            (with(r#","vlanTrunk":[{"minID":0,"maxID":10}]"#), "", 7),
            (with(r#","vlanTrunk":[{"minID":1,"maxID":4095}]"#), "", 7),
            (with(r#","vlanTrunk":[{"minID":20,"maxID":10}]"#), "", 7),
            (with(r#","vlanTrunk":[{"minID":20}]"#), "", 7),
            (with(r#","vlanTrunk":[{"maxID":20}]"#), "", 7),
            (with(r#","vlanTrunk":[null]"#), "", 7),
            (with(r#","vlanTrunk":{"id":5}"#), "", 7),
            (with(r#","vlanTrunk":[[5]]"#), "", 7),
            (with(r#","vlanTrunk":[5]"#), "", 7),
            (with(r#","args":{"cni":["mac"]}"#), "", 7),
            (with(r#","runtimeConfig":[]"#), "", 7),
            (with(r#","ipam":[]"#), "", 7),
            (with(r#","mtu":-1"#), "", 7),
            (with(r#","mtu":1500.5"#), "", 7),
            (with(r#","mtu":"1500""#), "", 7),
            (with(r#","bridge":"""#), "", 7),
            (with(r#","bridge":"this-name-is-too-long""#), "", 7),
            (with(r#","bridge":"a/b""#), "", 7),
            (with(r#","bridge":5"#), "", 7),
            (with(r#","hairpinMode":true,"promiscMode":true"#), "", 7),
            (
                with(r#","disableContainerInterface":true,"ipam":{"type":"host-local"}"#),
                "",
                7,
            ),
            (
                with(
                    r#","bridge":"bridge-01234","vlan":4000,"isGateway":true,"ipam":{"type":"x"}"#,
                ),
                "",
                7,
            ),
            (with(r#","ipMasq":true,"ipMasqBackend":"pf""#), "", 2),
            (with(r#","ipMasq":true,"ipMasqBackend":5"#), "", 7),
            (with(r#","runtimeConfig":{"mac":"nope"}"#), "", 7),
            (with(r#","runtimeConfig":{"mac":5}"#), "", 7),
            (
                with(r#","args":{"cni":{"mac":"01:00:5e:00:00:01"}}"#),
                "",
                7,
            ),
            (with(r#","args":{"cni":"x"}"#), "", 7),
            (with(""), "MAC=zz:zz:zz:zz:zz:zz", 4),
            (with(r#","ipam":{"type":5}"#), "", 7),
            (with(r#","dns":{"nameservers":"8.8.8.8"}"#), "", 7),
            ("[]".to_string(), "", 6),
        ];
        for (json, env, want) in cases {
            let r = parse_args(json, env);
            let e = r.as_ref().expect_err(json);
            assert_eq!(e.code.code(), *want, "{json}: {}", e.msg);
            assert!(
                e.msg.starts_with("bridge") || e.msg.starts_with("invalid bridge"),
                "{}",
                e.msg
            );
        }
        // A bad MAC that loses to a good one is not looked at, as upstream.
        let c = parse_args(
            &with(r#","runtimeConfig":{"mac":"c2:00:00:00:00:09"}"#),
            "MAC=bad",
        );
        assert!(c.is_ok());
    }

    #[test]
    fn dns_set_rule() {
        let cases: &[(&str, Option<Dns>)] = &[
            ("", None),
            (r#","dns":{}"#, None),
            (r#","dns":null"#, None),
            (r#","dns":{"domain":""}"#, None),
            (r#","dns":{"nameservers":[]}"#, Some(Dns::default())),
            (
                r#","dns":{"Nameservers":["10.1.1.1"],"domain":"x.local","search":["a"],"options":["ndots:2"]}"#,
                Some(Dns {
                    nameservers: vec!["10.1.1.1".into()],
                    domain: Some("x.local".into()),
                    search: vec!["a".into()],
                    options: vec!["ndots:2".into()],
                }),
            ),
            (
                r#","dns":{"domain":"d"}"#,
                Some(Dns {
                    domain: Some("d".into()),
                    ..Dns::default()
                }),
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(&parse(&with(extra)).unwrap().dns, want, "{extra}");
        }
    }

    #[test]
    fn keys_fold_case_and_later_wins() {
        let c = parse(&with(
            r#","Bridge":"b1","MTU":1400,"mtu":1300,"IPAM":{"TYPE":"dhcp"}"#,
        ))
        .unwrap();
        assert_eq!(c.bridge, "b1");
        assert_eq!(c.mtu, Some(1300));
        assert_eq!(c.ipam_type.as_deref(), Some("dhcp"));
        let c = parse(&with(r#","mtu":1300,"Mtu":1200"#)).unwrap();
        assert_eq!(c.mtu, Some(1200));
    }

    #[test]
    fn every_key_is_read() {
        // Guards KEYS against the serde names: each key, upper-cased, must still take effect.
        let json = with(
            r#","BRIDGE":"b","ISGATEWAY":true,"ISDEFAULTGATEWAY":true,"FORCEADDRESS":true,
               "IPMASQ":true,"IPMASQBACKEND":"iptables","MTU":1000,"HAIRPINMODE":true,
               "VLAN":3,"VLANTRUNK":[{"ID":4}],"PRESERVEDEFAULTVLAN":true,"MACSPOOFCHK":true,
               "ENABLEDAD":true,"PORTISOLATION":true,"IPAM":{"type":"host-local"},
               "DNS":{"domain":"d"},"RUNTIMECONFIG":{"MAC":"c2:00:00:00:00:01"}"#,
        );
        let c = parse(&json).unwrap();
        assert_eq!(c.bridge, "b");
        assert!(c.is_gateway && c.is_default_gateway && c.force_address && c.ip_masq);
        assert_eq!(c.ip_masq_backend, Some(IpMasqBackend::Iptables));
        assert_eq!(c.mtu, Some(1000));
        assert!(c.hairpin_mode && c.preserve_default_vlan && c.macspoofchk);
        assert!(c.enable_dad && c.port_isolation);
        assert_eq!((c.vlan, c.trunk_vlans()), (Some(3), &[4u16][..]));
        assert!(c.mac.is_some() && c.dns.is_some() && c.is_layer3());
        let c = parse(&with(
            r#","PROMISCMODE":true,"DISABLECONTAINERINTERFACE":true"#,
        ))
        .unwrap();
        assert!(c.promisc_mode && c.disable_container_interface);
        assert_eq!(KEYS.len(), 16);
    }
}
