//! The conventions of CONVENTIONS.md, typed: capability arguments under `runtimeConfig`
//! (portMappings, ipRanges, bandwidth, dns, ips, mac, aliases, ...) and the `args.cni` object.
//!
//! [`RuntimeConfig::from_conf`] and [`ArgsCni::from_conf`] give the whole typed view of a
//! request, for a plugin or tool written on this crate that wants it; unknown keys land in
//! `extra` and are never an error, but a well-known key of the wrong shape is, even one the
//! caller does not use. That is why the reference plugins (`reference-plugins`) do not call
//! them: each decodes only the keys it reads (host-local `runtimeConfig.ips` and `ipRanges`,
//! `args.cni.ips`; bridge and macvlan `runtimeConfig.mac`...) into its own config type, so a
//! malformed capability it does not read cannot fail it, and takes [`IpRange`] from here. In
//! this repository they are exercised by their unit tests and by the `config` fuzz target
//! (`fuzz/`), which checks they never panic and agree across a serialize/parse round trip.
//! [`runtime_config_for`] is the runtime side ([`crate::runtime`]).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::NetConf;

/// `portMappings` entry (CAP-5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    #[serde(rename = "hostPort")]
    /// `hostPort`: the port on the node.
    pub host_port: u16,
    #[serde(rename = "containerPort")]
    /// `containerPort`: the port in the container it forwards to.
    pub container_port: u16,
    #[serde(default = "default_protocol")]
    /// `protocol`: `tcp` (the default), `udp` or `sctp`.
    pub protocol: String,
    #[serde(rename = "hostIP", default, skip_serializing_if = "Option::is_none")]
    /// `hostIP`: the node address to listen on; absent for every address.
    pub host_ip: Option<String>,
}

fn default_protocol() -> String {
    "tcp".to_string()
}

/// One pool of an IP range set (`ipRanges`, host-local `ranges`) (CAP-6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRange {
    /// `subnet`: the pool's network.
    pub subnet: IpNet,
    #[serde(
        rename = "rangeStart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `rangeStart`: the first address to hand out (default: the subnet's second).
    pub range_start: Option<IpAddr>,
    #[serde(rename = "rangeEnd", default, skip_serializing_if = "Option::is_none")]
    /// `rangeEnd`: the last address to hand out (default: the subnet's last but one).
    pub range_end: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `gateway`: the gateway for addresses of this pool.
    pub gateway: Option<IpAddr>,
}

/// Alternative pools from which one address is taken.
pub type RangeSet = Vec<IpRange>;

/// `bandwidth` (CAP-7): rates in bit/s, bursts in bits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bandwidth {
    #[serde(rename = "ingressRate", default)]
    /// `ingressRate`: bit/s into the container.
    pub ingress_rate: u64,
    #[serde(rename = "ingressBurst", default)]
    /// `ingressBurst`: bits of burst into the container.
    pub ingress_burst: u64,
    #[serde(rename = "egressRate", default)]
    /// `egressRate`: bit/s out of the container.
    pub egress_rate: u64,
    #[serde(rename = "egressBurst", default)]
    /// `egressBurst`: bits of burst out of the container.
    pub egress_burst: u64,
}

/// The `dns` capability (CAP-8); its names differ from the result's `dns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsCapability {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `servers`: name server addresses.
    pub servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `searches`: search domains.
    pub searches: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `options`: resolver options.
    pub options: Vec<String>,
}

/// `runtimeConfig` with every well-known capability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    #[serde(
        rename = "portMappings",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    /// `portMappings` (CAP-5).
    pub port_mappings: Vec<PortMapping>,
    #[serde(rename = "ipRanges", default, skip_serializing_if = "Vec::is_empty")]
    /// `ipRanges` (CAP-6): range sets, one address from each.
    pub ip_ranges: Vec<RangeSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `bandwidth` (CAP-7).
    pub bandwidth: Option<Bandwidth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `dns` (CAP-8).
    pub dns: Option<DnsCapability>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `ips` (CAP-9): addresses the runtime asks for, with prefix length.
    pub ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `mac` (CAP-10): the MAC address the runtime asks for.
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `aliases`: names of the container on the network.
    pub aliases: Vec<String>,
    #[serde(
        rename = "infinibandGUID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `infinibandGUID`: the GUID for an InfiniBand interface.
    pub infiniband_guid: Option<String>,
    #[serde(rename = "deviceID", default, skip_serializing_if = "Option::is_none")]
    /// `deviceID`: the device (a PCI address, say) to move into the container.
    pub device_id: Option<String>,
    #[serde(
        rename = "cgroupPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `cgroupPath`: the container's cgroup.
    pub cgroup_path: Option<String>,
    #[serde(flatten)]
    /// Every other capability, in input order.
    pub extra: Map<String, Value>,
}

