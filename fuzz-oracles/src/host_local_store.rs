//! host-local's on-disk store under arbitrary directory contents: files named like addresses
//! (in canonical and other textual forms) or not, holding a container ID and ifname (CRLF, LF,
//! padding), an old id-only form, garbage or more than 64 KiB; directories, FIFOs and
//! symbolic links (to files and directories outside the data directory, dangling, to other
//! entries), also where `lock` and `last_reserved_ip.<n>` belong; or a store directory that is
//! itself a symbolic link. Then a sequence of ADD, DEL, CHECK, GC and STATUS of the plugin
//! (`reference_plugins::plugins::host_local::{add, del, check, gc, status}`) for the
//! attachments the input names, in a fresh temporary directory per input. The input is a small
//! text (see [`Input`]), so that seeds are readable stores.
//!
//! The oracle reads the directory itself, with its own reading of the store format (the one
//! the store module documents), before and after every verb:
//! - nothing panics; errors carry the verb's documented codes;
//! - ADD never hands out an address whose name is in the store directory in any form, nor a
//!   second address in a range set where the attachment already holds one; what it hands out
//!   is usable in its range set and recorded as `<id>\r\n<ifname>` under the canonical name; a
//!   failed ADD leaves no new reservation;
//! - DEL releases only the attachment's own reservations (full form, else the old id-only
//!   form), and all of them; GC releases only, and every, stale reservation; CHECK succeeds
//!   only for an attachment that holds a reservation;
//! - nothing outside `<dataDir>/<network>` changes, no symbolic link is followed or replaced,
//!   and the only names ever created are addresses, `lock` and `last_reserved_ip.<n>`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, OsStr};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cni::args::CniArgs;
use cni::config::Attachment;
use cni::result::CniResult;
use cni::SpecVersion;
use reference_plugins::plugins::host_local::config::{IpamConfig, Requested, Source};
use reference_plugins::plugins::host_local::{self as hl, allocator::RangeSet};

use crate::request::assert_code;

/// Reservation files are read up to this size (the store's limit). An address-named file
/// larger than that is left out of the oracle's accounting: the verbs may keep or release it.
const MAX_CONTENT: usize = 64 * 1024;

/// The range sets of the network, small so that the store fills up and names collide.
const LAYOUTS: [&str; 3] = [
    r#"[[{"subnet":"10.0.0.0/29"}]]"#,
    r#"[[{"subnet":"10.0.0.0/29"}],[{"subnet":"fd00::/125"}]]"#,
    r#"[[{"subnet":"10.0.0.0/30"},{"subnet":"10.0.0.8/29","rangeStart":"10.0.0.10","gateway":"10.0.0.9"}]]"#,
];

/// At most this many entries and verbs are taken from an input.
const MAX_ENTRIES: usize = 32;
const MAX_OPS: usize = 16;

/// The input, a text of one instruction per line (unknown lines are skipped); `NAME`,
/// `CONTENT`, `ID`, `IFNAME` and `TARGET` may use the escapes `\r`, `\n`, `\t`, `\s` (space),
/// `\\` and `\xHH`:
///
/// ```text
/// layout N                     range sets LAYOUTS[N % 3] (default 0)
/// store-is-symlink             the store directory is a link to a directory outside
/// file NAME [CONTENT]          a regular file
/// big NAME lead|trail ID IFNAME  ID\r\nIFNAME after (lead) or before 64 KiB + 1 spaces
/// dir NAME | fifo NAME         a directory (holding a file) or a FIFO
/// link NAME TARGET             a symbolic link to @outside-file, @outside-dir, @missing or
///                              another name in the store
/// add ID IFNAME [IP]           ADD (IP: a requested address)
/// del ID IFNAME | check ID IFNAME
/// gc [ID/IFNAME ...]           GC with these valid attachments
/// status                       STATUS
/// ```
#[derive(Debug, Default)]
struct Input {
    layout: usize,
    store_is_symlink: bool,
    entries: Vec<(Vec<u8>, Kind)>,
    ops: Vec<Op>,
}

#[derive(Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Fifo,
    Link(Vec<u8>),
}

#[derive(Debug)]
enum Op {
    Add(String, String, Option<IpAddr>),
    Del(String, String),
    Check(String, String),
    Gc(Vec<(String, String)>),
    Status,
}

