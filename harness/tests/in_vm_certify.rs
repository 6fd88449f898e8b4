//! ipvlan and vlan through the harness, inside the VM lane's VM (Debian's kernel; this host's
//! kernel has neither link kind, see `scripts/vm/README.md`):
//!
//! - `cni-conformance certify --strict` of our `ipvlan` and `vlan` with
//!   `conformance-cases/configs/{ipvlan,vlan}.json`: conformant, no failure, no warning; vlan's
//!   config carries an attachment patch (`x-conformance.attachmentPatch`, `vlanId` 101 for a
//!   case's second attachment: the kernel allows one 802.1q link per master and VLAN id), and
//!   the report must say it was used, in exactly the cases with two attachments;
//! - the same certification of Debian's upstream `ipvlan` and `vlan` (without `--strict`, as
//!   `tests/upstream.rs` does for the others): the failed and warned requirements must be
//!   exactly the known ones, explained at [`upstream_findings`];
//! - the differential comparison `tests/differential.rs` makes for macvlan (normalized kernel
//!   state after ADD, results, what DEL leaves), upstream against ours, for the base configs
//!   and a few variants.
//!
//! Driven from this same file, as `reference-plugins/tests/in_vm_ipvlan_vlan.rs` is (both with
//! `vm_lane::SelfDriven`, of the dev-dependency `vm-lane`): in an ordinary build
//! `driver::certify_ipvlan_and_vlan_inside_the_vm` builds the reference plugins and this
//! target statically (into `target/vm-build/`), boots one VM with `scripts/vm/run.sh` that runs
//! all the other tests of this file in parallel, and requires each to report `ok`, then prints
//! how long the static builds and the VM run took; here those tests show as ignored, naming the
//! VM. In the static build they run, and each first checks it is inside the VM.
//!
//! The VM emulates its CPUs, so this is the slowest test of the workspace (see
//! `scripts/vm/README.md` for measured times). To keep it lean: one boot, the six tests in
//! parallel on two virtual CPUs (`CNIRS_VM_SMP`, default 2 here), and the upstream plugins
//! copied from the read-only `/usr/lib/cni` share to the VM's tmpfs once (a Go plugin starts in
//! ~0.1 s from there, ~0.7 s over the share). Reports of the four certifications are kept in
//! `target/vm-certification/`. One test by hand, once the driver has built everything:
//!
//! ```text
//! CNIRS_VM_SMP=2 scripts/vm/run.sh \
//!     target/vm-build/x86_64-unknown-linux-gnu/debug/deps/in_vm_certify-<hash> ours_vlan --nocapture
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{json, Value};
use vm_lane::workspace;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ----- the driver (host side) ------------------------------------------------------------

/// The host side: absent from the static build that runs in the VM.
#[cfg(not(target_feature = "crt-static"))]
mod driver {
    use vm_lane::SelfDriven;

    /// Builds the VM image, the reference plugins and this target statically, runs every
    /// other test of this file (at least 6) at once in one VM and requires each to be `ok`
    /// there, with the `vm-lane` crate. Anything missing fails with the reason.
    #[test]
    fn certify_ipvlan_and_vlan_inside_the_vm() {
        let run = SelfDriven::new(env!("CARGO_PKG_NAME"), "in_vm_certify")
            // The plugins first: the in-VM tests find them next to cni-conformance.
            .static_bins_of("reference-plugins")
            .min_tests(6)
            // All of them at once: two certifications at a time would leave the second CPU
            // idle while the long ones finish.
            .all_tests_at_once()
            .arg("--nocapture")
            .env_default("CNIRS_VM_TIMEOUT", "1500")
            .env_default("CNIRS_VM_SMP", "2")
            .run();
        println!(
            "static builds {:.1} s, VM run {:.1} s",
            run.built.as_secs_f64(),
            run.vm_run.as_secs_f64()
        );
        run.assert_all_ok();
    }
}

// ----- helpers (inside the VM) -----------------------------------------------------------