impl RuntimeConfig {
    /// The typed `runtimeConfig` of a request (empty when absent). Fails when any well-known
    /// capability has the wrong shape (a `hostPort` above 65535, an `ipRanges` subnet that is
    /// not one), whichever the caller means to read: see the module documentation for who uses
    /// it.
    pub fn from_conf(conf: &NetConf) -> Result<RuntimeConfig, serde_json::Error> {
        match &conf.runtime_config {
            None | Some(Value::Null) => Ok(RuntimeConfig::default()),
            Some(v) => serde_json::from_value(v.clone()),
        }
    }
}

/// A `{key, value}` label of `args.cni.labels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// The label's name.
    pub key: String,
    /// The label's value.
    pub value: String,
}

/// The `args.cni` object (CAP-15).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArgsCni {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `ips`: addresses the runtime asks for.
    pub ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `labels`: key/value labels of the container.
    pub labels: Vec<Label>,
    #[serde(flatten)]
    /// Every other key, in input order.
    pub extra: Map<String, Value>,
}

impl ArgsCni {
    /// The typed `args.cni` of a request (empty when absent).
    pub fn from_conf(conf: &NetConf) -> Result<ArgsCni, serde_json::Error> {
        match conf.args.as_ref().and_then(|a| a.get("cni")) {
            None | Some(Value::Null) => Ok(ArgsCni::default()),
            Some(v) => serde_json::from_value(v.clone()),
        }
    }
}

/// Filters a runtime's capability arguments down to the capabilities a plugin declares, as
/// libcni does when it builds `runtimeConfig` for each plugin of a list (CAP-1..3).
pub fn runtime_config_for(
    capabilities: Option<&Map<String, Value>>,
    capability_args: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(caps) = capabilities {
        for (name, enabled) in caps {
            if enabled.as_bool() == Some(true) {
                if let Some(v) = capability_args.get(name) {
                    out.insert(name.clone(), v.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_conventions() {
        let conf = NetConf::parse(
            br#"{"name":"n","type":"t","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80}],
            "ipRanges":[[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.10"}]],"mac":"aa:bb:cc:dd:ee:ff","zzz":1},
            "args":{"cni":{"ips":["10.0.0.7"],"labels":[{"key":"a","value":"b"}],"other":true}}}"#,
        )
        .unwrap();
        let rc = RuntimeConfig::from_conf(&conf).unwrap();
        assert_eq!(rc.port_mappings[0].protocol, "tcp");
        assert_eq!(rc.ip_ranges[0][0].subnet.to_string(), "10.0.0.0/24");
        assert_eq!(rc.extra["zzz"], 1);
        let a = ArgsCni::from_conf(&conf).unwrap();
        assert_eq!(a.ips, ["10.0.0.7"]);
        assert_eq!(a.labels[0].value, "b");
    }

    #[test]
    fn bad_port_is_an_error() {
        let conf = NetConf::parse(
            br#"{"name":"n","type":"t","runtimeConfig":{"portMappings":[{"hostPort":70000,"containerPort":80}]}}"#,
        )
        .unwrap();
        assert!(RuntimeConfig::from_conf(&conf).is_err());
    }

    #[test]
    fn capability_filtering() {
        let caps: Map<String, Value> =
            serde_json::from_str(r#"{"portMappings":true,"mac":false}"#).unwrap();
        let args: Map<String, Value> =
            serde_json::from_str(r#"{"portMappings":[],"mac":"x","ips":[]}"#).unwrap();
        let rc = runtime_config_for(Some(&caps), &args);
        assert_eq!(rc.keys().collect::<Vec<_>>(), ["portMappings"]);
    }
}
