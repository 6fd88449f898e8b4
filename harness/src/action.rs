//! The steps of a case that act on its world instead of calling the plugin: snapshots and the
//! comparison with one (whose differences become findings), tampering with the container's
//! interface or namespace, delegate recording and failure injection, and wiping the plugin's
//! state directory. A fixture action that fails makes the case unusable, not the plugin wrong:
//! it is a failed finding tied to no requirement.

use std::time::{Duration, Instant};

use crate::cases::{Action, Step};
use crate::session::Session;
use crate::target::PRIMARY_ATTACHMENT;

impl Session<'_> {
    /// Runs step `idx`, an action on the world, and records its findings.
    pub(crate) fn run_action(&mut self, idx: usize, step: &Step, action: &Action) {
        let att = step
            .attachment
            .clone()
            .unwrap_or_else(|| PRIMARY_ATTACHMENT.into());
        let _ = self.world.attachment(&att);
        let observes = matches!(action, Action::Snapshot(_) | Action::Compare(_));
        if !observes && !self.states.contains_key(&att) {
            self.ensure_prelude(&att);
        }
        if let Err(e) = self.apply_action(idx, step, &att, action) {
            self.finding(
                &[],
                false,
                format!("step {idx}: action {action:?} failed: {e}"),
            );
        }
    }

    fn apply_action(
        &mut self,
        idx: usize,
        step: &Step,
        att: &str,
        action: &Action,
    ) -> Result<(), String> {
        let ifname = self
            .world
            .get(att)
            .map(|a| a.ifname.clone())
            .unwrap_or_default();
        let in_container =
            |s: &Self, args: &[&str]| s.world.container_cmd(att, args).map_err(|e| e.to_string());
        match action {
            Action::Snapshot(name) => {
                self.snapshots.insert(name.clone(), self.world.snapshot());
                Ok(())
            }
            Action::Compare(name) => self.compare_with_snapshot(idx, step, name),
            Action::IfnameDown => in_container(self, &["ip", "link", "set", &ifname, "down"]),
            Action::DeleteIfname => in_container(self, &["ip", "link", "del", &ifname]),
            Action::FlushAddresses => in_container(
                self,
                &["ip", "addr", "flush", "dev", &ifname, "scope", "global"],
            ),
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
                Ok(())
            }
            Action::RecordDelegate => match self.target.ipam_type() {
                None => Err("the config names no IPAM delegate".to_string()),
                Some(t) => self
                    .world
                    .recorder_dir(&t)
                    .map(|d| self.recorder = Some(d))
                    .map_err(|e| e.to_string()),
            },
            Action::FailDelegateAdd => self.world.fail_delegate_add().map_err(|e| e.to_string()),
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

    /// Empties the world's state directory (the plugin's `/var/lib/cni`); the last error, if
    /// any entry could not be removed.
    fn wipe_state(&self) -> Result<(), String> {
        let dir = self.world.state_dir().to_path_buf();
        let mut r = Ok(());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                let res = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                if let Err(e) = res {
                    r = Err(e.to_string());
                }
            }
        }
        r
    }
}
