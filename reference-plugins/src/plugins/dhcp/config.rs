//! The dhcp IPAM configuration: the `ipam` object of the request, decoded with Go's rules
//! (see [`crate::conf`]: case-insensitive keys, `null` is absent, strict types, unknown keys
//! ignored), plus `CNI_ARGS` for `provide[].fromArg`.
//!
//! Keys under `ipam`:
//! - `daemonSocketPath` (default [`DEFAULT_SOCKET_PATH`]): the daemon's unix socket.
//! - `request`: `[{"option": <name or number>, "skipDefault": bool}]`, options asked of the
//!   server in the parameter request list (55). Without any `skipDefault: true` the list
//!   starts with [`DEFAULT_REQUEST`].
//! - `provide`: `[{"option": <name or number>, "value": string, "fromArg": CNI_ARGS key}]`,
//!   options sent to the server; `fromArg` takes the value of that `CNI_ARGS` key when the key
//!   is there, else `value`. At most 255 bytes (one DHCP option); a value is sent as its bytes.
//! - `priority`: the metric of every route of the result (0 to 2^32-1).
//! - `dhcpv4` (default true) and `dhcpv6` (default false; ours only): which leases to
//!   acquire; DHCPv6 gets one IA_NA address and DNS from options 23 and 24. At least one.
//!
//! Every problem is code 7 with the key named, except a `CNI_ARGS` value (code 4).

use std::path::PathBuf;

use cni::args::CniArgs;
use cni::Error;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::options;
use super::protocol::ProvidedOption;
use crate::conf::{decode, fold_keys, request_object};

/// Where the daemon listens unless `daemonSocketPath` says otherwise.
pub const DEFAULT_SOCKET_PATH: &str = "/run/cni/dhcp.sock";

/// The parameter request list unless a `request` entry has `skipDefault`: upstream's routers
/// and subnet mask, then what the result is built from (routes, DNS, lease timers).
pub const DEFAULT_REQUEST: &[u8] = &[3, 1, 121, 33, 6, 15, 119, 51, 58, 59];

/// The longest value one DHCP option carries.
pub const MAX_OPTION_LEN: usize = 255;

/// A checked dhcp IPAM configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpConfig {
    pub socket_path: PathBuf,
    /// The parameter request list, in order, without duplicates.
    pub request: Vec<u8>,
    pub provide: Vec<ProvidedOption>,
    pub priority: Option<u32>,
    pub dhcpv4: bool,
    pub dhcpv6: bool,
}

#[derive(Deserialize)]
struct RawIpam {
    #[serde(default)]
    dhcpv4: Option<bool>,
    #[serde(default)]
    dhcpv6: Option<bool>,
    #[serde(rename = "daemonSocketPath", default)]
    daemon_socket_path: Option<String>,
    #[serde(default)]
    request: Option<Vec<Value>>,
    #[serde(default)]
    provide: Option<Vec<Value>>,
    #[serde(default)]
    priority: Option<i64>,
}

#[derive(Deserialize)]
struct RawRequest {
    #[serde(default)]
    option: Option<String>,
    #[serde(rename = "skipDefault", default)]
    skip_default: Option<bool>,
}

#[derive(Deserialize)]
struct RawProvide {
    #[serde(default)]
    option: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(rename = "fromArg", default)]
    from_arg: Option<String>,
}

const IPAM_KEYS: &[&str] = &[
    "type",
    "daemonSocketPath",
    "request",
    "provide",
    "priority",
    "dhcpv4",
    "dhcpv6",
];

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid_config(format!("dhcp: {}", msg.into()))
}

/// The folded `ipam` object of a request (code 6 for JSON that is no object, 7 without `ipam`).
fn ipam_object(stdin: &[u8]) -> Result<Map<String, Value>, Error> {
    let map = request_object("dhcp", stdin, &["ipam"])?;
    match map.get("ipam") {
        Some(Value::Object(ipam)) => Ok(fold_keys(ipam.clone(), IPAM_KEYS)),
        None | Some(Value::Null) => Err(bad(
            "IPAM configuration missing: the 'ipam' key is required",
        )),
        Some(other) => Err(bad(format!(
            "invalid ipam: expected an object, got {other}"
        ))),
    }
}

fn socket_path(raw: Option<String>) -> PathBuf {
    match raw {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_SOCKET_PATH),
    }
}

