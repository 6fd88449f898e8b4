//! Generated requests: a verb, the request body (the base request of that verb with
//! structure-aware mutations, or raw bytes that are not a request at all) and edits of the
//! `CNI_*` environment. Everything comes from one [`Rng`], so a call is reproducible from the
//! run's seed and its index.
//!
//! Mutations of the body walk its JSON tree and change one node: a value of the wrong type,
//! a key dropped or an unknown one added, huge, empty, hostile, unicode and path-like strings,
//! boundary numbers, addresses and prefixes of the wrong family or out of range, arrays
//! emptied or blown up, `cniVersion` old or unknown. Environment edits unset, empty or blow
//! up a variable, or give it an odd value: interface names the kernel refuses, path-like
//! container IDs, `CNI_NETNS` naming a plain file, a directory, nothing, or a namespace of
//! another type.
//!
//! Path-like values are chosen so that a plugin that joins them to its state directory
//! (`/var/lib/cni/<dir>/<value>`) or to its working directory (a nested scratch directory the
//! fuzzer sets) stays inside what the fuzzer owns: at most one `..`, and the only absolute
//! paths are under `/var/lib/cni` (private to each world) or `/proc/self`.

use serde::Serialize;
use serde_json::{json, Value};

use super::rng::Rng;

/// The verbs, weighted: ADD (followed by DEL when it succeeds) most often.
const VERBS: &[&str] = &[
    "ADD", "ADD", "ADD", "ADD", "DEL", "DEL", "CHECK", "VERSION", "STATUS", "GC",
];

/// The `CNI_*` variables a runtime sets.
pub const ENV_KEYS: &[&str] = &[
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CNI_PATH",
];

/// What a request sends on stdin.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    /// A JSON document (the base request, mutated).
    Json(Value),
    /// Text that is not meant to be a request.
    Raw(String),
}

impl Body {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Json(v) => v.to_string().into_bytes(),
            Body::Raw(s) => s.clone().into_bytes(),
        }
    }
}

/// The value an environment edit gives a variable.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvValue {
    Unset,
    Text(String),
    /// A path to a plain file (for `CNI_NETNS`).
    NetnsFile,
    /// A path to a directory.
    NetnsDir,
    /// A path to nothing.
    NetnsMissing,
}

/// One change to the environment a runtime would give.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvEdit {
    pub key: String,
    pub value: EnvValue,
}

/// A generated plugin call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// The verb the base request and environment were made for (an edit may change
    /// `CNI_COMMAND`).
    pub verb: String,
    pub body: Body,
    pub env: Vec<EnvEdit>,
    /// What was mutated, in words.
    pub mutations: Vec<String>,
}