/// Fails the test unless it runs inside the VM (its init sets `CNIRS_IN_VM=1`).
fn in_vm() {
    assert_eq!(
        std::env::var("CNIRS_IN_VM").as_deref(),
        Ok("1"),
        "this test needs the VM lane's kernel (ipvlan, 802.1q); it runs inside the VM through \
         `cargo test -p harness --test in_vm_certify`"
    );
}

/// Our plugins: next to `cni-conformance`, where the driver's static build put them.
fn ours_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_cni-conformance"))
        .parent()
        .unwrap()
        .to_path_buf();
    for p in ["ipvlan", "vlan", "host-local"] {
        assert!(
            dir.join(p).is_file(),
            "{} is missing: the driver builds the reference plugins statically",
            dir.join(p).display()
        );
    }
    dir
}

/// Debian's plugins, copied once from the read-only `/usr/lib/cni` share to tmpfs.
fn upstream_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from("/tmp/cnirs-upstream-cni");
        std::fs::create_dir_all(&dir).unwrap();
        for p in ["ipvlan", "vlan", "host-local"] {
            let from = Path::new("/usr/lib/cni").join(p);
            assert!(
                from.is_file(),
                "{} is missing: run scripts/setup.sh (Debian's containernetworking-plugins)",
                from.display()
            );
            std::fs::copy(&from, dir.join(p)).unwrap();
        }
        dir
    })
}

fn config(name: &str) -> PathBuf {
    workspace().join("conformance-cases/configs").join(name)
}

/// One certification: its exit status, JSON report and terminal output.
struct Certified {
    status: Option<i32>,
    report: Value,
    output: String,
}

