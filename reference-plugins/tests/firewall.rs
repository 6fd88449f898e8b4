//! The ipMasq firewall module against the real kernel: every test works in its own network
//! namespace (root), calling the module on a thread inside it (`Netns::run`) and reading the
//! result with the stock tools started inside it (`Netns::command`).
//!
//! The measurement comparing one nftables transaction with an exec per iptables rule is an
//! ignored test: `cargo test -p reference-plugins --test firewall -- --ignored --nocapture`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netns_sandbox::Netns;
use reference_plugins::firewall::{
    self, BackendKind, FirewallError, IpNet, Iptables, MasqSpec, Masquerade, Naming, Nftables,
    Runner, NFT_BASE_CHAIN, NFT_CHAIN, NFT_TABLE,
};
use serde_json::{json, Value};

/// A runner that counts (and names) the processes it starts.
#[derive(Clone, Default)]
struct Spawns(Arc<Mutex<Vec<String>>>);

impl Spawns {
    fn runner(&self) -> Runner {
        let log = self.0.clone();
        Runner::with_hook(move |cmd| {
            let program = Path::new(cmd.get_program()).file_name().unwrap();
            log.lock()
                .unwrap()
                .push(program.to_string_lossy().into_owned());
        })
    }

    /// The programs started since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn spec(id: &str, ips: &[&str]) -> MasqSpec {
    MasqSpec::new("masqnet", id, "eth0", ips.iter().map(|s| net(s)))
}

