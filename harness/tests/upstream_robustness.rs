//! The robustness findings on upstream host-local (Debian's containernetworking-plugins 1.1.1)
//! that README records, asserted: `certify --faults` finds the reservation file left empty by
//! an ADD killed between creating and writing it (RT-17), and CHECK succeeding after a DEL
//! killed between releasing the IPv4 and the IPv6 address (RT-20), each with its kill point
//! and seed; 32 parallel ADDs get distinct addresses (RT-3 passes).
//!
//! Needs root and /usr/lib/cni/host-local (scripts/setup.sh).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const REAL: &str = "/usr/lib/cni/host-local";

fn certify(filter: &str) -> Value {
    assert!(
        Path::new(REAL).is_file(),
        "{REAL} is missing: run scripts/setup.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance-cases/configs/host-local.json");
    let out = Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
        .args(["certify", "--strict", "--jobs", "2", "--plugin", REAL])
        .arg("--config")
        .arg(&config)
        .args(["--cni-path", "/usr/lib/cni", "--filter", filter, "--json"])
        .arg(&json)
        .output()
        .expect("cni-conformance runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&json).expect("JSON report")).unwrap()
}

fn requirement<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in the report"))
}

#[test]
fn killed_calls_leave_an_empty_reservation_and_a_half_released_attachment() {
    let r = certify("fault");
    let rt17 = requirement(&r, "RT-17");
    assert_eq!(rt17["verdict"], "fail", "{rt17}");
    let reason = rt17["reason"].as_str().unwrap();
    assert!(
        reason.contains("ADD killed after state-changing call")
            && reason.contains("faults seed 24301")
            && reason.contains("open(O_CREAT) (/var/lib/cni/networks/cnirs-hl/")
            && reason.contains("left behind: node: + file networks/cnirs-hl/"),
        "{reason}"
    );
    let rt20 = requirement(&r, "RT-20");
    assert_eq!(rt20["verdict"], "fail", "{rt20}");
    assert!(
        rt20["reason"]
            .as_str()
            .unwrap()
            .contains("CHECK succeeded though the killed DEL had removed"),
        "{rt20}"
    );
}

#[test]
fn parallel_adds_get_distinct_addresses() {
    let r = certify("concurrency-parallel");
    let rt3 = requirement(&r, "RT-3");
    assert_eq!(rt3["verdict"], "pass", "{rt3}");
}
