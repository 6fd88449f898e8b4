//! Differential tests: our plugins against Debian's upstream binaries in twin worlds, same
//! config, same attachment; normalized kernel state after ADD, the results, and what DEL leaves
//! must match. Each remaining difference must be listed here with its reason.

mod support;
use support::workspace;

use std::path::{Path, PathBuf};

use harness::differential::compare;

const UPSTREAM: &str = "/usr/lib/cni";

fn ours_dir() -> PathBuf {
    support::build_plugins()
}

fn upstream(name: &str) -> PathBuf {
    let p = Path::new(UPSTREAM).join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (Debian's containernetworking-plugins)",
        p.display()
    );
    p
}

fn check(name: &str, config: &str, version: &str, allowed: &[&str]) {
    let ours = ours_dir();
    let cfg = workspace().join("conformance-cases/configs").join(config);
    let c = compare(
        &upstream(name),
        &ours.join(name),
        &cfg,
        vec![PathBuf::from(UPSTREAM)],
        vec![ours.clone()],
        version,
    )
    .expect("both sides ran");
    assert!(
        c.upstream.error.is_none(),
        "upstream failed: {:?}",
        c.upstream.error
    );
    assert!(c.ours.error.is_none(), "ours failed: {:?}", c.ours.error);
    let unexplained: Vec<&String> = c
        .differences
        .iter()
        .filter(|d| !allowed.iter().any(|a| d.contains(a)))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{name}: unexplained differences: {unexplained:#?}"
    );
    // DEL leaves no more than upstream's does (host-local keeps its allocation cursor by design).
    let extra: Vec<&String> = c
        .ours
        .left_after_del
        .iter()
        .filter(|l| !c.upstream.left_after_del.contains(l))
        .collect();
    assert!(
        extra.is_empty(),
        "{name}: ours left more than upstream after DEL: {extra:?}"
    );
}

