//! What ships for containers: the OCI image `scripts/build-image.sh` builds with buildah
//! (exactly the plugin set under the upstream names, one binary in one layer, entry point,
//! labels, size, the same digest from the same binary), and the Kubernetes manifests in
//! `deploy/kubernetes/` (valid against the Kubernetes schemas with `kubernetes-validate
//! --strict`, broken copies rejected; consistent with the image and the plugin set).
//!
//! buildah and kubernetes-validate come from `scripts/setup.sh`; without them these tests
//! fail under CI (`CI` set) and are skipped, saying so, elsewhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const MULTICALL: &str = env!("CARGO_BIN_EXE_cni-rs-plugins");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Whether `tool` runs; if not, a failure under CI and a skip elsewhere.
fn have(tool: &str, arg: &str) -> bool {
    if Command::new(tool).arg(arg).output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is missing (scripts/setup.sh installs it)"
    );
    eprintln!("skipped: no {tool} (scripts/setup.sh installs it)");
    false
}

fn plugin_names() -> Vec<String> {
    let out = run_ok(Command::new(MULTICALL).arg("--list"));
    text(&out.stdout).lines().map(str::to_string).collect()
}

// ---- the image ----

/// One OCI archive unpacked: its index, manifest and config, and the directory of blobs.
struct Archive {
    dir: tempfile::TempDir,
    index: Value,
    manifest: Value,
    config: Value,
}

impl Archive {
    fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir.path().join("blobs/sha256").join(hex)
    }

    fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.blob(digest)).unwrap()).unwrap()
    }

    fn open(path: &Path) -> Archive {
        let dir = tempfile::tempdir().unwrap();
        run_ok(
            Command::new("tar")
                .arg("-xf")
                .arg(path)
                .arg("-C")
                .arg(dir.path()),
        );
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let mut a = Archive {
            dir,
            index,
            manifest: Value::Null,
            config: Value::Null,
        };
        let manifests = a.index["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 1, "{}", a.index);
        a.manifest = a.json(manifests[0]["digest"].as_str().unwrap());
        a.config = a.json(a.manifest["config"]["digest"].as_str().unwrap());
        a
    }
}

/// A layer's entries as `tar -tv` lists them: (type char, mode, size, path, link target).
fn layer_entries(blob: &Path) -> Vec<(char, String, u64, String, Option<String>)> {
    let out = run_ok(
        Command::new("tar")
            .args(["--list", "--verbose", "--numeric-owner", "--gzip", "--file"])
            .arg(blob),
    );
    text(&out.stdout)
        .lines()
        .map(|l| {
            // -rwxr-xr-x 0/0 4123416 1970-01-01 00:00 path [link to target]
            let mut cols = l.split_whitespace();
            let mode = cols.next().unwrap().to_string();
            let _owner = cols.next();
            let size: u64 = cols.next().unwrap().parse().unwrap();
            let _date = cols.next();
            let _time = cols.next();
            let rest: Vec<&str> = cols.collect();
            let rest = rest.join(" ");
            let (path, link) = match rest.split_once(" link to ") {
                Some((p, t)) => (p.to_string(), Some(t.to_string())),
                None => (rest, None),
            };
            (
                mode.chars().next().unwrap(),
                mode[1..].to_string(),
                size,
                path.trim_end_matches('/').to_string(),
                link,
            )
        })
        .collect()
}

fn build_image(out: &Path) -> PathBuf {
    let out = run_ok(
        Command::new("bash")
            .arg(repo().join("scripts/build-image.sh"))
            .arg("--binary")
            .arg(MULTICALL)
            .arg("--out")
            .arg(out),
    );
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    PathBuf::from(lines[0])
}

/// The Containerfile's `CMD` as JSON.
fn containerfile_cmd() -> Value {
    let file = std::fs::read_to_string(repo().join("deploy/image/Containerfile")).unwrap();
    let line = file.lines().find(|l| l.starts_with("CMD ")).unwrap();
    serde_json::from_str(&line[4..]).unwrap()
}

