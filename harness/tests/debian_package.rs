//! The Debian package of our plugins (`scripts/build-deb.sh`) installed with `dpkg --root` into
//! a scratch root with an empty package database, so the machine's own packages (whose
//! upstream plugins in /usr/lib/cni are the tests' peers) stay untouched; the installed
//! binaries certified by `cni-conformance` from that root's `/usr/lib/cni` (loopback, and bridge
//! delegating to the installed host-local); then the purge, which must leave nothing.

mod support;
use support::{build_plugins, workspace};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn dpkg(root: &Path) -> Command {
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", root.display()))
        .arg(format!("--log={}", root.join("var/log/dpkg.log").display()));
    c
}

#[test]
fn the_installed_debian_package_is_certified_then_purged_clean() {
    let bin = build_plugins();
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(
        "build-deb.sh",
        Command::new("bash")
            .arg(workspace().join("scripts/build-deb.sh"))
            // The debug binary is large; xz of it is slow and not what is tested here.
            .env("DEB_COMPRESSION", "gzip")
            .arg("--binary")
            .arg(bin.join("cni-rs-plugins"))
            .arg("--out")
            .arg(tmp.path())
            .output()
            .unwrap(),
    );
    let deb = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(deb.is_file(), "{deb:?}");

    let root = tmp.path().join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), b"").unwrap();
    ok("dpkg -i", dpkg(&root).arg("-i").arg(&deb).output().unwrap());

    let cni = root.join("usr/lib/cni");
    for (plugin, config) in [("loopback", "loopback.json"), ("bridge", "bridge.json")] {
        let installed = cni.join(plugin);
        assert!(installed.is_file(), "{installed:?} not installed");
        let out = ok(
            &format!("certify {}", installed.display()),
            Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
                .args(["certify", "--plugin"])
                .arg(&installed)
                .arg("--config")
                .arg(workspace().join("conformance-cases/configs").join(config))
                .arg("--cni-path")
                .arg(&cni)
                .output()
                .unwrap(),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("CONFORMANT") && !text.contains("NOT CONFORMANT"),
            "{plugin}: {text}"
        );
    }

    ok(
        "dpkg --purge",
        dpkg(&root)
            .arg("--purge")
            .arg("cni-rs-plugins")
            .output()
            .unwrap(),
    );
    assert!(!root.join("usr").exists(), "purge left files under usr/");
    for unit in ["cni-dhcp.socket", "cni-dhcp.service"] {
        let path = root.join("lib/systemd/system").join(unit);
        assert!(!path.exists(), "purge left {path:?}");
    }
}