impl Certified {
    fn ids(&self, verdict: &str) -> BTreeSet<String> {
        self.report["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["verdict"] == verdict)
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn reason(&self, id: &str) -> String {
        self.report["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// `cni-conformance certify` of `dir/plugin` with `configs/<plugin>.json` (delegates from
/// `dir`); the reports go to `target/vm-certification/<label>.{json,xml}`.
fn certify(label: &str, dir: &Path, plugin: &str, strict: bool) -> Certified {
    let reports = workspace().join("target/vm-certification");
    std::fs::create_dir_all(&reports).unwrap();
    let json = reports.join(format!("{label}.json"));
    let _ = std::fs::remove_file(&json);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cni-conformance"));
    cmd.arg("certify");
    if strict {
        // The robustness runs at a sample size emulation can afford: two traced kill points per
        // verb (plus the timed ones and the config faults) and 4 parallel attachments.
        cmd.args(["--strict", "--faults-points", "2", "--concurrency", "4"]);
    }
    let start = Instant::now();
    let out = cmd
        .arg("--plugin")
        .arg(dir.join(plugin))
        .arg("--config")
        .arg(config(&format!("{plugin}.json")))
        .arg("--cni-path")
        .arg(dir)
        .args(["--jobs", "2", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(reports.join(format!("{label}.xml")))
        .output()
        .expect("cni-conformance runs");
    let output = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let report: Value = serde_json::from_slice(
        &std::fs::read(&json)
            .unwrap_or_else(|e| panic!("{label}: no JSON report ({e}):\n{output}")),
    )
    .expect("JSON report parses");
    let summary = output
        .lines()
        .filter(|l| l.contains(" requirements: ") || l.starts_with("verdict:"))
        .collect::<Vec<_>>()
        .join("; ");
    println!(
        "{label}: {summary} ({:.1} s in the VM)",
        start.elapsed().as_secs_f64()
    );
    assert!(
        report["setup_failures"].as_array().unwrap().is_empty(),
        "{label}: setup failures:\n{output}"
    );
    Certified {
        status: out.status.code(),
        report,
        output,
    }
}

/// Ours: conformant under `--strict`, nothing failed or warned, no case skipped for a setup
/// problem.
fn certify_ours(plugin: &str) -> Certified {
    in_vm();
    let c = certify(&format!("ours-{plugin}"), &ours_dir(), plugin, true);
    assert_eq!(
        c.status,
        Some(0),
        "{plugin} is not conformant:\n{}",
        c.output
    );
    for v in ["fail", "warn"] {
        assert!(c.ids(v).is_empty(), "{plugin}: {v}: {:?}", c.ids(v));
    }
    assert!(c.output.contains("verdict: CONFORMANT"), "{}", c.output);
    assert!(
        c.report["cases"].as_array().unwrap().len() >= 60,
        "{plugin}: too few case runs:\n{}",
        c.output
    );
    c
}

/// The cases that add a second attachment (of another container, or the same container's
/// second ifname): the ones the attachment patch must apply to.
const TWO_ATTACHMENT_CASES: [&str; 3] = [
    "add-second-ifname",
    "del-only-own-attachment",
    "gc-removes-stale",
];

/// The case runs whose requests carried the attachment patch.
fn patched_cases(c: &Certified) -> BTreeSet<String> {
    c.report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["patched_attachments"].as_array().unwrap().is_empty())
        .map(|r| r["case"].as_str().unwrap().to_string())
        .collect()
}

fn upstream_certify(plugin: &str) -> Certified {
    in_vm();
    let c = certify(&format!("upstream-{plugin}"), upstream_dir(), plugin, false);
    // VERSION-2 is a MUST: upstream is not conformant.
    assert_eq!(c.status, Some(1), "{}", c.output);
    c
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

// ----- certification (inside the VM) -----------------------------------------------------

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: certify_ipvlan_and_vlan_inside_the_vm)"
)]
fn ours_ipvlan() {
    let c = certify_ours("ipvlan");
    assert!(c.report["attachment_patch"].is_null());
    assert!(patched_cases(&c).is_empty());
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs 802.1q vlan links: runs inside the VM (driver: certify_ipvlan_and_vlan_inside_the_vm)"
)]
fn ours_vlan() {
    let c = certify_ours("vlan");
    // The config's patch gave the second attachments VLAN 101, and the report says so.
    assert_eq!(
        c.report["attachment_patch"]["patch"],
        json!({"vlanId": 101})
    );
    assert_eq!(patched_cases(&c), set(&TWO_ATTACHMENT_CASES));
    assert!(
        c.output.contains("with the attachment patch)\n")
            && c.output.contains("attachment patch: {\"vlanId\":101}"),
        "{}",
        c.output
    );
}

/// The known findings on Debian's ipvlan and vlan (1.1.1), both the same, each with its entry
/// of `conformance-cases/upstream-deviations.toml`. Failed: VERSION-2 (every upstream plugin:
/// VERSION answers 1.0.0 whatever the request's version; UPSTREAM-1). Warned (SHOULD):
/// - ERR-3 (every upstream plugin): error objects for bad input carry no `cniVersion`
///   (UPSTREAM-3);
/// - ADD-8, IPAM-9 (as bridge, ptp, macvlan): when the IPAM delegate fails ADD, the plugin
///   returns the error without running the delegate's DEL (case `delegation-add-failure`;
///   UPSTREAM-4);
/// - DEL-1 (UPSTREAM-5), seen only here: when IPAM ADD fails, the plugin leaves the link it
///   created in the container (macvlan removes its link on that path; ipvlan and vlan create
///   the link, then return the delegate's error as it is). Shown by the generated variant with
///   the malformed `CNI_ARGS` `Gw^` and ifname `yc6755xx`: host-local refuses the argument
///   ("ARGS: invalid pair"), ADD fails, the link stays; the variant's DEL runs IPAM DEL first,
///   which fails on the same argument before the link is reached; so the link outlives the
///   attachment.
fn upstream_findings(plugin: &str) -> Certified {
    let c = upstream_certify(plugin);
    assert_eq!(
        c.ids("fail"),
        set(&["VERSION-2"]),
        "known: VERSION-2 (UPSTREAM-1)\n{}",
        c.output
    );
    assert_eq!(
        c.ids("warn"),
        set(&["ADD-8", "DEL-1", "ERR-3", "IPAM-9"]),
        "known: ADD-8, IPAM-9 (UPSTREAM-4), DEL-1 (UPSTREAM-5), ERR-3 (UPSTREAM-3)\n{}",
        c.output
    );
    let del1 = c.reason("DEL-1");
    assert!(
        del1.starts_with("generated-")
            && del1.contains("container a: + link ")
            && del1.contains(&format!("kind={plugin} ")),
        "{del1}"
    );
    c
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: certify_ipvlan_and_vlan_inside_the_vm)"
)]
fn upstream_ipvlan() {
    let c = upstream_findings("ipvlan");
    assert!(patched_cases(&c).is_empty());
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs 802.1q vlan links: runs inside the VM (driver: certify_ipvlan_and_vlan_inside_the_vm)"
)]
fn upstream_vlan() {
    let c = upstream_findings("vlan");
    // The attachment patch made upstream's two-attachment cases pass too (ADD-5, DEL-13 are
    // not among the findings); gc-removes-stale needs 1.1.0, which upstream lacks.
    assert_eq!(
        patched_cases(&c),
        set(&["add-second-ifname", "del-only-own-attachment"])
    );
}

