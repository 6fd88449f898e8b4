//! The nftables backend: one transaction per setup or teardown. The rules it replaces or
//! removes are found beforehand over netlink ([`super::nfnl`]). A teardown, and a setup
//! where the table and its chains are already as this code writes them, is one nf_tables
//! batch over netlink ([`nfnl::commit`]; the rule expressions are encoded exactly as `nft`
//! encodes them, [`masq_exprs`]), so it starts no process; a first setup (or one that finds
//! the base chain changed) is one `nft -j -f -` run, built with serde_json. A transaction
//! that fails because a concurrent DEL removed one of those rules first, or the chains went
//! away, is built again from a fresh dump.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::{
    multicast, nfnl, BackendKind, FirewallError, IpNet, MasqSpec, Masquerade, Result, Runner,
    NFT_BASE_CHAIN,
};

const NFT: &str = "nft";
const FAMILY: &str = "inet";
/// nft's `srcnat` priority.
const SRCNAT_PRIORITY: i32 = 100;
/// Attempts at a transaction that deletes rules found by an earlier dump.
const ATTEMPTS: usize = 3;

/// Masquerade through nftables (see the module documentation of [`super`]).
#[derive(Debug, Clone, Default)]
pub struct Nftables {
    runner: Runner,
}

impl Nftables {
    pub fn new(runner: Runner) -> Nftables {
        Nftables { runner }
    }

    /// Handles of the rules of `m`'s attachment in its chain.
    fn own_rules(&self, m: &MasqSpec) -> Result<Vec<u64>> {
        let prefix = m.nft_comment_prefix();
        let rules = nfnl::rules(nfnl::FAMILY_INET, m.nft_table(), m.nft_chain())
            .map_err(FirewallError::Netlink)?;
        Ok(rules
            .into_iter()
            .filter(|r| r.comment.as_deref().is_some_and(|c| c.starts_with(&prefix)))
            .map(|r| r.handle)
            .collect())
    }

    /// Runs `attempt` (given the attachment's current rule handles) until it succeeds, fails
    /// for good, or [`ATTEMPTS`] are used: a run that deletes rules found by the dump fails
    /// when another process removed one of them in between, and a direct transaction fails
    /// when the chains it relies on went away; both are tried again from a fresh dump.
    fn transact(&self, m: &MasqSpec, mut attempt: impl FnMut(&[u64]) -> Result<()>) -> Result<()> {
        let mut tries = 1;
        loop {
            let handles = self.own_rules(m)?;
            match attempt(&handles) {
                Err(FirewallError::Tool { .. }) if !handles.is_empty() && tries < ATTEMPTS => {}
                Err(FirewallError::Netlink(_)) if tries < ATTEMPTS => {}
                other => return other,
            }
            tries += 1;
        }
    }

    fn run(&self, batch: &Value) -> Result<String> {
        self.runner
            .run(NFT, &["-j", "-f", "-"], batch.to_string().as_bytes())
    }
}

impl Nftables {
    /// [`Masquerade::teardown`], returning the socket of the deletion still open (see
    /// [`nfnl::Linger`]); `None` when there was nothing to delete.
    pub fn teardown_lingering(&self, m: &MasqSpec) -> Result<Option<nfnl::Linger>> {
        m.validate()?;
        let mut linger = None;
        self.transact(m, |handles| {
            if handles.is_empty() {
                return Ok(());
            }
            let socket = nfnl::commit(
                nfnl::FAMILY_INET,
                m.nft_table(),
                &delete_changes(m, handles),
            )
            .map_err(FirewallError::Netlink)?;
            linger = Some(socket);
            Ok(())
        })?;
        Ok(linger)
    }
}

impl Masquerade for Nftables {
    fn kind(&self) -> BackendKind {
        BackendKind::Nftables
    }

