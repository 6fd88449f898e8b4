//! The `tuning` plugin's configuration.
//!
//! | Key | Default | Notes |
//! |---|---|---|
//! | `sysctl` | none | object of strings: sysctl key → value, written in the container ([`super::sysctl`]) |
//! | `mac` | unchanged | the interface's MAC (48-bit unicast) |
//! | `promisc` | unchanged | promiscuous mode on (`true`) or off (`false`) |
//! | `mtu` | unchanged | 0 = unchanged |
//! | `txQLen` | unchanged | transmit queue length (0 is a length) |
//! | `allmulti` | unchanged | all-multicast mode on or off |
//! | `dataDir` | `/run/cni/tuning` | where ADD saves the values DEL restores ([`super::state`]) |
//!
//! Per attachment: the `mac` capability (`runtimeConfig.mac`), `MAC=` in `CNI_ARGS`, and
//! `args.cni` with `sysctl`, `mac`, `promisc`, `mtu`, `allmulti` and `txQLen`. A value given
//! in `args.cni` replaces the configuration's (for `sysctl`, key by key: an `args.cni` key
//! naming the same file as a configuration key replaces it). The MAC comes, from lowest to
//! highest precedence, from `mac`, `CNI_ARGS`, `runtimeConfig`, `args.cni` (upstream's order).
//!
//! Keys are read as Go reads them ([`crate::conf`]): any case, `null` = absent, strict types.
//! Everything is checked here, before the plugin touches the kernel: the types (code 7), the
//! MAC (code 7; code 4 for `CNI_ARGS`), each sysctl key ([`super::sysctl::resolve`]: code 7
//! naming the key), a key written twice in one `sysctl` object or two keys naming one file
//! (code 7), and the allow-list (code 7 naming the key).
//!
//! Where this differs from upstream, on purpose:
//!
//! - Upstream reports every one of these errors as code 999, and finds a bad MAC, a negative
//!   `mtu` or a key outside `/proc/sys/net/` only when it gets there (after writing the
//!   sysctls before it). `args.cni.sysctl` without a top-level `sysctl` works (upstream
//!   panics on the nil map).
//! - `promisc: false` turns promiscuous mode off (and DEL turns it back on if it was);
//!   upstream ignores `false` on ADD but CHECK then requires it off. Leaving `promisc` out
//!   changes nothing and checks nothing.
//! - A negative `mtu` or `txQLen` is refused; two keys naming the same file (`net.a.b` and
//!   `net/a/b`) are refused, where upstream writes both in random order; a duplicate key
//!   in `args.cni.sysctl` is refused as in `sysctl` (upstream keeps one of them).
//! - An empty `args.cni.mac` does not clear the MAC requested elsewhere (the same rule as our
//!   bridge and macvlan: the last non-empty value wins). MACs are 48-bit (upstream also
//!   takes 64-bit and 20-byte InfiniBand addresses).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use cni::args::CniArgs;
use cni::{CmdArgs, Error};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::sysctl::{self, SysctlPath};
use crate::conf::{decode, fold_keys, mtu, pick_mac, request_object, runtime_config_mac};
use crate::conf::{MacSource, RequestedMac};

const PLUGIN: &str = "tuning";

/// Where ADD saves previous values unless `dataDir` says otherwise (upstream's).
pub const DEFAULT_DATA_DIR: &str = "/run/cni/tuning";
/// The sysctl allow-list the plugin reads (upstream's); see [`super::sysctl`].
pub const ALLOWLIST: &str = "/etc/cni/tuning/allowlist.conf";

/// One sysctl to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// The key as the configuration wrote it.
    pub key: String,
    /// The file it names.
    pub path: SysctlPath,
    pub value: String,
}

/// A checked tuning configuration, per-attachment values applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuningConf {
    /// In the configuration's order, then `args.cni`'s new keys.
    pub sysctls: Vec<Sysctl>,
    pub mac: Option<RequestedMac>,
    pub promisc: Option<bool>,
    pub mtu: Option<u32>,
    pub tx_queue_len: Option<u32>,
    pub allmulti: Option<bool>,
    pub data_dir: PathBuf,
}

