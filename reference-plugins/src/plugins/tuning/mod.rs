//! The `tuning` plugin's work: a chained plugin that adjusts the interface an earlier plugin
//! of the list made (`CNI_IFNAME` in the container) and the container's network sysctls.
//!
//! - ADD (needs `prevResult`): checks the whole configuration first ([`config`]), then writes
//!   the sysctls inside the container's namespace ([`sysctl`]), saves the previous value of
//!   each link attribute it is about to change ([`state`]), and changes MAC, MTU, promiscuous
//!   mode, all-multicast mode and transmit queue length in one netlink request. The result is
//!   `prevResult` with the interface's `mac` updated when the MAC changed, so that a later
//!   CHECK (by the interface plugin or the runtime) compares against the new MAC. A failure
//!   part-way puts back what ADD had changed: sysctls, link attributes, the saved file.
//! - CHECK: every configured value (sysctls and link attributes) against the kernel, and the
//!   interface's MAC in `prevResult`, when it lists one, against the link.
//! - DEL: puts back the saved link attributes (sysctls are not restored, as upstream) and
//!   removes the file; success when there is no file, no namespace or no link any more.
//! - STATUS: the configuration is valid and the data directory is usable (exists as a
//!   writable directory, or can be created); else code 50.
//! - GC: removes saved files of this network whose attachment is not in
//!   `cni.dev/valid-attachments`.
//!
//! Where this differs from upstream (v1.9), on purpose (see also [`config`], [`sysctl`] and
//! [`state`]; `conformance-cases/upstream-deviations.toml`, UPSTREAM-13 to UPSTREAM-18):
//!
//! - Configuration errors are found before anything changes and carry codes 4, 6 and 7;
//!   upstream reports 999, sometimes after writing some sysctls.
//! - A failed ADD undoes its changes; upstream leaves them (and its saved file) (UPSTREAM-15).
//! - ADD run again for an attachment keeps the values saved by the first ADD (upstream
//!   overwrites them with the tuned values, so DEL would not restore the originals).
//! - The result's `mac` is written in the kernel's form (`aa:bb:…`, lowercase), whatever form
//!   the configuration used, and only on interfaces named `CNI_IFNAME` that have a sandbox;
//!   upstream copies the configured text onto every interface with that name.
//! - Promiscuous mode is read from the link's `IFF_PROMISC` flag (what ADD set), not from the
//!   kernel's promiscuity counter, which a packet capture or a bridge raises too.
//! - CHECK only checks what the configuration sets (upstream also requires promiscuous mode
//!   off when `promisc` is absent), compares MACs as addresses and multi-value sysctls word by
//!   word (the kernel prints tabs).
//! - DEL fails, keeping the file for a retry, when the kernel refuses to restore an attribute
//!   of a link that is still there (upstream always succeeds and keeps the file); an
//!   unreadable file, or one whose link or namespace is gone, is removed (upstream keeps it)
//!   (UPSTREAM-14).
//! - STATUS and GC exist (upstream has neither) (UPSTREAM-18).

use std::fs;
use std::path::{Path, PathBuf};

use cni::result::{CniResult, Interface};
use cni::{CmdArgs, Error, ErrorCode};
use serde_json::Value;

pub mod config;
pub mod plan;
pub mod state;
pub mod sysctl;

use self::config::{TuningConf, ALLOWLIST, DEFAULT_DATA_DIR};
use self::state::{Loaded, Saved};
use crate::check::check_mac;
use crate::conf::fold_keys;
use crate::error::{internal, Context, FirstFailure};
use crate::iface::format_mac;
use crate::netlink::{Link, LinkChange, Netlink};
use crate::netns;
use crate::plugins::Verbs;
use crate::rollback::Rollback;

// ----- ADD -------------------------------------------------------------------------------