fn output(ns: &Netns, program: &str, args: &[&str]) -> String {
    let out = ns.command(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ruleset(ns: &Netns) -> Value {
    serde_json::from_str(&output(ns, "nft", &["-j", "list", "ruleset"])).unwrap()
}

fn items<'a>(rs: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    rs["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(move |i| i.get(kind))
}

/// The per-address rules of one attachment in the masquerade table.
fn masq_rules(rs: &Value, m: &MasqSpec) -> Vec<Value> {
    let prefix = m.nft_comment_prefix();
    items(rs, "rule")
        .filter(|r| r["table"] == NFT_TABLE && r["chain"] == NFT_CHAIN)
        .filter(|r| {
            r["comment"]
                .as_str()
                .is_some_and(|c| c.starts_with(&prefix))
        })
        .cloned()
        .collect()
}

/// The source address a masquerade rule matches.
fn source(rule: &Value) -> IpAddr {
    rule["expr"][0]["match"]["right"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn in_ns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    ns.run(f).expect("thread inside the namespace")
}

#[test]
fn nft_setup_is_one_process_and_one_rule_per_address() {
    let ns = Netns::new("fw-nft-setup").unwrap();
    let spawns = Spawns::default();
    let nft = Nftables::new(spawns.runner());
    let m = spec("ctr-a", &["10.88.0.5/16", "fd00:88::5/64"]);
    in_ns(&ns, || nft.setup(&m)).unwrap();
    assert_eq!(spawns.take(), ["nft"], "one nft run per setup");

    let rs = ruleset(&ns);
    let table: Vec<_> = items(&rs, "table")
        .filter(|t| t["name"] == NFT_TABLE)
        .collect();
    assert_eq!(table.len(), 1);
    assert_eq!(table[0]["family"], "inet");
    let base = items(&rs, "chain")
        .find(|c| c["table"] == NFT_TABLE && c["name"] == NFT_BASE_CHAIN)
        .expect("postrouting chain");
    assert_eq!(base["type"], "nat");
    assert_eq!(base["hook"], "postrouting");
    assert_eq!(base["prio"], 100);

    let rules = masq_rules(&rs, &m);
    assert_eq!(rules.len(), 2, "{rules:#?}");
    for r in &rules {
        assert_eq!(r["comment"], m.nft_comment());
        assert!(r["expr"]
            .as_array()
            .unwrap()
            .contains(&json!({"masquerade": null})));
    }
    let sources: Vec<IpAddr> = rules.iter().map(source).collect();
    assert_eq!(
        sources,
        [
            "10.88.0.5".parse::<IpAddr>().unwrap(),
            "fd00:88::5".parse().unwrap()
        ]
    );
    assert_eq!(
        rules[0]["expr"][1]["match"],
        json!({"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
               "right": {"prefix": {"addr": "10.88.0.0", "len": 16}}})
    );
    // The text form, as a person reads it.
    let text = output(&ns, "nft", &["list", "table", "inet", NFT_TABLE]);
    assert!(text.contains("ip daddr 224.0.0.0/4 return"), "{text}");
    assert!(text.contains("ip6 daddr ff00::/8 return"), "{text}");
    assert!(text.contains("goto masq_checks"), "{text}");
    assert!(
        text.contains("ip saddr 10.88.0.5 ip daddr != 10.88.0.0/16 masquerade"),
        "{text}"
    );
    assert!(
        text.contains("ip6 saddr fd00:88::5 ip6 daddr != fd00:88::/64 masquerade"),
        "{text}"
    );

    in_ns(&ns, || nft.check(&m)).unwrap();
    assert_eq!(spawns.take(), ["nft"], "one nft run per check");
}

#[test]
fn nft_repeated_setup_replaces_the_attachment_rules() {
    let ns = Netns::new("fw-nft-again").unwrap();
    let spawns = Spawns::default();
    let nft = Nftables::new(spawns.runner());
    let m = spec("ctr-a", &["10.88.0.5/16"]);
    in_ns(&ns, || nft.setup(&m)).unwrap();
    assert_eq!(
        spawns.take(),
        ["nft"],
        "the first setup writes the table with nft"
    );
    in_ns(&ns, || nft.setup(&m)).unwrap();
    assert!(
        spawns.take().is_empty(),
        "later setups are one netlink transaction"
    );
    assert_eq!(masq_rules(&ruleset(&ns), &m).len(), 1, "no duplicate");

    let moved = spec("ctr-a", &["10.88.0.9/16"]);
    in_ns(&ns, || nft.setup(&moved)).unwrap();
    assert!(spawns.take().is_empty());
    let rules = masq_rules(&ruleset(&ns), &m);
    assert_eq!(rules.len(), 1);
    assert_eq!(source(&rules[0]), "10.88.0.9".parse::<IpAddr>().unwrap());
    // The base chain keeps exactly its three rules.
    let base = items(&ruleset(&ns), "rule")
        .filter(|r| r["chain"] == NFT_BASE_CHAIN)
        .count();
    assert_eq!(base, 3);
}

#[test]
fn nft_teardown_removes_one_attachment_only_and_is_idempotent() {
    let ns = Netns::new("fw-nft-down").unwrap();
    let spawns = Spawns::default();
    let nft = Nftables::new(spawns.runner());
    let a = spec("ctr-a", &["10.88.0.5/16", "fd00:88::5/64"]);
    let b = spec("ctr-b", &["10.88.0.6/16", "fd00:88::6/64"]);
    // Same container, other interface: a different attachment.
    let mut a_eth1 = spec("ctr-a", &["10.99.0.5/24"]);
    a_eth1.ifname = "eth1".into();
    for m in [&a, &b, &a_eth1] {
        in_ns(&ns, || nft.setup(m)).unwrap();
    }
    spawns.take();

    in_ns(&ns, || nft.teardown(&a)).unwrap();
    assert!(
        spawns.take().is_empty(),
        "a teardown is one netlink transaction, no process"
    );
    let rs = ruleset(&ns);
    assert!(masq_rules(&rs, &a).is_empty());
    assert_eq!(masq_rules(&rs, &b).len(), 2);
    assert_eq!(masq_rules(&rs, &a_eth1).len(), 1);
    in_ns(&ns, || nft.check(&b)).unwrap();
    spawns.take();

    in_ns(&ns, || nft.teardown(&a)).unwrap();
    assert!(spawns.take().is_empty(), "nothing to remove: no process");
    assert_eq!(masq_rules(&ruleset(&ns), &b).len(), 2);
}

/// The rules of `chain` as `nft --debug=netlink` shows their bytecode, one string per rule
/// (expressions and user data; the header line with the handle left out).
fn bytecode(ns: &Netns, table: &str, chain: &str) -> Vec<String> {
    let text = output(
        ns,
        "nft",
        &["--debug=netlink", "list", "chain", "inet", table, chain],
    );
    let mut rules: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with(&format!("inet {table} {chain} ")) {
            rules.push(String::new());
        } else if let Some(rule) = rules.last_mut() {
            if line.starts_with("  ") {
                rule.push_str(line.trim());
                rule.push('\n');
            }
        }
    }
    rules
}

#[test]
fn nft_direct_rules_are_the_bytes_nft_writes() {
    let ns = Netns::new("fw-nft-bytes").unwrap();
    let spawns = Spawns::default();
    let nft = Nftables::new(spawns.runner());
    let naming = Naming {
        nft_table: Some("cnirs_bytes".into()),
        nft_chain: Some("checks".into()),
        ..Naming::default()
    };
    let first = spec("ctr-0", &["10.70.0.2/24"]).with_naming(naming.clone());
    in_ns(&ns, || nft.setup(&first)).unwrap();
    assert_eq!(spawns.take(), ["nft"]);
    // Every encoding branch: byte-aligned and other prefixes, full length, both families.
    let prefixes = [
        "10.71.2.3/24",
        "10.71.2.3/8",
        "10.71.2.3/20",
        "10.71.2.3/25",
        "10.71.2.3/32",
        "fd00:71::3/64",
        "fd00:71:2::3/52",
        "fd00:71::3/128",
    ];
    let m = spec("ctr-1", &prefixes).with_naming(naming);
    in_ns(&ns, || nft.setup(&m)).unwrap();
    assert!(spawns.take().is_empty(), "written over netlink");
    let ours = bytecode(&ns, "cnirs_bytes", "checks");
    assert_eq!(ours.len(), 1 + prefixes.len());

    // The same rules, written by nft from their text, into the same chain.
    for p in prefixes {
        let net: IpNet = p.parse().unwrap();
        let proto = if net.addr().is_ipv4() { "ip" } else { "ip6" };
        let rule = format!(
            "add rule inet cnirs_bytes checks {proto} saddr {} {proto} daddr != {} masquerade comment \"{}\"",
            net.addr(),
            net.trunc(),
            m.nft_comment()
        );
        let out = ns
            .command("nft")
            .arg("-f")
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(rule.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success(), "{rule}: {out:?}");
    }
    let all = bytecode(&ns, "cnirs_bytes", "checks");
    let theirs = &all[ours.len()..];
    assert_eq!(&ours[1..], theirs, "our netlink rules differ from nft's");
    // And nft reads them back as the rules they are.
    in_ns(&ns, || nft.check(&m)).unwrap();
}

/// Netfilter netlink sockets (protocol 12) of the calling thread's namespace that this process
/// holds open. The namespace's list alone would not do: the kernel takes a closed netlink
/// socket off it only after an RCU grace period, which under load outlasts the close.
fn netfilter_sockets() -> usize {
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    std::fs::read_to_string("/proc/thread-self/net/netlink")
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"12") && f.get(9).is_some_and(|inode| ours.contains(*inode))
        })
        .count()
}

