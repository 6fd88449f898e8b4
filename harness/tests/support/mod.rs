//! What the harness's integration tests share (`mod support;` in each): the workspace root and
//! a debug build of our reference plugins. Not every test file uses every helper.
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