/// ADD: see the module documentation.
pub fn add(args: &CmdArgs) -> Result<CniResult, Error> {
    let plan::AddPlan {
        conf,
        prev,
        netns,
        saved,
    } = plan::AddPlan::new(args)?;
    let ifname = args.ifname.as_str();
    let mut cont = netns::open_path(&netns)?;
    let target = if let Some(file) = saved {
        let link = container_link(&mut cont, ifname)?;
        let tx_queue_len = match conf.tx_queue_len {
            Some(_) => Some(
                cont.tx_queue_len(link.index)
                    .with_context(|| format!("tuning: read the queue length of {ifname:?}"))?,
            ),
            None => None,
        };
        Some((file, link, tx_queue_len))
    } else {
        None
    };

    let mut rollback = Rollback::new("tuning", &mut cont);
    if !conf.sysctls.is_empty() {
        let list: Vec<(&str, &sysctl::SysctlPath, &str)> = conf
            .sysctls
            .iter()
            .map(|s| (s.key.as_str(), &s.path, s.value.as_str()))
            .collect();
        let written = sysctl::write_all(rollback.ctx().netns(), &list)?;
        rollback.on_failure("sysctls", move |nl: &mut Netlink| {
            sysctl::restore(nl.netns(), &written)
        });
    }

    let mut new_mac = None;
    if let Some((file, link, tx_queue_len)) = target {
        let change = LinkChange {
            mac: conf.mac.map(|m| m.addr.0),
            mtu: conf.mtu,
            promisc: conf.promisc,
            allmulti: conf.allmulti,
            tx_queue_len: conf.tx_queue_len,
        };
        let previous = previous_values(&link, tx_queue_len, &change);
        let path = conf.data_dir.join(&file);
        let old_text = match fs::read(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("tuning: read {}", path.display())),
        };
        let mut saved = previous.clone();
        saved.network = Some(args.conf.name.clone());
        // A file from an earlier ADD of this attachment holds the values from before it.
        if let Some(earlier) = old_text.as_deref().and_then(|t| Saved::parse(t).ok()) {
            saved = saved.under(&earlier);
        }
        // Recorded first, since a store that fails late may have replaced the file already:
        // on failure the file is as it was before this ADD.
        rollback.on_failure("saved values", {
            let path = path.clone();
            move |_: &mut Netlink| -> Result<(), String> {
                match &old_text {
                    Some(text) => fs::write(&path, text).map_err(|e| e.to_string()),
                    None => state::remove(&path).map_err(|e| e.to_string()),
                }
            }
        });
        state::store(&conf.data_dir, &file, &saved.to_json()).with_context(|| {
            format!(
                "tuning: cannot save the previous values to {}",
                path.display()
            )
        })?;
        // Recorded before the change: the kernel may apply part of a request it refuses.
        let index = link.index;
        let undo = previous.change();
        rollback.on_failure("link attributes", move |nl: &mut Netlink| {
            apply_each(nl, index, &undo).map_err(|e| e.msg)
        });
        rollback
            .ctx()
            .set_link_attrs(index, &change)
            .with_context(|| format!("tuning: cannot change {ifname:?}"))?;
        new_mac = change.mac;
    }
    rollback.commit();
    Ok(match new_mac {
        Some(mac) => with_mac(prev, ifname, &format_mac(&mac)),
        None => prev,
    })
}

/// The container's `ifname`, or an error saying it is missing.
fn container_link(cont: &mut Netlink, ifname: &str) -> Result<Link, Error> {
    match cont.link(ifname) {
        Ok(link) => Ok(link),
        Err(e) if e.is_not_found() => Err(internal(format!(
            "tuning: the container has no interface {ifname:?} (tuning adjusts an interface an \
             earlier plugin made)"
        ))),
        Err(e) => Err(e).with_context(|| format!("tuning: look up {ifname:?}")),
    }
}

/// The link's current values of what `change` changes.
fn previous_values(link: &Link, tx_queue_len: Option<u32>, change: &LinkChange) -> Saved {
    let mac = link
        .mac
        .as_deref()
        .and_then(|m| <[u8; 6]>::try_from(m).ok());
    Saved {
        mac: change.mac.and(mac),
        promisc: change.promisc.map(|_| link.is_promisc()),
        mtu: change.mtu.and(link.mtu),
        allmulti: change.allmulti.map(|_| link.is_allmulti()),
        tx_queue_len: change.tx_queue_len.and(tx_queue_len),
        network: None,
    }
}

/// `prev` with `mac` on its container interfaces named `ifname`.
fn with_mac(mut prev: CniResult, ifname: &str, mac: &str) -> CniResult {
    let set = |interfaces: &mut Vec<Interface>| {
        for i in interfaces
            .iter_mut()
            .filter(|i| i.name == ifname && i.sandbox.as_deref().is_some_and(|s| !s.is_empty()))
        {
            i.mac = Some(mac.to_string());
        }
    };
    match &mut prev {
        CniResult::V1(r) => set(&mut r.interfaces),
        CniResult::V04(r) => set(&mut r.interfaces),
        CniResult::Legacy(_) => {}
    }
    prev
}