/// Undoes the escapes of a token.
fn unescape(t: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'\\' && i + 1 < t.len() {
            i += 1;
            match t[i] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b's' => out.push(b' '),
                b'x' if i + 2 < t.len() => {
                    match std::str::from_utf8(&t[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'x'),
                    }
                }
                c => out.push(c),
            }
        } else {
            out.push(t[i]);
        }
        i += 1;
    }
    out
}

fn text(t: &[u8]) -> String {
    String::from_utf8_lossy(&unescape(t)).into_owned()
}

fn parse_input(data: &[u8]) -> Input {
    let mut input = Input::default();
    for line in data.split(|&b| b == b'\n') {
        let words: Vec<&[u8]> = line
            .split(|b| *b == b' ')
            .filter(|w| !w.is_empty())
            .collect();
        let word = |i: usize| words.get(i).copied();
        let entry = input.entries.len() < MAX_ENTRIES;
        let op = input.ops.len() < MAX_OPS;
        match (word(0), word(1)) {
            (Some(b"layout"), Some(n)) => {
                input.layout = std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0)
                    % LAYOUTS.len();
            }
            (Some(b"store-is-symlink"), _) => input.store_is_symlink = true,
            (Some(b"file"), Some(name)) if entry => {
                let content = word(2).map(unescape).unwrap_or_default();
                input.entries.push((unescape(name), Kind::File(content)));
            }
            (Some(b"big"), Some(name)) if entry => {
                let owner = [
                    &unescape(word(3).unwrap_or_default())[..],
                    b"\r\n",
                    &unescape(word(4).unwrap_or_default()),
                ]
                .concat();
                let fill = vec![b' '; MAX_CONTENT + 1];
                let content = if word(2) == Some(b"lead") {
                    [fill, owner].concat()
                } else {
                    [owner, fill].concat()
                };
                input.entries.push((unescape(name), Kind::File(content)));
            }
            (Some(b"dir"), Some(name)) if entry => input.entries.push((unescape(name), Kind::Dir)),
            (Some(b"fifo"), Some(name)) if entry => {
                input.entries.push((unescape(name), Kind::Fifo))
            }
            (Some(b"link"), Some(name)) if entry => {
                let target = unescape(word(2).unwrap_or(b"@missing"));
                input.entries.push((unescape(name), Kind::Link(target)));
            }
            (Some(b"add"), Some(id)) if op => {
                let ip = word(3).and_then(|w| std::str::from_utf8(w).ok()?.parse().ok());
                input
                    .ops
                    .push(Op::Add(text(id), text(word(2).unwrap_or_default()), ip));
            }
            (Some(b"del"), Some(id)) if op => input
                .ops
                .push(Op::Del(text(id), text(word(2).unwrap_or_default()))),
            (Some(b"check"), Some(id)) if op => input
                .ops
                .push(Op::Check(text(id), text(word(2).unwrap_or_default()))),
            (Some(b"gc"), _) if op => {
                let valid = words[1..]
                    .iter()
                    .map(|w| {
                        let t = text(w);
                        match t.split_once('/') {
                            Some((id, ifname)) => (id.to_string(), ifname.to_string()),
                            None => (t, String::new()),
                        }
                    })
                    .collect();
                input.ops.push(Op::Gc(valid));
            }
            (Some(b"status"), _) if op => input.ops.push(Op::Status),
            _ => {}
        }
    }
    input
}

/// The oracle of the `host_local_store` target.
pub fn host_local_store(data: &[u8]) {
    run(&parse_input(data));
}

/// One directory entry as the oracle sees it (never following links).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(Vec<u8>),
    Dir,
    Link(PathBuf),
    Other,
}

fn node(path: &Path) -> Option<Node> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let t = meta.file_type();
    Some(if t.is_symlink() {
        Node::Link(std::fs::read_link(path).ok()?)
    } else if t.is_dir() {
        Node::Dir
    } else if t.is_file() {
        Node::File(std::fs::read(path).ok()?)
    } else {
        Node::Other
    })
}

/// The store directory's entries by name (empty when it is not a directory).
fn listing(store: &Path) -> BTreeMap<String, Node> {
    if !std::fs::symlink_metadata(store).is_ok_and(|m| m.is_dir()) {
        return BTreeMap::new();
    }
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(store).into_iter().flatten().flatten() {
        if let Some(n) = node(&e.path()) {
            let name = e.file_name();
            let key = match name.to_str() {
                Some(s) => s.to_string(),
                None => format!("{:?}", name.as_bytes()),
            };
            out.insert(key, n);
        }
    }
    out
}

