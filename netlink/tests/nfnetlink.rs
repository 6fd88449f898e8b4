//! nf_tables and conntrack over nfnetlink against the kernel, cross-checked with `nft`. Root
//! only: each test makes its own namespace and works on a thread inside it.

use std::net::UdpSocket;

use cni_netlink::nfnetlink::{
    self as nfnl, conntrack, BaseChain, Change, Expr, Op, Verdict, FAMILY_IPV4, FAMILY_IPV6,
};
use netns_sandbox::Netns;

fn nft(ns: &Netns, args: &[&str]) -> String {
    let out = ns.command("nft").args(args).output().unwrap();
    assert!(out.status.success(), "nft {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn in_ns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    ns.run(f).expect("thread inside the namespace")
}

/// The expressions of `fib daddr type local jump <chain>`.
fn local_jump(chain: &str) -> Vec<Expr> {
    vec![
        Expr::Fib {
            result: nfnl::FIB_RESULT_ADDRTYPE,
            flags: nfnl::FIB_F_DADDR,
        },
        Expr::Cmp {
            op: nfnl::CMP_EQ,
            data: nfnl::RTN_LOCAL.to_ne_bytes().to_vec(),
        },
        Expr::Verdict(Verdict::Jump(chain.to_string())),
    ]
}

/// `tcp dport 8080 dnat to 10.1.1.2:80` (IPv4) or `[fd00::2]:80` (IPv6).
fn dnat(v6: bool) -> Vec<Expr> {
    let addr: Vec<u8> = if v6 {
        "fd00::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
            .to_vec()
    } else {
        vec![10, 1, 1, 2]
    };
    vec![
        Expr::Meta {
            key: nfnl::META_L4PROTO,
        },
        Expr::Cmp {
            op: nfnl::CMP_EQ,
            data: vec![6],
        },
        Expr::Payload {
            base: nfnl::PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
        },
        Expr::Cmp {
            op: nfnl::CMP_EQ,
            data: 8080u16.to_be_bytes().to_vec(),
        },
        Expr::Immediate {
            reg: nfnl::NFT_REG_1,
            data: addr,
        },
        Expr::Immediate {
            reg: nfnl::NFT_REG_2,
            data: 80u16.to_be_bytes().to_vec(),
        },
        Expr::Nat {
            kind: nfnl::NAT_DNAT,
            family: if v6 { 10 } else { 2 },
            addr_reg: Some(nfnl::NFT_REG_1),
            proto_reg: Some(nfnl::NFT_REG_2),
            flags: nfnl::NAT_RANGE_PROTO_SPECIFIED,
        },
    ]
}

/// `ip daddr 10.1.1.2 ct status dnat masquerade`.
fn masq_dnatted() -> Vec<Expr> {
    vec![
        Expr::Payload {
            base: nfnl::PAYLOAD_NETWORK_HEADER,
            offset: 16,
            len: 4,
        },
        Expr::Cmp {
            op: nfnl::CMP_EQ,
            data: vec![10, 1, 1, 2],
        },
        Expr::Ct {
            key: nfnl::CT_STATUS,
        },
        Expr::Bitwise {
            mask: nfnl::IPS_DST_NAT.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        Expr::Cmp {
            op: nfnl::CMP_NEQ,
            data: vec![0; 4],
        },
        Expr::Masq,
    ]
}

/// The bytecode of every rule of `family table`, as `nft --debug=netlink` prints it, one
/// string per rule (the header line with the handle left out).
fn bytecode(ns: &Netns, family: &str, table: &str) -> Vec<String> {
    let text = nft(ns, &["--debug=netlink", "list", "table", family, table]);
    let mut rules: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with(&format!("{family} {table} ")) {
            rules.push(line.split_whitespace().nth(2).unwrap().to_string() + "\n");
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
fn tables_chains_and_rules_in_one_batch_as_nft_writes_them() {
    let ns = Netns::new("nl-nft-batch").unwrap();
    let op = |family, table, change| Op {
        family,
        table,
        change,
    };
    let (j, d4, d6, m) = (
        local_jump("hostports"),
        dnat(false),
        dnat(true),
        masq_dnatted(),
    );
    let ops = vec![
        op(FAMILY_IPV4, "ours", Change::AddTable { comment: "c t" }),
        op(
            FAMILY_IPV4,
            "ours",
            Change::AddChain {
                chain: "hostports",
                base: None,
            },
        ),
        op(
            FAMILY_IPV4,
            "ours",
            Change::AddChain {
                chain: "prerouting",
                base: Some(BaseChain::nat(nfnl::HOOK_PREROUTING, nfnl::PRIORITY_DSTNAT)),
            },
        ),
        op(
            FAMILY_IPV4,
            "ours",
            Change::AddChain {
                chain: "post",
                base: Some(BaseChain::nat(
                    nfnl::HOOK_POSTROUTING,
                    nfnl::PRIORITY_SRCNAT,
                )),
            },
        ),
        op(
            FAMILY_IPV4,
            "ours",
            Change::AddRule {
                chain: "prerouting",
                exprs: j.clone(),
                comment: "",
            },
        ),
        op(
            FAMILY_IPV4,
            "ours",
            Change::AddRule {
                chain: "hostports",
                exprs: d4.clone(),
                comment: "tag",
            },
        ),
        op(
            FAMILY_IPV4,
            "ours",
            Change::AddRule {
                chain: "post",
                exprs: m.clone(),
                comment: "",
            },
        ),
        op(FAMILY_IPV6, "ours", Change::AddTable { comment: "" }),
        op(
            FAMILY_IPV6,
            "ours",
            Change::AddChain {
                chain: "hostports",
                base: None,
            },
        ),
        op(
            FAMILY_IPV6,
            "ours",
            Change::AddRule {
                chain: "hostports",
                exprs: d6.clone(),
                comment: "",
            },
        ),
    ];
    in_ns(&ns, || nfnl::commit_ops(&ops)).unwrap();

    // The same, written by nft from text.
    let text = r#"
        add table ip theirs { comment "c t" ; }
        add chain ip theirs hostports
        add chain ip theirs prerouting { type nat hook prerouting priority -100 ; }
        add chain ip theirs post { type nat hook postrouting priority 100 ; }
        add rule ip theirs prerouting fib daddr type local jump hostports
        add rule ip theirs hostports tcp dport 8080 dnat to 10.1.1.2:80 comment "tag"
        add rule ip theirs post ip daddr 10.1.1.2 ct status dnat masquerade
        add table ip6 theirs
        add chain ip6 theirs hostports
        add rule ip6 theirs hostports tcp dport 8080 dnat to [fd00::2]:80
    "#;
    let path = std::env::temp_dir().join(format!("nl-nft-batch-{}.nft", std::process::id()));
    std::fs::write(&path, text).unwrap();
    nft(&ns, &["-f", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();

    assert_eq!(
        bytecode(&ns, "ip", "ours"),
        bytecode(&ns, "ip", "theirs"),
        "the kernel holds the same expressions"
    );
    assert_eq!(bytecode(&ns, "ip6", "ours"), bytecode(&ns, "ip6", "theirs"));
    let listing = |t: &str| nft(&ns, &["list", "table", "ip", t]).replace(t, "T");
    assert_eq!(listing("ours"), listing("theirs"));

    // Read back: the chains with their hooks, the rules with their expressions.
    let chains = in_ns(&ns, || nfnl::chains(FAMILY_IPV4, "ours")).unwrap();
    let names: Vec<&str> = chains.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["hostports", "prerouting", "post"]);
    assert_eq!(chains[0].base, None);
    assert_eq!(
        chains[1].base,
        Some(BaseChain::nat(nfnl::HOOK_PREROUTING, nfnl::PRIORITY_DSTNAT))
    );
    assert_eq!(chains[1].policy, Some(1));
    let rules = in_ns(&ns, || nfnl::table_rules(FAMILY_IPV4, "ours")).unwrap();
    let got: Vec<(&str, &[Expr], Option<&str>)> = rules
        .iter()
        .map(|r| (r.chain.as_str(), &r.exprs[..], r.comment.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("hostports", &d4[..], Some("tag")),
            ("prerouting", &j[..], None),
            ("post", &m[..], None),
        ]
    );
    let theirs = in_ns(&ns, || nfnl::table_rules(FAMILY_IPV4, "theirs")).unwrap();
    assert_eq!(
        theirs.iter().map(|r| &r.exprs).collect::<Vec<_>>(),
        rules.iter().map(|r| &r.exprs).collect::<Vec<_>>(),
        "rules nft wrote decode as ours"
    );
    let v6 = in_ns(&ns, || nfnl::table_rules(FAMILY_IPV6, "ours")).unwrap();
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].exprs, d6);
    assert!(in_ns(&ns, || nfnl::table_rules(FAMILY_IPV4, "missing"))
        .unwrap()
        .is_empty());
    assert!(in_ns(&ns, || nfnl::chains(FAMILY_IPV4, "missing"))
        .unwrap()
        .is_empty());

    // Adding the table and chains again changes nothing; a flush empties one chain; a
    // rule deleted by handle goes.
    let again = vec![
        op(FAMILY_IPV4, "ours", Change::AddTable { comment: "c t" }),
        op(
            FAMILY_IPV4,
            "ours",
            Change::AddChain {
                chain: "prerouting",
                base: Some(BaseChain::nat(nfnl::HOOK_PREROUTING, nfnl::PRIORITY_DSTNAT)),
            },
        ),
        op(
            FAMILY_IPV4,
            "ours",
            Change::FlushChain {
                chain: "prerouting",
            },
        ),
        op(
            FAMILY_IPV4,
            "ours",
            Change::DeleteRule {
                chain: "hostports",
                handle: rules[0].handle,
            },
        ),
    ];
    in_ns(&ns, || nfnl::commit_ops(&again)).unwrap();
    let left = in_ns(&ns, || nfnl::table_rules(FAMILY_IPV4, "ours")).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].chain, "post");
    assert_eq!(
        in_ns(&ns, || nfnl::chains(FAMILY_IPV4, "ours")).unwrap(),
        chains
    );

    // A batch with one bad message changes nothing.
    let bad = vec![
        op(
            FAMILY_IPV4,
            "ours",
            Change::AddRule {
                chain: "hostports",
                exprs: d4.clone(),
                comment: "",
            },
        ),
        op(
            FAMILY_IPV4,
            "ours",
            Change::DeleteRule {
                chain: "hostports",
                handle: 999_999,
            },
        ),
    ];
    let e = in_ns(&ns, || nfnl::commit_ops(&bad)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    assert_eq!(
        in_ns(&ns, || nfnl::table_rules(FAMILY_IPV4, "ours"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn conntrack_entries_are_listed_and_deleted() {
    let ns = Netns::new("nl-ct").unwrap();
    ns.command("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .unwrap();
    // A rule with a ct expression makes the namespace track connections.
    nft(
        &ns,
        &[
            "add table ip t; add chain ip t p { type filter hook output priority 0 ; }; \
             add rule ip t p ct state new counter; \
             add table ip6 t; add chain ip6 t p { type filter hook output priority 0 ; }; \
             add rule ip6 t p ct state new counter",
        ],
    );
    let send = |to: &str| {
        let sock = UdpSocket::bind(if to.starts_with('[') {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        })
        .unwrap();
        sock.send_to(b"x", to).unwrap();
    };
    in_ns(&ns, || {
        send("127.0.0.1:5301");
        send("127.0.0.1:5302");
        send("[::1]:5301");
    });
    let udp_to = |family, port| {
        in_ns(&ns, || conntrack::entries(family))
            .unwrap()
            .into_iter()
            .filter(|e| e.proto == conntrack::PROTO_UDP && e.dport() == Some(port))
            .collect::<Vec<_>>()
    };
    let v4 = udp_to(conntrack::FAMILY_IPV4, 5301);
    assert_eq!(v4.len(), 1, "{v4:?}");
    assert_eq!(v4[0].dst, "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(udp_to(conntrack::FAMILY_IPV6, 5301).len(), 1);

    assert_eq!(in_ns(&ns, || conntrack::delete(&v4)).unwrap(), 1);
    assert!(udp_to(conntrack::FAMILY_IPV4, 5301).is_empty());
    assert_eq!(udp_to(conntrack::FAMILY_IPV4, 5302).len(), 1, "others stay");
    assert_eq!(udp_to(conntrack::FAMILY_IPV6, 5301).len(), 1);
    // Gone already: not an error, nothing counted.
    assert_eq!(in_ns(&ns, || conntrack::delete(&v4)).unwrap(), 0);
}