fn entry<T: for<'de> Deserialize<'de>>(
    list: &str,
    idx: usize,
    v: &Value,
    keys: &[&str],
) -> Result<T, Error> {
    let Value::Object(m) = v else {
        return Err(bad(format!(
            "invalid {list}[{idx}]: expected an object, got {v}"
        )));
    };
    T::deserialize(Value::Object(fold_keys(m.clone(), keys)))
        .map_err(|e| bad(format!("invalid {list}[{idx}]: {e}")))
}

fn option_code(list: &str, idx: usize, name: Option<String>) -> Result<u8, Error> {
    let name = name.unwrap_or_default();
    options::parse(&name).ok_or_else(|| {
        bad(format!(
            "invalid {list}[{idx}].option {name:?}: not a known DHCP option name nor a number \
             from 1 to 254"
        ))
    })
}

impl DhcpConfig {
    /// Reads and checks the `ipam` object of a request with its `CNI_ARGS`.
    pub fn parse(stdin: &[u8], cni_args: &CniArgs) -> Result<DhcpConfig, Error> {
        let ipam = ipam_object(stdin)?;
        let raw: RawIpam = decode("dhcp", &ipam)?;

        let mut skip_default = false;
        let mut asked = Vec::new();
        for (idx, v) in raw.request.iter().flatten().enumerate() {
            let r: RawRequest = entry("request", idx, v, &["option", "skipDefault"])?;
            skip_default |= r.skip_default.unwrap_or(false);
            // An entry with only skipDefault names no option, as upstream allows.
            if r.option.as_deref().is_some_and(|o| !o.is_empty()) {
                asked.push(option_code("request", idx, r.option)?);
            }
        }
        let mut request: Vec<u8> = Vec::new();
        let base: &[u8] = if skip_default { &[] } else { DEFAULT_REQUEST };
        for code in base.iter().chain(&asked) {
            if !request.contains(code) {
                request.push(*code);
            }
        }

        let mut provide = Vec::new();
        for (idx, v) in raw.provide.iter().flatten().enumerate() {
            let p: RawProvide = entry("provide", idx, v, &["option", "value", "fromArg"])?;
            let code = option_code("provide", idx, p.option)?;
            if options::CLIENT_MANAGED.contains(&code) {
                return Err(bad(format!(
                    "invalid provide[{idx}].option {code}: the client sets this option itself"
                )));
            }
            let from_arg = p
                .from_arg
                .as_deref()
                .filter(|k| !k.is_empty())
                .and_then(|k| cni_args.get(k).map(|v| (k, v)));
            let (value, from_env) = match from_arg {
                Some((_, v)) => (v.to_string(), true),
                None => (p.value.unwrap_or_default(), false),
            };
            if value.is_empty() {
                // Upstream sends nothing for an empty value either.
                continue;
            }
            if value.len() > MAX_OPTION_LEN {
                let msg = format!(
                    "dhcp: provide[{idx}] (option {code}) is {} bytes long; a DHCP option holds \
                     at most {MAX_OPTION_LEN}",
                    value.len()
                );
                return Err(if from_env {
                    Error::invalid_env(msg)
                } else {
                    Error::invalid_config(msg)
                });
            }
            if provide.iter().any(|o: &ProvidedOption| o.code == code) {
                return Err(bad(format!(
                    "invalid provide[{idx}]: option {code} is provided twice"
                )));
            }
            provide.push(ProvidedOption { code, value });
        }

        let priority = match raw.priority {
            None => None,
            Some(p) => Some(u32::try_from(p).map_err(|_| {
                bad(format!(
                    "invalid priority {p}: a route metric is 0 to {}",
                    u32::MAX
                ))
            })?),
        };
        let (dhcpv4, dhcpv6) = (raw.dhcpv4.unwrap_or(true), raw.dhcpv6.unwrap_or(false));
        if !dhcpv4 && !dhcpv6 {
            return Err(bad("dhcpv4 and dhcpv6 are both false: nothing to acquire"));
        }
        Ok(DhcpConfig {
            socket_path: socket_path(raw.daemon_socket_path),
            request,
            provide,
            priority,
            dhcpv4,
            dhcpv6,
        })
    }