#[test]
fn teardown_around_deletes_rules_before_links_with_the_socket_open() {
    let ns = Netns::new("fw-linger").unwrap();
    let spawns = Spawns::default();
    let runner = spawns.runner();
    let nft = Nftables::new(runner.clone());
    let a = spec("ctr-a", &["10.88.0.5/16"]);
    let b = spec("ctr-b", &["10.88.0.6/16"]);
    in_ns(&ns, || nft.setup(&a)).unwrap();
    in_ns(&ns, || nft.setup(&b)).unwrap();
    spawns.take();
    assert_eq!(
        in_ns(&ns, netfilter_sockets),
        0,
        "a setup left a socket open"
    );

    let (result, (open_before, open_during, rs)) = in_ns(&ns, || {
        let before = netfilter_sockets();
        firewall::teardown_around(&a, &runner, || (before, netfilter_sockets(), ruleset(&ns)))
    });
    result.unwrap();
    assert_eq!(
        open_during,
        open_before + 1,
        "the socket that deleted the rules is open while the links go"
    );
    assert_eq!(
        in_ns(&ns, netfilter_sockets),
        open_before,
        "and closed after"
    );
    assert!(
        spawns.take().is_empty(),
        "no process: no iptables layout here"
    );
    // Deleted already, while the socket is still open.
    assert!(masq_rules(&rs, &a).is_empty());
    assert_eq!(masq_rules(&rs, &b).len(), 1);

    let (result, open_during) = in_ns(&ns, || {
        firewall::teardown_around(&a, &runner, netfilter_sockets)
    });
    result.unwrap();
    assert_eq!(
        open_during, open_before,
        "nothing left to delete: no socket kept"
    );
}