    /// When the base chain is already as this code writes it (the common case: every
    /// attachment after the first), the rules are added in one nf_tables transaction over
    /// netlink, without starting `nft`; otherwise `nft` runs one transaction that also
    /// (re)writes the table, the chains and the base chain.
    fn setup(&self, m: &MasqSpec) -> Result<()> {
        m.validate()?;
        let direct: Option<Vec<Vec<nfnl::Expr>>> = m.ips.iter().map(|&n| masq_exprs(n)).collect();
        self.transact(m, |stale| {
            let base = nfnl::rules(nfnl::FAMILY_INET, m.nft_table(), NFT_BASE_CHAIN)
                .map_err(FirewallError::Netlink)?;
            let current = base_chain_is_current(m, &base);
            match &direct {
                Some(rules) if current => {
                    let comment = m.nft_comment();
                    let mut changes = delete_changes(m, stale);
                    changes.extend(rules.iter().map(|exprs| nfnl::Change::AddRule {
                        chain: m.nft_chain(),
                        exprs: exprs.clone(),
                        comment: &comment,
                    }));
                    nfnl::commit(nfnl::FAMILY_INET, m.nft_table(), &changes)
                        .map(drop)
                        .map_err(FirewallError::Netlink)
                }
                _ => self.run(&setup_batch(m, stale, !current)).map(|_| ()),
            }
        })
    }

    /// One nf_tables transaction over netlink deleting the attachment's rules by handle; no
    /// process, and nothing at all when there is nothing to remove.
    fn teardown(&self, m: &MasqSpec) -> Result<()> {
        self.teardown_lingering(m).map(drop)
    }

    fn check(&self, m: &MasqSpec) -> Result<()> {
        m.validate()?;
        let missing = |detail: String| FirewallError::Missing {
            backend: BackendKind::Nftables,
            what: m.describe(),
            detail,
        };
        let list = json!({"nftables": [
            {"list": {"table": {"family": FAMILY, "name": m.nft_table()}}}
        ]});
        let listing = match self.run(&list) {
            Ok(out) => out,
            Err(FirewallError::Tool { stderr, .. }) if stderr.contains("No such file") => {
                return Err(missing(format!(
                    "table {FAMILY} {} does not exist",
                    m.nft_table()
                )))
            }
            Err(e) => return Err(e),
        };
        let listing: Value = serde_json::from_str(&listing).map_err(|e| FirewallError::Output {
            program: NFT.to_string(),
            reason: e.to_string(),
        })?;
        check_listing(m, &listing).map_err(missing)
    }
}

fn table(m: &MasqSpec) -> Value {
    json!({"family": FAMILY, "name": m.nft_table()})
}

fn chain(m: &MasqSpec, name: &str) -> Value {
    json!({"family": FAMILY, "table": m.nft_table(), "name": name})
}

fn rule(m: &MasqSpec, chain: &str, expr: Value) -> Value {
    json!({"family": FAMILY, "table": m.nft_table(), "chain": chain, "expr": expr})
}

fn proto(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "ip",
        IpAddr::V6(_) => "ip6",
    }
}

fn payload(addr: IpAddr, field: &str) -> Value {
    json!({"payload": {"protocol": proto(addr), "field": field}})
}

fn prefix(net: IpNet) -> Value {
    json!({"prefix": {"addr": net.network().to_string(), "len": net.prefix_len()}})
}

fn delete_changes<'a>(m: &'a MasqSpec, handles: &[u64]) -> Vec<nfnl::Change<'a>> {
    handles
        .iter()
        .map(|&handle| nfnl::Change::DeleteRule {
            chain: m.nft_chain(),
            handle,
        })
        .collect()
}

