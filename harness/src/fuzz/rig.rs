//! A fuzz worker's world, reused across calls: a [`World`] with the primary attachment's
//! container, the prelude's ADD in force (a list's plugins before the tested one), and the
//! snapshot of the world at rest that every call must leave behind.
//!
//! One generated call is a unit: the call itself; when it is an ADD that succeeded, the DEL a
//! runtime sends next (same environment and config, the ADD's result as `prevResult`); then
//! the state compare. A failed call must leave the world as it found it (ERR-18); a succeeded
//! ADD must be undone by its DEL (DEL-1). Per-network state that outlives attachments by
//! design (a bridge, a forwarding sysctl, host-local's `last_reserved_ip.*` allocation cursor)
//! is told apart from a leak by a second ADD/DEL with another container ID: what does not
//! grow is shared state, and becomes part of the world at rest (what stays in the container,
//! or grows, is a leak; a second ADD/DEL that fails proves nothing, and the rig starts over). Calls that succeed without
//! ADD are compared too (CHECK: CHECK-15, STATUS: STATUS-10, GC taking something: GC-4, else
//! ERR-18): every call is, so a difference is always the last call's. After a difference the
//! rig DELs with the base request; when the world still differs from its rest state, the rig
//! starts over in a fresh world, so one finding does not cascade into the next calls.
//! A failure of a request that is the base request with one defect the spec gives a code for
//! (an unsupported `cniVersion`, a missing variable) must carry that code.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use cni::version::SpecVersion;

use super::generate::{Body, EnvValue, Request};
use super::oracle::{self, Violation};
use crate::cases::Kind;
use crate::session::Session;
use crate::target::{Target, PRIMARY_ATTACHMENT};
use crate::world::{World, WorldSnapshot};

/// File names that are per-network state by design, never a leak.
const SHARED_FILE_PREFIXES: &[&str] = &["last_reserved_ip."];

/// What one unit showed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub violations: Vec<Violation>,
    /// Plugin calls made (the generated one, the DEL after ADD, restoring calls).
    pub calls: usize,
    /// Trouble of the harness's own (a plugin that cannot be started at all).
    pub harness_error: Option<String>,
}

/// A worker's reusable world.
pub struct Rig<'t> {
    session: Session<'t>,
    rest: WorldSnapshot,
    scratch: tempfile::TempDir,
    label: String,
    /// Fresh worlds made after a difference that DEL did not undo.
    rebuilt: usize,
}

/// The lines of a snapshot diff that matter (shared per-network files left out).
fn relevant(diff: Vec<String>) -> Vec<String> {
    diff.into_iter()
        .filter(|l| {
            let name = l
                .split_whitespace()
                .last()
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or("");
            !(l.contains(" file ") && SHARED_FILE_PREFIXES.iter().any(|p| name.starts_with(p)))
        })
        .collect()
}

/// Whether a snapshot was read whole: the node namespace always has `lo` and the sysctls.
fn readable(s: &WorldSnapshot) -> bool {
    s.node.links.iter().any(|l| l.starts_with("lo ")) && !s.node.sysctls.is_empty()
}

/// The world's state, read again when a read came back partial (a netlink socket or a thread
/// that could not be had under load reads as an empty namespace).
fn snapshot_of(world: &World) -> WorldSnapshot {
    let mut snap = world.snapshot();
    for _ in 0..4 {
        if readable(&snap) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        snap = world.snapshot();
    }
    snap
}

