//! The fuzzer's oracle: what every plugin call must satisfy whatever it was sent, each rule
//! tied to a requirement ID. A call ends in time and by exiting, never by a signal (ERR-1);
//! exit 0 comes with a well-formed answer for its verb (ADD: one result of the requested
//! version, through the `outcome` check; VERSION: the `version-info` check; CHECK: empty
//! stdout); a non-zero exit comes with one error object (`error-json`, `error-fields`,
//! `error-only`) whose code is a defined well-known one or a plugin-specific one (ERR-4), 50
//! and 51 only for STATUS (ERR-13). What the call did to the world is judged by the caller
//! (`super::rig`), which compares snapshots.
//!
//! A [`Violation`]'s `kind` is its signature: the minimizer keeps a smaller request only when
//! it still produces a violation of the same kind and requirement.

use serde::Serialize;
use serde_json::Value;

use crate::cases::Kind;
use crate::checks::{self, one_json, StepView};
use crate::world::{Run, World};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub requirement: String,
    /// Stable across requests that fail the same way.
    pub kind: String,
    pub detail: String,
}

impl Violation {
    pub fn new(requirement: &str, kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Violation {
            requirement: requirement.into(),
            kind: kind.into(),
            detail: detail.into(),
        }
    }

    /// Whether `other` fails the same way.
    pub fn same_as(&self, other: &Violation) -> bool {
        self.requirement == other.requirement && self.kind == other.kind
    }
}

/// What one call was given and did.
pub struct Call<'a> {
    /// The effective `CNI_COMMAND` (empty when unset).
    pub command: &'a str,
    /// The request's `cniVersion` when it is a string, else empty.
    pub version: &'a str,
    pub env: &'a [(String, String)],
    pub stdin: &'a [u8],
    pub run: &'a Run,
    pub ifname: &'a str,
    pub netns: &'a str,
}

/// Codes the spec defines (1-7, 11, 50, 51); the rest of 0-99 is reserved.
fn defined_code(code: u64) -> bool {
    matches!(code, 1..=7 | 11 | 50 | 51)
}

/// Whether `stdin` is one JSON object (surrounding whitespace allowed).
fn request_object(stdin: &[u8]) -> bool {
    serde_json::from_slice::<Value>(stdin).is_ok_and(|v| v.is_object())
}

/// The `cniVersion` string of a request, empty when it has none or is no JSON object.
pub fn request_version(stdin: &[u8]) -> String {
    serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The signal named in an exit status text ("signal: 6 (SIGABRT) (core dumped)").
fn signal_of(status: &str) -> Option<String> {
    let rest = status.strip_prefix("signal: ")?;
    let name = rest
        .split(['(', ')'])
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| rest.split_whitespace().next().unwrap_or("").to_string());
    Some(name)
}

/// The rules the call broke (empty: it behaved).
pub fn judge(call: &Call, world: &World, timeout: std::time::Duration) -> Vec<Violation> {
    if call.run.timed_out {
        return vec![Violation::new(
            "ERR-1",
            "hang",
            format!(
                "{} did not finish within {timeout:?} and was killed",
                call.command
            ),
        )];
    }
    let out = match &call.run.output {
        Ok(o) => o,
        // Not the plugin's doing (the caller reports it as harness trouble).
        Err(_) => return Vec::new(),
    };
    if let Some(sig) = signal_of(&out.status) {
        return vec![Violation::new(
            "ERR-1",
            format!("killed by {sig}"),
            format!(
                "{} died by a signal ({}) instead of exiting; stdout: {}, stderr: {}",
                call.command,
                out.status,
                checks::excerpt(&String::from_utf8_lossy(&out.stdout)),
                checks::excerpt(&String::from_utf8_lossy(&out.stderr))
            ),
        )];
    }
    let view = StepView {
        verb: call.command,
        version: call.version,
        stdout: &out.stdout,
        exit_ok: out.success,
        world: Some(world),
        attachment: crate::target::PRIMARY_ATTACHMENT,
        ifname: call.ifname,
        netns: call.netns,
        prev_result: None,
        kind: Kind::Other,
        env: call.env,
        stdin: call.stdin,
        stderr: &out.stderr,
        delegate_calls: None,
    };
    let mut found = Vec::new();
    let mut run_check = |name: &str, verb_label: &str| {
        let check = checks::find(name).expect("a defined check");
        if let Some(Err(f)) = (check.run)(&view) {
            let id = f.requirement.unwrap_or(check.req[0]);
            found.push(Violation::new(
                id,
                format!("{verb_label} {name}"),
                format!("{} exit {}: {}", call.command, out.status, f.reason),
            ));
        }
    };
    if out.success {
        match call.command {
            "ADD" => run_check("outcome", "ADD"),
            "VERSION" => run_check("version-info", "VERSION"),
            "CHECK" => run_check("stdout-empty", "CHECK"),
            _ => {
                // Whatever else succeeds prints nothing or one JSON document.
                let text = String::from_utf8_lossy(&out.stdout);
                if !text.trim().is_empty() {
                    if let Err(e) = one_json(&out.stdout) {
                        found.push(Violation::new(
                            "ENV-13",
                            format!("{} stdout", call.command),
                            format!("{} exit 0: {e}", call.command),
                        ));
                    }
                }
            }
        }
        // Without any CNI_COMMAND, Go's skel prints what the plugin is on stderr and exits
        // 0; a command that is set but no verb must fail.
        let no_command = call.command.is_empty() && out.stdout.trim_ascii().is_empty();
        if !no_command
            && !matches!(
                call.command,
                "ADD" | "DEL" | "CHECK" | "VERSION" | "STATUS" | "GC"
            )
        {
            found.push(Violation::new(
                "ENV-1",
                "unknown command succeeded",
                format!(
                    "CNI_COMMAND={:?} is no verb, yet the plugin exited 0",
                    call.command
                ),
            ));
        }
        if matches!(call.command, "ADD" | "DEL" | "CHECK" | "STATUS" | "GC")
            && !request_object(call.stdin)
        {
            found.push(Violation::new(
                "ERR-10",
                format!("{} accepted undecodable stdin", call.command),
                format!(
                    "{} exited 0 on stdin that is not one JSON object: {}",
                    call.command,
                    checks::excerpt(&String::from_utf8_lossy(call.stdin))
                ),
            ));
        }
        return found;
    }
    run_check("error-json", "failure");
    run_check("error-fields", "failure");
    run_check("error-only", "failure");
    if let Some(code) = one_json(&out.stdout)
        .ok()
        .and_then(|j| j.get("code").and_then(Value::as_u64))
    {
        if code < 100 && !defined_code(code) {
            found.push(Violation::new(
                "ERR-4",
                format!("reserved code {code}"),
                format!(
                    "{} failed with code {code}, reserved by the spec and not defined by it",
                    call.command
                ),
            ));
        } else if matches!(code, 50 | 51) && call.command != "STATUS" {
            found.push(Violation::new(
                "ERR-13",
                format!("code {code} outside STATUS"),
                format!("{} failed with code {code}, a STATUS code", call.command),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_read_from_the_exit_status() {
        assert_eq!(
            signal_of("signal: 6 (SIGABRT) (core dumped)").as_deref(),
            Some("SIGABRT")
        );
        assert_eq!(signal_of("exit status: 1"), None);
    }

    #[test]
    fn reserved_codes() {
        assert!(defined_code(7) && defined_code(11) && defined_code(51));
        assert!(!defined_code(0) && !defined_code(8) && !defined_code(99));
    }
}