/// The expressions of `<proto> saddr ADDR <proto> daddr != NET masquerade` for `net` in an
/// `inet` table, exactly as `nft` 1.0 encodes that rule (`nft --debug=netlink`): the
/// network-protocol check nft adds in `inet` tables, the source address compared whole, the
/// destination compared on the prefix's bytes (a byte-aligned prefix loads only those
/// bytes; another one loads the whole address and masks it). The same bytes mean `nft list`,
/// CHECK and other implementations read these rules as if nft had written them. `None`
/// for a `/0`, which is left to nft.
pub(super) fn masq_exprs(net: IpNet) -> Option<Vec<nfnl::Expr>> {
    use nfnl::Expr;
    let (nfproto, saddr_offset, daddr_offset, addr, network) = match (net.addr(), net.network()) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (2u8, 12, 16, a.octets().to_vec(), n.octets().to_vec()),
        (IpAddr::V6(a), IpAddr::V6(n)) => (10u8, 8, 24, a.octets().to_vec(), n.octets().to_vec()),
        _ => return None,
    };
    let full = addr.len() as u32;
    let bits = u32::from(net.prefix_len());
    if bits == 0 {
        return None;
    }
    let mut exprs = vec![
        Expr::Meta {
            key: nfnl::META_NFPROTO,
        },
        Expr::Cmp {
            op: nfnl::CMP_EQ,
            data: vec![nfproto],
        },
        Expr::Payload {
            base: nfnl::PAYLOAD_NETWORK_HEADER,
            offset: saddr_offset,
            len: full,
        },
        Expr::Cmp {
            op: nfnl::CMP_EQ,
            data: addr,
        },
    ];
    if bits % 8 == 0 {
        let len = bits / 8;
        exprs.push(Expr::Payload {
            base: nfnl::PAYLOAD_NETWORK_HEADER,
            offset: daddr_offset,
            len,
        });
        exprs.push(Expr::Cmp {
            op: nfnl::CMP_NEQ,
            data: network[..len as usize].to_vec(),
        });
    } else {
        let mask: Vec<u8> = (0..full)
            .map(|i| {
                let left = bits.saturating_sub(i * 8).min(8);
                (0xffu16 << (8 - left)) as u8
            })
            .collect();
        exprs.push(Expr::Payload {
            base: nfnl::PAYLOAD_NETWORK_HEADER,
            offset: daddr_offset,
            len: full,
        });
        exprs.push(Expr::Bitwise {
            mask,
            xor: vec![0; full as usize],
        });
        exprs.push(Expr::Cmp {
            op: nfnl::CMP_NEQ,
            data: network,
        });
    }
    exprs.push(Expr::Masq);
    Some(exprs)
}

/// The comments of the base chain's three rules as this version writes them, in order. A
/// base chain holding exactly these (and nothing else) was written by this code and is left
/// alone; anything else is rewritten. The version tag changes whenever the rules do.
pub(crate) fn base_rule_comments(m: &MasqSpec) -> [String; 3] {
    [
        "cni-rs 1: IPv4 multicast is not masqueraded".to_string(),
        "cni-rs 1: IPv6 multicast is not masqueraded".to_string(),
        format!("cni-rs 1: on to {}", m.nft_chain()),
    ]
}

/// Whether the base chain's rules (as dumped) are exactly the ones [`setup_batch`] writes.
fn base_chain_is_current(m: &MasqSpec, base: &[nfnl::RuleRef]) -> bool {
    let want = base_rule_comments(m);
    base.len() == want.len()
        && base
            .iter()
            .zip(&want)
            .all(|(rule, want)| rule.comment.as_deref() == Some(want.as_str()))
}

