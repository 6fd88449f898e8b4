//! Differential tests: our plugins against Debian's upstream binaries in twin worlds, same
//! config, same attachment; normalized kernel state after ADD, the results, and what DEL leaves
//! must match. Each remaining difference must be listed here with its reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::differential::compare;

const UPSTREAM: &str = "/usr/lib/cni";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ours_dir() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "reference-plugins", "--bins"])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success());
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
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
    // IPAM store and the result all match. The one difference is how ipMasq is written:
    // Debian's ptp (1.1.1) uses iptables, here iptables-nft, so it shows in the nft ruleset as
    // `table ip nat`: a per-attachment chain `CNI-<hash>` holding `-d SUBNET -j ACCEPT` and
    // `! -d 224.0.0.0/4 -j MASQUERADE`, jumped to from POSTROUTING for the container address.
    // Ours writes the nftables layout of newer upstream releases: table
    // `inet cni_plugins_masquerade`, a `postrouting` base chain that skips multicast and jumps
    // to `masq_checks`, and there one commented rule per container address. Same policy:
    // traffic from 10.97.0.2 leaving 10.97.0.0/24, multicast excepted, is masqueraded.
    let allowed = [
        // upstream, iptables-nft
        "upstream: node firewall table ip nat {",
        "upstream: node firewall chain POSTROUTING {",
        "upstream: node firewall chain CNI-",
        "upstream: node firewall ip saddr 10.97.0.2 jump CNI-",
        "upstream: node firewall ip daddr 10.97.0.0/24 accept",
        "upstream: node firewall ip daddr != 224.0.0.0/4 masquerade",
        // ours, nftables
        "ours: node firewall table inet cni_plugins_masquerade {",
        "ours: node firewall chain postrouting {",
        "ours: node firewall chain masq_checks {",
        "ours: node firewall goto masq_checks",
        "ours: node firewall ip daddr 224.0.0.0/4 return",
        "ours: node firewall ip6 daddr ff00::/8 return",
        "ours: node firewall ip saddr 10.97.0.2 ip daddr != 10.97.0.0/24 masquerade comment \"",
    ];
    // After DEL both sides keep their firewall's shared, attachment-free scaffolding: upstream
    // the `ip nat` table with its POSTROUTING base chain, ours the masquerade table with its
    // base chain (multicast exceptions and the jump) and the now empty `masq_checks`. Neither
    // removes it, since other attachments may be using it (deleting it could race a
    // concurrent ADD). `check` would count our scaffolding lines as "left more than
    // upstream", so this test runs the comparison itself with those lines allowed.
    let allowed_left_after_del = [
        "node: + firewall table inet cni_plugins_masquerade {",
        "node: + firewall chain postrouting {",
        "node: + firewall chain masq_checks {",
        "node: + firewall goto masq_checks",
        "node: + firewall ip daddr 224.0.0.0/4 return",
        "node: + firewall ip6 daddr ff00::/8 return",
    ];
    let ours = ours_dir();
    let cfg = workspace().join("conformance-cases/configs/ptp.json");
    let c = compare(
        &upstream("ptp"),
        &ours.join("ptp"),
        &cfg,
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
        .filter(|d| !allowed.iter().any(|a| d.starts_with(a)))
        .collect();
    assert!(
        unexplained.is_empty(),
        "ptp: unexplained differences: {unexplained:#?}"
    );
    // Each allowed line must have shown up: the masquerade really was set up on both sides.
    for a in allowed {
        assert!(
            c.differences.iter().any(|d| d.starts_with(a)),
            "ptp: expected difference {a:?} did not show (masquerade missing?): {:#?}",
            c.differences
        );
    }
    let extra: Vec<&String> = c
        .ours
        .left_after_del
        .iter()
        .filter(|l| !c.upstream.left_after_del.contains(l))
        .filter(|l| !allowed_left_after_del.contains(&l.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "ptp: ours left more than upstream after DEL: {extra:?}"
    );
    // No rule of the attachment survives DEL on our side.
    assert!(
        !c.ours
            .left_after_del
            .iter()
            .any(|l| l.contains("masquerade comment") || l.contains("10.97.0.")),
        "{:?}",
        c.ours.left_after_del
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
    let base: serde_json::Value = serde_json::from_slice(
        &std::fs::read(workspace().join("conformance-cases/configs/macvlan.json")).unwrap(),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("cnirs-diff-macvlan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // (label, version, keys to set; null removes the key)
    let variants = [
        ("l2-only", "1.0.0", serde_json::json!({"ipam": null})),
        (
            "private-mtu",
            "1.0.0",
            serde_json::json!({"mode": "private", "mtu": 1400}),
        ),
        ("vepa-040", "0.4.0", serde_json::json!({"mode": "vepa"})),
    ];
    for (label, version, patch) in variants {
        let mut conf = base.as_object().unwrap().clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                conf.remove(k);
            } else {
                conf.insert(k.clone(), v.clone());
            }
        }
        let conf = serde_json::Value::Object(conf);
        let path = dir.join(format!("{label}.json"));
        std::fs::write(&path, conf.to_string()).unwrap();
        // An absolute path replaces the configs directory in `check`'s join.
        check("macvlan", path.to_str().unwrap(), version, &[]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bridge_matches_upstream() {
    // Variants without ipMasq match upstream exactly (links with kind, MTU, master and
    // flags; addresses, including the gateway on the bridge; routes; forwarding; the IPAM
    // store; the result; what DEL leaves, the bridge and its address): L2 only, a default
    // gateway on a dual-stack network with hairpin and an MTU, a promiscuous bridge at 0.4.0.
    let base: serde_json::Value = serde_json::from_slice(
        &std::fs::read(workspace().join("conformance-cases/configs/bridge.json")).unwrap(),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("cnirs-diff-bridge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // (label, version, keys to set; null removes the key)
    let variants = [
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
    ];
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
        check("bridge", path.to_str().unwrap(), version, &[]);
    }
    let _ = std::fs::remove_dir_all(&dir);

    // The base configuration (isGateway, ipMasq): everything but the masquerade matches.
    // Debian's bridge (1.1.1) writes ipMasq with iptables, here iptables-nft, so the nft
    // ruleset shows `table ip nat` with a per-attachment chain `CNI-<hash>` (`-d SUBNET -j
    // ACCEPT`, `! -d 224.0.0.0/4 -j MASQUERADE`) jumped to from POSTROUTING for the
    // container address. Ours writes the nftables layout of newer upstream releases: table
    // `inet cni_plugins_masquerade`, a `postrouting` base chain that skips multicast and
    // goes to `masq_checks`, and there one commented rule per container address. The policy
    // is the same: traffic from 10.98.0.2 leaving 10.98.0.0/24, multicast excepted, is
    // masqueraded.
    let allowed = [
        // upstream, iptables-nft
        "upstream: node firewall table ip nat {",
        "upstream: node firewall chain POSTROUTING {",
        "upstream: node firewall chain CNI-",
        "upstream: node firewall ip saddr 10.98.0.2 jump CNI-",
        "upstream: node firewall ip daddr 10.98.0.0/24 accept",
        "upstream: node firewall ip daddr != 224.0.0.0/4 masquerade",
        // ours, nftables
        "ours: node firewall table inet cni_plugins_masquerade {",
        "ours: node firewall chain postrouting {",
        "ours: node firewall chain masq_checks {",
        "ours: node firewall goto masq_checks",
        "ours: node firewall ip daddr 224.0.0.0/4 return",
        "ours: node firewall ip6 daddr ff00::/8 return",
        "ours: node firewall ip saddr 10.98.0.2 ip daddr != 10.98.0.0/24 masquerade comment \"",
    ];
    // After DEL both sides keep what is shared: the bridge with its gateway address (and
    // the kernel's routes for it) and forwarding, as upstream does, and each firewall's
    // attachment-free scaffolding: upstream the `ip nat` table with its POSTROUTING chain,
    // ours the masquerade table with its base chain and the now empty `masq_checks`
    // (removing it could race a concurrent ADD). `check` would count our scaffolding as
    // "left more than upstream", so the comparison runs here with those lines allowed.
    let allowed_left_after_del = [
        "node: + firewall table inet cni_plugins_masquerade {",
        "node: + firewall chain postrouting {",
        "node: + firewall chain masq_checks {",
        "node: + firewall goto masq_checks",
        "node: + firewall ip daddr 224.0.0.0/4 return",
        "node: + firewall ip6 daddr ff00::/8 return",
    ];
    let ours = ours_dir();
    let c = compare(
        &upstream("bridge"),
        &ours.join("bridge"),
        &workspace().join("conformance-cases/configs/bridge.json"),
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
        .filter(|d| !allowed.iter().any(|a| d.starts_with(a)))
        .collect();
    assert!(
        unexplained.is_empty(),
        "bridge: unexplained differences: {unexplained:#?}"
    );
    for a in allowed {
        assert!(
            c.differences.iter().any(|d| d.starts_with(a)),
            "bridge: expected difference {a:?} did not show (masquerade missing?): {:#?}",
            c.differences
        );
    }
    let extra: Vec<&String> = c
        .ours
        .left_after_del
        .iter()
        .filter(|l| !c.upstream.left_after_del.contains(l))
        .filter(|l| !allowed_left_after_del.contains(&l.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "bridge: ours left more than upstream after DEL: {extra:?}"
    );
    assert!(
        !c.ours
            .left_after_del
            .iter()
            .any(|l| l.contains("masquerade comment") || l.contains("veth")),
        "{:?}",
        c.ours.left_after_del
    );
}
