//! One test per (case, spec version): `cargo test --test conformance_cases -- --list` lists
//! them, `cargo test -- add-second-ifname` runs one case at every version.

mod common;

fn main() -> std::process::ExitCode {
    harness::testing::main(common::certification(env!("CARGO_BIN_EXE_vendor-ipam")))
}
