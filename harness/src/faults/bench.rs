//! A warmed-up world for robustness trials (killed calls, failed ADDs, concurrent calls): a
//! case session whose attachments were each added and deleted once, so that what a network
//! shares between attachments (a bridge, an allocation cursor) exists, and the snapshot of
//! that state every trial must return to. Owns the plugin calls of a trial (plain, traced or
//! timed), their call log, and the comparison with the warm snapshot.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use cni::result::CniResult;
use cni::version::SpecVersion;

use crate::cases::Kind;
use crate::checks::excerpt;
use crate::faults::tracer::{self, KillAt, Traced};
use crate::runner::{CallLog, Finding};
use crate::session::Session;
use crate::target::{Target, PRIMARY_ATTACHMENT};
use crate::world::{World, WorldSnapshot};

/// How a plain plugin call ended.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) ok: bool,
    pub(crate) exit: String,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl Answer {
    pub(crate) fn from_output(output: &Result<cni::invoke::RawOutput, String>) -> Answer {
        match output {
            Ok(o) => Answer {
                ok: o.success,
                exit: o.status.clone(),
                stdout: o.stdout.clone(),
                stderr: o.stderr.clone(),
            },
            Err(e) => Answer {
                ok: false,
                exit: e.clone(),
                stdout: Vec::new(),
                stderr: Vec::new(),
            },
        }
    }

    /// Whether a failed call answered with an error object (`code` and `msg`) on stdout.
    pub(crate) fn error_object(&self) -> bool {
        serde_json::from_slice::<Value>(&self.stdout)
            .ok()
            .is_some_and(|v| v.get("code").is_some_and(Value::is_u64) && v.get("msg").is_some())
    }

    /// The call in one line: exit and excerpts of stdout and stderr.
    pub(crate) fn describe(&self) -> String {
        let mut d = format!(
            "{}, stdout: {}",
            self.exit,
            excerpt(&String::from_utf8_lossy(&self.stdout))
        );
        let stderr = excerpt(&String::from_utf8_lossy(&self.stderr));
        if !stderr.is_empty() {
            d.push_str(&format!(", stderr: {stderr}"));
        }
        d.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// A warmed-up world and its session.
pub(crate) struct Bench<'t> {
    pub(crate) s: Session<'t>,
    /// The state after one ADD and DEL of `a`: what every trial must come back to.
    pub(crate) warm: WorldSnapshot,
    /// Set when a trial left the world different from [`Self::warm`].
    pub(crate) dirty: bool,
    /// The tested plugin's last successful ADD result per attachment.
    pub(crate) added: std::collections::BTreeMap<String, CniResult>,
}

impl<'t> Bench<'t> {
    /// Creates the world `label` with attachment `a` and `attachments` more, runs the prelude
    /// for each (it stays in force) and one ADD and DEL of the tested plugin for each, one
    /// after the other, and takes the warm snapshot.
    pub(crate) fn new(
        target: &'t Target,
        version: SpecVersion,
        kind: Kind,
        label: &str,
        attachments: &[String],
    ) -> Result<Bench<'t>, String> {
        let world = World::for_target(label, target)?;
        let mut s = Session::new(target, world, version, kind);
        for att in std::iter::once(PRIMARY_ATTACHMENT.to_string()).chain(attachments.to_vec()) {
            s.world
                .attachment(&att)
                .map_err(|e| format!("cannot create attachment {att}: {e}"))?;
            s.ensure_prelude(&att);
        }
        if let Some(f) = s.findings.iter().find(|f| !f.passed) {
            return Err(f.message.clone());
        }
        let mut b = Bench {
            warm: s.world.snapshot(),
            s,
            dirty: false,
            added: Default::default(),
        };
        // Each container once, one after the other: what an ADD and DEL leave by design
        // (loopback's address on `lo`) is then part of the snapshot.
        for att in std::iter::once(PRIMARY_ATTACHMENT.to_string()).chain(attachments.to_vec()) {
            let add = b.call("ADD", &att, None);
            if !add.ok {
                return Err(format!("warm-up ADD of {att} failed: {}", add.describe()));
            }
            let del = b.call("DEL", &att, None);
            if !del.ok {
                return Err(format!("warm-up DEL of {att} failed: {}", del.describe()));
            }
        }
        b.warm = b.s.world.snapshot();
        b.s.calls.clear();
        Ok(b)
    }

    pub(crate) fn version(&self) -> SpecVersion {
        self.s.version
    }

    /// Environment and request of a `verb` call for `att`: `prevResult` is the last ADD
    /// result on CHECK and DEL, the prelude's on ADD; GC gets an empty valid list (every
    /// attachment is stale).
    pub(crate) fn request(&mut self, verb: &str, att: &str) -> (Vec<(String, String)>, Vec<u8>) {
        let env = self.s.env_for(verb, att);
        let prelude = self
            .s
            .states
            .get(att)
            .and_then(|st| st.prelude_result.clone());
        let prev = match verb {
            "ADD" => prelude,
            "GC" => None,
            _ => self.added.get(att).cloned().or(prelude),
        };
        let version = self.s.version.as_str().to_string();
        let mut req = self.s.plugin_request(att, &version, prev.as_ref());
        let target = self.s.target;
        self.s
            .inject_capability_args(&mut req, &target.plugin_conf, verb, att);
        if verb == "GC" {
            req["cni.dev/valid-attachments"] = Value::Array(Vec::new());
        }
        (env, req.to_string().into_bytes())
    }

    /// Runs `verb` for `att` with `stdin` replaced by `patch(stdin)` when given, logs it and
    /// keeps the ADD result.
    pub(crate) fn call(&mut self, verb: &str, att: &str, patch: Option<&Value>) -> Answer {
        let (env, mut stdin) = self.request(verb, att);
        if let Some(p) = patch {
            stdin = p.to_string().into_bytes();
        }
        self.call_with(verb, att, &env, &stdin)
    }

    /// Runs the plugin with this environment and request, logs it and keeps the ADD result.
    pub(crate) fn call_with(
        &mut self,
        verb: &str,
        att: &str,
        env: &[(String, String)],
        stdin: &[u8],
    ) -> Answer {
        let run = self
            .s
            .world
            .run_plugin(&self.s.target.plugin, env, stdin, self.s.target.timeout);
        let answer = Answer::from_output(&run.output);
        self.log(verb, (env, stdin), &answer, run.elapsed);
        self.track(verb, att, &answer);
        answer
    }

    pub(crate) fn track(&mut self, verb: &str, att: &str, answer: &Answer) {
        match verb {
            "ADD" if answer.ok => {
                if let Ok(r) = CniResult::parse(&answer.stdout, Some(self.s.version)) {
                    self.added.insert(att.to_string(), r);
                }
            }
            "DEL" if answer.ok => {
                self.added.remove(att);
            }
            _ => {}
        }
    }

    pub(crate) fn log(
        &mut self,
        verb: &str,
        (env, stdin): (&[(String, String)], &[u8]),
        answer: &Answer,
        elapsed: Duration,
    ) {
        let step = self.s.calls.len();
        let (env, request) = CallLog::sent(env, stdin);
        self.s.calls.push(CallLog {
            step,
            command: verb.to_string(),
            exit: answer.exit.clone(),
            millis: elapsed.as_millis(),
            stdout: excerpt(&String::from_utf8_lossy(&answer.stdout)),
            stderr: excerpt(&String::from_utf8_lossy(&answer.stderr)),
            env,
            request,
        });
    }

    /// Runs `verb` for `att` killed as `kill` says (traced unless timed), and logs it.
    pub(crate) fn killed(&mut self, verb: &str, att: &str, kill: KillAt) -> Result<Traced, String> {
        let (env, stdin) = self.request(verb, att);
        let plugin: &Path = &self.s.target.plugin;
        let t = tracer::run(
            &self.s.world,
            plugin,
            &env,
            &stdin,
            self.s.target.timeout,
            kill,
        )
        .map_err(|e| format!("cannot run the plugin under the tracer: {e}"))?;
        let exit = match (t.killed, t.timed_out, t.exit_code) {
            (true, _, _) => "killed by the harness (SIGKILL to its process group)".to_string(),
            (_, true, _) => "timed out".to_string(),
            (_, _, Some(c)) => format!("exit status: {c}"),
            (_, _, None) => "ended by a signal".to_string(),
        };
        let answer = Answer {
            ok: t.success(),
            exit,
            stdout: t.stdout.clone(),
            stderr: t.stderr.clone(),
        };
        self.log(
            &format!("{verb} (fault injection)"),
            (&env, &stdin),
            &answer,
            t.elapsed,
        );
        self.track(verb, att, &answer);
        Ok(t)
    }

    /// The differences between the world now and `before`, waiting up to `settle` for them
    /// to go away (the kernel removes some objects asynchronously).
    pub(crate) fn diff_settled(&self, before: &WorldSnapshot, settle: Duration) -> Vec<String> {
        let deadline = Instant::now() + settle;
        let mut d = before.diff(&self.s.world.snapshot());
        while !d.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            d = before.diff(&self.s.world.snapshot());
        }
        d
    }

    /// Compares the world with the warm snapshot: a finding for `reqs` saying `what`; marks
    /// the bench dirty when they differ. Returns whether they are equal.
    pub(crate) fn compare_warm(&mut self, reqs: &[&str], what: &str) -> bool {
        let d = self.diff_settled(&self.warm.clone(), Duration::from_millis(300));
        let passed = d.is_empty();
        self.dirty = !passed;
        let msg = if passed {
            format!("{what}: the world is as before")
        } else {
            format!("{what}: left behind: {}", d.join("; "))
        };
        self.finding(reqs, passed, msg);
        passed
    }

    pub(crate) fn finding(&mut self, reqs: &[&str], passed: bool, message: String) {
        self.s.findings.push(Finding {
            requirements: reqs.iter().map(|s| s.to_string()).collect(),
            passed,
            message,
        });
    }

    /// Takes the findings and calls recorded so far.
    pub(crate) fn take(&mut self) -> (Vec<Finding>, Vec<CallLog>) {
        (
            std::mem::take(&mut self.s.findings),
            std::mem::take(&mut self.s.calls),
        )
    }

    /// DELs every attachment and undoes the prelude, as a case's teardown does.
    pub(crate) fn teardown(mut self) {
        self.s.teardown();
    }
}
