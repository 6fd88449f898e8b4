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
