//! `cni-conformance requirements`: every black-box requirement is covered by a case or has a
//! stated reason, and the case tables load.

use assert_cmd::Command;

#[test]
fn every_blackbox_requirement_is_covered_or_explained() {
    let out = Command::cargo_bin("cni-conformance")
        .unwrap()
        .arg("requirements")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("NOT COVERED"), "{text}");
    // A few anchors: MUST rules that cases cover.
    for id in [
        "ADD-6 ",
        "DEL-6 ",
        "ERR-1 ",
        "VERSION-2 ",
        "CHECK-6 ",
        "GC-8 ",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} missing"));
        assert!(!line.contains("not covered"), "{line}");
    }
}

#[test]
fn version_flag_names_program_version_and_build() {
    let out = Command::cargo_bin("cni-conformance")
        .unwrap()
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "cni-conformance {} (build ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}