/// One step of a path into a JSON tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Every node's path, the root's (empty) first, in pre-order.
pub fn paths(v: &Value) -> Vec<Vec<Seg>> {
    fn walk(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        out.push(here.clone());
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    here.push(Seg::Key(k.clone()));
                    walk(x, here, out);
                    here.pop();
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    here.push(Seg::Index(i));
                    walk(x, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

pub fn get_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |node, seg| match seg {
        Seg::Key(k) => node.get_mut(k.as_str()),
        Seg::Index(i) => node.get_mut(*i),
    })
}

/// Removes the node at `path` (not the root); whether there was one.
pub fn remove(v: &mut Value, path: &[Seg]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    match (get_mut(v, parent), last) {
        (Some(Value::Object(m)), Seg::Key(k)) => m.shift_remove(k).is_some(),
        (Some(Value::Array(a)), Seg::Index(i)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

pub fn show_path(path: &[Seg]) -> String {
    if path.is_empty() {
        return "(root)".into();
    }
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => format!(".{}", short(k)),
            Seg::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// A value for messages: at most 40 characters.
pub fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!(
            "{}…({} bytes)",
            s.chars().take(24).collect::<String>(),
            s.len()
        )
    } else {
        format!("{s:?}")
    }
}

const HUGE: usize = 65536;

fn strings(rng: &mut Rng, original: &str) -> (String, &'static str) {
    let groups: &[(&str, &[&str])] = &[
        ("empty", &["", " ", "\t\n"]),
        (
            "unicode",
            &[
                "ñandú",
                "网络",
                "\u{202e}lave",
                "🦀🦀",
                "e\u{301}",
                "\u{feff}x",
                "\u{0}",
                "a\u{0}b",
                "\u{fffd}",
                "İı",
            ],
        ),
        (
            "hostile",
            &[
                "$(id)",
                "`id`",
                "; rm -rf x",
                "%s%n%x",
                "\\",
                "\"",
                "'",
                "<a>&amp;",
                "{{.}}",
                "\r\n",
                "-x",
                "*",
            ],
        ),
        (
            "path-like",
            &[
                "..",
                ".",
                "../fuzz",
                "a/b",
                "./x",
                "x/../y",
                "/var/lib/cni/fuzz-path",
                "/proc/self/ns/net",
                "x\\y",
            ],
        ),
    ];
    match rng.below(8) {
        0 => ("A".repeat(HUGE), "huge"),
        1 => (
            rng.pick(&["x".repeat(256), "abcdefghijklmnop".to_string()])
                .clone(),
            "long",
        ),
        2 => (format!("{original} "), "trailing space"),
        3 => (original.to_uppercase(), "upper case"),
        _ => {
            let (name, list) = rng.pick(groups);
            (rng.pick(list).to_string(), name)
        }
    }
}

/// A mutation of a string that reads as an address or a prefix, if it does.
fn address(rng: &mut Rng, s: &str) -> Option<(String, &'static str)> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: std::net::IpAddr = addr.parse().ok()?;
    let (other_addr, other_net) = if ip.is_ipv4() {
        ("fd00:99::1", "fd00:99::/64")
    } else {
        ("10.200.0.1", "10.200.0.0/24")
    };
    Some(match rng.below(4) {
        0 => (
            if prefix.is_some() {
                other_net
            } else {
                other_addr
            }
            .to_string(),
            "address of the other family",
        ),
        1 => (
            format!(
                "{addr}/{}",
                rng.pick(&["0", "1", "31", "32", "33", "64", "127", "128", "129", "-1", ""])
            ),
            "prefix length at a boundary",
        ),
        2 => (
            rng.pick(&[
                "0.0.0.0",
                "255.255.255.255",
                "224.0.0.1",
                "127.0.0.1",
                "::",
                "::1",
                "ff02::1",
                "::ffff:10.99.0.1",
                "fe80::1%eth0",
                "010.099.000.001",
                "10.99.0.256",
                "10.99.0",
                "1.2.3.4.5",
                "0.0.0.0/0",
                "::/0",
                "10.99.0.5/24",
            ])
            .to_string(),
            "special address",
        ),
        _ => (
            match prefix {
                Some(p) => format!("{addr}/{p}/{p}"),
                None => format!("{addr}:80"),
            },
            "malformed address",
        ),
    })
}

fn numbers(rng: &mut Rng) -> Value {
    let list = [
        json!(0),
        json!(-1),
        json!(1),
        json!(65535),
        json!(65536),
        json!(2147483647),
        json!(2147483648u64),
        json!(4294967295u64),
        json!(4294967296u64),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e308),
        json!(-1e308),
        json!(0.5),
        json!(-0.0),
        json!(9007199254740993u64),
    ];
    rng.pick(&list).clone()
}

fn wrong_type(rng: &mut Rng, original: &Value) -> Value {
    let list = [
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(""),
        json!("str"),
        json!("123"),
        json!([]),
        json!({}),
        json!([original]),
        json!({ "v": original }),
    ];
    // A replacement of the same JSON type is no type change: draw again.
    for _ in 0..8 {
        let v = rng.pick(&list).clone();
        if std::mem::discriminant(&v) != std::mem::discriminant(original) {
            return v;
        }
    }
    Value::Null
}

const VERSIONS: &[&str] = &[
    "0.1.0",
    "0.2.0",
    "0.3.0",
    "0.3.1",
    "0.4.0",
    "9.9.9",
    "1.0",
    "1",
    "",
    "v1.0.0",
    "1.0.0-rc1",
    "1.0.0 ",
    "01.0.0",
    "0.0.0",
    "1.2.0",
    "2.0.0",
];

const EXTRA_KEYS: &[&str] = &[
    "x",
    "",
    "ñ",
    "__proto__",
    "cniVersion ",
    "NAME",
    "runtimeConfig",
    "args",
    "prevResult",
    "cni.dev/valid-attachments",
    "capabilities",
];

/// Mutates one node of `body`; returns what it did.
fn mutate_json(rng: &mut Rng, body: &mut Value) -> String {
    let all = paths(body);
    let path = rng.pick(&all).clone();
    let at = show_path(&path);
    let is_version = path == [Seg::Key("cniVersion".into())];
    let node = get_mut(body, &path).expect("path exists");
    if is_version && rng.chance(7, 10) {
        let v = rng.pick(VERSIONS);
        *node = json!(v);
        return format!("cniVersion {v:?}");
    }
    let (new, what) = match node {
        Value::Object(m) => match rng.below(3) {
            0 if !m.is_empty() => {
                let keys: Vec<String> = m.keys().cloned().collect();
                let k = rng.pick(&keys).clone();
                m.shift_remove(&k);
                return format!("dropped {at}.{}", short(&k));
            }
            1 => {
                let k = if rng.chance(1, 8) {
                    "k".repeat(300)
                } else {
                    rng.pick(EXTRA_KEYS).to_string()
                };
                let v = wrong_type(rng, &Value::Null);
                let desc = format!("extra key {at}.{} = {}", short(&k), short(&v.to_string()));
                m.insert(k, v);
                return desc;
            }
            _ => (wrong_type(rng, node), "wrong type"),
        },
        Value::Array(a) => match rng.below(5) {
            0 => (json!([]), "emptied"),
            1 if !a.is_empty() => {
                let x = a[rng.below(a.len())].clone();
                a.push(x);
                return format!("{at}: item duplicated");
            }
            2 if !a.is_empty() => {
                let x = a[0].clone();
                (Value::Array(vec![x; 300]), "300 items")
            }
            3 => (json!([[[[[[[[[[[]]]]]]]]]]]), "nested arrays"),
            _ => (wrong_type(rng, node), "wrong type"),
        },
        Value::String(s) => {
            let addr = if rng.chance(2, 3) {
                address(rng, s)
            } else {
                None
            };
            match addr {
                Some((v, what)) => (json!(v), what),
                None if rng.chance(1, 5) => (wrong_type(rng, node), "wrong type"),
                None => {
                    let (v, what) = strings(rng, s);
                    (json!(v), what)
                }
            }
        }
        Value::Number(_) if rng.chance(3, 4) => (numbers(rng), "boundary number"),
        _ => (wrong_type(rng, node), "wrong type"),
    };
    let desc = format!("{at}: {what} {}", short(&new.to_string()));
    *node = new;
    desc
}

fn env_value(rng: &mut Rng, key: &str) -> (EnvValue, String) {
    use EnvValue::*;
    let text = |s: &str| (Text(s.to_string()), format!("{key}={}", short(s)));
    match rng.below(6) {
        0 => (Unset, format!("{key} unset")),
        1 => text(""),
        2 => text(&"x".repeat(HUGE)),
        _ => match key {
            "CNI_IFNAME" => text(rng.pick::<&str>(&[
                "abcdefghijklmnop",
                "eth0/1",
                "..",
                ".",
                "eth 0",
                "eth0:1",
                "ëth0",
                "lo",
                "eth0\n",
                "-eth",
                "eth%d",
                "all",
                "default",
                "eth0.100",
            ])),
            "CNI_CONTAINERID" => text(rng.pick::<&str>(&[
                "../fuzz",
                "a/b",
                ".",
                "-id",
                "ñ",
                "$(id)",
                &"c".repeat(300),
                " ",
                "id\n",
            ])),
            "CNI_NETNS" => match rng.below(6) {
                0 => (NetnsFile, "CNI_NETNS is a plain file".into()),
                1 => (NetnsDir, "CNI_NETNS is a directory".into()),
                2 => (NetnsMissing, "CNI_NETNS names nothing".into()),
                _ => text(rng.pick::<&str>(&[
                    "/proc/self/ns/net",
                    "/proc/self/ns/mnt",
                    "relative/ns",
                ])),
            },
            "CNI_ARGS" => text(rng.pick::<&str>(&[
                "IgnoreUnknown=1;IP=10.99.0.999",
                "K",
                "=;=",
                "a=b=c",
                ";;",
                "IgnoreUnknown=true;MAC=zz:zz",
                "IgnoreUnknown=1;IP=fd00:99::5",
                "K8S_POD_NAME=ñ",
            ])),
            "CNI_COMMAND" => text(rng.pick::<&str>(&["FOO", "add", "ADD ", "VERSION", "DEL"])),
            _ => text(rng.pick::<&str>(&["/nonexistent", "relative", "::"])),
        },
    }
}

fn raw_body(rng: &mut Rng, base: &Value) -> (String, &'static str) {
    let text = base.to_string();
    match rng.below(8) {
        0 => (String::new(), "empty stdin"),
        1 => (
            rng.pick(&["{", "[]", "null", "\"x\"", "42", "{}"])
                .to_string(),
            "not a request",
        ),
        2 => (format!("{text}}}{{}}"), "trailing garbage"),
        3 => (
            text.chars().take(text.chars().count() / 2).collect(),
            "truncated",
        ),
        4 => (
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
            "deep nesting",
        ),
        5 => (
            format!("{text}{}", " ".repeat(HUGE * 16)),
            "1 MiB of whitespace",
        ),
        6 => (
            text.replacen('{', "{\"cniVersion\":\"0.1.0\",", 1),
            "duplicate key",
        ),
        _ => (format!("\u{feff}{text}"), "byte order mark"),
    }
}

/// A verb, weighted towards ADD.
pub fn verb(rng: &mut Rng) -> &'static str {
    rng.pick::<&str>(VERBS)
}

/// A request of `verb` from its `base` request: no mutation one time in ten, else one to
/// three of body and environment mutations, or (one time in twenty) raw stdin.
pub fn request(rng: &mut Rng, verb: &str, base: &Value) -> Request {
    let mut body = base.clone();
    let mut env: Vec<EnvEdit> = Vec::new();
    let mut mutations = Vec::new();
    let mut raw = None;
    if !rng.chance(1, 10) {
        let n = 1 + rng.below(3);
        for _ in 0..n {
            match rng.below(20) {
                0 => {
                    let (text, what) = raw_body(rng, &body);
                    mutations.push(format!("stdin: {what}"));
                    raw = Some(text);
                }
                1..=6 => {
                    let key = *rng.pick(ENV_KEYS);
                    let (value, what) = env_value(rng, key);
                    env.retain(|e| e.key != key);
                    env.push(EnvEdit {
                        key: key.to_string(),
                        value,
                    });
                    mutations.push(what);
                }
                _ => mutations.push(mutate_json(rng, &mut body)),
            }
        }
    }
    Request {
        verb: verb.to_string(),
        body: match raw {
            Some(t) => Body::Raw(t),
            None => Body::Json(body),
        },
        env,
        mutations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"cniVersion": "1.0.0", "name": "n", "type": "bridge",
               "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]]}})
    }

    #[test]
    fn the_same_seed_gives_the_same_requests() {
        let a: Vec<Request> = (0..50)
            .map(|i| {
                let mut r = Rng::for_call(42, i);
                let v = verb(&mut r);
                request(&mut r, v, &base())
            })
            .collect();
        let b: Vec<Request> = (0..50)
            .map(|i| {
                let mut r = Rng::for_call(42, i);
                let v = verb(&mut r);
                request(&mut r, v, &base())
            })
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|r| r.body != Body::Json(base())));
        assert!(a.iter().any(|r| !r.env.is_empty()));
    }

    #[test]
    fn paths_cover_every_node_and_remove_drops_one() {
        let mut v = base();
        let all = paths(&v);
        assert_eq!(all.len(), 10);
        let p = vec![
            Seg::Key("ipam".into()),
            Seg::Key("ranges".into()),
            Seg::Index(0),
        ];
        assert!(remove(&mut v, &p));
        assert_eq!(v["ipam"]["ranges"], json!([]));
        assert!(!remove(&mut v, &[]));
    }

    #[test]
    fn address_mutations_apply_to_addresses_only() {
        let mut r = Rng::new(3);
        assert!(address(&mut r, "bridge0").is_none());
        assert!((0..20).all(|_| address(&mut r, "10.99.0.0/24").is_some()));
    }

    #[test]
    fn environment_values_hold_no_nul() {
        let mut r = Rng::new(9);
        for _ in 0..2000 {
            let key = *r.pick(ENV_KEYS);
            if let (EnvValue::Text(t), _) = env_value(&mut r, key) {
                assert!(!t.contains('\0'));
            }
        }
    }
}