#[test]
fn nft_teardown_finds_rules_by_comment_without_addresses() {
    let ns = Netns::new("fw-nft-noip").unwrap();
    let nft = Nftables::default();
    let a = spec("ctr-a", &["10.88.0.5/16", "fd00:88::5/64"]);
    let b = spec("ctr-b", &["10.88.0.6/16"]);
    in_ns(&ns, || nft.setup(&a)).unwrap();
    in_ns(&ns, || nft.setup(&b)).unwrap();
    let a_no_ips = spec("ctr-a", &[]);
    in_ns(&ns, || nft.teardown(&a_no_ips)).unwrap();
    let rs = ruleset(&ns);
    assert!(masq_rules(&rs, &a).is_empty());
    assert_eq!(masq_rules(&rs, &b).len(), 1);
}

#[test]
fn nft_teardown_in_an_empty_namespace_succeeds() {
    let ns = Netns::new("fw-nft-empty").unwrap();
    let spawns = Spawns::default();
    let nft = Nftables::new(spawns.runner());
    in_ns(&ns, || nft.teardown(&spec("ctr-a", &["10.88.0.5/16"]))).unwrap();
    assert!(spawns.take().is_empty());
    let err = in_ns(&ns, || nft.check(&spec("ctr-a", &["10.88.0.5/16"]))).unwrap_err();
    assert!(matches!(err, FirewallError::Missing { .. }), "{err}");
}

#[test]
fn nft_check_fails_once_a_rule_is_deleted_by_hand() {
    let ns = Netns::new("fw-nft-check").unwrap();
    let nft = Nftables::default();
    let m = spec("ctr-a", &["10.88.0.5/16", "fd00:88::5/64"]);
    in_ns(&ns, || nft.setup(&m)).unwrap();
    in_ns(&ns, || nft.check(&m)).unwrap();

    let v6 = masq_rules(&ruleset(&ns), &m)
        .into_iter()
        .find(|r| source(r).is_ipv6())
        .unwrap();
    let handle = v6["handle"].to_string();
    output(
        &ns,
        "nft",
        &[
            "delete", "rule", "inet", NFT_TABLE, NFT_CHAIN, "handle", &handle,
        ],
    );
    let err = in_ns(&ns, || nft.check(&m)).unwrap_err();
    assert!(
        matches!(err, FirewallError::Missing { .. }) && err.to_string().contains("fd00:88::5/64"),
        "{err}"
    );
    // Another attachment's check is not fooled by this one's rules.
    let other = in_ns(&ns, || nft.check(&spec("ctr-b", &["10.88.0.5/16"]))).unwrap_err();
    assert!(matches!(other, FirewallError::Missing { .. }));
    // Setup repairs it.
    in_ns(&ns, || nft.setup(&m)).unwrap();
    in_ns(&ns, || nft.check(&m)).unwrap();
}

#[test]
fn nft_ipv6_only() {
    let ns = Netns::new("fw-nft-v6").unwrap();
    let nft = Nftables::default();
    let m = spec("ctr-6", &["2001:db8:1::42/64"]);
    in_ns(&ns, || nft.setup(&m)).unwrap();
    let rules = masq_rules(&ruleset(&ns), &m);
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0]["expr"][1]["match"]["right"],
        json!({"prefix": {"addr": "2001:db8:1::", "len": 64}})
    );
    in_ns(&ns, || nft.check(&m)).unwrap();
    in_ns(&ns, || nft.teardown(&m)).unwrap();
    assert!(masq_rules(&ruleset(&ns), &m).is_empty());
}

#[test]
fn nft_custom_table_and_chain() {
    let ns = Netns::new("fw-nft-names").unwrap();
    let nft = Nftables::default();
    let m = spec("ctr-a", &["10.88.0.5/16"]).with_naming(Naming {
        nft_table: Some("my_masq".into()),
        nft_chain: Some("my_checks".into()),
        iptables_chain: None,
    });
    in_ns(&ns, || nft.setup(&m)).unwrap();
    in_ns(&ns, || nft.check(&m)).unwrap();
    let text = output(&ns, "nft", &["list", "table", "inet", "my_masq"]);
    assert!(
        text.contains("chain my_checks") && text.contains("goto my_checks"),
        "{text}"
    );
    in_ns(&ns, || nft.teardown(&m)).unwrap();
    let text = output(
        &ns,
        "nft",
        &["list", "chain", "inet", "my_masq", "my_checks"],
    );
    assert!(!text.contains("masquerade"), "{text}");
}

