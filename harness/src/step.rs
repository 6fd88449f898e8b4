//! Executing one plugin call of a case, a step with a verb: building its environment and
//! request from the step (`CNI_*` overrides, request version, `prevResult`, raw stdin, GC's
//! valid attachments, the step's merge patch), running the plugin in the world, logging the
//! call, keeping the attachment's state as a runtime would (the last ADD's result; the
//! prelude's DEL after a DEL or a failed ADD), and turning the step's expectation and checks
//! into findings.

use serde_json::{Map, Value};

use cni::result::CniResult;
use cni::version::SpecVersion;

use crate::cases::{Expect, Prev, Step};
use crate::checks::{self, excerpt, Check, CheckFailure, StepView};
use crate::runner::{CallLog, Finding};
use crate::session::Session;
use crate::target::{merge_patch, PRIMARY_ATTACHMENT};

/// What a step sends the plugin.
struct Call {
    attachment: String,
    /// The request's `cniVersion` as sent.
    version: String,
    /// `version` when it is a known spec version.
    spec: Option<SpecVersion>,
    prev: Option<CniResult>,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
}

/// What the plugin answered.
struct Answer {
    ok: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The exit status as text.
    exit: String,
    /// Delegate calls recorded during the call; `None` when recording is off.
    delegate_calls: Option<Vec<Value>>,
}

