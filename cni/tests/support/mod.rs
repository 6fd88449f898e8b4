//! Shared by the cni integration tests (`mod support;` in each) and cnitool's (which include
//! this file by path): the example plugin `cni-test-plugin` they run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The example plugin's executable, in `examples/` of the profile directory this test runs
/// from (`target/<profile>/deps/<test>`). `cargo test -p cni-rs` builds examples but
/// `cargo test --test NAME` does not, and would leave a stale one in place, and other crates'
/// tests never build cni's examples: build it (a no-op when fresh) once per test process.
pub fn test_plugin() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test knows its executable");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from target/<profile>/deps");
        let plugin = profile_dir.join("examples").join("cni-test-plugin");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let build = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--example",
                "cni-test-plugin",
                "--profile",
                profile,
            ])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../cni/Cargo.toml"))
            .env(
                "CARGO_TARGET_DIR",
                profile_dir.parent().expect("target dir"),
            )
            .output();
        match build {
            Ok(out) => assert!(
                out.status.success(),
                "building the cni-test-plugin example failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!(
                "cannot run cargo ({e}); using {} as it is",
                plugin.display()
            ),
        }
        assert!(plugin.is_file(), "{} missing", plugin.display());
        plugin
    })
}