/// Applies `change` in one request; when the kernel refuses it, each attribute on its own, so
/// that one refused attribute does not keep the others back. The first refusal is returned.
fn apply_each(nl: &mut Netlink, index: u32, change: &LinkChange) -> Result<(), Error> {
    if nl.set_link_attrs(index, change).is_ok() {
        return Ok(());
    }
    let none = LinkChange::default();
    let parts = [
        LinkChange {
            mac: change.mac,
            ..none
        },
        LinkChange {
            mtu: change.mtu,
            ..none
        },
        LinkChange {
            promisc: change.promisc,
            ..none
        },
        LinkChange {
            allmulti: change.allmulti,
            ..none
        },
        LinkChange {
            tx_queue_len: change.tx_queue_len,
            ..none
        },
    ];
    let mut failure = FirstFailure::default();
    for part in parts.iter().filter(|p| !p.is_empty()) {
        failure.note(
            nl.set_link_attrs(index, part)
                .with_context(|| format!("tuning: cannot restore {part}")),
        );
    }
    failure.into_result()
}

// ----- CHECK -----------------------------------------------------------------------------

/// CHECK: see the module documentation.
pub fn check(args: &CmdArgs) -> Result<(), Error> {
    let conf = TuningConf::from_cmd(args, Path::new(ALLOWLIST))?;
    let prev = args
        .prev_result()?
        .ok_or_else(|| Error::invalid_config("tuning: CHECK requires a prevResult"))?
        .to_v1();
    let netns = netns::required(args)?;
    let ifname = args.ifname.as_str();
    let mut cont = netns::open(args)?;

    if !conf.sysctls.is_empty() {
        let paths: Vec<&sysctl::SysctlPath> = conf.sysctls.iter().map(|s| &s.path).collect();
        let values = sysctl::read_all(cont.netns(), &paths)?;
        for (s, value) in conf.sysctls.iter().zip(values) {
            let current = value
                .with_context(|| format!("tuning: cannot read sysctl {:?} ({})", s.key, s.path))?;
            if !sysctl::same_value(&s.value, &current) {
                return Err(internal(format!(
                    "tuning: sysctl {:?} ({}) is {current:?}, configured {:?}",
                    s.key, s.path, s.value
                )));
            }
        }
    }

    let link = container_link(&mut cont, ifname)?;
    let mismatch = |what: &str, configured: String, current: String| {
        Err(internal(format!(
            "tuning: {what} of {ifname:?} is {current}, configured {configured}"
        )))
    };
    if let Some(mac) = conf.mac {
        if link.mac.as_deref() != Some(&mac.addr.0[..]) {
            return mismatch(
                "the MAC address",
                mac.addr.to_string(),
                link.mac_string().unwrap_or_else(|| "none".into()),
            );
        }
    }
    if let Some(mtu) = conf.mtu {
        if link.mtu != Some(mtu) {
            return mismatch("the MTU", mtu.to_string(), format!("{:?}", link.mtu));
        }
    }
    let on_off = |b: bool| if b { "on" } else { "off" }.to_string();
    if let Some(promisc) = conf.promisc {
        if link.is_promisc() != promisc {
            return mismatch(
                "promiscuous mode",
                on_off(promisc),
                on_off(link.is_promisc()),
            );
        }
    }
    if let Some(allmulti) = conf.allmulti {
        if link.is_allmulti() != allmulti {
            return mismatch(
                "all-multicast mode",
                on_off(allmulti),
                on_off(link.is_allmulti()),
            );
        }
    }
    if let Some(len) = conf.tx_queue_len {
        let current = cont
            .tx_queue_len(link.index)
            .with_context(|| format!("tuning: read the queue length of {ifname:?}"))?;
        if current != len {
            return mismatch(
                "the transmit queue length",
                len.to_string(),
                current.to_string(),
            );
        }
    }
    if let Some(listed) = prev
        .interfaces
        .iter()
        .find(|i| i.name == ifname && i.sandbox.as_deref() == Some(netns))
    {
        check_mac("tuning: container interface", listed, &link)?;
    }
    Ok(())
}