/// The address a name stands for, read independently of the store: Rust's parser, IPv4-mapped
/// addresses as IPv4.
fn address(name: &str) -> Option<IpAddr> {
    name.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Who a reservation belongs to, by the documented format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Full(Vec<u8>, Vec<u8>),
    Legacy(Vec<u8>),
    Empty,
}

/// The reservation a directory entry is: an address-named regular file of at most 64 KiB.
fn reservation(name: &str, n: &Node) -> Option<(IpAddr, Owner)> {
    let ip = address(name)?;
    let Node::File(content) = n else { return None };
    if content.len() > MAX_CONTENT {
        return None;
    }
    let c = content.trim_ascii();
    let owner = if c.is_empty() {
        Owner::Empty
    } else {
        match c.windows(2).position(|w| w == b"\r\n") {
            Some(i) => Owner::Full(c[..i].to_vec(), c[i + 2..].to_vec()),
            None => Owner::Legacy(c.to_vec()),
        }
    };
    Some((ip, owner))
}

fn is_full(o: &Owner, (id, ifname): (&str, &str)) -> bool {
    *o == Owner::Full(id.into(), ifname.into())
}

fn is_legacy(o: &Owner, id: &str) -> bool {
    *o == Owner::Legacy(id.into())
}

/// The names (with owners) of `listing` that belong to `a`: its full-form reservations, or
/// when it has none, its id's old-form ones.
fn owned(listing: &BTreeMap<String, Node>, a: (&str, &str)) -> BTreeSet<String> {
    let res: Vec<(&String, Owner)> = listing
        .iter()
        .filter_map(|(k, n)| reservation(k, n).map(|(_, o)| (k, o)))
        .collect();
    let full: BTreeSet<String> = res
        .iter()
        .filter(|(_, o)| is_full(o, a))
        .map(|(k, _)| (*k).clone())
        .collect();
    if !full.is_empty() {
        return full;
    }
    res.iter()
        .filter(|(_, o)| is_legacy(o, a.0))
        .map(|(k, _)| (*k).clone())
        .collect()
}

/// Builds the input's world: `<tmp>/outside/{file,dir/inner}` and `<tmp>/data/net/...`.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    store: PathBuf,
    cfg: IpamConfig,
}

fn create(path: &Path, kind: &Kind, outside: &Path) {
    let link = |to: &Path| std::os::unix::fs::symlink(to, path);
    // An entry that cannot be made (a name taken twice, say) is left out.
    let _ = match kind {
        // create_new: writing through an existing name (a FIFO made before) could block.
        Kind::File(c) => std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| f.write_all(c)),
        Kind::Dir => {
            std::fs::create_dir(path).and_then(|_| std::fs::write(path.join("inner"), "c0\r\neth0"))
        }
        Kind::Fifo => {
            let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in the path");
            // SAFETY: a valid NUL-terminated path.
            match unsafe { libc::mkfifo(c.as_ptr(), 0o600) } {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        }
        Kind::Link(t) => match t.as_slice() {
            b"@outside-file" => link(&outside.join("file")),
            b"@outside-dir" => link(&outside.join("dir")),
            b"@missing" => link(&outside.join("missing")),
            other => link(Path::new(OsStr::from_bytes(other))),
        },
    };
}