const KEYS: &[&str] = &[
    "sysctl",
    "mac",
    "promisc",
    "mtu",
    "txQLen",
    "allmulti",
    "dataDir",
    "args",
    "runtimeConfig",
    "prevResult",
];
const ARGS_CNI_KEYS: &[&str] = &["sysctl", "mac", "promisc", "mtu", "allmulti", "txQLen"];

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    sysctl: Option<Map<String, Value>>,
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    promisc: Option<bool>,
    #[serde(default)]
    mtu: Option<i64>,
    #[serde(rename = "txQLen", default)]
    tx_qlen: Option<i64>,
    #[serde(default)]
    allmulti: Option<bool>,
    #[serde(rename = "dataDir", default)]
    data_dir: Option<String>,
}

/// `args.cni`'s keys for this plugin.
#[derive(Deserialize, Default)]
struct RawArgsCni {
    #[serde(default)]
    sysctl: Option<Map<String, Value>>,
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    promisc: Option<bool>,
    #[serde(default)]
    mtu: Option<i64>,
    #[serde(rename = "txQLen", default)]
    tx_qlen: Option<i64>,
    #[serde(default)]
    allmulti: Option<bool>,
}

impl TuningConf {
    /// Reads and checks a request's configuration. `ifname` (`CNI_IFNAME`) replaces `IFNAME`
    /// in sysctl keys (`None`: left as written, for STATUS); `allowlist` is the allow-list
    /// file (the plugin passes [`ALLOWLIST`]).
    pub fn parse(
        stdin: &[u8],
        cni_args: &CniArgs,
        ifname: Option<&str>,
        allowlist: &Path,
    ) -> Result<TuningConf, Error> {
        refuse_duplicate_keys(stdin, &["sysctl"])?;
        refuse_duplicate_keys(stdin, &["args", "cni", "sysctl"])?;
        let mut map = request_object(PLUGIN, stdin, KEYS)?;
        let runtime_config_mac = runtime_config_mac(PLUGIN, &mut map)?;
        let args_cni = args_cni(&map)?;
        let raw: Raw = decode(PLUGIN, &map)?;

        let mac = pick_mac(
            PLUGIN,
            &[
                (MacSource::Config, raw.mac.as_deref()),
                (MacSource::CniArgs, args_mac(cni_args)),
                (MacSource::RuntimeConfig, runtime_config_mac.as_deref()),
                (MacSource::ArgsCni, args_cni.mac.as_deref()),
            ],
        )?;
        let mtu = mtu(PLUGIN, args_cni.mtu.or(raw.mtu))?;
        let tx_queue_len = match args_cni.tx_qlen.or(raw.tx_qlen) {
            None => None,
            Some(q) => Some(u32::try_from(q).map_err(|_| {
                Error::invalid_config(format!(
                    "tuning: invalid txQLen {q}: must be from 0 to {}",
                    u32::MAX
                ))
            })?),
        };
        let data_dir = match raw.data_dir.as_deref() {
            None | Some("") => PathBuf::from(DEFAULT_DATA_DIR),
            Some(d) if d.contains('\0') => {
                return Err(Error::invalid_config(format!(
                    "tuning: invalid dataDir {d:?}"
                )))
            }
            Some(d) => PathBuf::from(d),
        };

        let mut sysctls = sysctls("sysctl", raw.sysctl.as_ref(), ifname)?;
        for s in sysctls_from_args(args_cni.sysctl.as_ref(), ifname)? {
            match sysctls.iter_mut().find(|t| t.path == s.path) {
                Some(t) => *t = s,
                None => sysctls.push(s),
            }
        }
        sysctl::check_allowlist(sysctls.iter().map(|s| s.key.as_str()), allowlist)?;

        Ok(TuningConf {
            sysctls,
            mac,
            promisc: args_cni.promisc.or(raw.promisc),
            mtu,
            tx_queue_len,
            allmulti: args_cni.allmulti.or(raw.allmulti),
            data_dir,
        })
    }

