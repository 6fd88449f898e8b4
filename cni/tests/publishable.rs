//! The workspace's publishable crates (`cni-rs`, `cni-netlink`, `netns-sandbox`,
//! `reference-plugins`, `cnitool`) package and build from their tarballs, carry the metadata
//! crates.io shows, and build with the Rust version they declare.
//!
//! `cargo package` of them together: cargo verifies each tarball by building it, resolving the
//! others from the tarballs made in the same run (they are not on crates.io). Takes about 30 s
//! with a warm `target/`, under two minutes after a cold `cargo test --workspace`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The crates published, by package name.
const PUBLISHED: [&str; 6] = [
    "cni-rs",
    "cni-netlink",
    "netns-sandbox",
    "harness",
    "reference-plugins",
    "cnitool",
];

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(workspace());
    c
}

fn metadata() -> Value {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

fn package<'a>(meta: &'a Value, name: &str) -> &'a Value {
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in the workspace"))
}

#[test]
fn publishable_crates_have_their_metadata() {
    let meta = metadata();
    for name in PUBLISHED {
        let p = package(&meta, name);
        for key in [
            "description",
            "license",
            "repository",
            "rust_version",
            "readme",
        ] {
            assert!(
                p[key].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: no {key}"
            );
        }
        let dir = Path::new(p["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf();
        assert!(
            dir.join(p["readme"].as_str().unwrap()).is_file(),
            "{name}: its README is missing"
        );
        let keywords = p["keywords"].as_array().expect("keywords");
        assert!(
            (1..=5).contains(&keywords.len()),
            "{name}: 1 to 5 keywords, has {keywords:?}"
        );
        assert!(
            !p["categories"].as_array().expect("categories").is_empty(),
            "{name}: no category"
        );
        // A path dependency needs a version to be published; a path-only dev-dependency is
        // dropped from the published manifest.
        for dep in p["dependencies"].as_array().expect("dependencies") {
            if dep["path"].is_string() && dep["kind"] != "dev" {
                assert_ne!(
                    dep["req"], "*",
                    "{name}: path dependency {} has no version",
                    dep["name"]
                );
            }
        }
    }
}

#[test]
fn publishable_crates_package_and_build_from_their_tarballs() {
    let mut cmd = cargo();
    cmd.args(["package", "--allow-dirty"]);
    for name in PUBLISHED {
        cmd.args(["-p", name]);
    }
    let out = cmd.output().expect("cargo package runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo package failed:\n{stderr}");
    for name in PUBLISHED {
        assert!(
            stderr.contains(&format!("Verifying {name} v")),
            "{name} was not verified:\n{stderr}"
        );
    }
}

/// The declared minimum Rust version is the one this test was built with (so `cargo test`
/// proves it), or, once CI's toolchain moves on, that toolchain builds the crates.
#[test]
fn declared_rust_version_builds_the_crates() {
    let meta = metadata();
    let declared: Vec<&str> = PUBLISHED
        .iter()
        .map(|n| package(&meta, n)["rust_version"].as_str().unwrap_or(""))
        .collect();
    assert!(
        declared.windows(2).all(|w| w[0] == w[1]),
        "the crates declare different rust-versions: {declared:?}"
    );
    let msrv = declared[0];
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("--version")
        .output()
        .expect("rustc runs");
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (…)" -> "1.95"
    let running: String = version
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    if running == msrv.split('.').take(2).collect::<Vec<_>>().join(".") {
        return;
    }
    let toolchain = if msrv.matches('.').count() == 1 {
        format!("{msrv}.0")
    } else {
        msrv.to_string()
    };
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace())
        .arg(format!("+{toolchain}"))
        .args(["check", "--all-targets"]);
    for name in PUBLISHED {
        cmd.args(["-p", name]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cargo +{toolchain} (the declared rust-version): {e}"));
    assert!(
        out.status.success(),
        "the crates do not build with their declared rust-version {msrv} (this test runs \
         with {running}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