// ----- DEL -------------------------------------------------------------------------------

/// `dataDir` read so that it cannot fail: anything but a non-empty string is the default.
fn data_dir_for_del(stdin: &[u8]) -> PathBuf {
    let dir = match serde_json::from_slice::<Value>(stdin) {
        Ok(Value::Object(map)) => fold_keys(map, &["dataDir"])
            .get("dataDir")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty() && !d.contains('\0'))
            .map(PathBuf::from),
        _ => None,
    };
    dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

/// DEL: see the module documentation.
pub fn del(args: &CmdArgs) -> Result<(), Error> {
    let plan::SavedFile { dir, name } = plan::SavedFile::new(args);
    let Some(file) = name else {
        // Nothing of ours can be named after it.
        return Ok(());
    };
    // What an ADD killed before renaming its saved values into place left behind.
    state::remove_temporaries(&dir, &file);
    let path = dir.join(file);
    let saved = match state::load(&path) {
        Ok(Loaded::Missing) => return Ok(()),
        Ok(Loaded::Saved(s)) => s,
        Ok(Loaded::Invalid(why)) => {
            eprintln!(
                "tuning: {} is not a saved-values file ({why}); nothing to restore, removing it",
                path.display()
            );
            return remove_saved(&path);
        }
        Err(e) => return Err(e).with_context(|| format!("tuning: read {}", path.display())),
    };
    let Some(mut cont) = netns::open_for_del(args)? else {
        return remove_saved(&path);
    };
    let link = match cont.link(args.ifname.as_str()) {
        Ok(link) => link,
        Err(e) if e.is_not_found() => return remove_saved(&path),
        Err(e) => return Err(e).with_context(|| format!("tuning: look up {:?}", args.ifname)),
    };
    apply_each(&mut cont, link.index, &saved.change())?;
    remove_saved(&path)
}

fn remove_saved(path: &Path) -> Result<(), Error> {
    state::remove(path).with_context(|| format!("tuning: remove {}", path.display()))
}

// ----- STATUS and GC ---------------------------------------------------------------------

/// STATUS: see the module documentation.
pub fn status(args: &CmdArgs) -> Result<(), Error> {
    let conf = TuningConf::parse(&args.stdin, &args.args, None, Path::new(ALLOWLIST))?;
    data_dir_usable(&conf.data_dir)
}

