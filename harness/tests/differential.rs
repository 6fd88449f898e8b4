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