#[test]
fn image_holds_exactly_the_plugin_set_in_one_layer_with_entry_point_and_labels() {
    if !have("buildah", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = build_image(&tmp.path().join("a"));
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("cni-rs-plugins_{VERSION}.oci.tar")
    );
    let a = Archive::open(&path);
    assert_eq!(
        a.index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        format!("localhost/cni-rs-plugins:{VERSION}")
    );

    // The configuration: entry point, default command, labels.
    let c = &a.config["config"];
    assert_eq!(a.config["os"], "linux");
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/usr/bin/cni-rs-plugins"])
    );
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["install", "--dir", "/host/opt/cni/bin", "--wait"])
    );
    let labels = &c["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "cni-rs-plugins");
    assert_eq!(labels["org.opencontainers.image.version"], VERSION);
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert!(
        labels["org.opencontainers.image.revision"]
            .as_str()
            .is_some_and(|r| !r.is_empty() && r != "unknown"),
        "{labels}"
    );

    // One layer: the binary once, every other name a hard link to it; nothing else.
    let layers = a.manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{}", a.manifest);
    let entries = layer_entries(&a.blob(layers[0]["digest"].as_str().unwrap()));
    let binary_len = std::fs::metadata(MULTICALL).unwrap().len();
    let regular: Vec<_> = entries.iter().filter(|e| e.0 == '-').collect();
    assert_eq!(regular.len(), 1, "one regular file: {entries:?}");
    let (_, mode, size, first, _) = regular[0];
    assert_eq!(mode, "rwxr-xr-x");
    assert_eq!(*size, binary_len);
    let mut files: BTreeSet<String> = BTreeSet::new();
    files.insert(first.clone());
    for e in &entries {
        match e.0 {
            'd' => assert!(
                ["opt", "opt/cni", "opt/cni/bin", "usr", "usr/bin"].contains(&e.3.as_str()),
                "unexpected directory {e:?}"
            ),
            'h' => {
                assert_eq!(e.4.as_deref(), Some(first.as_str()), "{e:?}");
                files.insert(e.3.clone());
            }
            '-' => {}
            _ => panic!("unexpected entry {e:?}"),
        }
    }
    let mut want: BTreeSet<String> = plugin_names()
        .iter()
        .map(|n| format!("opt/cni/bin/{n}"))
        .collect();
    want.insert("usr/bin/cni-rs-plugins".into());
    assert_eq!(files, want);

    // Size: the binary once (compressed), plus a few KiB of metadata.
    let archive_len = std::fs::metadata(&path).unwrap().len();
    assert!(
        archive_len < binary_len + (64 << 10),
        "archive {archive_len} bytes for a {binary_len}-byte binary"
    );

    // The same binary gives the same image (fixed timestamps).
    let again = Archive::open(&build_image(&tmp.path().join("b")));
    assert_eq!(
        a.index["manifests"][0]["digest"],
        again.index["manifests"][0]["digest"]
    );
}

// ---- Kubernetes manifests ----

fn manifests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