/// Whether ADD could write its files in `dir`: the directory, or its nearest existing
/// ancestor (ADD creates the rest), is a directory this process may write in. Nothing is
/// created.
pub fn data_dir_usable(dir: &Path) -> Result<(), Error> {
    let unavailable = |why: String| {
        Error::new(
            ErrorCode::PluginNotAvailable,
            format!("tuning: data directory {}: {why}", dir.display()),
        )
    };
    let mut at = dir;
    loop {
        match fs::metadata(at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Err(unavailable(format!("{} is not a directory", at.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match at.parent() {
                // A relative path's last ancestor is the working directory.
                Some(parent) if parent.as_os_str().is_empty() => at = Path::new("."),
                Some(parent) => at = parent,
                None => break,
            },
            Err(e) => return Err(unavailable(format!("{}: {e}", at.display()))),
        }
    }
    let c = std::ffi::CString::new(at.as_os_str().as_encoded_bytes())
        .map_err(|_| unavailable("contains a NUL byte".into()))?;
    // SAFETY: access(2) on a valid C string.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(unavailable(format!(
            "cannot write in {}: {}",
            at.display(),
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// GC: see the module documentation. Without a valid-attachments list nothing is removed.
pub fn gc(args: &CmdArgs) -> Result<(), Error> {
    let Some(valid) = args.conf.gc_valid_attachments() else {
        return Ok(());
    };
    let dir = plan::SavedFile::new(args).dir;
    let keep: std::collections::HashSet<String> = valid
        .iter()
        .filter_map(|a| state::file_name(&a.container_id, &a.ifname).ok())
        .collect();
    let files = state::list(&dir).with_context(|| format!("tuning: list {}", dir.display()))?;
    let mut failure = FirstFailure::default();
    for (name, path) in files {
        if keep.contains(&name) {
            continue;
        }
        let ours = matches!(
            state::load(&path),
            Ok(Loaded::Saved(Saved { network: Some(ref n), .. })) if *n == args.conf.name
        );
        if ours {
            failure.note(remove_saved(&path));
        }
    }
    failure.into_result()
}

// ----- the plugin ------------------------------------------------------------------------

/// What `src/bin/tuning.rs` runs.
pub const PLUGIN: Verbs = Verbs {
    name: "tuning",
    add,
    check,
    del,
    status,
    gc,
};

#[cfg(test)]
mod tests {
    use super::*;
    use cni::result::{Result040, Result100};
    use cni::SpecVersion;

    fn intf(name: &str, sandbox: Option<&str>) -> Interface {
        Interface {
            name: name.into(),
            mac: Some("02:00:00:00:00:01".into()),
            sandbox: sandbox.map(String::from),
            ..Interface::default()
        }
    }

    #[test]
    fn the_result_gets_the_mac_on_container_interfaces_of_that_name() {
        let mut r = Result100::new(SpecVersion::V1_0_0);
        r.interfaces = vec![
            intf("eth0", None),
            intf("eth0", Some("/run/netns/x")),
            intf("eth1", Some("/run/netns/x")),
        ];
        let CniResult::V1(out) = with_mac(CniResult::V1(r), "eth0", "c2:00:00:00:00:09") else {
            panic!("same version")
        };
        let macs: Vec<&str> = out
            .interfaces
            .iter()
            .map(|i| i.mac.as_deref().unwrap())
            .collect();
        assert_eq!(
            macs,
            [
                "02:00:00:00:00:01",
                "c2:00:00:00:00:09",
                "02:00:00:00:00:01"
            ]
        );
        let old = Result040 {
            cni_version: SpecVersion::V0_4_0,
            interfaces: vec![intf("eth0", Some("/x"))],
            ips: vec![],
            routes: vec![],
            dns: Default::default(),
        };
        let CniResult::V04(out) = with_mac(CniResult::V04(old), "eth0", "c2:00:00:00:00:09") else {
            panic!("same version")
        };
        assert_eq!(out.interfaces[0].mac.as_deref(), Some("c2:00:00:00:00:09"));
    }

    #[test]
    fn previous_values_only_for_what_changes() {
        let link = Link {
            index: 2,
            name: "eth0".into(),
            flags: libc::IFF_UP as u32 | libc::IFF_PROMISC as u32,
            mtu: Some(1500),
            mac: Some(vec![2, 0, 0, 0, 0, 1]),
            kind: Some("veth".into()),
            master: None,
            parent: None,
            link_netnsid: None,
            oper_state: None,
            promiscuity: Some(1),
            data: None,
            bridge_port: None,
        };
        let change = LinkChange {
            mtu: Some(1400),
            promisc: Some(false),
            allmulti: Some(true),
            ..LinkChange::default()
        };
        let saved = previous_values(&link, Some(1000), &change);
        assert_eq!(
            saved,
            Saved {
                mtu: Some(1500),
                promisc: Some(true),
                allmulti: Some(false),
                ..Saved::default()
            }
        );
        let all = LinkChange {
            mac: Some([2, 0, 0, 0, 0, 9]),
            tx_queue_len: Some(5),
            ..LinkChange::default()
        };
        let saved = previous_values(&link, Some(1000), &all);
        assert_eq!(saved.mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(saved.tx_queue_len, Some(1000));
        assert_eq!(saved.mtu, None);
    }

    #[test]
    fn data_dir_checks() {
        let dir = tempfile::tempdir().unwrap();
        data_dir_usable(dir.path()).unwrap();
        let deeper = dir.path().join("a/b/c");
        data_dir_usable(&deeper).unwrap();
        assert!(!dir.path().join("a").exists(), "STATUS creates nothing");
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        let e = data_dir_usable(&file.join("x")).unwrap_err();
        assert_eq!(e.code, ErrorCode::PluginNotAvailable);
        data_dir_usable(Path::new("relative/dir")).unwrap();

        assert_eq!(
            data_dir_for_del(br#"{"DATADIR":"/x/y"}"#),
            PathBuf::from("/x/y")
        );
        for lenient in [
            &br#"{"dataDir":5}"#[..],
            br#"{"dataDir":""}"#,
            b"[]",
            b"nonsense",
        ] {
            assert_eq!(data_dir_for_del(lenient), PathBuf::from(DEFAULT_DATA_DIR));
        }
    }
}
