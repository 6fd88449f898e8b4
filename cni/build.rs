//! Names the build for `--version` and the plugins' about text: sets `CNI_RS_BUILD` for the
//! crate. In order: `CNI_RS_BUILD` from the build's environment (a packager building from a
//! tarball sets it), `git describe --tags --always` of the checkout for release builds, else
//! the crate version. Debug builds skip git so that a commit does not rebuild every crate
//! above this one during development.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Re-run when HEAD moves: the HEAD file, the branch it names, and packed refs.
fn watch_head(dir: &Path) {
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };
    let (Some(git_dir), Some(common)) = (
        git(dir, &["rev-parse", "--git-dir"]).map(abs),
        git(dir, &["rev-parse", "--git-common-dir"]).map(abs),
    ) else {
        return;
    };
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Some(branch) = std::fs::read_to_string(&head)
        .ok()
        .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
    {
        println!("cargo:rerun-if-changed={}", common.join(branch).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        common.join("packed-refs").display()
    );
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CNI_RS_BUILD");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let from_env = std::env::var("CNI_RS_BUILD")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let build = from_env.or_else(|| {
        if !release {
            return None;
        }
        let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").ok()?);
        let described = git(&dir, &["describe", "--tags", "--always"])?;
        watch_head(&dir);
        Some(described)
    });
    println!("cargo:rustc-env=CNI_RS_BUILD={}", build.unwrap_or(version));
}