/// The setup transaction: the table and both chains exist, the rules in `stale` are gone,
/// and one masquerade rule per address of `m` is added. With `rewrite_base` the base chain
/// is also flushed and given its three rules (multicast returns, goto the per-address
/// chain); without, it is left as it is, which keeps the transaction free of deletions: a
/// deletion makes nf_tables wait for an RCU grace period (tens of milliseconds here) before
/// `nft` can close its socket and exit.
pub(super) fn setup_batch(m: &MasqSpec, stale: &[u64], rewrite_base: bool) -> Value {
    let checks = m.nft_chain();
    let mut cmds = vec![
        json!({"add": {"table": table(m)}}),
        json!({"add": {"chain": chain(m, checks)}}),
        json!({"add": {"chain": {
            "family": FAMILY, "table": m.nft_table(), "name": NFT_BASE_CHAIN,
            "type": "nat", "hook": "postrouting", "prio": SRCNAT_PRIORITY, "policy": "accept",
        }}}),
    ];
    if rewrite_base {
        cmds.push(json!({"flush": {"chain": chain(m, NFT_BASE_CHAIN)}}));
        let [v4, v6, on] = base_rule_comments(m);
        for (addr, comment) in [(IpAddr::from([0u8; 4]), v4), (IpAddr::from([0u16; 8]), v6)] {
            let expr = json!([
                {"match": {"op": "==", "left": payload(addr, "daddr"), "right": prefix(multicast(addr))}},
                {"return": null},
            ]);
            let mut add = rule(m, NFT_BASE_CHAIN, expr);
            add["comment"] = json!(comment);
            cmds.push(json!({"add": {"rule": add}}));
        }
        let mut goto = rule(m, NFT_BASE_CHAIN, json!([{"goto": {"target": checks}}]));
        goto["comment"] = json!(on);
        cmds.push(json!({"add": {"rule": goto}}));
    }
    for &handle in stale {
        cmds.push(json!({"delete": {"rule": handle_ref(m, handle)}}));
    }
    let comment = m.nft_comment();
    for net in &m.ips {
        let addr = net.addr();
        let expr = json!([
            {"match": {"op": "==", "left": payload(addr, "saddr"), "right": addr.to_string()}},
            {"match": {"op": "!=", "left": payload(addr, "daddr"), "right": prefix(net.trunc())}},
            {"masquerade": null},
        ]);
        let mut add = rule(m, checks, expr);
        add["comment"] = json!(comment);
        cmds.push(json!({"add": {"rule": add}}));
    }
    json!({"nftables": cmds})
}

fn handle_ref(m: &MasqSpec, handle: u64) -> Value {
    json!({"family": FAMILY, "table": m.nft_table(), "chain": m.nft_chain(), "handle": handle})
}

/// Checks an `nft -j list table` output against `m`: the base chain jumps to the
/// per-address chain, and that chain holds, for every address, a rule with the attachment's
/// comment that masquerades from the address to outside its subnet.
pub(super) fn check_listing(m: &MasqSpec, listing: &Value) -> Result<(), String> {
    let items = listing["nftables"]
        .as_array()
        .ok_or("nft output has no \"nftables\" array")?;
    let rules: Vec<&Value> = items
        .iter()
        .filter_map(|item| item.get("rule"))
        .filter(|r| r["table"] == m.nft_table() && r["family"] == FAMILY)
        .collect();
    let in_chain = |name: String| {
        rules
            .iter()
            .copied()
            .filter(move |r| r["chain"] == name.as_str())
    };
    let jumps = in_chain(NFT_BASE_CHAIN.to_string()).any(|r| {
        r["expr"].as_array().is_some_and(|e| {
            e.iter().any(|s| {
                s["goto"]["target"] == m.nft_chain() || s["jump"]["target"] == m.nft_chain()
            })
        })
    });
    if !jumps {
        return Err(format!(
            "chain {NFT_BASE_CHAIN} does not lead to chain {}",
            m.nft_chain()
        ));
    }
    let prefix = m.nft_comment_prefix();
    for net in &m.ips {
        let found = in_chain(m.nft_chain().to_string())
            .filter(|r| {
                r["comment"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(&prefix))
            })
            .any(|r| masquerades(r, *net));
        if !found {
            return Err(format!("no rule masquerades {net}"));
        }
    }
    Ok(())
}