impl World {
    fn new(input: &Input) -> World {
        // A memory file system where there is one: the verbs and the checks are file system
        // calls, several times faster there than on a journalled disk.
        let tmp = match Path::new("/dev/shm") {
            shm if shm.is_dir() => tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir()),
            _ => tempfile::tempdir(),
        }
        .expect("a temporary directory");
        let root = tmp.path().to_path_buf();
        let outside = root.join("outside");
        std::fs::create_dir_all(outside.join("dir")).unwrap();
        std::fs::write(outside.join("file"), "c1\r\neth0").unwrap();
        std::fs::write(outside.join("dir/10.0.0.2"), "c1\r\neth0").unwrap();
        let data = root.join("data");
        let store = data.join("net");
        std::fs::create_dir(&data).unwrap();
        if input.store_is_symlink {
            std::os::unix::fs::symlink(outside.join("dir"), &store).unwrap();
        } else {
            std::fs::create_dir(&store).unwrap();
            for (name, kind) in &input.entries {
                let bad = name.is_empty()
                    || name == b"."
                    || name == b".."
                    || name.len() > 255
                    || name.contains(&b'/')
                    || name.contains(&0);
                if !bad {
                    create(&store.join(OsStr::from_bytes(name)), kind, &outside);
                }
            }
        }
        let conf = format!(
            r#"{{"cniVersion":"1.0.0","name":"net","type":"bridge","ipam":{{"type":"host-local","dataDir":{},"ranges":{}}}}}"#,
            serde_json::Value::from(data.to_str().expect("a UTF-8 temporary path")),
            LAYOUTS[input.layout]
        );
        let cfg = IpamConfig::parse(conf.as_bytes(), &CniArgs::default(), SpecVersion::V1_0_0)
            .expect("the layouts are valid");
        World {
            _tmp: tmp,
            root,
            store,
            cfg,
        }
    }

    /// Everything the verbs must leave alone: every entry under the temporary root, by path
    /// relative to it (links not followed), but the store directory's own entries, which are
    /// not read; what lies inside a directory in the store is walked like the rest.
    fn untouchable(&self) -> BTreeMap<PathBuf, Node> {
        let mut out = BTreeMap::new();
        let mut todo = vec![self.root.clone()];
        while let Some(dir) = todo.pop() {
            let in_store = dir == self.store;
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if in_store {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        todo.push(p);
                    }
                    continue;
                }
                let Some(n) = node(&p) else { continue };
                if n == Node::Dir {
                    todo.push(p.clone());
                    if p == self.store {
                        continue;
                    }
                }
                out.insert(p.strip_prefix(&self.root).unwrap().to_path_buf(), n);
            }
        }
        out
    }
}

fn run(input: &Input) {
    let w = World::new(input);
    let sets = w.cfg.ranges.len();
    let mut allowed_new: BTreeSet<String> = ["lock".to_string()].into();
    allowed_new.extend((0..sets).map(|i| format!("last_reserved_ip.{i}")));
    // Nothing outside the store may change, so one walk before the verbs is the reference
    // for all of them; each verb's "after" listing is the next one's "before".
    let outside = w.untouchable();
    let mut before = listing(&w.store);
    for op in &input.ops {
        let after = match op {
            Op::Add(id, ifname, ip) => add(&w, (id, ifname), *ip, &before),
            Op::Del(id, ifname) => del(&w, (id, ifname), &before),
            Op::Check(id, ifname) => {
                check(&w, (id, ifname), &before);
                listing(&w.store)
            }
            Op::Gc(valid) => gc(&w, valid, &before),
            Op::Status => {
                if let Err(e) = hl::status(&w.cfg) {
                    assert_code("STATUS", &e, &[50]);
                }
                listing(&w.store)
            }
        };
        assert_eq!(
            outside,
            w.untouchable(),
            "{op:?} changed something outside the store"
        );
        for (name, n) in &after {
            match before.get(name) {
                None => assert!(
                    allowed_new.contains(name)
                        || address(name).is_some_and(|ip| ip.to_string() == *name),
                    "{op:?} created {name:?}"
                ),
                // Links are never followed or replaced.
                Some(old @ Node::Link(_)) => assert_eq!(old, n, "{op:?} changed link {name}"),
                Some(old) if address(name).is_none() && !allowed_new.contains(name) => {
                    assert_eq!(old, n, "{op:?} changed {name}")
                }
                Some(_) => {}
            }
        }
        for (name, n) in &before {
            if !after.contains_key(name) {
                assert!(
                    address(name).is_some() && *n != Node::Dir,
                    "{op:?} removed {name:?} ({n:?})"
                );
            }
        }
        before = after;
    }
}

/// The names of `before` gone from `after`, but for big files (see [`MAX_CONTENT`]).
fn released(before: &BTreeMap<String, Node>, after: &BTreeMap<String, Node>) -> BTreeSet<String> {
    before
        .iter()
        .filter(|(k, n)| !after.contains_key(*k) && !is_big(k, n))
        .map(|(k, _)| k.clone())
        .collect()
}

fn is_big(name: &str, n: &Node) -> bool {
    matches!(n, Node::File(c) if c.len() > MAX_CONTENT) && address(name).is_some()
}