fn validate(file: &Path) -> Output {
    Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn kubernetes_manifests_pass_the_schemas_and_broken_copies_are_rejected() {
    if !have("kubernetes-validate", "--version") {
        return;
    }
    for file in manifests() {
        let out = validate(&file);
        assert!(
            out.status.success(),
            "{}: {}{}",
            file.display(),
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    // The validator does fail: a misspelt field (only --strict rejects it), a renamed required
    // field, a wrong type.
    let good =
        std::fs::read_to_string(repo().join("deploy/kubernetes/install-daemonset.yaml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (what, from, to, named) in [
        (
            "unknown field",
            "      hostNetwork: true\n",
            "      hostNetwork: true\n      hostNetworking: true\n",
            "'hostNetworking' was unexpected",
        ),
        (
            "required field renamed",
            "            path: /opt/cni/bin\n",
            "            pth: /opt/cni/bin\n",
            "'path' is a required property",
        ),
        (
            "wrong type",
            "terminationGracePeriodSeconds: 5",
            "terminationGracePeriodSeconds: soon",
            "soon",
        ),
    ] {
        assert!(
            good.contains(from),
            "{what}: the manifest changed: {from:?}"
        );
        let broken = tmp.path().join(format!("{}.yaml", what.replace(' ', "-")));
        std::fs::write(&broken, good.replacen(from, to, 1)).unwrap();
        let out = validate(&broken);
        let said = text(&out.stdout) + &text(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted: {said}");
        assert!(said.contains(named), "{what}: {said}");
    }
}

/// The manifest's documents as JSON (PyYAML comes with kubernetes-validate).
fn load_yaml(file: &Path) -> Value {
    let out = run_ok(
        Command::new("python3")
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            ])
            .arg(file),
    );
    let docs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 1, "{}", file.display());
    docs[0].clone()
}

/// The config `scripts/certify-reference-plugins.sh` picks for a plugin.
fn certification_config(name: &str) -> Option<String> {
    let dir = repo().join("conformance-cases/configs");
    for stem in [format!("{name}-ours"), name.to_string()] {
        for ext in ["json", "conflist"] {
            let f = format!("{stem}.{ext}");
            if dir.join(&f).is_file() {
                return Some(f);
            }
        }
    }
    None
}

#[test]
fn kubernetes_manifests_run_the_images_on_the_plugin_set() {
    if !have("python3", "--version") {
        return;
    }
    let dir = repo().join("deploy/kubernetes");
    let install = load_yaml(&dir.join("install-daemonset.yaml"));
    let pod = &install["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], format!("localhost/cni-rs-plugins:{VERSION}"));
    // The image's own default command, spelt out.
    assert_eq!(c["args"], containerfile_cmd());
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/host/opt/cni/bin");
    assert_eq!(pod["volumes"][0]["hostPath"]["path"], "/opt/cni/bin");

    let certify = load_yaml(&dir.join("certify-daemonset.yaml"));
    let pod = &certify["spec"]["template"]["spec"];
    let mut certified = Vec::new();
    for c in pod["initContainers"].as_array().unwrap() {
        assert_eq!(
            c["image"],
            format!("localhost/cni-rs-conformance:{VERSION}")
        );
        assert_eq!(c["securityContext"]["privileged"], true);
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[0], "certify");
        let arg = |k: &str| {
            args.iter()
                .find_map(|a| a.strip_prefix(&format!("--{k}=")))
                .unwrap_or_else(|| panic!("no --{k} in {args:?}"))
        };
        let name = arg("plugin").strip_prefix("/host/opt/cni/bin/").unwrap();
        assert_eq!(c["name"], format!("certify-{name}"));
        let config = certification_config(name).expect("a base config");
        assert_eq!(
            arg("config"),
            format!("/usr/share/cni-conformance/configs/{config}")
        );
        assert_eq!(arg("cni-path"), "/host/opt/cni/bin");
        assert_eq!(arg("json"), format!("/reports/{name}.json"));
        assert_eq!(arg("junit"), format!("/reports/{name}.xml"));
        certified.push(name.to_string());
    }
    // Every plugin but dhcp (certified by its end-to-end tests: it needs a DHCP server).
    let mut want: Vec<String> = plugin_names().into_iter().filter(|n| n != "dhcp").collect();
    want.sort();
    certified.sort();
    assert_eq!(certified, want);
    let volumes = pod["volumes"].as_array().unwrap();
    let reports = volumes.iter().find(|v| v["name"] == "reports").unwrap();
    assert_eq!(reports["hostPath"]["path"], "/var/log/cni-rs-certification");
    assert_eq!(
        pod["containers"][0]["command"],
        serde_json::json!(["/usr/bin/cni-rs-plugins", "wait"])
    );
}