impl<'t> Rig<'t> {
    /// A world for worker `label`: the prelude ADDed, one ADD/DEL of the base request done for
    /// another container (so per-network state the plugin keeps is there before the rest
    /// state is taken).
    pub fn new(target: &'t Target, version: SpecVersion, label: &str) -> Result<Rig<'t>, String> {
        let world =
            World::for_target(label, target).map_err(|e| format!("cannot create a world: {e}"))?;
        let mut session = Session::new(target, world, version, Kind::Other);
        session.ensure_prelude(PRIMARY_ATTACHMENT);
        if let Some(f) = session.findings.iter().find(|f| !f.passed) {
            return Err(f.message.clone());
        }
        let scratch = tempfile::Builder::new()
            .prefix("cnirs-fuzz-scratch-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        std::fs::write(scratch.path().join("netns-file"), b"")
            .and_then(|()| std::fs::create_dir(scratch.path().join("netns-dir")))
            .map_err(|e| e.to_string())?;
        let rest = snapshot_of(&session.world);
        let mut rig = Rig {
            session,
            rest,
            scratch,
            label: label.to_string(),
            rebuilt: 0,
        };
        // Another container than the calls' own: what a DEL leaks per container stays
        // visible to them.
        let warm_id = rig
            .session
            .world
            .attachment(PRIMARY_ATTACHMENT)
            .map(|a| format!("{}-warmup", a.container_id))
            .map_err(|e| format!("cannot create the container: {e}"))?;
        let warm = Request {
            verb: "ADD".into(),
            body: Body::Json(rig.base_request("ADD")),
            env: vec![super::generate::EnvEdit {
                key: "CNI_CONTAINERID".into(),
                value: EnvValue::Text(warm_id),
            }],
            mutations: Vec::new(),
        };
        let env = rig.env(&warm);
        let stdin = warm.body.bytes();
        let run = rig
            .session
            .world
            .run_plugin(&target.plugin, &env, &stdin, target.timeout);
        if run.output.as_ref().is_ok_and(|o| o.success) {
            rig.del_after_add(&env, &warm.body, &run);
        }
        rig.rest = snapshot_of(&rig.session.world);
        Ok(rig)
    }

    pub fn target(&self) -> &'t Target {
        self.session.target
    }

    /// The request a runtime would send for `verb` on the primary attachment: the prelude's
    /// result as `prevResult` (ADD, CHECK, DEL), GC's valid attachments naming it.
    pub fn base_request(&mut self, verb: &str) -> Value {
        let version = self.session.version.as_str().to_string();
        let prev = if matches!(verb, "ADD" | "CHECK" | "DEL") {
            self.session
                .states
                .get(PRIMARY_ATTACHMENT)
                .and_then(|s| s.prelude_result.clone())
        } else {
            None
        };
        let mut req = self
            .session
            .plugin_request(PRIMARY_ATTACHMENT, &version, prev.as_ref());
        let target = self.session.target;
        self.session.inject_capability_args(
            &mut req,
            &target.plugin_conf,
            verb,
            PRIMARY_ATTACHMENT,
        );
        if verb == "GC" {
            if let Some(a) = self.session.world.get(PRIMARY_ATTACHMENT) {
                req["cni.dev/valid-attachments"] =
                    serde_json::json!([{"containerID": a.container_id, "ifname": a.ifname}]);
            }
        }
        req
    }

    /// Paths the special `CNI_NETNS` values stand for.
    pub fn special_path(&self, v: &EnvValue) -> Option<PathBuf> {
        match v {
            EnvValue::NetnsFile => Some(self.scratch.path().join("netns-file")),
            EnvValue::NetnsDir => Some(self.scratch.path().join("netns-dir")),
            EnvValue::NetnsMissing => Some(self.scratch.path().join("no-such-netns")),
            _ => None,
        }
    }

    /// The environment of `req`: the runtime's for its verb, with the request's edits.
    pub fn env(&mut self, req: &Request) -> Vec<(String, String)> {
        let mut env = self.session.env_for(&req.verb, PRIMARY_ATTACHMENT);
        for e in &req.env {
            env.retain(|(k, _)| *k != e.key);
            let value = match &e.value {
                EnvValue::Unset => continue,
                EnvValue::Text(t) => t.clone(),
                special => self
                    .special_path(special)
                    .expect("a special path")
                    .to_string_lossy()
                    .into_owned(),
            };
            env.push((e.key.clone(), value));
        }
        env
    }

    /// The primary attachment's `CNI_NETNS` path.
    pub fn netns_path(&self) -> String {
        self.attachment_facts().1
    }

    fn attachment_facts(&self) -> (String, String) {
        self.session
            .world
            .get(PRIMARY_ATTACHMENT)
            .map(|a| (a.ifname.clone(), a.netns_path.clone()))
            .unwrap_or_default()
    }

    /// The DEL a runtime sends after a succeeded ADD: same environment and config, the ADD's
    /// result as `prevResult` when it is a JSON object.
    fn del_after_add(
        &mut self,
        env: &[(String, String)],
        body: &Body,
        add: &crate::world::Run,
    ) -> (Vec<(String, String)>, Vec<u8>, crate::world::Run) {
        let mut env: Vec<(String, String)> = env.to_vec();
        env.retain(|(k, _)| k != "CNI_COMMAND");
        env.push(("CNI_COMMAND".into(), "DEL".into()));
        let stdin = match body {
            Body::Json(v) => {
                let mut v = v.clone();
                let result = add
                    .output
                    .as_ref()
                    .ok()
                    .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
                    .filter(Value::is_object);
                if let (Some(obj), Some(r)) = (v.as_object_mut(), result) {
                    obj.insert("prevResult".into(), r);
                }
                v.to_string().into_bytes()
            }
            Body::Raw(t) => t.clone().into_bytes(),
        };
        let target = self.session.target;
        let run = self
            .session
            .world
            .run_plugin(&target.plugin, &env, &stdin, target.timeout);
        (env, stdin, run)
    }

    /// The world's differences from the rest state, given up to `settle` to vanish (the
    /// kernel removes some objects asynchronously).
    fn differences(&self, settle: Duration) -> Vec<String> {
        let deadline = Instant::now() + settle;
        loop {
            let d = relevant(self.rest.diff(&snapshot_of(&self.session.world)));
            if d.is_empty() || Instant::now() >= deadline {
                return d;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// DEL with the base request; when the world still differs from its rest state, a fresh
    /// world replaces it.
    fn restore(&mut self, out: &mut Outcome) {
        let req = Request {
            verb: "DEL".into(),
            body: Body::Json(self.base_request("DEL")),
            env: Vec::new(),
            mutations: Vec::new(),
        };
        let env = self.env(&req);
        let target = self.session.target;
        self.session
            .world
            .run_plugin(&target.plugin, &env, &req.body.bytes(), target.timeout);
        out.calls += 1;
        if self.differences(Duration::from_millis(300)).is_empty() {
            return;
        }
        let target = self.session.target;
        let label = format!("{}r{}", self.label, self.rebuilt + 1);
        match Rig::new(target, self.session.version, &label) {
            Ok(mut fresh) => {
                fresh.label = self.label.clone();
                fresh.rebuilt = self.rebuilt + 1;
                std::mem::replace(self, fresh).finish();
            }
            Err(e) => {
                out.harness_error = Some(format!("cannot make a fresh world: {e}"));
                self.rest = snapshot_of(&self.session.world);
            }
        }
    }

    /// Runs one unit: `req`, the DEL after a succeeded ADD, and the state compare.
    pub fn run(&mut self, req: &Request) -> Outcome {
        let mut out = Outcome::default();
        let target = self.session.target;
        let env = self.env(req);
        let stdin = req.body.bytes();
        let run = self
            .session
            .world
            .run_plugin(&target.plugin, &env, &stdin, target.timeout);
        out.calls += 1;
        if let (Err(e), false) = (&run.output, run.timed_out) {
            out.harness_error = Some(format!("cannot run the plugin: {e}"));
            return out;
        }
        let command = env
            .iter()
            .find(|(k, _)| k == "CNI_COMMAND")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let version = oracle::request_version(&stdin);
        let (ifname, netns) = self.attachment_facts();
        let call = oracle::Call {
            command: &command,
            version: &version,
            env: &env,
            stdin: &stdin,
            run: &run,
            ifname: &ifname,
            netns: &netns,
        };
        out.violations = oracle::judge(&call, &self.session.world, target.timeout);
        if let Some(v) = self.code_class(req, &command, &run) {
            out.violations.push(v);
        }
        let ok = !run.timed_out && run.output.as_ref().is_ok_and(|o| o.success);
        // Told to work on the node's own namespace, a plugin that succeeds changes the node as
        // asked: no state finding, only a clean world for the next call.
        let own_netns = env
            .iter()
            .any(|(k, v)| k == "CNI_NETNS" && v.starts_with("/proc/self/"));
        if ok && own_netns {
            if command == "ADD" {
                self.del_after_add(&env, &req.body, &run);
                out.calls += 1;
            }
            if !self.differences(Duration::from_millis(300)).is_empty() {
                self.restore(&mut out);
            }
            return out;
        }
        if ok && command == "ADD" {
            self.judge_add_undone(&env, &req.body, &run, &version, &mut out);
            return out;
        }
        let d = self.differences(Duration::from_millis(if ok { 300 } else { 1000 }));
        if d.is_empty() {
            return out;
        }
        let took = d.iter().any(|l| l.contains(": - "));
        let (id, kind) = match (ok, command.as_str()) {
            (false, c) => ("ERR-18", format!("state left by a failed {c}")),
            (true, "CHECK") => ("CHECK-15", "state changed by CHECK".to_string()),
            (true, "STATUS") => ("STATUS-10", "state changed by STATUS".to_string()),
            (true, "GC") if took => ("GC-4", "GC took state of a listed attachment".to_string()),
            (true, c) => (
                "ERR-18",
                format!("state changed by {c} with nothing to act on"),
            ),
        };
        out.violations.push(Violation::new(
            id,
            kind,
            format!("after {command}: {}", d.join("; ")),
        ));
        self.restore(&mut out);
        out
    }

    /// The code class a failure must have when the request is the base request with one
    /// defect whose code the spec defines: a `cniVersion` the plugin may not serve (ADD or
    /// DEL; code 1, ADD-7 and ERR-5), or a variable ADD, CHECK or DEL needs unset or empty
    /// (code 4, ERR-8; 3 for an empty container ID, as skel answers).
    fn code_class(
        &mut self,
        req: &Request,
        command: &str,
        run: &crate::world::Run,
    ) -> Option<Violation> {
        let out = run.output.as_ref().ok().filter(|o| !o.success)?;
        let Body::Json(body) = &req.body else {
            return None;
        };
        let code = serde_json::from_slice::<Value>(&out.stdout)
            .ok()?
            .get("code")?
            .as_u64()?;
        let base = self.base_request(&req.verb);
        let without_version = |v: &Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.shift_remove("cniVersion");
            }
            v
        };
        if req.env.is_empty() && matches!(command, "ADD" | "DEL") && body != &base {
            let version = body.get("cniVersion").and_then(Value::as_str)?;
            if without_version(body) == without_version(&base) && code != 1 {
                let id = if command == "ADD" { "ADD-7" } else { "ERR-5" };
                return Some(Violation::new(
                    id,
                    format!("{command} refused a version without code 1"),
                    format!(
                        "{command} at cniVersion {version:?} failed with code {code}, not 1 \
                         (incompatible version)"
                    ),
                ));
            }
            return None;
        }
        if body != &base || req.env.len() != 1 {
            return None;
        }
        let e = &req.env[0];
        let needed = match command {
            "ADD" | "CHECK" => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"][..],
            "DEL" => &["CNI_CONTAINERID", "CNI_IFNAME"][..],
            _ => return None,
        };
        let missing = match &e.value {
            EnvValue::Unset => true,
            EnvValue::Text(t) => t.is_empty(),
            _ => false,
        };
        if !missing || !needed.contains(&e.key.as_str()) {
            return None;
        }
        let empty_id = e.key == "CNI_CONTAINERID" && matches!(&e.value, EnvValue::Text(_));
        if code == 4 || (empty_id && code == 3) {
            return None;
        }
        Some(Violation::new(
            "ERR-8",
            format!("{command} without {} not code 4", e.key),
            format!(
                "{command} with {} {} failed with code {code}, not 4 (missing environment \
                 variable)",
                e.key,
                if matches!(e.value, EnvValue::Unset) {
                    "unset"
                } else {
                    "empty"
                }
            ),
        ))
    }

    /// After a succeeded ADD: the runtime's DEL must succeed and undo it. What stays but does
    /// not grow with a second ADD/DEL for another container is shared per-network state.
    fn judge_add_undone(
        &mut self,
        env: &[(String, String)],
        body: &Body,
        add: &crate::world::Run,
        version: &str,
        out: &mut Outcome,
    ) {
        let (del_env, del_stdin, del) = self.del_after_add(env, body, add);
        out.calls += 1;
        let (ifname, netns) = self.attachment_facts();
        let call = oracle::Call {
            command: "DEL",
            version,
            env: &del_env,
            stdin: &del_stdin,
            run: &del,
            ifname: &ifname,
            netns: &netns,
        };
        let target = self.session.target;
        for mut v in oracle::judge(&call, &self.session.world, target.timeout) {
            v.kind = format!("DEL after ADD: {}", v.kind);
            out.violations.push(v);
        }
        if !del.timed_out && !del.output.as_ref().is_ok_and(|o| o.success) {
            out.violations.push(Violation::new(
                "DEL-1",
                "DEL after a succeeded ADD failed",
                format!(
                    "DEL with the ADD's own config and environment failed: {}",
                    crate::runner::describe_output(&del.output)
                ),
            ));
        }
        let d = self.differences(Duration::from_millis(1000));
        if d.is_empty() {
            return;
        }
        // What stays in the container is the attachment's, whatever it is.
        let in_container: Vec<&String> = d.iter().filter(|l| l.starts_with("container ")).collect();
        if !in_container.is_empty() {
            out.violations.push(Violation::new(
                "DEL-1",
                "ADD not undone by DEL",
                format!("after ADD and DEL: {}", d.join("; ")),
            ));
            self.restore(out);
            return;
        }
        // Once more for another container: what grows is the attachment's.
        let after_first = snapshot_of(&self.session.world);
        let mut env2: Vec<(String, String)> = env.to_vec();
        let id = env2
            .iter()
            .find(|(k, _)| k == "CNI_CONTAINERID")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        env2.retain(|(k, _)| k != "CNI_CONTAINERID");
        env2.push(("CNI_CONTAINERID".into(), format!("{id}-again")));
        let add2 =
            self.session
                .world
                .run_plugin(&target.plugin, &env2, &body.bytes(), target.timeout);
        out.calls += 1;
        let second_ok = add2.output.as_ref().is_ok_and(|o| o.success) && {
            let (_, _, del2) = self.del_after_add(&env2, body, &add2);
            out.calls += 1;
            del2.output.as_ref().is_ok_and(|o| o.success)
        };
        if !second_ok {
            // No evidence either way (the second ADD or DEL failed): start over clean.
            self.restore(out);
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
        let grown: Vec<String> = relevant(after_first.diff(&snapshot_of(&self.session.world)))
            .into_iter()
            .filter(|l| l.contains(": + ") || l.starts_with("+ "))
            .collect();
        if !grown.is_empty() {
            out.violations.push(Violation::new(
                "DEL-1",
                "ADD not undone by DEL",
                format!(
                    "after ADD and DEL: {}; a second ADD/DEL for another container added: {}",
                    d.join("; "),
                    grown.join("; ")
                ),
            ));
            self.restore(out);
        } else {
            // Shared per-network state: the world at rest from now on.
            self.rest = snapshot_of(&self.session.world);
        }
    }

    /// Tears the world down as a runtime would (DEL of the list).
    pub fn finish(mut self) {
        self.session.teardown();
    }
}