#[test]
fn nft_concurrent_attachments_do_not_lose_rules() {
    let ns = Netns::new("fw-nft-race").unwrap();
    let nft = Nftables::default();
    let specs: Vec<MasqSpec> = (0..8)
        .map(|i| spec(&format!("ctr-{i}"), &[&format!("10.88.1.{}/16", i + 10)]))
        .collect();
    std::thread::scope(|s| {
        for m in &specs {
            let (ns, nft) = (&ns, &nft);
            s.spawn(move || in_ns(ns, || nft.setup(m)).unwrap());
        }
    });
    let rs = ruleset(&ns);
    for m in &specs {
        assert_eq!(masq_rules(&rs, m).len(), 1, "{}", m.container_id);
    }
    std::thread::scope(|s| {
        for m in specs.iter().step_by(2) {
            let (ns, nft) = (&ns, &nft);
            s.spawn(move || in_ns(ns, || nft.teardown(m)).unwrap());
        }
    });
    let rs = ruleset(&ns);
    for (i, m) in specs.iter().enumerate() {
        assert_eq!(masq_rules(&rs, m).len(), i % 2, "{}", m.container_id);
    }
}

/// Several DELs of the same attachment at once (a runtime retrying, say): each finds the
/// rules, only one can delete them, and the others must still succeed (dump again, find
/// nothing). Several rounds, so the losing side of the race is taken.
#[test]
fn nft_concurrent_teardowns_of_one_attachment_all_succeed() {
    let ns = Netns::new("fw-nft-dels").unwrap();
    let spawns = Spawns::default();
    let nft = Nftables::new(spawns.runner());
    let m = spec("ctr-a", &["10.88.0.5/16", "fd00:88::5/64"]);
    let keep = spec("ctr-b", &["10.88.0.6/16"]);
    in_ns(&ns, || nft.setup(&keep)).unwrap();
    let mut runs = 0;
    for _ in 0..10 {
        in_ns(&ns, || nft.setup(&m)).unwrap();
        spawns.take();
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (ns, nft, m) = (&ns, &nft, &m);
                s.spawn(move || in_ns(ns, || nft.teardown(m)).unwrap());
            }
        });
        let rs = ruleset(&ns);
        assert!(masq_rules(&rs, &m).is_empty());
        assert_eq!(masq_rules(&rs, &keep).len(), 1);
        runs += spawns.take().len();
    }
    eprintln!("40 teardowns in 10 rounds of 4 started {runs} nft processes");
}

// --- iptables (iptables-nft here) ---

fn nat(ns: &Netns, v6: bool) -> String {
    output(
        ns,
        if v6 {
            "ip6tables-save"
        } else {
            "iptables-save"
        },
        &["-t", "nat"],
    )
}

