//! Embeds the requirement catalogue and the case tables (`conformance-cases/`, a link to the
//! workspace's directory that `cargo package` turns into a copy) into the library, so that a
//! certification needs no checkout: writes `$OUT_DIR/embedded.rs` with one `include_str!` per
//! file, the case files in lexical order as `cases::load_dir` reads them.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("conformance-cases");
    let cases_dir = root.join("cases");
    println!(
        "cargo:rerun-if-changed={}",
        root.join("requirements.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("uncovered.toml").display()
    );
    println!("cargo:rerun-if-changed={}", cases_dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", cases_dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let lit = |p: &Path| format!("{:?}", p.display().to_string());
    let mut out = String::new();
    out.push_str(&format!(
        "/// `requirements.toml`.\npub(crate) const REQUIREMENTS: &str = include_str!({});\n",
        lit(&root.join("requirements.toml"))
    ));
    out.push_str(&format!(
        "/// `uncovered.toml`.\npub(crate) const UNCOVERED: &str = include_str!({});\n",
        lit(&root.join("uncovered.toml"))
    ));
    out.push_str("/// The case files (name, text) in lexical order.\n");
    out.push_str("pub(crate) const CASE_FILES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        out.push_str(&format!("    ({name:?}, include_str!({})),\n", lit(f)));
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("embedded.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}