// ----- differential (inside the VM) ------------------------------------------------------

/// Upstream and ours with `configs/<name>.json` changed by `patch` (keys set, `null` removes
/// a key) at `version`: the normalized kernel state after ADD, the results and what DEL
/// leaves must match exactly.
fn differential(name: &str, label: &str, version: &str, patch: Value) {
    let mut conf: Value =
        serde_json::from_slice(&std::fs::read(config(&format!("{name}.json"))).unwrap()).unwrap();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            conf.as_object_mut().unwrap().remove(k);
        } else {
            conf[k] = v.clone();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join(format!("{label}.json"));
    std::fs::write(&cfg, conf.to_string()).unwrap();
    let (up, ours) = (upstream_dir(), ours_dir());
    let c = harness::differential::compare(
        &up.join(name),
        &ours.join(name),
        &cfg,
        vec![up.to_path_buf()],
        vec![ours.clone()],
        version,
    )
    .expect("both sides ran");
    assert!(
        c.upstream.error.is_none(),
        "{name} {label}: upstream failed: {:?}",
        c.upstream.error
    );
    assert!(
        c.ours.error.is_none(),
        "{name} {label}: ours failed: {:?}",
        c.ours.error
    );
    assert!(
        c.ours.result.is_some(),
        "{name} {label}: ours printed no result"
    );
    assert!(
        c.differences.is_empty(),
        "{name} {label}: differences: {:#?}",
        c.differences
    );
    assert_eq!(
        c.ours.left_after_del, c.upstream.left_after_del,
        "{name} {label}: what DEL leaves"
    );
    println!(
        "{name} {label}: matches upstream ({} state lines after ADD)",
        c.ours.after_add.len()
    );
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs ipvlan links: runs inside the VM (driver: certify_ipvlan_and_vlan_inside_the_vm)"
)]
fn ipvlan_matches_upstream() {
    in_vm();
    // The base config (mode l2, master cnirs-up0: a veth the harness makes in the node
    // namespace, host-local), then modes l3 and l3s with an MTU, and l2 at 0.4.0.
    differential("ipvlan", "base", "1.0.0", json!({}));
    differential(
        "ipvlan",
        "l3-mtu",
        "1.0.0",
        json!({"mode": "l3", "mtu": 1400}),
    );
    differential("ipvlan", "l3s", "1.0.0", json!({"mode": "l3s"}));
    differential("ipvlan", "l2-040", "0.4.0", json!({}));
}

#[test]
#[cfg_attr(
    not(target_feature = "crt-static"),
    ignore = "needs 802.1q vlan links: runs inside the VM (driver: certify_ipvlan_and_vlan_inside_the_vm)"
)]
fn vlan_matches_upstream() {
    in_vm();
    // The base config (VLAN 100 on cnirs-up0, host-local), another VLAN id with an MTU, and
    // a 0.4.0 request.
    differential("vlan", "base", "1.0.0", json!({}));
    differential(
        "vlan",
        "id-mtu",
        "1.0.0",
        json!({"vlanId": 4094, "mtu": 1400}),
    );
    differential("vlan", "040", "0.4.0", json!({}));
}
