//! What the harness's integration tests share (`mod support;` in each): the workspace root, a
//! debug build of our reference plugins, and the harness's example plugins (the mutants). Not every test file uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the reference plugins (debug profile, as `cargo test` builds everything) and returns
/// their directory, the one this test binary's `deps/` sits in.
pub fn build_plugins() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "reference-plugins", "--bins"])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building reference-plugins failed");
    let exe = std::env::current_exe().expect("test exe");
    // target/debug/deps/<test> -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Builds the harness's example `name` (a lone `cargo test --test <file>` builds no examples;
/// after a whole `cargo test` this is a no-op) and returns its path.
pub fn build_example(name: &str) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "harness", "--example", name])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the {name} example failed");
    let exe = std::env::current_exe().expect("test exe");
    // target/debug/deps/<test> -> target/debug/examples/<name>
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(bin.is_file(), "{} missing", bin.display());
    bin
}
