//! Snapshots of the observable state of a network namespace and of given directories, and the
//! diff of two snapshots, naming what appeared or disappeared.
//!
//! State covered: links (name, kind, flags, MTU, master), addresses, routes of every table,
//! selected sysctls, the nftables ruleset (which also shows iptables-nft rules), and the
//! relative paths of files under watched directories (IPAM stores, result caches). Items
//! that are inherently per-call (random MACs, counters) are left out so that "equal" means
//! "nothing leaked".
//!
//! The namespace is read by running `ip -j`, `nft` and `sysctl` inside it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::Netns;

/// One namespace's (and some directories') state, as sorted lines per category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub links: BTreeSet<String>,
    pub addresses: BTreeSet<String>,
    pub routes: BTreeSet<String>,
    pub sysctls: BTreeSet<String>,
    pub firewall: BTreeSet<String>,
    pub files: BTreeSet<String>,
}

/// Sysctls that plugins commonly change.
const SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv4.conf.all.route_localnet",
];

/// What to read besides the namespace.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// Directories whose file tree is recorded (relative paths).
    pub dirs: Vec<PathBuf>,
    /// File names ignored anywhere under those directories (e.g. lock files).
    pub ignore_files: Vec<String>,
}

fn run_json(ns: &Netns, args: &[&str]) -> Vec<serde_json::Value> {
    let out = ns.command("ip").args(args).output();
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn s(v: &serde_json::Value, k: &str) -> String {
    match v.get(k) {
        Some(serde_json::Value::String(x)) => x.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl Snapshot {
    /// Reads the state of `ns` and of the watched directories.
    pub fn take(ns: &Netns, watch: &Watch) -> Snapshot {
        let mut snap = Snapshot::default();
        for l in run_json(ns, &["-j", "-d", "link", "show"]) {
            let kind = l
                .get("linkinfo")
                .and_then(|i| i.get("info_kind"))
                .and_then(|k| k.as_str())
                .unwrap_or("");
            let mut flags: Vec<String> = l
                .get("flags")
                .and_then(|f| f.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .filter(|f| *f == "UP" || *f == "PROMISC")
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            flags.sort();
            snap.links.insert(format!(
                "{} kind={} mtu={} master={} flags={}",
                s(&l, "ifname"),
                kind,
                s(&l, "mtu"),
                s(&l, "master"),
                flags.join(",")
            ));
        }
        for a in run_json(ns, &["-j", "addr", "show"]) {
            let dev = s(&a, "ifname");
            for info in a
                .get("addr_info")
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                // Link-local IPv6 addresses are derived from random MACs: per-call noise.
                if s(info, "scope") == "link" && s(info, "family") == "inet6" {
                    continue;
                }
                snap.addresses.insert(format!(
                    "{dev} {}/{}",
                    s(info, "local"),
                    s(info, "prefixlen")
                ));
            }
        }
        for family in ["-4", "-6"] {
            for r in run_json(ns, &[family, "-j", "route", "show", "table", "all"]) {
                if s(&r, "type") == "local" || s(&r, "type") == "multicast" {
                    continue;
                }
                let dst = s(&r, "dst");
                if family == "-6" && dst.starts_with("fe80::") {
                    continue;
                }
                snap.routes.insert(format!(
                    "{dst} via={} dev={} table={} proto={}",
                    s(&r, "gateway"),
                    s(&r, "dev"),
                    s(&r, "table"),
                    s(&r, "protocol")
                ));
            }
        }
        for key in SYSCTLS {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            if let Ok(o) = ns.command("cat").arg(&path).output() {
                let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
                snap.sysctls.insert(format!("{key}={v}"));
            }
        }
        if let Ok(o) = ns.command("nft").args(["list", "ruleset"]).output() {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let line = line.trim();
                if line.is_empty() || line == "}" {
                    continue;
                }
                // Counters change with traffic, not with configuration.
                let line = strip_counters(line);
                snap.firewall.insert(line);
            }
        }
        for dir in &watch.dirs {
            collect_files(dir, dir, &watch.ignore_files, &mut snap.files);
        }
        snap
    }

    /// What changed from `self` (before) to `after`, one line per item, `+` for new, `-` for gone.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        let cats: [(&str, &BTreeSet<String>, &BTreeSet<String>); 6] = [
            ("link", &self.links, &after.links),
            ("address", &self.addresses, &after.addresses),
            ("route", &self.routes, &after.routes),
            ("sysctl", &self.sysctls, &after.sysctls),
            ("firewall", &self.firewall, &after.firewall),
            ("file", &self.files, &after.files),
        ];
        for (name, before, now) in cats {
            for x in now.difference(before) {
                out.push(format!("+ {name} {x}"));
            }
            for x in before.difference(now) {
                out.push(format!("- {name} {x}"));
            }
        }
        out
    }
}

fn strip_counters(line: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    let mut it = line.split_whitespace().peekable();
    while let Some(w) = it.next() {
        if w == "counter" {
            // "counter packets N bytes M"
            for _ in 0..4 {
                it.next();
            }
            continue;
        }
        words.push(w);
    }
    words.join(" ")
}

fn collect_files(root: &Path, dir: &Path, ignore: &[String], out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if ignore.contains(&name) {
            continue;
        }
        if p.is_dir() {
            collect_files(root, &p, ignore, out);
        } else {
            out.insert(
                p.strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_a_leaked_link_and_file() {
        let ns = Netns::new("snap").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let watch = Watch {
            dirs: vec![dir.path().to_path_buf()],
            ignore_files: vec!["lock".into()],
        };
        let before = Snapshot::take(&ns, &watch);
        assert!(before.links.iter().any(|l| l.starts_with("lo ")));
        let ok = ns
            .command("ip")
            .args(["link", "add", "br-snap", "type", "bridge"])
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::write(dir.path().join("10.0.0.2"), "x").unwrap();
        std::fs::write(dir.path().join("lock"), "").unwrap();
        let after = Snapshot::take(&ns, &watch);
        let d = before.diff(&after);
        assert!(
            d.iter()
                .any(|l| l.starts_with("+ link br-snap kind=bridge")),
            "{d:?}"
        );
        assert!(d.contains(&"+ file 10.0.0.2".to_string()), "{d:?}");
        assert!(!d.iter().any(|l| l.contains("lock")), "{d:?}");
        assert_eq!(after.diff(&after), Vec::<String>::new());
    }

    #[test]
    fn counters_are_ignored() {
        assert_eq!(
            strip_counters("ip saddr 1.2.3.4 counter packets 5 bytes 300 masquerade"),
            "ip saddr 1.2.3.4 masquerade"
        );
    }
}
