//! The whole certification as one test: it fails listing every failed requirement with its
//! reason.

mod common;

#[test]
fn vendor_ipam_is_conformant() {
    common::certification(env!("CARGO_BIN_EXE_vendor-ipam"))
        .run()
        .expect("the harness can certify here (as root)")
        .assert_conformant();
}

/// The same assertion on the broken build (its second DEL of an attachment fails) panics
/// naming the requirement it breaks, with the level and the failing step.
#[test]
#[should_panic(expected = "DEL-6 (MUST): del-idempotent@")]
fn broken_variant_is_not_conformant() {
    common::certification(env!("CARGO_BIN_EXE_vendor-ipam-broken"))
        .run()
        .expect("the harness can certify here (as root)")
        .assert_conformant();
}