    /// [`TuningConf::parse`] on what skel hands the plugin, with `CNI_IFNAME` when the verb
    /// has one, and the allow-list at `allowlist`.
    pub fn from_cmd(args: &CmdArgs, allowlist: &Path) -> Result<TuningConf, Error> {
        let ifname = Some(args.ifname.as_str()).filter(|i| !i.is_empty());
        TuningConf::parse(&args.stdin, &args.args, ifname, allowlist)
    }

    /// Whether the configuration changes a link attribute (and so needs the interface and
    /// the data directory).
    pub fn changes_link(&self) -> bool {
        self.mac.is_some()
            || self.promisc.is_some()
            || self.mtu.is_some()
            || self.tx_queue_len.is_some()
            || self.allmulti.is_some()
    }
}

/// `MAC=` of `CNI_ARGS`.
fn args_mac(cni_args: &CniArgs) -> Option<&str> {
    cni_args.get("MAC")
}

/// `args.cni` (an absent or `null` `args` or `args.cni` is empty; anything but an object is
/// refused, as Go refuses it).
fn args_cni(map: &Map<String, Value>) -> Result<RawArgsCni, Error> {
    let not_object = |what: &str, v: &Value| {
        Error::invalid_config(format!(
            "tuning: invalid {what}: expected an object, got {v}"
        ))
    };
    let args = match map.get("args") {
        None | Some(Value::Null) => return Ok(RawArgsCni::default()),
        Some(Value::Object(a)) => fold_keys(a.clone(), &["cni"]),
        Some(v) => return Err(not_object("args", v)),
    };
    let cni = match args.get("cni") {
        None | Some(Value::Null) => return Ok(RawArgsCni::default()),
        Some(Value::Object(c)) => fold_keys(c.clone(), ARGS_CNI_KEYS),
        Some(v) => return Err(not_object("args.cni", v)),
    };
    RawArgsCni::deserialize(Value::Object(cni))
        .map_err(|e| Error::invalid_config(format!("tuning: invalid args.cni: {e}")))
}

fn sysctls_from_args(
    map: Option<&Map<String, Value>>,
    ifname: Option<&str>,
) -> Result<Vec<Sysctl>, Error> {
    sysctls("args.cni.sysctl", map, ifname)
}

/// The entries of one `sysctl` object, each key resolved; two keys naming one file are
/// refused.
fn sysctls(
    what: &str,
    map: Option<&Map<String, Value>>,
    ifname: Option<&str>,
) -> Result<Vec<Sysctl>, Error> {
    let mut out: Vec<Sysctl> = Vec::new();
    for (key, value) in map.into_iter().flatten() {
        let Value::String(value) = value else {
            return Err(Error::invalid_config(format!(
                "tuning: invalid {what} value for {key:?}: expected a string, got {value}"
            )));
        };
        let path = sysctl::resolve(key, ifname).map_err(|reason| {
            Error::invalid_config(format!("tuning: invalid {what} key {key:?}: {reason}"))
        })?;
        if let Some(other) = out.iter().find(|s| s.path == path) {
            return Err(Error::invalid_config(format!(
                "tuning: {what} keys {:?} and {key:?} both name {path}",
                other.key
            )));
        }
        out.push(Sysctl {
            key: key.clone(),
            path,
            value: value.clone(),
        });
    }
    Ok(out)
}