impl Session<'_> {
    /// Runs step `idx`, a `verb` call of the tested plugin, and records its findings.
    pub(crate) fn run_verb(&mut self, idx: usize, step: &Step, verb: &str) {
        let att = step
            .attachment
            .clone()
            .unwrap_or_else(|| PRIMARY_ATTACHMENT.into());
        if self.world.attachment(&att).is_err() {
            self.finding(
                &[],
                false,
                format!("step {idx}: cannot create attachment {att}"),
            );
            return;
        }
        // The prelude's ADD is for verbs on an attachment; STATUS and GC have none (a STATUS
        // must not find the prelude's links and call them its own side effects).
        if !matches!(verb, "VERSION" | "STATUS" | "GC") {
            self.ensure_prelude(&att);
        }
        let call = self.build_call(step, verb, att);
        // A runtime's GC of a list runs every plugin's GC in list order with the same
        // valid attachments: the prelude's first, so that what it holds for a stale
        // attachment (an IPAM reservation, a link) goes too.
        // (Only at versions that have GC: below 1.1.0 a runtime sends none.)
        if verb == "GC" && step.stdin.is_none() && call.spec.is_some_and(|v| v.has_status_and_gc())
        {
            self.prelude_gc(&call.env, &call.version, &call.stdin);
        }
        // A runtime's list DEL runs the later plugins' DEL first.
        if verb == "DEL" && step.stdin.is_none() && !self.target.postlude.is_empty() {
            let prev = call.prev.clone();
            self.postlude_del(&call.attachment, &call.env, &call.version, prev.as_ref());
        }
        let Some(answer) = self.execute(idx, step, verb, &call) else {
            return;
        };
        self.track_state(step, verb, &call, &answer);
        self.expect_outcome(idx, step, verb, &call, &answer);
        let findings = self.apply_checks(idx, step, verb, &call, &answer);
        self.findings.extend(findings);
    }

    /// The environment and stdin of the step's call.
    fn build_call(&mut self, step: &Step, verb: &str, attachment: String) -> Call {
        let version = step
            .version
            .clone()
            .unwrap_or_else(|| self.version.as_str().to_string());
        let spec = SpecVersion::from_exact(&version);
        let prev = self.prev_result(step, verb, &attachment, spec);
        let env = self.step_env(step, verb, &attachment);
        // Raw stdin replaces the request, which is built all the same (GC's valid
        // attachments are created on the way).
        let request = self.step_request(step, verb, &attachment, &version, prev.as_ref());
        let stdin = match &step.stdin {
            Some(raw) => raw.clone().into_bytes(),
            None => request.to_string().into_bytes(),
        };
        Call {
            attachment,
            version,
            spec,
            prev,
            env,
            stdin,
        }
    }

    /// The step's `prevResult`: on ADD the prelude's result; on CHECK and DEL (at versions
    /// that have CHECK) the last ADD's result, else the prelude's.
    fn prev_result(
        &self,
        step: &Step,
        verb: &str,
        attachment: &str,
        spec: Option<SpecVersion>,
    ) -> Option<CniResult> {
        let state = self.states.get(attachment)?;
        match (step.prev, verb) {
            (Prev::None | Prev::Empty, _) => None,
            (Prev::Auto, "ADD") => state.prelude_result.clone(),
            (Prev::Auto, "CHECK" | "DEL") if spec.is_some_and(|v| v.has_check()) => state
                .last_add
                .clone()
                .or_else(|| state.prelude_result.clone()),
            _ => None,
        }
    }

    /// The call's environment with the step's overrides and removals.
    fn step_env(&mut self, step: &Step, verb: &str, attachment: &str) -> Vec<(String, String)> {
        let mut env = self.env_for(verb, attachment);
        for (k, v) in &step.env {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        env.retain(|(k, _)| !step.unset.contains(k));
        env
    }

    /// The request of the step: the tested plugin's, an empty `prevResult` if asked, GC's
    /// valid attachments, and the step's merge patch. The attachment patch is left out when
    /// the step sends raw stdin instead: it only counts as used when sent.
    fn step_request(
        &mut self,
        step: &Step,
        verb: &str,
        attachment: &str,
        version: &str,
        prev: Option<&CniResult>,
    ) -> Value {
        let mut req = if step.stdin.is_some() {
            self.request(&self.target.plugin_conf, version, prev)
        } else {
            self.plugin_request(attachment, version, prev)
        };
        self.inject_capability_args(&mut req, &self.target.plugin_conf, verb, attachment);
        if step.prev == Prev::Empty {
            req["prevResult"] = Value::Object(Map::new());
        }
        if verb == "GC" {
            if let Some(valid) = &step.valid {
                req["cni.dev/valid-attachments"] = self.valid_attachments(valid);
            }
        }
        if let Some(p) = &step.patch {
            merge_patch(&mut req, &toml_to_json(p));
        }
        if let Some(obj) = req.as_object_mut() {
            for k in &step.remove {
                obj.remove(k);
            }
        }
        req
    }

    /// GC's `cni.dev/valid-attachments` for the named attachments (created if new).
    fn valid_attachments(&mut self, names: &[String]) -> Value {
        let list = names
            .iter()
            .filter_map(|n| {
                let _ = self.world.attachment(n);
                self.world
                    .get(n)
                    .map(|a| serde_json::json!({"containerID": a.container_id, "ifname": a.ifname}))
            })
            .collect();
        Value::Array(list)
    }

    /// Runs the plugin and logs the call. A call that timed out or could not run is a
    /// failed finding, and `None`: the step ends there.
    fn execute(&mut self, idx: usize, step: &Step, verb: &str, call: &Call) -> Option<Answer> {
        let recorded_before = self
            .recorder
            .as_ref()
            .map(|_| self.world.recorded_calls().len());
        let run = self.world.run_plugin(
            &self.target.plugin,
            &call.env,
            &call.stdin,
            self.target.timeout,
        );
        let delegate_calls: Option<Vec<Value>> =
            recorded_before.map(|n| self.world.recorded_calls().into_iter().skip(n).collect());
        let (ok, stdout, stderr, exit) = match &run.output {
            Ok(o) => (
                o.success,
                o.stdout.clone(),
                o.stderr.clone(),
                o.status.clone(),
            ),
            Err(e) => (false, Vec::new(), Vec::new(), e.clone()),
        };
        self.calls.push(CallLog {
            step: idx,
            command: verb.to_string(),
            exit: exit.clone(),
            millis: run.elapsed.as_millis(),
            stdout: excerpt(&String::from_utf8_lossy(&stdout)),
            stderr: excerpt(&String::from_utf8_lossy(&stderr)),
            env: CallLog::sent(&call.env, &call.stdin).0,
            request: CallLog::sent(&call.env, &call.stdin).1,
        });
        if run.timed_out {
            let mut reqs = step.req.clone();
            if reqs.is_empty() {
                reqs = vec!["ERR-1".into()];
            }
            self.finding(
                &reqs,
                false,
                format!(
                    "step {idx}: {verb} did not finish within {:?} and was killed",
                    self.target.timeout
                ),
            );
            return None;
        }
        if let Err(e) = &run.output {
            self.finding(
                &[],
                false,
                format!("step {idx}: could not run the plugin: {e}"),
            );
            return None;
        }
        Some(Answer {
            ok,
            stdout,
            stderr,
            exit,
            delegate_calls,
        })
    }

    /// Keeps the attachment's state as a runtime would: a successful ADD's result becomes the
    /// next `prevResult`; a DEL, or a failed ADD, undoes the prelude.
    fn track_state(&mut self, step: &Step, verb: &str, call: &Call, answer: &Answer) {
        let att = &call.attachment;
        let ok = answer.ok;
        if ok && verb == "ADD" && step.stdin.is_none() {
            let mut parsed = call
                .spec
                .and_then(|v| CniResult::parse(&answer.stdout, Some(v)).ok());
            // The later plugins of the list run on the result; theirs is the list's.
            if !self.target.postlude.is_empty() {
                parsed = parsed.and_then(|r| self.postlude_add(att, &call.env, &call.version, r));
            }
            let st = self.states.get_mut(att).expect("state");
            st.added = true;
            if parsed.is_some() {
                st.last_add = parsed;
            }
        }
        // A runtime follows a failed ADD with DEL of the list (RT-4): undo the prelude.
        let failed_add = !ok && verb == "ADD";
        if (ok && verb == "DEL" && step.stdin.is_none()) || failed_add {
            self.del_prelude(att);
            if let Some(st) = self.states.get_mut(att) {
                st.last_add = None;
            }
        }
    }

    /// The step's expectation (success, failure, an error code) as findings.
    fn expect_outcome(
        &mut self,
        idx: usize,
        step: &Step,
        verb: &str,
        call: &Call,
        answer: &Answer,
    ) {
        let ok = answer.ok;
        let err_code = checks::error_code(&answer.stdout);
        let what = format!(
            "step {idx}: {verb}{} exit {}{}",
            if step.version.is_some() {
                format!(" at {}", call.version)
            } else {
                String::new()
            },
            answer.exit,
            if ok {
                String::new()
            } else {
                format!(
                    ", stdout: {}",
                    excerpt(&String::from_utf8_lossy(&answer.stdout))
                )
            }
        );
        match step.expect {
            Expect::Ok => self.finding(&step.req, ok, format!("{what} (expected success)")),
            Expect::Fail => {
                self.finding(&step.req, !ok, format!("{what} (expected failure)"));
                if let (Some(want), false) = (step.code, ok) {
                    let passed = err_code == Some(u64::from(want));
                    let reqs = if step.code_req.is_empty() {
                        &step.req
                    } else {
                        &step.code_req
                    };
                    self.finding(
                        reqs,
                        passed,
                        format!("{what} (expected error code {want}, got {err_code:?})"),
                    );
                }
            }
            Expect::Any => {}
        }
    }

    /// Runs the step's checks on the call and its answer; one finding per check that applies.
    fn apply_checks(
        &self,
        idx: usize,
        step: &Step,
        verb: &str,
        call: &Call,
        answer: &Answer,
    ) -> Vec<Finding> {
        let a = self.world.get(&call.attachment).expect("attachment exists");
        let view = StepView {
            verb,
            version: &call.version,
            stdout: &answer.stdout,
            exit_ok: answer.ok,
            world: Some(&self.world),
            attachment: &call.attachment,
            ifname: &a.ifname,
            netns: &a.netns_path,
            prev_result: call.prev.as_ref(),
            kind: self.kind,
            env: &call.env,
            stdin: &call.stdin,
            stderr: &answer.stderr,
            delegate_calls: answer.delegate_calls.as_deref(),
        };
        let mut findings = Vec::new();
        for c in &step.checks {
            let Some(check) = checks::find(c.name()) else {
                findings.push(Finding {
                    requirements: vec![],
                    passed: false,
                    message: format!("step {idx}: unknown check {:?}", c.name()),
                });
                continue;
            };
            let reqs: Vec<String> = c
                .req()
                .map(|r| r.to_vec())
                .unwrap_or_else(|| check.req.iter().map(|s| s.to_string()).collect());
            if let Some(verdict) = (check.run)(&view) {
                findings.push(check_finding(idx, verb, check, reqs, verdict));
            }
        }
        findings
    }
}

