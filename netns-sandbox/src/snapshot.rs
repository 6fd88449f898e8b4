//! Snapshots of the observable state of a network namespace and of given directories, and the
//! diff of two snapshots, naming what appeared or disappeared.
//!
//! State covered: links (name, kind, flags, MTU, master), addresses, routes of every table,
//! selected sysctls, the nftables ruleset (which also shows iptables-nft rules), and the
//! relative paths of files under watched directories (IPAM stores, result caches). Items
//! that are inherently per-call (random MACs, counters) are left out so that "equal" means
//! "nothing leaked".
//!
//! Links, addresses and routes are read over rtnetlink (the `cni-netlink` crate), sysctls from
//! `/proc/sys` on a thread inside the namespace, and the ruleset by running `nft` inside it.

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

/// `IFF_UP` and `IFF_PROMISC`.
const IFF_UP: u32 = 0x1;
const IFF_PROMISC: u32 = 0x100;
/// The kernel's `local` routing table: per-address routes, not configuration.
const RT_TABLE_LOCAL: u32 = 255;

/// Links, addresses and routes of `ns`, read over rtnetlink (empty if the namespace is gone).
fn read_netlink(ns: &Netns, snap: &mut Snapshot) {
    let Ok(mut nl) = cni_netlink::Netlink::open_in(ns.path()) else {
        return;
    };
    let links = nl.links().unwrap_or_default();
    let name_of = |index: u32| {
        links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("#{index}"))
    };
    for l in &links {
        let mut flags = Vec::new();
        if l.flags & IFF_PROMISC != 0 {
            flags.push("PROMISC");
        }
        if l.flags & IFF_UP != 0 {
            flags.push("UP");
        }
        snap.links.insert(format!(
            "{} kind={} mtu={} master={} flags={}",
            l.name,
            l.kind.as_deref().unwrap_or(""),
            l.mtu.map(|m| m.to_string()).unwrap_or_default(),
            l.master.map(name_of).unwrap_or_default(),
            flags.join(",")
        ));
        for a in nl.addresses(l.index, None).unwrap_or_default() {
            // Link-local IPv6 addresses derive from random MACs: per-call noise.
            if a.addr.is_ipv6() && a.scope == 253 {
                continue;
            }
            snap.addresses
                .insert(format!("{} {}/{}", l.name, a.addr, a.prefix_len));
        }
    }
    for r in nl.routes(None).unwrap_or_default() {
        let v6_link_local =
            matches!(r.dst, ipnet::IpNet::V6(n) if n.addr().segments()[0] & 0xffc0 == 0xfe80);
        let multicast =
            matches!(r.dst, ipnet::IpNet::V6(n) if n.addr().segments()[0] & 0xff00 == 0xff00);
        if r.table == Some(RT_TABLE_LOCAL) || v6_link_local || multicast {
            continue;
        }
        snap.routes.insert(format!(
            "{} via={} dev={} table={} proto={}",
            r.dst,
            r.gateway.map(|g| g.to_string()).unwrap_or_default(),
            r.oif.map(name_of).unwrap_or_default(),
            r.table.map(|t| t.to_string()).unwrap_or_default(),
            r.protocol.map(|p| p.to_string()).unwrap_or_default()
        ));
    }
}

impl Snapshot {
    /// Reads the state of `ns` and of the watched directories.
    pub fn take(ns: &Netns, watch: &Watch) -> Snapshot {
        let mut snap = Snapshot::default();
        read_netlink(ns, &mut snap);
        let values = ns
            .run(|| {
                SYSCTLS
                    .iter()
                    .map(|key| {
                        let path = format!("/proc/sys/{}", key.replace('.', "/"));
                        let v = std::fs::read_to_string(path).unwrap_or_default();
                        format!("{key}={}", v.trim())
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        snap.sysctls.extend(values);
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
