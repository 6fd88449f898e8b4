//! The steps of a case that act on its world instead of calling the plugin: snapshots and the
//! comparison with one (whose differences become findings), tampering with the container's
//! interface or namespace, delegate recording and failure injection, and wiping the plugin's
//! state directory. A fixture action that fails makes the case unusable, not the plugin wrong:
//! it is a failed finding tied to no requirement, and the case run ends there. A tampering
//! action that finds nothing to tamper with (no file in the state directory to wipe, no
//! address to flush, no interface to delete or set down) shows the case does not apply to the
//! plugin: the run ends as not applicable, with the reason (unless an earlier step already
//! failed, which then stands as the run's outcome).

use std::time::{Duration, Instant};

use crate::cases::{Action, Step};
use crate::session::Session;
use crate::target::PRIMARY_ATTACHMENT;
use crate::world::{
    RECORDER_BIN_DIR, RECORDER_FAIL_ADD, RECORDER_FAIL_STATUS, RECORDER_LOG, RECORDER_UNUSABLE_ADD,
    STATE_MOUNT,
};

/// What an action did.
enum Acted {
    Done,
    /// A tampering action found nothing to tamper with: why.
    NothingToTamper(String),
}

/// Whether a case run goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Files of the harness's own in the state directory: neither the plugin's state nor wiped.
const HARNESS_FILES: &[&str] = &[
    RECORDER_LOG,
    RECORDER_FAIL_ADD,
    RECORDER_FAIL_STATUS,
    RECORDER_UNUSABLE_ADD,
    RECORDER_BIN_DIR,
];