/// The finding of a check that applied, against `reqs` (the IDs it stands for in this step).
/// A failure that names one of them counts against that ID alone; a failure naming another ID
/// counts against all of `reqs`, with `[ID]` before its reason.
fn check_finding(
    idx: usize,
    verb: &str,
    check: &Check,
    reqs: Vec<String>,
    verdict: Result<(), CheckFailure>,
) -> Finding {
    let (requirements, passed, message) = match verdict {
        Ok(()) => (reqs, true, format!("step {idx}: {verb} {} ok", check.name)),
        Err(f) => match f.requirement.filter(|id| reqs.iter().any(|r| r == id)) {
            Some(id) => (
                vec![id.to_string()],
                false,
                format!("step {idx}: {verb} {}: {}", check.name, f.reason),
            ),
            None => (
                reqs,
                false,
                format!("step {idx}: {verb} {}: {f}", check.name),
            ),
        },
    };
    Finding {
        requirements,
        passed,
        message,
    }
}

fn toml_to_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_check() -> &'static Check {
        checks::find("result").expect("the result check")
    }

    fn reqs(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_passed_check_counts_for_every_id() {
        let f = check_finding(3, "ADD", result_check(), reqs(&["RES-1", "RES-19"]), Ok(()));
        assert_eq!(f.requirements, reqs(&["RES-1", "RES-19"]));
        assert!(f.passed);
        assert_eq!(f.message, "step 3: ADD result ok");
    }

    #[test]
    fn a_failure_naming_one_of_the_ids_counts_against_it_alone() {
        let failure = CheckFailure::of("RES-19", "a 1.x result has ips[].version");
        let f = check_finding(
            3,
            "ADD",
            result_check(),
            reqs(&["RES-1", "RES-19"]),
            Err(failure),
        );
        assert_eq!(f.requirements, reqs(&["RES-19"]));
        assert!(!f.passed);
        assert_eq!(
            f.message,
            "step 3: ADD result: a 1.x result has ips[].version"
        );
    }

    #[test]
    fn a_failure_naming_another_id_counts_against_all_and_says_which() {
        let failure = CheckFailure::of("RES-19", "a 1.x result has ips[].version");
        let f = check_finding(3, "ADD", result_check(), reqs(&["ADD-2"]), Err(failure));
        assert_eq!(f.requirements, reqs(&["ADD-2"]));
        assert_eq!(
            f.message,
            "step 3: ADD result: [RES-19] a 1.x result has ips[].version"
        );
    }

    #[test]
    fn a_failure_naming_no_id_counts_against_all() {
        let f = check_finding(
            0,
            "DEL",
            result_check(),
            reqs(&["A-1", "B-2"]),
            Err("bad".into()),
        );
        assert_eq!(f.requirements, reqs(&["A-1", "B-2"]));
        assert_eq!(f.message, "step 0: DEL result: bad");
    }
}