/// Refuses (code 7) a key that appears twice in the object at `path` (keys matched in any
/// case, as Go matches them) of the request. The JSON reader keeps the last of two equal
/// keys, so this looks at the request's text. Anything that is not an object on the way is
/// left for the typed decoding to judge.
fn refuse_duplicate_keys(stdin: &[u8], path: &[&str]) -> Result<(), Error> {
    let mut de = serde_json::Deserializer::from_slice(stdin);
    match (Scan { path }).deserialize(&mut de) {
        Ok(()) => Ok(()),
        // A syntax error is reported by the typed decoding, with its own code.
        Err(e) if e.is_syntax() || e.is_eof() => Ok(()),
        Err(e) => Err(Error::invalid_config(format!("tuning: {e}"))),
    }
}

/// Walks to the object at `path`, checking it for duplicate keys.
struct Scan<'a> {
    path: &'a [&'a str],
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! accept_scalars {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method<E: de::Error>(self, _: $ty) -> Result<(), E> {
            Ok(())
        })*
    };
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    accept_scalars!(
        visit_bool: bool,
        visit_i64: i64,
        visit_u64: u64,
        visit_f64: f64,
        visit_str: &str,
    );

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    return Err(de::Error::custom(format!(
                        "duplicated sysctl key {key:?} (each key may appear once)"
                    )));
                }
            }
            return Ok(());
        };
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case(first) {
                map.next_value_seed(Scan { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_list() -> PathBuf {
        PathBuf::from("/nonexistent/cni-rs/allowlist.conf")
    }

    fn parse_with(conf: Value, cni_args: &str) -> Result<TuningConf, Error> {
        let mut base = json!({"cniVersion": "1.0.0", "name": "n", "type": "tuning"});
        for (k, v) in conf.as_object().unwrap() {
            base[k] = v.clone();
        }
        let stdin = serde_json::to_vec(&base).unwrap();
        TuningConf::parse(
            &stdin,
            &CniArgs::parse(cni_args).unwrap(),
            Some("eth0"),
            &no_list(),
        )
    }

    fn parse(conf: Value) -> Result<TuningConf, Error> {
        parse_with(conf, "")
    }

    fn code(r: Result<TuningConf, Error>) -> u32 {
        r.expect_err("should fail").code.code()
    }

    #[test]
    fn defaults() {
        let c = parse(json!({})).unwrap();
        assert!(c.sysctls.is_empty());
        assert!(!c.changes_link());
        assert_eq!(c.data_dir, PathBuf::from("/run/cni/tuning"));
        let c = parse(json!({"dataDir": "", "mtu": 0, "sysctl": null, "mac": null})).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/run/cni/tuning"));
        assert!(!c.changes_link());
    }

    #[test]
    fn every_key_in_any_case() {
        let c = parse(json!({
            "SYSCTL": {"net.core.somaxconn": "500", "net/ipv4/conf/IFNAME/arp_notify": "1"},
            "Mac": "C2-00-00-00-00-01",
            "promisc": true,
            "MTU": 1400,
            "txqlen": 0,
            "AllMulti": false,
            "datadir": "/tmp/x",
        }))
        .unwrap();
        let paths: Vec<String> = c.sysctls.iter().map(|s| s.path.to_string()).collect();
        assert_eq!(
            paths,
            [
                "/proc/sys/net/core/somaxconn",
                "/proc/sys/net/ipv4/conf/eth0/arp_notify"
            ]
        );
        assert_eq!(c.sysctls[0].value, "500");
        assert_eq!(c.mac.unwrap().addr.to_string(), "c2:00:00:00:00:01");
        assert_eq!(c.mac.unwrap().source, MacSource::Config);
        assert_eq!(c.promisc, Some(true));
        assert_eq!(c.mtu, Some(1400));
        assert_eq!(c.tx_queue_len, Some(0));
        assert_eq!(c.allmulti, Some(false));
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert!(c.changes_link());
    }

    #[test]
    fn mac_precedence() {
        let all = json!({
            "mac": "c2:00:00:00:00:01",
            "runtimeConfig": {"mac": "c2:00:00:00:00:03"},
            "args": {"cni": {"mac": "c2:00:00:00:00:04"}},
        });
        let winner = |conf: Value, env: &str| {
            let m = parse_with(conf, env).unwrap().mac.unwrap();
            (m.addr.to_string(), m.source)
        };
        let env = "IgnoreUnknown=1;MAC=c2:00:00:00:00:02";
        assert_eq!(
            winner(all.clone(), env),
            ("c2:00:00:00:00:04".into(), MacSource::ArgsCni)
        );
        let mut no_args = all.clone();
        no_args["args"] = Value::Null;
        assert_eq!(
            winner(no_args.clone(), env),
            ("c2:00:00:00:00:03".into(), MacSource::RuntimeConfig)
        );
        no_args["runtimeConfig"] = json!({"portMappings": []});
        assert_eq!(
            winner(no_args.clone(), env),
            ("c2:00:00:00:00:02".into(), MacSource::CniArgs)
        );
        assert_eq!(
            winner(no_args, ""),
            ("c2:00:00:00:00:01".into(), MacSource::Config)
        );
        // Only the winner is checked; a bad CNI_ARGS MAC is code 4, others 7.
        assert_eq!(code(parse_with(json!({"mac": "zz"}), "")), 7);
        assert_eq!(code(parse_with(json!({}), "MAC=zz")), 4);
        assert_eq!(
            code(parse(
                json!({"runtimeConfig": {"mac": "01:00:5e:00:00:01"}})
            )),
            7
        );
        assert!(parse_with(json!({"mac": "zz"}), "MAC=c2:00:00:00:00:02").is_ok());
    }

    #[test]
    fn args_cni_overrides() {
        let c = parse(json!({
            "sysctl": {"net.core.somaxconn": "500", "net.ipv4.ip_forward": "1"},
            "promisc": true, "mtu": 1400, "txQLen": 500, "allmulti": true,
            "args": {"CNI": {
                "SYSCTL": {"net/core/somaxconn": "600", "net.ipv4.conf.all.arp_notify": "1"},
                "promisc": false, "Mtu": 1300, "txqlen": 100, "allmulti": false,
            }},
        }))
        .unwrap();
        let got: Vec<(&str, &str)> = c
            .sysctls
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("net/core/somaxconn", "600"),
                ("net.ipv4.ip_forward", "1"),
                ("net.ipv4.conf.all.arp_notify", "1"),
            ]
        );
        assert_eq!(c.promisc, Some(false));
        assert_eq!(c.mtu, Some(1300));
        assert_eq!(c.tx_queue_len, Some(100));
        assert_eq!(c.allmulti, Some(false));
        // args.cni.mtu 0 takes the configuration's MTU away, as upstream.
        let c = parse(json!({"mtu": 1400, "args": {"cni": {"mtu": 0}}})).unwrap();
        assert_eq!(c.mtu, None);
        // args.cni.sysctl alone (upstream panics on this).
        let c = parse(json!({"args": {"cni": {"sysctl": {"net.core.somaxconn": "7"}}}})).unwrap();
        assert_eq!(c.sysctls.len(), 1);
        // Other args keys and an empty args.cni are fine.
        parse(json!({"args": {"other": [1], "cni": {"ips": ["10.0.0.1"]}}})).unwrap();
        parse(json!({"args": {"cni": null}})).unwrap();
    }

    #[test]
    fn refusals_name_the_key() {
        let cases: &[(Value, &str)] = &[
            (
                json!({"sysctl": {"kernel.hostname": "x"}}),
                "kernel.hostname",
            ),
            (
                json!({"sysctl": {"net/../kernel/hostname": "x"}}),
                "net/../kernel/hostname",
            ),
            (
                json!({"sysctl": {"net.ipv4.ip_forward": 1}}),
                "net.ipv4.ip_forward",
            ),
            (
                json!({"sysctl": {"net.ipv4.ip_forward": "1", "net/ipv4/ip_forward": "0"}}),
                "net/ipv4/ip_forward",
            ),
            (
                json!({"args": {"cni": {"sysctl": {"vm.swappiness": "1"}}}}),
                "vm.swappiness",
            ),
        ];
        for (conf, key) in cases {
            let e = parse(conf.clone()).unwrap_err();
            assert_eq!(e.code.code(), 7, "{conf}: {}", e.msg);
            assert!(e.msg.contains(key), "{conf}: {}", e.msg);
        }
    }

    #[test]
    fn duplicate_keys_in_the_text() {
        let dup = br#"{"cniVersion":"1.0.0","name":"n","type":"tuning",
            "sysctl":{"net.core.somaxconn":"1","net.core.somaxconn":"2"}}"#;
        let e = TuningConf::parse(dup, &CniArgs::default(), Some("eth0"), &no_list()).unwrap_err();
        assert_eq!(e.code.code(), 7);
        assert!(e.msg.contains("net.core.somaxconn"), "{}", e.msg);
        let dup_args = br#"{"cniVersion":"1.0.0","name":"n","type":"tuning",
            "Args":{"cni":{"sysctl":{"net.x.y":"1","net.x.y":"2"}}}}"#;
        let e =
            TuningConf::parse(dup_args, &CniArgs::default(), Some("eth0"), &no_list()).unwrap_err();
        assert_eq!(e.code.code(), 7);
        // The same key elsewhere is no duplicate.
        let fine = br#"{"cniVersion":"1.0.0","name":"n","type":"tuning","x":{"a":1,"a":2},
            "sysctl":{"net.a.b":"1"},"args":{"cni":{"sysctl":{"net.a.b":"2"}}}}"#;
        let c = TuningConf::parse(fine, &CniArgs::default(), Some("eth0"), &no_list()).unwrap();
        assert_eq!(c.sysctls[0].value, "2");
        // Not JSON: the decoding failure, code 6.
        let e = TuningConf::parse(b"{", &CniArgs::default(), None, &no_list()).unwrap_err();
        assert_eq!(e.code.code(), 6);
    }

    #[test]
    fn types_and_ranges() {
        for bad in [
            json!({"mtu": -1}),
            json!({"mtu": "1500"}),
            json!({"txQLen": -1}),
            json!({"txQLen": 4294967296u64}),
            json!({"promisc": "true"}),
            json!({"allmulti": 1}),
            json!({"sysctl": ["net.a.b"]}),
            json!({"sysctl": "net.a.b=1"}),
            json!({"sysctl": {"net.a.b": null}}),
            json!({"args": "x"}),
            json!({"args": {"cni": []}}),
            json!({"args": {"cni": {"mtu": "x"}}}),
            json!({"dataDir": 5}),
        ] {
            assert_eq!(code(parse(bad.clone())), 7, "{bad}");
        }
    }

    #[test]
    fn allowlist_applies_to_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("allowlist.conf");
        std::fs::write(&list, "^net\\.core\\.somaxconn$\n").unwrap();
        let stdin = |conf: Value| {
            let mut base = json!({"cniVersion": "1.0.0", "name": "n", "type": "tuning"});
            for (k, v) in conf.as_object().unwrap() {
                base[k] = v.clone();
            }
            serde_json::to_vec(&base).unwrap()
        };
        let ok = stdin(json!({"sysctl": {"net.core.somaxconn": "5"}}));
        TuningConf::parse(&ok, &CniArgs::default(), Some("eth0"), &list).unwrap();
        let bad = stdin(json!({"args": {"cni": {"sysctl": {"net.ipv4.ip_forward": "1"}}}}));
        let e = TuningConf::parse(&bad, &CniArgs::default(), Some("eth0"), &list).unwrap_err();
        assert_eq!(e.code.code(), 7);
        assert!(e.msg.contains("net.ipv4.ip_forward"), "{}", e.msg);
        // Without the file, the same request passes.
        TuningConf::parse(&bad, &CniArgs::default(), Some("eth0"), &no_list()).unwrap();
    }
}