impl Session<'_> {
    /// Runs step `idx`, an action on the world, and records its findings. A failed fixture
    /// action, or tampering that found nothing to tamper with, ends the run.
    pub(crate) fn run_action(&mut self, idx: usize, step: &Step, action: &Action) -> Flow {
        let att = step
            .attachment
            .clone()
            .unwrap_or_else(|| PRIMARY_ATTACHMENT.into());
        let _ = self.world.attachment(&att);
        let observes = matches!(action, Action::Snapshot(_) | Action::Compare(_));
        if !observes && !self.states.contains_key(&att) {
            self.ensure_prelude(&att);
        }
        match self.apply_action(idx, step, &att, action) {
            Ok(Acted::Done) => Flow::Continue,
            Ok(Acted::NothingToTamper(why)) => {
                // After a failed step, finding nothing may be that failure's consequence: the
                // run stands as failed. Otherwise the case does not apply to this plugin.
                if self.findings.iter().all(|f| f.passed) {
                    self.not_applicable = Some(format!(
                        "step {idx}: {} found nothing to tamper with: {why}",
                        action_name(action)
                    ));
                }
                Flow::Stop
            }
            Err(e) => {
                self.finding(
                    &[],
                    false,
                    format!("step {idx}: action {action:?} failed: {e}"),
                );
                Flow::Stop
            }
        }
    }

    fn apply_action(
        &mut self,
        idx: usize,
        step: &Step,
        att: &str,
        action: &Action,
    ) -> Result<Acted, String> {
        let ifname = self
            .world
            .get(att)
            .map(|a| a.ifname.clone())
            .unwrap_or_default();
        let in_container = |s: &Self, args: &[&str]| {
            s.world
                .container_cmd(att, args)
                .map(|()| Acted::Done)
                .map_err(|e| e.to_string())
        };
        // Output of `ip -o <args>` in the container; `None` when the namespace is gone (the
        // tampering command then fails and says so).
        let ip_out = |s: &Self, args: &[&str]| {
            let mut full = vec!["ip", "-o"];
            full.extend_from_slice(args);
            s.world.container_output(att, &full)
        };
        let no_link = |s: &Self| {
            ip_out(s, &["link", "show", "dev", &ifname])
                .is_some_and(|o| o.trim().is_empty())
                .then(|| format!("there is no link {ifname:?} in the container"))
        };
        match action {
            Action::Snapshot(name) => {
                self.snapshots.insert(name.clone(), self.world.snapshot());
                Ok(Acted::Done)
            }
            Action::Compare(name) => self
                .compare_with_snapshot(idx, step, name)
                .map(|()| Acted::Done),
            Action::IfnameDown => match no_link(self) {
                Some(why) => Ok(Acted::NothingToTamper(why)),
                None => in_container(self, &["ip", "link", "set", &ifname, "down"]),
            },
            Action::DeleteIfname => match no_link(self) {
                Some(why) => Ok(Acted::NothingToTamper(why)),
                None => in_container(self, &["ip", "link", "del", &ifname]),
            },
            Action::FlushAddresses => {
                if let Some(why) = no_link(self) {
                    return Ok(Acted::NothingToTamper(why));
                }
                let none = ip_out(self, &["addr", "show", "dev", &ifname, "scope", "global"])
                    .is_some_and(|o| o.trim().is_empty());
                if none {
                    return Ok(Acted::NothingToTamper(format!(
                        "{ifname:?} has no global address in the container"
                    )));
                }
                in_container(
                    self,
                    &["ip", "addr", "flush", "dev", &ifname, "scope", "global"],
                )
            }
            Action::CreateIfname => {
                let peer = format!("{ifname}x");
                in_container(
                    self,
                    &[
                        "ip", "link", "add", &ifname, "type", "veth", "peer", "name", &peer,
                    ],
                )
            }
            Action::DeleteNetns => {
                self.world.delete_netns(att);
                Ok(Acted::Done)
            }
            Action::RecordDelegate => match (self.target.ipam_type(), &self.target.recorder) {
                (None, _) => Err("the config names no IPAM delegate".to_string()),
                (Some(_), None) => Err("the harness has no delegate recorder set up".to_string()),
                (Some(t), Some(program)) => self
                    .world
                    .recorder_dir(program, &t)
                    .map(|d| {
                        self.recorder = Some(d);
                        Acted::Done
                    })
                    .map_err(|e| e.to_string()),
            },
            Action::FailDelegateAdd => self
                .world
                .fail_delegate_add()
                .map(|()| Acted::Done)
                .map_err(|e| e.to_string()),
            Action::UnusableDelegateAdd => self
                .world
                .unusable_delegate_add()
                .map(|()| Acted::Done)
                .map_err(|e| e.to_string()),
            Action::FailDelegateStatus => self
                .world
                .fail_delegate_status()
                .map(|()| Acted::Done)
                .map_err(|e| e.to_string()),
            Action::WipeState => self.wipe_state(),
        }
    }

    /// Compares the world with snapshot `name` and records the differences as findings: all
    /// against the step's `req`, or, with `leftover_req`, leftovers ("+" lines) against those
    /// and the other differences against `req`. Only a missing snapshot is an error.
    fn compare_with_snapshot(&mut self, idx: usize, step: &Step, name: &str) -> Result<(), String> {
        let Some(before) = self.snapshots.get(name) else {
            return Err(format!("no snapshot named {name:?}"));
        };
        // The kernel tears a deleted namespace down asynchronously (its veth peers vanish a
        // moment later): give state up to 3 s to settle.
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut d = before.diff(&self.world.snapshot());
        while !d.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            d = before.diff(&self.world.snapshot());
        }
        // Leftovers ("+" lines) may stand for other rules than items that went away or
        // changed: a DEL that leaks its own resources breaks DEL-1, one that takes another
        // attachment's breaks DEL-13.
        let groups: Vec<(&[String], Vec<String>)> = if step.leftover_req.is_empty() {
            vec![(&step.req, d)]
        } else {
            let (left, other): (Vec<String>, Vec<String>) = d
                .into_iter()
                .partition(|l| l.split_once(": ").is_some_and(|(_, r)| r.starts_with("+ ")));
            vec![(&step.leftover_req, left), (&step.req, other)]
        };
        for (reqs, d) in groups {
            let passed = d.is_empty();
            let msg = if passed {
                format!("state equals snapshot {name:?}")
            } else {
                format!("state differs from snapshot {name:?}: {}", d.join("; "))
            };
            self.finding(reqs, passed, format!("step {idx}: {msg}"));
        }
        Ok(())
    }

    /// Empties the world's state directory (the plugin's `/var/lib/cni`) but for the
    /// harness's own files; the last error, if any entry could not be removed. Nothing to
    /// tamper with when the plugin keeps no file there (empty directories do not count).
    fn wipe_state(&self) -> Result<Acted, String> {
        let dir = self.world.state_dir().to_path_buf();
        let entries: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .flatten()
            .filter(|e| !HARNESS_FILES.iter().any(|h| e.file_name() == *h))
            .map(|e| e.path())
            .collect();
        if !entries.iter().any(|p| holds_a_file(p)) {
            return Ok(Acted::NothingToTamper(format!(
                "the plugin keeps no file in its state directory ({STATE_MOUNT}), so there is \
                 nothing to lose"
            )));
        }
        let mut r = Ok(Acted::Done);
        for p in entries {
            let res = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            if let Err(e) = res {
                r = Err(e.to_string());
            }
        }
        r
    }
}

/// Whether `path` is a file, or a directory with a file somewhere below it.
fn holds_a_file(path: &std::path::Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| holds_a_file(&e.path())),
        Ok(_) => true,
        Err(_) => false,
    }
}

/// An action's name as case files write it.
fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Snapshot(_) => "snapshot",
        Action::Compare(_) => "compare",
        Action::IfnameDown => "ifname-down",
        Action::DeleteIfname => "delete-ifname",
        Action::FlushAddresses => "flush-addresses",
        Action::CreateIfname => "create-ifname",
        Action::DeleteNetns => "delete-netns",
        Action::WipeState => "wipe-state",
        Action::RecordDelegate => "record-delegate",
        Action::FailDelegateAdd => "fail-delegate-add",
        Action::FailDelegateStatus => "fail-delegate-status",
        Action::UnusableDelegateAdd => "unusable-delegate-add",
    }
}
