//! How the plugins ship: `--version` on every plugin binary and on the multicall binary, the
//! multicall binary running each plugin by the name it is started under, and
//! `scripts/install.sh` (install, idempotence, refusal of files it did not install, `--force`,
//! atomic replacement) in a temporary directory.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::install_dir::{
    assert_one_binary_under_every_name, leftovers, replace_under_reader, sha256_hex, state,
    variant, Reads, MULTICALL,
};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The plugin names: one per `src/bin/<name>.rs`.
fn plugin_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

fn plugin_bin(name: &str) -> PathBuf {
    // Cargo puts the test's sibling binaries next to the multicall one.
    Path::new(MULTICALL).with_file_name(name)
}

fn assert_version_line(out: &Output, name: &str) {
    let text = stdout(out);
    assert!(out.status.success(), "{name}: {text}{}", stderr(out));
    assert_eq!(text.lines().count(), 1, "{name}: {text}");
    assert!(text.contains(name), "{name}: {text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{name}: {text}");
    assert!(text.contains("build "), "{name}: {text}");
}

#[test]
fn every_plugin_binary_answers_version_without_cni_environment() {
    for name in plugin_names() {
        let out = Command::new(plugin_bin(&name))
            .arg("--version")
            .env_clear()
            .output()
            .unwrap();
        assert_version_line(&out, &name);
        assert!(stdout(&out).starts_with(&format!("CNI {name} plugin (cni-rs ")));
    }
}

#[test]
fn version_flag_is_checked_before_the_cni_environment() {
    // CNI_COMMAND set and stdin empty: --version still wins, nothing is read.
    let out = Command::new(plugin_bin("loopback"))
        .arg("--version")
        .env("CNI_COMMAND", "ADD")
        .output()
        .unwrap();
    assert_version_line(&out, "loopback");
    // Without the flag the same environment is a CNI error (missing variables, code 4).
    let out = Command::new(plugin_bin("loopback"))
        .env_clear()
        .env("CNI_COMMAND", "ADD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["code"], 4, "{err}");
}

/// A directory with `name` hard-linked to the multicall binary.
fn linked_as(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::hard_link(MULTICALL, &p).unwrap();
    p
}

#[test]
fn multicall_runs_each_plugin_by_the_name_it_is_started_under() {
    let tmp = tempfile::tempdir().unwrap();
    let listed = Command::new(MULTICALL).arg("--list").output().unwrap();
    assert!(listed.status.success());
    let listed: Vec<String> = stdout(&listed).lines().map(str::to_string).collect();
    assert_eq!(listed, plugin_names());
    for name in &listed {
        let p = linked_as(tmp.path(), name);
        // The plugin's own about text, not the multicall's: the name picked the plugin.
        let out = Command::new(&p).arg("--version").output().unwrap();
        assert_version_line(&out, name);
        assert!(
            stdout(&out).starts_with(&format!("CNI {name} plugin")),
            "{}",
            stdout(&out)
        );
        // VERSION through the link answers as a plugin.
        let out = Command::new(&p)
            .env_clear()
            .env("CNI_COMMAND", "VERSION")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            v["supportedVersions"]
                .as_array()
                .is_some_and(|l| !l.is_empty()),
            "{v}"
        );
        // Exactly the spec's two keys: the build is not added to VERSION's answer.
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    }
    let out = Command::new(MULTICALL).arg("--version").output().unwrap();
    assert_version_line(&out, "cni-rs-plugins");
}

#[test]
fn multicall_under_an_unknown_name_answers_a_cni_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = linked_as(tmp.path(), "flannel");
    let out = Command::new(&p)
        .env_clear()
        .env("CNI_COMMAND", "ADD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["code"], 999, "{err}");
    assert!(err["msg"].as_str().unwrap().contains("flannel"), "{err}");
    assert!(err["cniVersion"].is_string(), "{err}");
    // From a person (no CNI_COMMAND): usage, exit 2.
    let out = Command::new(&p).env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a plugin name"),
        "{}",
        stderr(&out)
    );
}

// ---- scripts/install.sh ----

