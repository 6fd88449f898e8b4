//! host-local under concurrent processes: the store lock must keep every address unique and
//! every reservation intact, among our own processes and mixed with upstream's.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

const UPSTREAM: &str = "/usr/lib/cni/host-local";
const NET: &str = "concnet";

fn ours() -> PathBuf {
    assert_cmd::cargo::cargo_bin("host-local")
}

fn upstream() -> PathBuf {
    assert!(
        Path::new(UPSTREAM).exists(),
        "{UPSTREAM} is missing: run scripts/setup.sh (installs Debian's containernetworking-plugins)"
    );
    PathBuf::from(UPSTREAM)
}

fn conf(data: &Path, subnet: &str) -> String {
    json!({"cniVersion": "1.0.0", "name": NET, "type": "bridge",
           "ipam": {"type": "host-local", "dataDir": data, "ranges": [[{"subnet": subnet}]]}})
    .to_string()
}

/// Starts one plugin process for `verb` on container `id` (ifname eth0).
fn spawn(bin: &Path, verb: &str, id: &str, conf: &str) -> Child {
    let mut child = Command::new(bin)
        .env_clear()
        .env("CNI_COMMAND", verb)
        .env("CNI_CONTAINERID", id)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_NETNS", "/run/netns/host-local-concurrency-unused")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plugin");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    child
}

/// Waits for a process; returns the ADD result's first address (`None` for DEL).
fn finish(child: Child, what: &str) -> Option<String> {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: exit {:?}, stdout {}, stderr {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = v["ips"][0]["address"].as_str().unwrap();
    Some(a.split('/').next().unwrap().to_string())
}

/// The store's reservations: address -> file content.
fn reservations(store: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap())
        .filter_map(|e| {
            let name = e.file_name().into_string().unwrap();
            name.parse::<std::net::IpAddr>().ok()?;
            Some((name, std::fs::read_to_string(e.path()).unwrap()))
        })
        .collect()
}

/// Checks that the store holds exactly one reservation per id in `ids`, in upstream's format,
/// and that `expected` (id -> address, where known) agrees with it.
fn assert_store(store: &Path, ids: &BTreeSet<String>, expected: &BTreeMap<String, String>) {
    let res = reservations(store);
    let owners: BTreeMap<String, String> = res
        .iter()
        .map(|(ip, content)| {
            let (id, ifname) = content
                .split_once("\r\n")
                .unwrap_or_else(|| panic!("{ip}: bad content {content:?}"));
            assert_eq!(ifname, "eth0", "{ip}");
            (id.to_string(), ip.clone())
        })
        .collect();
    assert_eq!(owners.len(), res.len(), "an id holds two addresses");
    let got_ids: BTreeSet<String> = owners.keys().cloned().collect();
    assert_eq!(&got_ids, ids);
    for (id, ip) in expected {
        assert_eq!(owners.get(id), Some(ip), "{id}");
    }
}

#[test]
fn two_hundred_concurrent_adds_then_add_del_churn() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = conf(&data, "10.80.0.0/24");
    let store = data.join(NET);
    let bin = ours();

    // 200 ADD processes at once: 200 distinct addresses, 200 files.
    let children: Vec<(String, Child)> = (0..200)
        .map(|i| {
            let id = format!("ctr-{i:03}");
            let child = spawn(&bin, "ADD", &id, &conf);
            (id, child)
        })
        .collect();
    let mut expected = BTreeMap::new();
    for (id, child) in children {
        let ip = finish(child, &id).unwrap();
        expected.insert(id, ip);
    }
    let distinct: BTreeSet<&String> = expected.values().collect();
    assert_eq!(distinct.len(), 200, "addresses handed out twice");
    for ip in &distinct {
        assert!(
            !["10.80.0.0", "10.80.0.1", "10.80.0.255"].contains(&ip.as_str()),
            "{ip}"
        );
    }
    let ids: BTreeSet<String> = expected.keys().cloned().collect();
    assert_eq!(reservations(&store).len(), 200);
    assert_store(&store, &ids, &expected);

    // Churn: 50 DELs of existing ids interleaved with 50 ADDs of new ones, all at once.
    let mut children = Vec::new();
    for i in 0..50 {
        let del_id = format!("ctr-{:03}", i * 4);
        children.push((del_id.clone(), spawn(&bin, "DEL", &del_id, &conf)));
        let add_id = format!("new-{i:03}");
        children.push((add_id.clone(), spawn(&bin, "ADD", &add_id, &conf)));
    }
    let mut ids = ids;
    for (id, child) in children {
        match finish(child, &id) {
            Some(ip) => {
                expected.insert(id.clone(), ip);
                ids.insert(id);
            }
            None => {
                expected.remove(&id);
                ids.remove(&id);
            }
        }
    }
    assert_eq!(ids.len(), 200);
    let distinct: BTreeSet<&String> = expected.values().collect();
    assert_eq!(
        distinct.len(),
        200,
        "addresses handed out twice during churn"
    );
    assert_eq!(reservations(&store).len(), 200);
    assert_store(&store, &ids, &expected);
}