/// Writes each variant of the base config `config` (keys set, `null` removes a key) to a
/// temporary file and runs [`check`] on it at its version with no allowed difference.
fn check_variants(name: &str, config: &str, variants: &[(&str, &str, serde_json::Value)]) {
    let base: serde_json::Value = serde_json::from_slice(
        &std::fs::read(workspace().join("conformance-cases/configs").join(config)).unwrap(),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("cnirs-diff-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (label, version, patch) in variants {
        let mut conf = base.as_object().unwrap().clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                conf.remove(k);
            } else {
                conf.insert(k.clone(), v.clone());
            }
        }
        let path = dir.join(format!("{label}.json"));
        std::fs::write(&path, serde_json::Value::Object(conf).to_string()).unwrap();
        // An absolute path replaces the configs directory in `check`'s join.
        check(name, path.to_str().unwrap(), version, &[]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The one difference a config with ipMasq shows, for the container address `addr` in
/// `subnet`. Debian's plugins (1.1.1) write ipMasq with iptables, here iptables-nft, so the nft
/// ruleset shows `table ip nat` with a per-attachment chain `CNI-<hash>` (`-d SUBNET -j ACCEPT`,
/// `! -d 224.0.0.0/4 -j MASQUERADE`) jumped to from POSTROUTING for the container address.
/// Ours writes the nftables layout of newer upstream releases: table
/// `inet cni_plugins_masquerade`, a `postrouting` base chain that skips multicast and goes to
/// `masq_checks`, and there one commented rule per container address. Same policy: traffic
/// from the container leaving its subnet, multicast excepted, is masqueraded.
fn masquerade_differences(addr: &str, subnet: &str) -> Vec<String> {
    vec![
        // upstream, iptables-nft
        "upstream: node firewall table ip nat {".into(),
        "upstream: node firewall chain POSTROUTING {".into(),
        "upstream: node firewall chain CNI-".into(),
        format!("upstream: node firewall ip saddr {addr} jump CNI-"),
        format!("upstream: node firewall ip daddr {subnet} accept"),
        "upstream: node firewall ip daddr != 224.0.0.0/4 masquerade".into(),
        // ours, nftables
        "ours: node firewall table inet cni_plugins_masquerade {".into(),
        "ours: node firewall chain postrouting {".into(),
        "ours: node firewall chain masq_checks {".into(),
        "ours: node firewall goto masq_checks".into(),
        "ours: node firewall ip daddr 224.0.0.0/4 return".into(),
        "ours: node firewall ip6 daddr ff00::/8 return".into(),
        format!("ours: node firewall ip saddr {addr} ip daddr != {subnet} masquerade comment \""),
    ]
}

/// After DEL both sides keep their firewall's shared, attachment-free scaffolding: upstream
/// the `ip nat` table with its POSTROUTING base chain, ours the masquerade table with its base
/// chain and the now empty `masq_checks`. Neither removes it, since other attachments may use
/// it (deleting it could race a concurrent ADD); [`check`] would count ours as "left more than
/// upstream". Prefixes: our base chain's rules carry comments (`cni-rs 1: ...`) after these.
const MASQUERADE_SCAFFOLDING: [&str; 6] = [
    "node: + firewall table inet cni_plugins_masquerade {",
    "node: + firewall chain postrouting {",
    "node: + firewall chain masq_checks {",
    "node: + firewall goto masq_checks",
    "node: + firewall ip daddr 224.0.0.0/4 return",
    "node: + firewall ip6 daddr ff00::/8 return",
];

/// [`check`] for a config with ipMasq: exactly the masquerade differences show (each of them:
/// the masquerade really was set up on both sides), DEL leaves no more than upstream plus the
/// scaffolding, and nothing of ours that mentions `gone_after_del` survives DEL.
fn check_masquerade(name: &str, addr: &str, subnet: &str, gone_after_del: &[&str]) {
    let allowed = masquerade_differences(addr, subnet);
    let ours = ours_dir();
    let c = compare(
        &upstream(name),
        &ours.join(name),
        &workspace().join(format!("conformance-cases/configs/{name}.json")),
        vec![PathBuf::from(UPSTREAM)],
        vec![ours.clone()],
        "1.0.0",
    )
    .expect("both sides ran");
    assert!(
        c.upstream.error.is_none(),
        "upstream failed: {:?}",
        c.upstream.error
    );
    assert!(c.ours.error.is_none(), "ours failed: {:?}", c.ours.error);
    assert!(c.ours.result.is_some(), "ours printed no result");
    let unexplained: Vec<&String> = c
        .differences
        .iter()
        .filter(|d| !allowed.iter().any(|a| d.starts_with(a.as_str())))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{name}: unexplained differences: {unexplained:#?}"
    );
    for a in &allowed {
        assert!(
            c.differences.iter().any(|d| d.starts_with(a.as_str())),
            "{name}: expected difference {a:?} did not show (masquerade missing?): {:#?}",
            c.differences
        );
    }
    let extra: Vec<&String> = c
        .ours
        .left_after_del
        .iter()
        .filter(|l| !c.upstream.left_after_del.contains(l))
        .filter(|l| !MASQUERADE_SCAFFOLDING.iter().any(|s| l.starts_with(s)))
        .collect();
    assert!(
        extra.is_empty(),
        "{name}: ours left more than upstream after DEL: {extra:?}"
    );
    assert!(
        !c.ours
            .left_after_del
            .iter()
            .any(|l| gone_after_del.iter().any(|g| l.contains(g))),
        "{:?}",
        c.ours.left_after_del
    );
}

#[test]
fn loopback_matches_upstream() {
    check("loopback", "loopback.json", "1.0.0", &[]);
}

#[test]
fn host_local_matches_upstream() {
    check("host-local", "host-local.json", "1.0.0", &[]);
}

#[test]
fn ptp_matches_upstream() {
    // Links (veth pair, MTU 1400 on both ends), addresses (the container address, the
    // gateway /32 on the host end), routes (the gateway /32 and the subnet via the gateway in
    // the container, the default route, the host route to the container), ip_forward, the
    // IPAM store and the result all match; only the masquerade representation differs.
    check_masquerade(
        "ptp",
        "10.97.0.2",
        "10.97.0.0/24",
        &["masquerade comment", "10.97.0."],
    );
}

#[test]
fn macvlan_matches_upstream() {
    // The base configuration (master `cnirs-up0`, a veth the harness makes in the node
    // namespace; mode bridge; host-local) and variants: without `ipam` (L2 only: the link is
    // only set up, the result lists just the interface), mode private with an MTU, mode vepa
    // with a 0.4.0 request. Links (kind, MTU, flags), addresses, routes, sysctls, the IPAM
    // store, the results and what DEL leaves match once the random MAC addresses are
    // normalized: no allowed difference.
    //
    // What only shows off this path, and is documented in `reference_plugins::sublink`: a
    // prevResult given to ADD is kept (upstream drops it), a failed IPAM ADD is followed by
    // IPAM DEL (ADD-8), 0.1.0/0.2.0 requests without ipam fail before creating the link.
    check("macvlan", "macvlan.json", "1.0.0", &[]);
    check_variants(
        "macvlan",
        "macvlan.json",
        &[
            ("l2-only", "1.0.0", serde_json::json!({"ipam": null})),
            (
                "private-mtu",
                "1.0.0",
                serde_json::json!({"mode": "private", "mtu": 1400}),
            ),
            ("vepa-040", "0.4.0", serde_json::json!({"mode": "vepa"})),
        ],
    );
}

#[test]
fn bridge_matches_upstream() {
    // Variants without ipMasq match upstream exactly (links with kind, MTU, master and
    // flags; addresses, including the gateway on the bridge; routes; forwarding; the IPAM
    // store; the result; what DEL leaves, the bridge and its address): L2 only, a default
    // gateway on a dual-stack network with hairpin and an MTU, a promiscuous bridge at 0.4.0.
    check_variants(
        "bridge",
        "bridge.json",
        &[
            (
                "l2-only",
                "1.0.0",
                serde_json::json!({"ipam": null, "isGateway": null, "ipMasq": null}),
            ),
            (
                "default-gw-dual-stack",
                "1.0.0",
                serde_json::json!({"ipMasq": null, "isDefaultGateway": true, "hairpinMode": true,
                    "mtu": 1400, "ipam": {"type": "host-local", "ranges": [
                        [{"subnet": "10.98.0.0/24"}], [{"subnet": "fd98::/64"}]]}}),
            ),
            (
                "promisc-040",
                "0.4.0",
                serde_json::json!({"ipMasq": null, "promiscMode": true}),
            ),
        ],
    );
    // The base configuration (isGateway, ipMasq): everything but the masquerade matches.
    // After DEL both keep the bridge with its gateway address and forwarding, as upstream does.
    check_masquerade(
        "bridge",
        "10.98.0.2",
        "10.98.0.0/24",
        &["masquerade comment", "veth"],
    );
}