/// Whether a listed rule is `<proto> saddr ADDR <proto> daddr != NET masquerade` for `net`.
fn masquerades(rule: &Value, net: IpNet) -> bool {
    let Some(expr) = rule["expr"].as_array() else {
        return false;
    };
    let addr = net.addr();
    let field_is = |s: &Value, field: &str| {
        s["left"]["payload"]["protocol"] == proto(addr) && s["left"]["payload"]["field"] == field
    };
    let is_addr = |v: &Value, want: IpAddr| v.as_str().and_then(|s| s.parse().ok()) == Some(want);
    let is_net = |v: &Value, want: IpNet| {
        let p = &v["prefix"];
        match p["addr"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
            Some(a) => a == want.network() && p["len"] == want.prefix_len(),
            // nft lists a full-length prefix as a plain address.
            None => want.prefix_len() == want.max_prefix_len() && is_addr(v, want.addr()),
        }
    };
    let source = expr.iter().any(|s| {
        let s = &s["match"];
        s["op"] == "==" && field_is(s, "saddr") && is_addr(&s["right"], addr)
    });
    let outside = expr.iter().any(|s| {
        let s = &s["match"];
        s["op"] == "!=" && field_is(s, "daddr") && is_net(&s["right"], net.trunc())
    });
    let masq = expr.iter().any(|s| s.get("masquerade").is_some());
    source && outside && masq
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MasqSpec {
        MasqSpec::new(
            "net1",
            "ctr1",
            "eth0",
            [
                "10.1.2.3/24".parse().unwrap(),
                "fd00:1::3/64".parse().unwrap(),
            ],
        )
    }

    #[test]
    fn setup_batch_is_one_transaction_with_one_rule_per_address() {
        let batch = setup_batch(&spec(), &[7], true);
        let cmds = batch["nftables"].as_array().unwrap();
        let adds_in_checks: Vec<_> = cmds
            .iter()
            .filter(|c| c["add"]["rule"]["chain"] == NFT_CHAIN_NAME)
            .collect();
        assert_eq!(adds_in_checks.len(), 2);
        assert_eq!(
            adds_in_checks[0]["add"]["rule"]["comment"],
            spec().nft_comment()
        );
        assert_eq!(
            adds_in_checks[1]["add"]["rule"]["expr"][1]["match"]["right"]["prefix"]["addr"],
            "fd00:1::"
        );
        let deletes: Vec<_> = cmds.iter().filter(|c| c.get("delete").is_some()).collect();
        assert_eq!(deletes.len(), 1);
        assert_eq!(deletes[0]["delete"]["rule"]["handle"], 7);
        // Everything the setup adds must then satisfy the check.
        let listing = json!({"nftables": cmds.iter().filter_map(|c| c.get("add")).cloned().collect::<Vec<_>>()});
        assert_eq!(check_listing(&spec(), &listing), Ok(()));
    }

    const NFT_CHAIN_NAME: &str = super::super::NFT_CHAIN;

    #[test]
    fn check_wants_every_address() {
        let one = MasqSpec::new("net1", "ctr1", "eth0", ["10.1.2.3/24".parse().unwrap()]);
        let batch = setup_batch(&one, &[], true);
        let listing = json!({"nftables": batch["nftables"].as_array().unwrap().iter().filter_map(|c| c.get("add")).cloned().collect::<Vec<_>>()});
        assert!(check_listing(&spec(), &listing)
            .unwrap_err()
            .contains("fd00:1::3/64"));
        let other = MasqSpec::new("net1", "ctr2", "eth0", one.ips.clone());
        assert!(check_listing(&other, &listing).is_err());
    }

    #[test]
    fn base_chain_is_rewritten_unless_it_is_exactly_ours() {
        let m = spec();
        let ours: Vec<nfnl::RuleRef> = base_rule_comments(&m)
            .into_iter()
            .enumerate()
            .map(|(i, c)| nfnl::RuleRef {
                handle: i as u64 + 1,
                comment: Some(c),
            })
            .collect();
        assert!(base_chain_is_current(&m, &ours));
        // Upstream's rules carry no comments; a missing, an extra or a reordered rule, or
        // another chain name, also make it rewrite.
        let mut uncommented = ours.clone();
        uncommented[0].comment = None;
        assert!(!base_chain_is_current(&m, &uncommented));
        assert!(!base_chain_is_current(&m, &ours[..2]));
        let mut extra = ours.clone();
        extra.push(nfnl::RuleRef {
            handle: 9,
            comment: None,
        });
        assert!(!base_chain_is_current(&m, &extra));
        let mut swapped = ours.clone();
        swapped.swap(0, 1);
        assert!(!base_chain_is_current(&m, &swapped));
        let renamed = m.clone().with_naming(super::super::Naming {
            nft_chain: Some("other".into()),
            ..Default::default()
        });
        assert!(!base_chain_is_current(&renamed, &ours));
        assert!(!base_chain_is_current(&m, &[]));

        // Without a rewrite the batch adds rules only: nothing is flushed or deleted.
        let batch = setup_batch(&m, &[], false);
        let cmds = batch["nftables"].as_array().unwrap();
        assert!(cmds
            .iter()
            .all(|c| c.get("flush").is_none() && c.get("delete").is_none()));
        assert_eq!(
            cmds.iter()
                .filter(|c| c["add"]["rule"]["chain"] == NFT_BASE_CHAIN)
                .count(),
            0
        );
        assert_eq!(
            cmds.iter()
                .filter(|c| c["add"]["rule"]["chain"] == NFT_CHAIN_NAME)
                .count(),
            2
        );
    }

    #[test]
    fn masq_expressions_follow_nfts_encoding() {
        use nfnl::Expr;
        let daddr = |net: &str| {
            let e = masq_exprs(net.parse().unwrap()).unwrap();
            assert_eq!(e.last(), Some(&Expr::Masq));
            e[4..e.len() - 1].to_vec()
        };
        // As `nft --debug=netlink add rule inet t c ip saddr 10.1.2.3 ip daddr != NET
        // masquerade` prints them (nft 1.0.6).
        let full = masq_exprs("10.1.2.3/24".parse().unwrap()).unwrap();
        assert_eq!(
            full[0],
            Expr::Meta {
                key: nfnl::META_NFPROTO
            }
        );
        assert_eq!(
            full[1],
            Expr::Cmp {
                op: nfnl::CMP_EQ,
                data: vec![2]
            }
        );
        assert_eq!(
            full[2],
            Expr::Payload {
                base: nfnl::PAYLOAD_NETWORK_HEADER,
                offset: 12,
                len: 4
            }
        );
        assert_eq!(
            full[3],
            Expr::Cmp {
                op: nfnl::CMP_EQ,
                data: vec![10, 1, 2, 3]
            }
        );
        let payload = |offset, len| Expr::Payload {
            base: nfnl::PAYLOAD_NETWORK_HEADER,
            offset,
            len,
        };
        let neq = |data: &[u8]| Expr::Cmp {
            op: nfnl::CMP_NEQ,
            data: data.to_vec(),
        };
        assert_eq!(daddr("10.1.2.3/24"), [payload(16, 3), neq(&[10, 1, 2])]);
        assert_eq!(daddr("10.1.2.3/8"), [payload(16, 1), neq(&[10])]);
        assert_eq!(daddr("10.1.2.3/32"), [payload(16, 4), neq(&[10, 1, 2, 3])]);
        assert_eq!(
            daddr("10.1.2.3/20"),
            [
                payload(16, 4),
                Expr::Bitwise {
                    mask: vec![255, 255, 240, 0],
                    xor: vec![0; 4]
                },
                neq(&[10, 1, 0, 0]),
            ]
        );
        assert_eq!(
            daddr("10.1.2.3/25"),
            [
                payload(16, 4),
                Expr::Bitwise {
                    mask: vec![255, 255, 255, 128],
                    xor: vec![0; 4]
                },
                neq(&[10, 1, 2, 0]),
            ]
        );
        let v6 = masq_exprs("fd00::3/64".parse().unwrap()).unwrap();
        assert_eq!(
            v6[1],
            Expr::Cmp {
                op: nfnl::CMP_EQ,
                data: vec![10]
            }
        );
        assert_eq!(v6[2], payload(8, 16));
        assert_eq!(
            daddr("fd00::3/64"),
            [payload(24, 8), neq(&[0xfd, 0, 0, 0, 0, 0, 0, 0])]
        );
        let mut mask = vec![255; 6];
        mask.push(240);
        mask.extend([0; 9]);
        let mut network = vec![0xfd, 0, 0, 1, 0, 2];
        network.extend([0; 10]);
        assert_eq!(
            daddr("fd00:1:2::3/52"),
            [
                payload(24, 16),
                Expr::Bitwise {
                    mask,
                    xor: vec![0; 16]
                },
                neq(&network)
            ]
        );
        assert_eq!(masq_exprs("10.1.2.3/0".parse().unwrap()), None);
    }
}
