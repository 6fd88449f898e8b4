//! What ADD saves so that DEL can put the interface back: the previous value of each link
//! attribute ADD changes, in `<dataDir>/<containerID>_<ifName>.json`, mode 0600.
//!
//! The file is upstream's: a JSON object with `mac` (a string, `aa:bb:cc:dd:ee:ff`),
//! `promisc` (bool), `mtu` (number), `allmulti` (bool) and `txQLen` (number), each present
//! only when ADD changed that attribute, indented with one space as Go's
//! `json.MarshalIndent(…, "", " ")` writes it. Either implementation restores the other's
//! file: Go ignores keys it does not know, and this module reads keys in any case, as Go
//! does. Debian's 1.1.1 knows no `txQLen` (it neither sets nor restores the queue length).
//!
//! One key is ours: `network`, the network name, which GC needs (a GC request names the
//! valid attachments of one network, and several networks may share a data directory). Files
//! without it (upstream's) are never removed by GC.
//!
//! Files are written to a temporary name in the same directory and renamed into place, so a
//! reader sees the old file or the new one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::conf::fold_keys;
use crate::iface::{format_mac, parse_mac};
use crate::netlink::LinkChange;

/// The previous values of what ADD changed; `None` for what it did not touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Saved {
    pub mac: Option<[u8; 6]>,
    pub promisc: Option<bool>,
    pub mtu: Option<u32>,
    pub allmulti: Option<bool>,
    pub tx_queue_len: Option<u32>,
    /// The network of the attachment (ours; see the module documentation).
    pub network: Option<String>,
}

/// The file as it is written: upstream's keys, in upstream's order, then ours.
#[derive(Serialize)]
struct OnDisk<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    promisc: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allmulti: Option<bool>,
    #[serde(rename = "txQLen", skip_serializing_if = "Option::is_none")]
    tx_qlen: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<&'a str>,
}

const KEYS: &[&str] = &["mac", "promisc", "mtu", "allmulti", "txQLen", "network"];

impl Saved {
    /// The change that puts these values back.
    pub fn change(&self) -> LinkChange {
        LinkChange {
            mac: self.mac,
            mtu: self.mtu,
            promisc: self.promisc,
            allmulti: self.allmulti,
            tx_queue_len: self.tx_queue_len,
        }
    }

    /// Whether nothing is saved.
    pub fn is_empty(&self) -> bool {
        self.change().is_empty()
    }

    /// `self` with the attributes `older` saved taken from `older`: when ADD runs again for
    /// an attachment, the values from before the first ADD are the ones to restore.
    pub fn under(mut self, older: &Saved) -> Saved {
        self.mac = older.mac.or(self.mac);
        self.promisc = older.promisc.or(self.promisc);
        self.mtu = older.mtu.or(self.mtu);
        self.allmulti = older.allmulti.or(self.allmulti);
        self.tx_queue_len = older.tx_queue_len.or(self.tx_queue_len);
        self
    }

    /// The file's text.
    pub fn to_json(&self) -> String {
        let disk = OnDisk {
            mac: self.mac.map(|m| format_mac(&m)),
            promisc: self.promisc,
            mtu: self.mtu,
            allmulti: self.allmulti,
            tx_qlen: self.tx_queue_len,
            network: self.network.as_deref(),
        };
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        disk.serialize(&mut ser).expect("plain data serializes");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// Reads a file's text as Go would: keys in any case, `null` and the zero values Go
    /// omits (`""`, `0` for `mtu`) as absent, anything else of the wrong type an error.
    pub fn parse(text: &[u8]) -> Result<Saved, String> {
        let map = match serde_json::from_slice::<Value>(text) {
            Ok(Value::Object(map)) => fold_keys(map, KEYS),
            Ok(_) => return Err("not a JSON object".into()),
            Err(e) => return Err(format!("not JSON: {e}")),
        };
        let mac = match string(&map, "mac")? {
            None => None,
            Some(s) => Some(parse_mac(&s).map_err(|e| format!("mac: {e}"))?),
        };
        Ok(Saved {
            mac,
            promisc: boolean(&map, "promisc")?,
            mtu: number(&map, "mtu")?.filter(|m| *m != 0),
            allmulti: boolean(&map, "allmulti")?,
            tx_queue_len: number(&map, "txQLen")?,
            network: string(&map, "network")?,
        })
    }
}

fn string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!("{key}: expected a string, got {v}")),
    }
}