fn install(dir: &Path, binary: &Path, extra: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install.sh");
    Command::new("bash")
        .arg(script)
        .arg("--dir")
        .arg(dir)
        .arg("--binary")
        .arg(binary)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn install_puts_every_plugin_in_place_once_and_a_second_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let out = install(&dir, Path::new(MULTICALL), &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let want = sha256_hex(&std::fs::read(MULTICALL).unwrap());
    let names = plugin_names();
    assert_one_binary_under_every_name(&dir, &names);
    for name in &names {
        let out = Command::new(dir.join(name))
            .arg("--version")
            .output()
            .unwrap();
        assert_version_line(&out, name);
    }
    let manifest = std::fs::read_to_string(dir.join(".cni-rs-installed")).unwrap();
    for name in &names {
        assert!(
            manifest.lines().any(|l| l == format!("{want}  {name}")),
            "{manifest}"
        );
    }

    let before = state(&dir);
    let out = install(&dir, Path::new(MULTICALL), &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("up to date"), "{}", stdout(&out));
    assert_eq!(state(&dir), before, "a second run wrote to the directory");
}

#[test]
fn install_refuses_files_it_did_not_install_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("ptp"), b"#!/bin/sh\necho someone else's ptp\n").unwrap();
    let before = state(&dir);

    let out = install(&dir, Path::new(MULTICALL), &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("ptp"), "{}", stderr(&out));
    assert_eq!(state(&dir), before, "a refused run changed the directory");

    let out = install(&dir, Path::new(MULTICALL), &["--force"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let ours = std::fs::read(MULTICALL).unwrap();
    assert_eq!(std::fs::read(dir.join("ptp")).unwrap(), ours);
    let manifest = std::fs::read_to_string(dir.join(".cni-rs-installed")).unwrap();
    assert!(manifest.contains("  ptp\n"), "{manifest}");

    // A file of ours replaced since (another tool wrote a new one) is someone else's again.
    std::fs::remove_file(dir.join("tuning")).unwrap();
    std::fs::write(dir.join("tuning"), b"not ours any more").unwrap();
    let before = state(&dir);
    let newer = variant(tmp.path(), "newer", 4096);
    let out = install(&dir, &newer, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("tuning"), "{}", stderr(&out));
    assert_eq!(state(&dir), before);
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

#[test]
fn install_replaces_atomically_and_leaves_no_temporary_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let old = std::fs::read(MULTICALL).unwrap();
    let out = install(&dir, Path::new(MULTICALL), &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A new build, larger so that writing it in place would take a while.
    let newer = variant(tmp.path(), "newer", 8 << 20);
    let new = std::fs::read(&newer).unwrap();

    // Every read must see the old file or the new one, whole.
    let (out, Reads { olds, news, torn }) =
        replace_under_reader(&dir.join("bridge"), old, new.clone(), || {
            install(&dir, &newer, &[])
        });
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        torn.is_empty(),
        "reads saw partial or missing files: {torn:?}"
    );
    assert!(olds > 0 && news > 0, "reads: {olds} old, {news} new");
    for name in plugin_names() {
        assert_eq!(std::fs::read(dir.join(&name)).unwrap(), new, "{name}");
    }
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

// ---- scripts/build-deb.sh ----

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// A scratch root with an empty dpkg database: `dpkg --root` installs there and never touches
/// the machine's own packages (the upstream plugins in /usr/lib/cni stay the tests' peers).
fn scratch_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), b"").unwrap();
    root
}

fn dpkg(root: &Path) -> Command {
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", root.display()))
        .arg(format!("--log={}", root.join("var/log/dpkg.log").display()));
    c
}

#[test]
fn debian_package_installs_every_plugin_into_usr_lib_cni_and_purges_clean() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        eprintln!("skipped: no dpkg-deb");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-deb.sh");
    let out = run_ok(
        Command::new("bash")
            .arg(script)
            // The debug binary is large; xz of it is slow and not what is tested here.
            .env("DEB_COMPRESSION", "gzip")
            .arg("--binary")
            .arg(MULTICALL)
            .arg("--out")
            .arg(tmp.path()),
    );
    let deb = PathBuf::from(stdout(&out).trim());
    assert!(deb.is_file(), "{deb:?}");

    let fields = stdout(&run_ok(Command::new("dpkg-deb").arg("-f").arg(&deb)));
    for field in ["Provides", "Replaces", "Conflicts"] {
        assert!(
            fields.contains(&format!("{field}: containernetworking-plugins")),
            "{fields}"
        );
    }

    let root = scratch_root(tmp.path());
    run_ok(dpkg(&root).arg("-i").arg(&deb));
    let cni = root.join("usr/lib/cni");
    let names = plugin_names();
    let inode = std::fs::metadata(cni.join(&names[0])).unwrap().ino();
    for name in &names {
        assert_eq!(
            std::fs::metadata(cni.join(name)).unwrap().ino(),
            inode,
            "{name}"
        );
        let out = Command::new(cni.join(name))
            .arg("--version")
            .output()
            .unwrap();
        assert_version_line(&out, name);
    }
    let listed = stdout(&run_ok(dpkg(&root).arg("-L").arg("cni-rs-plugins")));
    for name in &names {
        assert!(
            listed.contains(&format!("/usr/lib/cni/{name}\n")),
            "{listed}"
        );
    }

    for unit in ["cni-dhcp.socket", "cni-dhcp.service"] {
        assert!(
            listed.contains(&format!("/lib/systemd/system/{unit}\n")),
            "{listed}"
        );
        let text = std::fs::read_to_string(root.join("lib/systemd/system").join(unit)).unwrap();
        assert!(
            text.contains("/run/cni/dhcp.sock") || text.contains("/usr/lib/cni/dhcp daemon"),
            "{unit}: {text}"
        );
    }

    run_ok(dpkg(&root).arg("--purge").arg("cni-rs-plugins"));
    assert!(!root.join("usr").exists(), "purge left files under usr/");
    assert!(
        !root.join("lib/systemd/system/cni-dhcp.service").exists(),
        "purge left the dhcp units"
    );
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(!status.contains("Package: cni-rs-plugins"), "{status}");
}