fn usable_in(set: &RangeSet, ip: IpAddr) -> bool {
    set.range_for(ip)
        .is_some_and(|r| r.unusable_reason(ip).is_none())
}

/// Whether the store accepts `(id, ifname)` (else the verb fails with code 4).
fn valid_attachment(id: &str, ifname: &str) -> bool {
    hl::store::check_container_id(id).is_ok() && hl::store::check_ifname(ifname).is_ok()
}

/// ADD, checked; returns the store's listing after it.
fn add(
    w: &World,
    a: (&str, &str),
    request: Option<IpAddr>,
    before: &BTreeMap<String, Node>,
) -> BTreeMap<String, Node> {
    let mut cfg = w.cfg.clone();
    if let Some(ip) = request {
        cfg.requested = vec![Requested {
            ip: ip.to_canonical(),
            source: Source::Args,
        }];
    }
    let held: BTreeSet<IpAddr> = before.keys().filter_map(|k| address(k)).collect();
    let result = hl::add(&cfg, a.0, a.1);
    let after = listing(&w.store);
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            assert_code("ADD", &e, &[4, 5, 7, 100, 101, 102]);
            if e.code.code() == 4 {
                assert!(!valid_attachment(a.0, a.1), "ADD: code 4 for {a:?}");
            }
            let new: Vec<&String> = after
                .keys()
                .filter(|k| !before.contains_key(*k) && address(k).is_some())
                .collect();
            assert!(new.is_empty(), "a failed ADD left {new:?}: {e}");
            return after;
        }
    };
    assert!(valid_attachment(a.0, a.1), "ADD accepted {a:?}");
    let CniResult::V1(r) = r else {
        panic!("ADD answers in the 1.x layout")
    };
    assert_eq!(r.ips.len(), cfg.ranges.len(), "one address per range set");
    let mine_before = before
        .iter()
        .filter_map(|(k, n)| reservation(k, n))
        .filter(|(_, o)| is_full(o, a) || is_legacy(o, a.0));
    for (ip, _) in mine_before {
        assert!(
            !cfg.ranges.iter().any(|s| s.contains(ip)),
            "ADD for {a:?} succeeded although it holds {ip} in a range set"
        );
    }
    for (set, ipc) in cfg.ranges.iter().zip(&r.ips) {
        let ip = ipc.address.addr();
        assert!(
            !held.contains(&ip),
            "ADD handed out {ip}, already in the store"
        );
        assert!(
            usable_in(set, ip),
            "ADD handed out {ip}, not usable in {set}"
        );
        let range = set.range_for(ip).unwrap();
        assert_eq!(ipc.gateway, Some(range.gateway()));
        assert_eq!(ipc.address.prefix_len(), range.subnet().prefix_len());
        let want = format!("{}\r\n{}", a.0, a.1);
        assert_eq!(
            after.get(&ip.to_string()),
            Some(&Node::File(want.into_bytes())),
            "the reservation of {ip}"
        );
        if let Some(req) = request.map(|r| r.to_canonical()) {
            if set.contains(req) {
                assert_eq!(ip, req, "the requested address");
            }
        }
    }
    after
}

/// DEL, checked; returns the store's listing after it.
fn del(w: &World, a: (&str, &str), before: &BTreeMap<String, Node>) -> BTreeMap<String, Node> {
    // The store picks between the full and the id-only form by what it reads of every file,
    // a big file's first MAX_CONTENT bytes included (a big file in the full form makes the
    // id-only files stay); whether a big file itself goes is not checked (`released`).
    let mine: BTreeSet<String> = owned(&as_read(before), a)
        .into_iter()
        .filter(|k| !is_big(k, &before[k]))
        .collect();
    let result = hl::del(&w.cfg.location, a.0, a.1);
    let after = listing(&w.store);
    let gone = released(before, &after);
    assert!(
        gone.is_subset(&mine),
        "DEL for {a:?} released {:?}, not its own",
        gone.difference(&mine).collect::<Vec<_>>()
    );
    match result {
        Ok(()) => assert_eq!(gone, mine, "DEL for {a:?} left some of its reservations"),
        Err(e) if e.code.code() == 4 => assert!(!valid_attachment(a.0, a.1), "{e}"),
        Err(e) => assert_code("DEL", &e, &[5]),
    }
    after
}

