//! Differential runs: the same configuration through two plugin binaries (an upstream one and
//! ours) in twin worlds, and the differences in what they leave in the kernel and return.
//!
//! Both worlds get the same attachment (container ID, ifname) and a fresh state directory, so
//! IPAM allocations match. State is normalized before comparing: namespace paths, random veth
//! names (`veth` + 8 hex digits) and MAC addresses are replaced by placeholders, and
//! per-namespace names are dropped. Firewall rules are compared as text: backends that express
//! the same policy differently (iptables chains vs an nftables table) show up as differences
//! for the caller to explain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::target::Target;
use crate::world::{World, WorldSnapshot};

/// What one side did.
#[derive(Debug, Clone)]
pub struct Side {
    pub result: Option<Value>,
    pub error: Option<String>,
    /// State after ADD (normalized lines, category-prefixed).
    pub after_add: Vec<String>,
    /// What DEL left behind compared with the state before ADD.
    pub left_after_del: Vec<String>,
}

/// The two sides and their normalized differences.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub upstream: Side,
    pub ours: Side,
    /// Lines only one side has after ADD (`upstream:`/`ours:` prefixed), and result differences.
    pub differences: Vec<String>,
}

fn normalize(line: &str, netns: &str) -> String {
    let mut out = line.replace(netns, "<netns>");
    // veth + 8 hex digits -> veth*
    let mut result = String::with_capacity(out.len());
    let bytes = out.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if out[i..].starts_with("veth")
            && bytes.len() >= i + 12
            && bytes[i + 4..i + 12].iter().all(|b| b.is_ascii_hexdigit())
        {
            result.push_str("veth*");
            i += 12;
        } else {
            let ch = out[i..].chars().next().expect("in bounds");
            result.push(ch);
            i += ch.len_utf8();
        }
    }
    out = result;
    // MAC addresses: xx:xx:xx:xx:xx:xx -> <mac>
    let words: Vec<String> = out
        .split(' ')
        .map(|w| {
            let t = w.trim_matches(|c: char| c == '"' || c == ',');
            let is_mac = t.len() == 17
                && t.split(':').count() == 6
                && t.split(':')
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
            if is_mac {
                w.replace(t, "<mac>")
            } else {
                w.to_string()
            }
        })
        .collect();
    words.join(" ")
}

fn flatten(s: &WorldSnapshot, netns: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |prefix: &str, set: &std::collections::BTreeSet<String>| {
        for l in set {
            out.push(normalize(&format!("{prefix} {l}"), netns));
        }
    };
    push("node link", &s.node.links);
    push("node address", &s.node.addresses);
    push("node route", &s.node.routes);
    push("node sysctl", &s.node.sysctls);
    push("node firewall", &s.node.firewall);
    push("node file", &s.node.files);
    for (name, c) in &s.containers {
        push(&format!("container-{name} link"), &c.links);
        push(&format!("container-{name} address"), &c.addresses);
        push(&format!("container-{name} route"), &c.routes);
        push(&format!("container-{name} sysctl"), &c.sysctls);
    }
    out.sort();
    out.dedup();
    out
}

fn normalize_result(v: &Value, netns: &str) -> Value {
    match v {
        Value::String(s) => Value::String(normalize(s, netns)),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize_result(x, netns)).collect()),
        // An empty object (such as `"dns": {}`) says the same as an absent key.
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, x)| !x.as_object().is_some_and(|m| m.is_empty()))
                .map(|(k, x)| (k.clone(), normalize_result(x, netns)))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

fn run_side(target: &Target, version: &str, label: &str) -> Result<Side, String> {
    let mut world = World::for_target(label, target)?;
    let a = world.attachment("a").map_err(|e| e.to_string())?;
    let netns = a.netns_path.clone();
    let path = target
        .cni_path
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let env = |verb: &str| {
        vec![
            ("CNI_COMMAND".to_string(), verb.to_string()),
            ("CNI_CONTAINERID".to_string(), "cnirs-twin".to_string()),
            ("CNI_NETNS".to_string(), netns.clone()),
            ("CNI_IFNAME".to_string(), "eth0".to_string()),
            ("CNI_PATH".to_string(), path.clone()),
        ]
    };
    let mut conf = target.plugin_conf.clone();
    if let Some(dhcp) = world.dhcp() {
        dhcp.patch(&mut conf);
    }
    conf.insert("cniVersion".into(), version.into());
    conf.insert("name".into(), target.network_name.clone().into());
    let stdin = Value::Object(conf.clone()).to_string();
    let before = world.snapshot();
    let run = world.run_plugin(
        &target.plugin,
        &env("ADD"),
        stdin.as_bytes(),
        target.timeout,
    );
    let (result, error) = match run.output {
        Ok(o) if o.success => (serde_json::from_slice::<Value>(&o.stdout).ok(), None),
        Ok(o) => (None, Some(String::from_utf8_lossy(&o.stdout).into_owned())),
        Err(e) => (None, Some(e)),
    };
    let after_add = flatten(&world.snapshot(), &netns);
    if let Some(r) = &result {
        conf.insert("prevResult".into(), r.clone());
    }
    let del_stdin = Value::Object(conf).to_string();
    world.run_plugin(
        &target.plugin,
        &env("DEL"),
        del_stdin.as_bytes(),
        target.timeout,
    );
    // Give the kernel a moment for asynchronous teardown before reading what is left.
    let mut left = before.diff(&world.snapshot());
    for _ in 0..20 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = before.diff(&world.snapshot());
    }
    Ok(Side {
        result: result.map(|r| normalize_result(&r, &netns)),
        error,
        after_add,
        left_after_del: left.iter().map(|l| normalize(l, &netns)).collect(),
    })
}

/// Runs `config` through `upstream` and `ours` at `version` and compares.
pub fn compare(
    upstream: &Path,
    ours: &Path,
    config: &Path,
    upstream_path: Vec<PathBuf>,
    ours_path: Vec<PathBuf>,
    version: &str,
) -> Result<Comparison, String> {
    let t = Duration::from_secs(30);
    let up = Target::from_config(upstream, config, upstream_path, t).map_err(|e| e.to_string())?;
    let us = Target::from_config(ours, config, ours_path, t).map_err(|e| e.to_string())?;
    let upstream = run_side(&up, version, "twin-up")?;
    let ours = run_side(&us, version, "twin-us")?;
    let mut differences = Vec::new();
    for l in &upstream.after_add {
        if !ours.after_add.contains(l) {
            differences.push(format!("upstream: {l}"));
        }
    }
    for l in &ours.after_add {
        if !upstream.after_add.contains(l) {
            differences.push(format!("ours: {l}"));
        }
    }
    if upstream.result != ours.result {
        differences.push(format!(
            "result: upstream {} / ours {}",
            upstream
                .result
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            ours.result
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default()
        ));
    }
    Ok(Comparison {
        upstream,
        ours,
        differences,
    })
}