fn boolean(map: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(format!("{key}: expected true or false, got {v}")),
    }
}

fn number(map: &Map<String, Value>, key: &str) -> Result<Option<u32>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{key}: expected a number from 0 to {}, got {v}", u32::MAX)),
    }
}

/// The file name for an attachment: `<containerID>_<ifName>.json`. Both parts are checked
/// by skel already (no `/`); refused here again since they become a path.
pub fn file_name(container_id: &str, ifname: &str) -> Result<String, String> {
    for (what, v) in [("container ID", container_id), ("interface name", ifname)] {
        if v.is_empty() || v.contains(['/', '\0']) {
            return Err(format!("invalid {what} {v:?} for a file name"));
        }
    }
    if container_id.starts_with('.') {
        return Err(format!(
            "invalid container ID {container_id:?} for a file name"
        ));
    }
    Ok(format!("{container_id}_{ifname}.json"))
}

/// What reading a saved file found.
#[derive(Debug)]
pub enum Loaded {
    /// No file.
    Missing,
    Saved(Saved),
    /// A file that cannot be read as saved values (the reason).
    Invalid(String),
}

/// Reads the file at `path`.
pub fn load(path: &Path) -> io::Result<Loaded> {
    match fs::read(path) {
        Ok(text) => Ok(match Saved::parse(&text) {
            Ok(s) => Loaded::Saved(s),
            Err(e) => Loaded::Invalid(e),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded::Missing),
        Err(e) => Err(e),
    }
}

/// Writes `text` to `dir/name` atomically with mode 0600, creating `dir` (mode 0700) when
/// missing.
pub fn store(dir: &Path, name: &str, text: &str) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        // A temporary file left by a crashed run with this pid is ours to replace.
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        // The rename is durable once the directory is.
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Removes the temporary files [`store`] writes for `name` (`.<name>.tmp-<pid>`): one still
/// there was left by a process killed between writing and renaming it. Best effort; the
/// caller holds the attachment's lock, so no live writer of `name` is between those steps.
pub fn remove_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        if is_file && e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Removes a file; one that is not there is no error.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The saved-state files (`*.json`, not hidden) of `dir`; none when `dir` does not exist.
pub fn list(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !name.starts_with('.') && entry.file_type()?.is_file() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_as_go_writes_it() {
        let s = Saved {
            mac: Some([0x0a, 0x58, 0x0a, 0xf4, 0x00, 0xff]),
            promisc: Some(false),
            mtu: Some(1500),
            allmulti: Some(true),
            tx_queue_len: Some(1000),
            network: None,
        };
        assert_eq!(
            s.to_json(),
            "{\n \"mac\": \"0a:58:0a:f4:00:ff\",\n \"promisc\": false,\n \"mtu\": 1500,\n \
             \"allmulti\": true,\n \"txQLen\": 1000\n}"
        );
        assert_eq!(Saved::parse(s.to_json().as_bytes()).unwrap(), s);
        let only_mtu = Saved {
            mtu: Some(9000),
            network: Some("n1".into()),
            ..Saved::default()
        };
        assert_eq!(
            only_mtu.to_json(),
            "{\n \"mtu\": 9000,\n \"network\": \"n1\"\n}"
        );
        assert_eq!(
            Saved::parse(only_mtu.to_json().as_bytes()).unwrap(),
            only_mtu
        );
        assert_eq!(Saved::default().to_json(), "{}");
        assert!(Saved::default().is_empty());
    }

    #[test]
    fn read_as_go_reads_it() {
        let s = Saved::parse(
            br#"{"MAC":"0A-58-0A-F4-00-FF","Promisc":true,"MTU":0,"AllMulti":null,"txqlen":5,"x":1}"#,
        )
        .unwrap();
        assert_eq!(s.mac, Some([0x0a, 0x58, 0x0a, 0xf4, 0x00, 0xff]));
        assert_eq!(s.promisc, Some(true));
        assert_eq!(s.mtu, None, "0 is Go's 'not saved'");
        assert_eq!(s.allmulti, None);
        assert_eq!(s.tx_queue_len, Some(5));
        assert_eq!(Saved::parse(br#"{"mac":""}"#).unwrap(), Saved::default());
        for bad in [
            &br#"{"mtu":"1500"}"#[..],
            br#"{"mtu":-1}"#,
            br#"{"promisc":1}"#,
            br#"{"mac":"zz"}"#,
            br#"[]"#,
            b"not json",
        ] {
            assert!(
                Saved::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn earlier_saves_win() {
        let first = Saved {
            mtu: Some(1500),
            promisc: Some(false),
            ..Saved::default()
        };
        let second = Saved {
            mtu: Some(1400),
            tx_queue_len: Some(1000),
            network: Some("n".into()),
            ..Saved::default()
        };
        let merged = second.under(&first);
        assert_eq!(merged.mtu, Some(1500));
        assert_eq!(merged.promisc, Some(false));
        assert_eq!(merged.tx_queue_len, Some(1000));
        assert_eq!(merged.network.as_deref(), Some("n"));
    }

    #[test]
    fn names() {
        assert_eq!(file_name("abc", "eth0").unwrap(), "abc_eth0.json");
        assert_eq!(
            file_name("a_b.c-d", "eth0.100").unwrap(),
            "a_b.c-d_eth0.100.json"
        );
        for (id, ifname) in [
            ("", "eth0"),
            ("a/b", "eth0"),
            ("a", "x/y"),
            ("..", "x"),
            ("a", ""),
        ] {
            assert!(file_name(id, ifname).is_err(), "{id:?} {ifname:?}");
        }
    }

    #[test]
    fn store_load_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("deeper/tuning");
        assert!(list(&data).unwrap().is_empty());
        let s = Saved {
            mtu: Some(1500),
            ..Saved::default()
        };
        store(&data, "c1_eth0.json", &s.to_json()).unwrap();
        store(&data, "c1_eth0.json", &s.to_json()).unwrap();
        let path = data.join("c1_eth0.json");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(dmode & 0o777, 0o700);
        assert!(matches!(load(&path).unwrap(), Loaded::Saved(x) if x == s));
        fs::write(data.join("c2_eth0.json"), "garbage").unwrap();
        fs::write(data.join(".c3_eth0.json.tmp-1"), "{}").unwrap();
        fs::write(data.join("notes.txt"), "").unwrap();
        let names: Vec<String> = list(&data).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["c1_eth0.json", "c2_eth0.json"]);
        assert!(matches!(
            load(&data.join("c2_eth0.json")).unwrap(),
            Loaded::Invalid(_)
        ));
        assert!(matches!(
            load(&data.join("none.json")).unwrap(),
            Loaded::Missing
        ));
        fs::write(data.join(".c1_eth0.json.tmp-77"), "{").unwrap();
        remove_temporaries(&data, "c1_eth0.json");
        assert!(!data.join(".c1_eth0.json.tmp-77").exists());
        assert!(
            data.join(".c3_eth0.json.tmp-1").exists(),
            "another name's stays"
        );
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert!(matches!(load(&path).unwrap(), Loaded::Missing));
        // No temporary file stays behind.
        assert!(!fs::read_dir(&data).unwrap().flatten().any(|e| e
            .file_name()
            .to_string_lossy()
            .contains(".tmp-")
            && e.file_name() != ".c3_eth0.json.tmp-1"));
    }
}
