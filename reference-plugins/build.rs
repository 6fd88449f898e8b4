//! Link layout of the multicall binary `cni-rs-plugins`: passes `link-order.txt` (written by
//! `scripts/link-order.sh`) to the linker as its symbol ordering file, so that the functions
//! every plugin runs come first and each plugin's own lie together. A plugin process then maps
//! few 64 KiB fault-around windows of the binary's text instead of most of it (measurements:
//! `BENCH.md`). Only where the linker is known to be lld: the x86_64 Linux GNU target with
//! rustc 1.90 or later (whose default linker there is its own `rust-lld`) and no linker chosen
//! in the flags or the environment. Elsewhere nothing is passed: the layout only changes
//! resident size, never behaviour, and a name the file lists that the build does not define is
//! ignored.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("link-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    if order.is_file() && linker_is_rust_lld() {
        for arg in [
            format!("-Wl,--symbol-ordering-file={}", order.display()),
            "-Wl,--no-warn-symbol-ordering".to_string(),
        ] {
            println!("cargo:rustc-link-arg-bin=cni-rs-plugins={arg}");
        }
    }
}

fn linker_is_rust_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    if env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some() {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return false;
    }
    rustc_minor().is_some_and(|minor| minor >= 90)
}

/// The minor version of the rustc that builds the crate (`release: 1.95.0`).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let release = text.lines().find_map(|l| l.strip_prefix("release: "))?;
    let mut parts = release.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