/// Our processes and upstream's share one lock: mixed concurrent ADDs never collide, and a
/// mixed DEL wave leaves exactly the survivors.
#[test]
fn concurrent_adds_mixed_with_upstream_share_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = conf(&data, "10.81.0.0/24");
    let store = data.join(NET);
    let (ours, upstream) = (ours(), upstream());

    let children: Vec<(String, Child)> = (0..120)
        .map(|i| {
            let id = format!("mix-{i:03}");
            let bin = if i % 2 == 0 { &ours } else { &upstream };
            let child = spawn(bin, "ADD", &id, &conf);
            (id, child)
        })
        .collect();
    let mut expected = BTreeMap::new();
    for (id, child) in children {
        let ip = finish(child, &id).unwrap();
        expected.insert(id, ip);
    }
    let distinct: BTreeSet<&String> = expected.values().collect();
    assert_eq!(distinct.len(), 120, "addresses handed out twice");
    let mut ids: BTreeSet<String> = expected.keys().cloned().collect();
    assert_store(&store, &ids, &expected);

    // Each implementation deletes the other's reservations, concurrently.
    let children: Vec<(String, Child)> = (0..60)
        .map(|i| {
            let id = format!("mix-{:03}", i * 2 + (i % 2));
            let bin = if i % 2 == 0 { &upstream } else { &ours };
            let child = spawn(bin, "DEL", &id, &conf);
            (id, child)
        })
        .collect();
    for (id, child) in children {
        assert!(finish(child, &id).is_none());
        expected.remove(&id);
        ids.remove(&id);
    }
    assert_eq!(reservations(&store).len(), 60);
    assert_store(&store, &ids, &expected);
}

/// The lock is `<store>/lock` under flock(2), the one upstream takes: while another process
/// (here the test, standing in for upstream) holds it, ADD waits and writes nothing.
#[test]
fn add_waits_for_the_flock_on_the_lock_file() {
    use nix::fcntl::{Flock, FlockArg};
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = conf(&data, "10.82.0.0/24");
    let store = data.join(NET);
    std::fs::create_dir_all(&store).unwrap();
    for bin in [ours(), upstream()] {
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(store.join("lock"))
            .unwrap();
        let held = Flock::lock(lock, FlockArg::LockExclusive).unwrap();
        let id = format!("waiter-{}", bin.display().to_string().len());
        let mut child = spawn(&bin, "ADD", &id, &conf);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(700) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{} finished while the lock was held",
                bin.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let before = reservations(&store).len();
        drop(held);
        finish(child, &id).unwrap();
        assert_eq!(reservations(&store).len(), before + 1, "{}", bin.display());
    }
}

/// The duplicate check and the reservation happen under one lock: many simultaneous ADDs of
/// the same (container ID, ifname) yield exactly one reservation.
#[test]
fn simultaneous_adds_of_one_attachment_reserve_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = conf(&data, "10.83.0.0/24");
    let store = data.join(NET);
    let bin = ours();
    let children: Vec<Child> = (0..40).map(|_| spawn(&bin, "ADD", "same", &conf)).collect();
    let mut ok = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            ok += 1;
        } else {
            let e: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(e["code"], 102, "{e}");
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(reservations(&store).len(), 1);
}

/// Concurrent ADDs into a range smaller than the demand: exactly as many succeed as there are
/// free addresses, every other one fails with "no addresses", and nothing is left half-made.
#[test]
fn concurrent_adds_past_exhaustion() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // /29: .2 to .6 usable.
    let conf = conf(&data, "10.84.0.0/29");
    let store = data.join(NET);
    let bin = ours();
    let children: Vec<(String, Child)> = (0..24)
        .map(|i| {
            let id = format!("ex-{i:02}");
            let child = spawn(&bin, "ADD", &id, &conf);
            (id, child)
        })
        .collect();
    let mut expected = BTreeMap::new();
    for (id, child) in children {
        let out = child.wait_with_output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        if out.status.success() {
            let a = v["ips"][0]["address"].as_str().unwrap();
            expected.insert(id, a.split('/').next().unwrap().to_string());
        } else {
            assert_eq!(v["code"], 100, "{v}");
            assert!(v["msg"]
                .as_str()
                .unwrap()
                .contains("no IP addresses available"));
        }
    }
    assert_eq!(expected.len(), 5);
    let ids: BTreeSet<String> = expected.keys().cloned().collect();
    assert_store(&store, &ids, &expected);
}