    /// Only `daemonSocketPath`, read leniently: DEL and GC must reach the daemon even when the
    /// rest of the configuration became invalid.
    pub fn socket_path_lenient(stdin: &[u8]) -> PathBuf {
        let raw = ipam_object(stdin).ok().and_then(|m| {
            m.get("daemonSocketPath")
                .and_then(Value::as_str)
                .map(String::from)
        });
        socket_path(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(ipam: Value, args: &str) -> Result<DhcpConfig, Error> {
        let conf = json!({"cniVersion": "1.0.0", "name": "n", "ipam": ipam});
        DhcpConfig::parse(
            &serde_json::to_vec(&conf).unwrap(),
            &CniArgs::parse(args).unwrap(),
        )
    }

    #[test]
    fn defaults() {
        let c = parse(json!({"type": "dhcp"}), "").unwrap();
        assert_eq!(c.socket_path, PathBuf::from(DEFAULT_SOCKET_PATH));
        assert_eq!(c.request, DEFAULT_REQUEST);
        assert!(c.provide.is_empty());
        assert_eq!(c.priority, None);
    }

    #[test]
    fn keys_fold_and_values_apply() {
        let c = parse(
            json!({"type": "dhcp", "DaemonSocketPath": "/tmp/x.sock", "PRIORITY": 7,
                   "request": [{"Option": "classless-static-routes"}, {"option": "42"}],
                   "provide": [{"option": "host-name", "fromArg": "K8S_POD_NAME", "value": "dflt"},
                               {"option": "user-class", "value": "uc"}]}),
            "K8S_POD_NAME=pod-a",
        )
        .unwrap();
        assert_eq!(c.socket_path, PathBuf::from("/tmp/x.sock"));
        assert_eq!(c.priority, Some(7));
        assert_eq!(c.request.last(), Some(&42));
        assert_eq!(c.request.iter().filter(|&&o| o == 121).count(), 1);
        assert_eq!(
            c.provide[0],
            ProvidedOption {
                code: 12,
                value: "pod-a".into()
            }
        );
        assert_eq!(
            c.provide[1],
            ProvidedOption {
                code: 77,
                value: "uc".into()
            }
        );
        let c = parse(
            json!({"provide": [{"option": "host-name", "fromArg": "MISSING", "value": "dflt"}],
                   "request": [{"skipDefault": true, "option": "routers"}]}),
            "",
        )
        .unwrap();
        assert_eq!(c.provide[0].value, "dflt");
        assert_eq!(c.request, vec![3]);
    }

    #[test]
    fn bad_inputs() {
        let code = |ipam: Value, args: &str| parse(ipam, args).unwrap_err().code.code();
        assert_eq!(code(json!({"request": [{"option": "bogus"}]}), ""), 7);
        assert_eq!(code(json!({"request": [{"option": 3}]}), ""), 7);
        assert_eq!(code(json!({"request": "routers"}), ""), 7);
        assert_eq!(
            code(json!({"provide": [{"option": "53", "value": "x"}]}), ""),
            7
        );
        assert_eq!(
            code(
                json!({"provide": [{"option": "host-name", "value": "x".repeat(256)}]}),
                ""
            ),
            7
        );
        assert_eq!(
            code(
                json!({"provide": [{"option": "host-name", "fromArg": "H"}]}),
                &format!("H={}", "y".repeat(300))
            ),
            4
        );
        assert_eq!(code(json!({"priority": -1}), ""), 7);
        assert_eq!(code(json!({"priority": "1"}), ""), 7);
        assert_eq!(code(json!({"daemonSocketPath": 5}), ""), 7);
        assert_eq!(code(json!({"dhcpv4": false}), ""), 7);
        assert_eq!(code(json!({"dhcpv6": "yes"}), ""), 7);
        assert_eq!(code(json!("dhcp"), ""), 7);
        let e = DhcpConfig::parse(b"[]", &CniArgs::default()).unwrap_err();
        assert_eq!(e.code.code(), 6);
        let e = DhcpConfig::parse(br#"{"name":"n"}"#, &CniArgs::default()).unwrap_err();
        assert_eq!(e.code.code(), 7);
    }

    #[test]
    fn lenient_socket_path() {
        let p = DhcpConfig::socket_path_lenient(
            br#"{"ipam":{"daemonsocketpath":"/a.sock","request":"broken"}}"#,
        );
        assert_eq!(p, PathBuf::from("/a.sock"));
        assert_eq!(
            DhcpConfig::socket_path_lenient(b"junk"),
            PathBuf::from(DEFAULT_SOCKET_PATH)
        );
    }
}