/// `listing` as the store reads it: a file's first [`MAX_CONTENT`] bytes.
fn as_read(listing: &BTreeMap<String, Node>) -> BTreeMap<String, Node> {
    listing
        .iter()
        .map(|(k, n)| match n {
            Node::File(c) if c.len() > MAX_CONTENT => {
                (k.clone(), Node::File(c[..MAX_CONTENT].to_vec()))
            }
            _ => (k.clone(), n.clone()),
        })
        .collect()
}

fn check(w: &World, a: (&str, &str), before: &BTreeMap<String, Node>) {
    match hl::check(&w.cfg, a.0, a.1, None) {
        // A big file counts by what the store reads of it: its first 64 KiB.
        Ok(()) => assert!(
            !owned(&as_read(before), a).is_empty(),
            "CHECK for {a:?} passed without a reservation"
        ),
        Err(e) if e.code.code() == 4 => assert!(!valid_attachment(a.0, a.1), "{e}"),
        Err(e) => assert_code("CHECK", &e, &[5, hl::CODE_NOT_RESERVED]),
    }
}

/// GC, checked; returns the store's listing after it.
fn gc(
    w: &World,
    valid: &[(String, String)],
    before: &BTreeMap<String, Node>,
) -> BTreeMap<String, Node> {
    let attachments: Vec<Attachment> = valid
        .iter()
        .map(|(id, ifname)| Attachment {
            container_id: id.clone(),
            ifname: ifname.clone(),
        })
        .collect();
    let stale: BTreeSet<String> = before
        .iter()
        .filter_map(|(k, n)| reservation(k, n).map(|(_, o)| (k, o)))
        .filter(|(_, o)| match o {
            Owner::Full(id, ifname) => !attachments
                .iter()
                .any(|v| v.container_id.as_bytes() == id && v.ifname.as_bytes() == ifname),
            Owner::Legacy(id) => !attachments.iter().any(|v| v.container_id.as_bytes() == id),
            Owner::Empty => true,
        })
        .map(|(k, _)| k.clone())
        .collect();
    let result = hl::gc(&w.cfg.location, Some(&attachments));
    let after = listing(&w.store);
    let gone = released(before, &after);
    assert!(
        gone.is_subset(&stale),
        "GC released {:?}, which are not stale",
        gone.difference(&stale).collect::<Vec<_>>()
    );
    match result {
        Ok(()) => assert_eq!(gone, stale, "GC left stale reservations"),
        Err(e) => assert_code("GC", &e, &[5]),
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk sees changes outside the store and inside a directory in the store, and none
    /// to the store's own entries.
    #[test]
    fn untouchable_covers_all_but_the_store_entries() {
        let w = World::new(&parse_input(b"file 10.0.0.2 c0\\r\\neth0\ndir sub\n"));
        let before = w.untouchable();
        assert!(before.contains_key(Path::new("outside/file")));
        assert!(before.contains_key(Path::new("data/net/sub/inner")));
        assert!(!before
            .keys()
            .any(|p| p.ends_with("10.0.0.2") && p.starts_with("data")));

        std::fs::write(w.store.join("10.0.0.2"), "c9\r\neth1").unwrap();
        std::fs::write(w.store.join("10.0.0.3"), "c9\r\neth1").unwrap();
        assert_eq!(
            before,
            w.untouchable(),
            "the store's own entries are the verbs' to change"
        );

        std::fs::write(w.store.join("sub/inner"), "changed").unwrap();
        assert_ne!(before, w.untouchable(), "inside a store directory");
        std::fs::write(w.store.join("sub/inner"), "c0\r\neth0").unwrap();
        assert_eq!(before, w.untouchable());

        std::fs::write(w.root.join("outside/file"), "changed").unwrap();
        assert_ne!(before, w.untouchable(), "outside the store");
    }

    /// With the store a link, the link itself is one of the things that must stay.
    #[test]
    fn untouchable_keeps_a_linked_store() {
        let w = World::new(&parse_input(b"store-is-symlink\n"));
        let before = w.untouchable();
        assert!(matches!(
            before.get(Path::new("data/net")),
            Some(Node::Link(_))
        ));
        std::fs::remove_file(&w.store).unwrap();
        std::fs::create_dir(&w.store).unwrap();
        assert_ne!(before, w.untouchable());
    }
}