fn lines_with(saved: &str, needle: &str) -> Vec<String> {
    saved
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[test]
fn iptables_setup_teardown_check() {
    let ns = Netns::new("fw-ipt").unwrap();
    let spawns = Spawns::default();
    let ipt = Iptables::new(spawns.runner());
    let a = spec("ctr-a", &["10.88.0.5/16", "fd00:88::5/64"]);
    let b = spec("ctr-b", &["10.88.0.6/16", "fd00:88::6/64"]);
    in_ns(&ns, || ipt.setup(&a)).unwrap();
    assert_eq!(
        spawns.take(),
        [
            "iptables-save",
            "iptables-restore",
            "ip6tables-save",
            "ip6tables-restore"
        ],
        "one save and one restore batch per family"
    );
    in_ns(&ns, || ipt.setup(&b)).unwrap();
    in_ns(&ns, || ipt.setup(&a)).unwrap(); // again: no duplicates

    let chain = a.iptables_chain();
    let v4 = nat(&ns, false);
    let a_lines = lines_with(&v4, &chain);
    assert_eq!(
        a_lines,
        [
            format!(":{chain} - [0:0]"),
            format!("-A POSTROUTING -s 10.88.0.5/32 -m comment --comment \"name: \\\"masqnet\\\" id: \\\"ctr-a\\\"\" -j {chain}"),
            format!("-A {chain} -d 10.88.0.0/16 -m comment --comment \"name: \\\"masqnet\\\" id: \\\"ctr-a\\\"\" -j ACCEPT"),
            format!("-A {chain} ! -d 224.0.0.0/4 -m comment --comment \"name: \\\"masqnet\\\" id: \\\"ctr-a\\\"\" -j MASQUERADE"),
        ],
        "{v4}"
    );
    let v6 = nat(&ns, true);
    assert!(v6.contains("-A POSTROUTING -s fd00:88::5/128"), "{v6}");
    assert!(v6.contains(&format!("-A {chain} ! -d ff00::/8")), "{v6}");
    in_ns(&ns, || ipt.check(&a)).unwrap();
    in_ns(&ns, || ipt.check(&b)).unwrap();
    spawns.take();

    // Teardown without addresses: found by chain name, in both families.
    in_ns(&ns, || ipt.teardown(&spec("ctr-a", &[]))).unwrap();
    assert_eq!(spawns.take().len(), 4);
    for v6 in [false, true] {
        let saved = nat(&ns, v6);
        assert!(lines_with(&saved, &chain).is_empty(), "{saved}");
        assert_eq!(lines_with(&saved, &b.iptables_chain()).len(), 4, "{saved}");
    }
    in_ns(&ns, || ipt.teardown(&a)).unwrap();
    assert_eq!(spawns.take().len(), 2, "saves only: nothing to remove");
    in_ns(&ns, || ipt.check(&b)).unwrap();

    // A rule removed by hand fails the check.
    let b_chain = b.iptables_chain();
    output(
        &ns,
        "iptables",
        &[
            "-t",
            "nat",
            "-D",
            &b_chain,
            "!",
            "-d",
            "224.0.0.0/4",
            "-m",
            "comment",
            "--comment",
            &b.iptables_comment(),
            "-j",
            "MASQUERADE",
        ],
    );
    let err = in_ns(&ns, || ipt.check(&b)).unwrap_err();
    assert!(matches!(err, FirewallError::Missing { .. }), "{err}");
    in_ns(&ns, || ipt.teardown(&b)).unwrap();
    assert!(lines_with(&nat(&ns, false), "CNI-").is_empty());
    assert!(lines_with(&nat(&ns, true), "CNI-").is_empty());
}

#[test]
fn iptables_ipv6_only() {
    let ns = Netns::new("fw-ipt-v6").unwrap();
    let spawns = Spawns::default();
    let ipt = Iptables::new(spawns.runner());
    let m = spec("ctr-6", &["2001:db8:1::42/64"]);
    in_ns(&ns, || ipt.setup(&m)).unwrap();
    assert_eq!(spawns.take(), ["ip6tables-save", "ip6tables-restore"]);
    in_ns(&ns, || ipt.check(&m)).unwrap();
    let v6 = nat(&ns, true);
    assert!(v6.contains("-d 2001:db8:1::/64"), "{v6}");
    in_ns(&ns, || ipt.teardown(&m)).unwrap();
    assert!(lines_with(&nat(&ns, true), "CNI-").is_empty());
}

// --- selection, both layouts, upstream interop ---

#[test]
fn selection_detects_nftables_and_honours_overrides() {
    let ns = Netns::new("fw-select").unwrap();
    in_ns(&ns, || {
        assert!(firewall::nftables_available());
        assert_eq!(firewall::detect().unwrap(), BackendKind::Nftables);
        let chosen = firewall::select(Some("iptables"), Runner::new()).unwrap();
        assert_eq!(chosen.kind(), BackendKind::Iptables);
        assert!(matches!(
            firewall::select(Some("pf"), Runner::new()),
            Err(FirewallError::UnknownBackend(_))
        ));
    });
}

#[test]
fn teardown_around_removes_both_layouts() {
    let ns = Netns::new("fw-both").unwrap();
    let m = spec("ctr-a", &["10.88.0.5/16"]);
    let other = spec("ctr-b", &["10.88.0.6/16"]);
    in_ns(&ns, || {
        Nftables::default().setup(&m).unwrap();
        Iptables::default().setup(&m).unwrap();
        Nftables::default().setup(&other).unwrap();
        firewall::teardown_around(&spec("ctr-a", &[]), &Runner::new(), || ())
            .0
            .unwrap();
        firewall::teardown_around(&m, &Runner::new(), || ())
            .0
            .unwrap();
    });
    assert!(masq_rules(&ruleset(&ns), &m).is_empty());
    assert_eq!(masq_rules(&ruleset(&ns), &other).len(), 1);
    assert!(lines_with(&nat(&ns, false), "CNI-").is_empty());
}

/// Debian's upstream bridge (1.1.1, iptables only) makes the ipMasq rules; our iptables
/// backend's check accepts them and its teardown removes exactly them.
///
/// Upstream's DEL is not run afterwards: 1.1.1 fails it when the chain is already gone under
/// iptables-nft (it does not recognise 1.8.9's "Chain ... does not exist" as not-found).
#[test]
fn iptables_interop_with_upstream_bridge() {
    const BRIDGE: &str = "/usr/lib/cni/bridge";
    if !Path::new(BRIDGE).exists() {
        eprintln!("skipped: {BRIDGE} missing (scripts/setup.sh installs it)");
        return;
    }
    let node = Netns::new("fw-up-node").unwrap();
    let ctr = Netns::new("fw-up-ctr").unwrap();
    let data = tempfile::tempdir().unwrap();
    let conf = json!({
        "cniVersion": "0.4.0", "name": "upnet", "type": "bridge", "bridge": "cnirsfw0",
        "isGateway": true, "ipMasq": true,
        "ipam": {"type": "host-local", "subnet": "10.77.0.0/24", "dataDir": data.path()},
    })
    .to_string();
    let run = |verb: &str| {
        use std::io::Write;
        let mut child = node
            .command(BRIDGE)
            .env_clear()
            .env("CNI_COMMAND", verb)
            .env("CNI_CONTAINERID", "ctr-up")
            .env("CNI_NETNS", ctr.path())
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/usr/lib/cni")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "upstream {verb}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        out
    };
    let added: Value = serde_json::from_slice(&run("ADD").stdout).unwrap();
    let ip = net(added["ips"][0]["address"].as_str().unwrap());
    let m = MasqSpec::new("upnet", "ctr-up", "eth0", [ip]);
    let ipt = Iptables::default();
    in_ns(&node, || ipt.check(&m)).expect("upstream's rules pass our check");
    assert!(!lines_with(&nat(&node, false), &m.iptables_chain()).is_empty());
    // Same container ID on another network: another chain, which this teardown leaves alone.
    in_ns(&node, || ipt.teardown(&spec("ctr-up", &[]))).unwrap();
    assert!(!lines_with(&nat(&node, false), &m.iptables_chain()).is_empty());
    in_ns(&node, || {
        ipt.teardown(&MasqSpec::new("upnet", "ctr-up", "eth0", []))
    })
    .unwrap();
    assert!(lines_with(&nat(&node, false), "CNI-").is_empty());
}

// --- measurement ---

/// The exec-per-rule way (as go-iptables drives iptables for upstream's ipMasq): list
/// chains, create the chain, check-then-append each of three rules; teardown deletes the
/// jump in both of its historical forms, flushes and deletes the chain. Returns the number
/// of processes started.
fn per_rule_setup_teardown(m: &MasqSpec) -> usize {
    let chain = m.iptables_chain();
    let comment = m.iptables_comment();
    let net = m.ips[0];
    let ip = net.addr().to_string();
    let subnet = net.trunc().to_string();
    let mut execs = 0;
    let mut ipt = |args: &[&str]| {
        execs += 1;
        std::process::Command::new("iptables")
            .arg("--wait")
            .args(["-t", "nat"])
            .args(args)
            .output()
            .unwrap()
            .status
            .success()
    };
    ipt(&["-S"]);
    ipt(&["-N", &chain]);
    let c = ["-m", "comment", "--comment", comment.as_str()];
    let rules: [(&str, Vec<&str>); 3] = [
        (
            &chain,
            [&["-d", subnet.as_str(), "-j", "ACCEPT"][..], &c].concat(),
        ),
        (
            &chain,
            [&["!", "-d", "224.0.0.0/4", "-j", "MASQUERADE"][..], &c].concat(),
        ),
        (
            "POSTROUTING",
            [&["-s", ip.as_str(), "-j", chain.as_str()][..], &c].concat(),
        ),
    ];
    for (ch, spec) in &rules {
        if !ipt(&[&["-C", ch][..], spec].concat()) {
            assert!(ipt(&[&["-A", ch][..], spec].concat()));
        }
    }
    let jump = [&["-s", ip.as_str(), "-j", chain.as_str()][..], &c].concat();
    assert!(ipt(&[&["-D", "POSTROUTING"][..], &jump].concat()));
    let cidr = net.to_string();
    let with_prefix = [&["-s", cidr.as_str(), "-j", chain.as_str()][..], &c].concat();
    ipt(&[&["-D", "POSTROUTING"][..], &with_prefix].concat());
    assert!(ipt(&["-F", &chain]));
    assert!(ipt(&["-X", &chain]));
    execs
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// Times one setup and one teardown; returns (setup, teardown, processes started).
fn timed(
    setup: impl FnOnce() -> usize,
    teardown: impl FnOnce() -> usize,
) -> (Duration, Duration, usize) {
    let start = Instant::now();
    let n = setup();
    let mid = Instant::now();
    let n = n + teardown();
    (mid - start, mid.elapsed(), n)
}

#[test]
#[ignore = "measurement: run with --ignored --nocapture"]
fn measure_setup_teardown() {
    const ROUNDS: usize = 40;
    const OTHERS: usize = 50;
    let ns = Netns::new("fw-bench").unwrap();
    let m = spec("ctr-bench", &["10.88.0.5/16"]);
    let spawns = Spawns::default();
    let nft = Nftables::new(spawns.runner());
    let ipt = Iptables::new(spawns.runner());
    let exec = |program: &str, args: &[&str]| {
        let ok = std::process::Command::new(program)
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "{program} {args:?}");
        1
    };

    type Case<'a> = (
        &'a str,
        Box<dyn Fn() -> (Duration, Duration, usize) + Send + Sync + 'a>,
    );
    let cases: Vec<Case> = vec![
        (
            "nftables backend: netlink dump + one nft -j -f -",
            Box::new(|| {
                let t = timed(
                    || nft.setup(&m).map(|_| 0).unwrap(),
                    || nft.teardown(&m).map(|_| 0).unwrap(),
                );
                (t.0, t.1, spawns.take().len())
            }),
        ),
        (
            "same, but listing with nft -j (knftables/netavark way)",
            Box::new(|| {
                let list = ["-j", "list", "chain", "inet", NFT_TABLE, NFT_CHAIN];
                let t = timed(
                    || exec("nft", &list) + nft.setup(&m).map(|_| 0).unwrap(),
                    || exec("nft", &list) + nft.teardown(&m).map(|_| 0).unwrap(),
                );
                (t.0, t.1, t.2 + spawns.take().len())
            }),
        ),
        (
            "iptables backend: save + restore --noflush",
            Box::new(|| {
                let t = timed(
                    || ipt.setup(&m).map(|_| 0).unwrap(),
                    || ipt.teardown(&m).map(|_| 0).unwrap(),
                );
                (t.0, t.1, spawns.take().len())
            }),
        ),
        (
            "iptables, one exec per rule (go-iptables way)",
            Box::new(|| {
                let start = Instant::now();
                let n = per_rule_setup_teardown(&m);
                // Not split: charge it all to the pair.
                (start.elapsed(), Duration::ZERO, n)
            }),
        ),
        (
            "baseline: one `nft --version` process",
            Box::new(|| timed(|| exec("nft", &["--version"]), || 0)),
        ),
        (
            "baseline: one `iptables --version` process",
            Box::new(|| timed(|| exec("iptables", &["--version"]), || 0)),
        ),
    ];
    let mut results: Vec<(Vec<Duration>, Vec<Duration>, usize)> =
        cases.iter().map(|_| (Vec::new(), Vec::new(), 0)).collect();
    in_ns(&ns, || {
        // Other attachments, so that lookups run against a populated table.
        for i in 0..OTHERS {
            let other = spec(&format!("other-{i}"), &[&format!("10.88.2.{}/16", i + 1)]);
            nft.setup(&other).unwrap();
            ipt.setup(&other).unwrap();
        }
        for (_, case) in &cases {
            case(); // warm-up
        }
        // Rounds interleave the cases, so load from other work on the machine spreads evenly.
        for _ in 0..ROUNDS {
            for ((_, case), r) in cases.iter().zip(results.iter_mut()) {
                let (setup, teardown, n) = case();
                r.0.push(setup);
                r.1.push(teardown);
                r.2 = n;
            }
        }
    });
    eprintln!(
        "one IPv4 address, {OTHERS} other attachments present, median of {ROUNDS} rounds (ms):"
    );
    eprintln!(
        "  {:55} {:>8} {:>8} {:>8} {:>6}",
        "", "setup", "teardown", "total", "procs"
    );
    for ((name, _), (setup, teardown, n)) in cases.iter().zip(results) {
        let total: Vec<Duration> = setup.iter().zip(&teardown).map(|(a, b)| *a + *b).collect();
        eprintln!(
            "  {name:55} {:>8.2} {:>8.2} {:>8.2} {n:>6}",
            median(setup),
            median(teardown),
            median(total)
        );
    }
    assert!(lines_with(&nat(&ns, false), &m.iptables_chain()).is_empty());
    assert!(masq_rules(&ruleset(&ns), &m).is_empty());
}
