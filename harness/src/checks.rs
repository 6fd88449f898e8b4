//! The checks a case step can ask for, each a function of the step's outcome and the world,
//! each tied by default to the requirement IDs it gives evidence for.

use serde_json::Value;

use cni::result::CniResult;
use cni::version::SpecVersion;

use crate::cases::Kind;
use crate::recorder::STDERR_MARKER;
use crate::world::World;

/// What a check sees.
pub struct StepView<'a> {
    pub verb: &'a str,
    /// The request's `cniVersion` string as sent.
    pub version: &'a str,
    pub stdout: &'a [u8],
    pub exit_ok: bool,
    /// The case's world; `None` where there is none (a check that needs it does not apply).
    pub world: Option<&'a World>,
    pub attachment: &'a str,
    pub ifname: &'a str,
    pub netns: &'a str,
    pub prev_result: Option<&'a CniResult>,
    pub kind: Kind,
    /// The environment and stdin the plugin was given, and its stderr.
    pub env: &'a [(String, String)],
    pub stdin: &'a [u8],
    pub stderr: &'a [u8],
    /// Delegate calls recorded during this step; `None` when recording is off.
    pub delegate_calls: Option<&'a [Value]>,
}

/// Why a check failed. A check stands for several requirement IDs; a failure that breaks
/// only one of them names it in `requirement`, and the runner then records the failure
/// against that ID alone (when the step lets the check stand for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// The one requirement the failure breaks; `None`: every ID the check stands for.
    pub requirement: Option<&'static str>,
    pub reason: String,
}

impl CheckFailure {
    /// A failure against every requirement the check stands for.
    pub fn new(reason: impl Into<String>) -> CheckFailure {
        CheckFailure {
            requirement: None,
            reason: reason.into(),
        }
    }

    /// A failure against `requirement` alone.
    pub fn of(requirement: &'static str, reason: impl Into<String>) -> CheckFailure {
        CheckFailure {
            requirement: Some(requirement),
            reason: reason.into(),
        }
    }
}

impl From<String> for CheckFailure {
    fn from(reason: String) -> CheckFailure {
        CheckFailure::new(reason)
    }
}

impl From<&str> for CheckFailure {
    fn from(reason: &str) -> CheckFailure {
        CheckFailure::new(reason)
    }
}

/// `[ID] reason` when the failure names one requirement, else the reason.
impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.requirement {
            Some(id) => write!(f, "[{id}] {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// A check's verdict: `Ok(())` passed, `Err(failure)` failed; `None` when not applicable.
pub type Verdict = Option<Result<(), CheckFailure>>;

/// A named check and the requirement IDs it stands for by default.
pub struct Check {
    pub name: &'static str,
    pub req: &'static [&'static str],
    pub run: fn(&StepView) -> Verdict,
}

pub const CHECKS: &[Check] = &[
    Check {
        name: "single-json",
        req: &["ADD-2", "ENV-13"],
        run: single_json,
    },
    Check {
        name: "result",
        req: &[
            "RES-1", "RES-3", "RES-5", "RES-6", "RES-8", "RES-9", "RES-12", "RES-13", "RES-14",
            "RES-19",
        ],
        run: result_valid,
    },
    Check {
        name: "result-version",
        req: &["ADD-6", "VER-4"],
        run: result_version,
    },
    Check {
        name: "sandbox",
        req: &["ADD-11", "RES-4", "RES-16"],
        run: sandbox,
    },
    Check {
        name: "ifname-exists",
        req: &["ADD-1", "ENV-5"],
        run: ifname_exists,
    },
    Check {
        name: "ifname-absent",
        req: &["DEL-1"],
        run: ifname_absent,
    },
    Check {
        name: "addresses-applied",
        req: &["IPAM-2"],
        run: addresses_applied,
    },
    Check {
        name: "ipam-abbreviated",
        req: &["RES-10", "IPAM-13"],
        run: ipam_abbreviated,
    },
    Check {
        name: "prev-kept",
        req: &["CHAIN-4", "RES-11", "ADD-4"],
        run: prev_kept,
    },
    Check {
        name: "stdout-empty",
        req: &["CHECK-8"],
        run: stdout_empty,
    },
    Check {
        name: "error-json",
        req: &["ERR-2"],
        run: error_json,
    },
    Check {
        name: "error-fields",
        req: &["ERR-3"],
        run: error_fields,
    },
    Check {
        name: "error-only",
        req: &["ERR-17"],
        run: error_only,
    },
    Check {
        name: "version-info",
        req: &["VERSION-1"],
        run: version_info,
    },
    Check {
        name: "version-echo",
        req: &["VERSION-2"],
        run: version_echo,
    },
    Check {
        name: "delegate-env",
        req: &["ENV-17", "IPAM-4", "IPAM-3"],
        run: delegate_env,
    },
    Check {
        name: "delegate-stdin",
        req: &["IPAM-5"],
        run: delegate_stdin,
    },
    Check {
        name: "delegate-verb",
        req: &["IPAM-8"],
        run: delegate_verb,
    },
    Check {
        name: "delegate-stderr",
        req: &["IPAM-7"],
        run: delegate_stderr,
    },
    Check {
        name: "delegate-released",
        req: &["ADD-8", "IPAM-9"],
        run: delegate_released,
    },
    Check {
        name: "port-mappings-forward",
        req: &["CAP-5", "CAP-18"],
        run: crate::capabilities::port_mappings_forward,
    },
    Check {
        name: "legacy-result",
        req: &["VER-5"],
        run: legacy_result,
    },
    Check {
        name: "status-unavailable",
        req: &["STATUS-4", "ERR-13"],
        run: status_unavailable,
    },
    Check {
        name: "capability-ips",
        req: &["CAP-9", "CAP-18"],
        run: crate::capabilities::ips_assigned,
    },
    Check {
        name: "capability-ip-ranges",
        req: &["CAP-6", "CAP-18"],
        run: crate::capabilities::ip_ranges_used,
    },
    Check {
        name: "capability-mac",
        req: &["CAP-10", "CAP-18"],
        run: crate::capabilities::mac_applied,
    },
    Check {
        name: "outcome",
        req: &[
            "ADD-2", "ADD-6", "ERR-1", "ERR-2", "RES-1", "RES-12", "RES-13",
        ],
        run: outcome,
    },
];

pub fn find(name: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.name == name)
}

/// A successful ADD to a request without `cniVersion` answers in the legacy shape (0.1.0 or
/// 0.2.0): addresses under `ip4`/`ip6`, no `ips` or `interfaces` list, and a `cniVersion`, if
/// any, of that family.
fn legacy_result(v: &StepView) -> Verdict {
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    let json = match one_json(v.stdout) {
        Ok(j) => j,
        Err(e) => return Some(Err(e.into())),
    };
    let version = json.get("cniVersion").and_then(Value::as_str);
    Some(if !matches!(version, None | Some("0.1.0" | "0.2.0")) {
        Err(format!("the result is at cniVersion {version:?}, not a legacy one").into())
    } else if json.get("ips").is_some() || json.get("interfaces").is_some() {
        Err("the result has the ips/interfaces shape of 0.3.0 and later, not ip4/ip6".into())
    } else {
        Ok(())
    })
}

/// A failed STATUS answers one of the unavailability codes: 50 (cannot serve ADD) or 51 (that,
/// and existing attachments may have reduced connectivity).
fn status_unavailable(v: &StepView) -> Verdict {
    if v.exit_ok || v.verb != "STATUS" {
        return None;
    }
    let code = one_json(v.stdout)
        .ok()
        .and_then(|j| j.get("code").and_then(Value::as_u64));
    Some(match code {
        Some(50 | 51) => Ok(()),
        other => Err(CheckFailure::new(format!(
            "STATUS failed with code {other:?}, not 50 or 51"
        ))),
    })
}

/// Whether `stdout` holds nothing but JSON whitespace (space, tab, LF, CR).
pub fn is_blank(stdout: &[u8]) -> bool {
    stdout
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The one JSON document `stdout` holds (surrounding JSON whitespace allowed), or why not.
/// The text must be UTF-8 (JSON text exchanged between systems is, RFC 8259 section 8.1):
/// invalid bytes are not read as U+FFFD, so a plugin that prints them fails, and anything this
/// accepts reads the same with `serde_json::from_slice`.
pub fn one_json(stdout: &[u8]) -> Result<Value, String> {
    if is_blank(stdout) {
        return Err("stdout is empty".into());
    }
    let text = std::str::from_utf8(stdout).map_err(|e| {
        format!(
            "stdout is not UTF-8 ({e}): {}",
            excerpt(&String::from_utf8_lossy(stdout))
        )
    })?;
    serde_json::from_str::<Value>(text).map_err(|e| {
        format!(
            "stdout is not exactly one JSON document ({e}): {}",
            excerpt(text)
        )
    })
}

/// The error code of a failing plugin's stdout: the numeric `code` of the one JSON object it
/// holds, if any.
pub fn error_code(stdout: &[u8]) -> Option<u64> {
    one_json(stdout).ok()?.get("code")?.as_u64()
}

pub fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

fn parsed_result(v: &StepView) -> Option<Result<CniResult, String>> {
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    Some(one_json(v.stdout).and_then(|j| {
        CniResult::from_value(j, None).map_err(|e| format!("result does not follow the spec: {e}"))
    }))
}

fn single_json(v: &StepView) -> Verdict {
    Some(one_json(v.stdout).map(drop).map_err(Into::into))
}

/// The requirement that defines the result schema of request version `version`.
fn schema_req(version: &str) -> &'static str {
    let version = if version.is_empty() { "0.1.0" } else { version };
    match SpecVersion::from_exact(version).map(|x| x.family()) {
        Some(cni::version::ResultFamily::Legacy) => "RES-12",
        Some(cni::version::ResultFamily::V04) => "RES-13",
        _ => "RES-1",
    }
}

/// A failure names the one rule it breaks: RES-19, RES-6, RES-14, RES-5, else the rule that
/// defines the request version's schema.
fn result_valid(v: &StepView) -> Verdict {
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    let schema_id = schema_req(v.version);
    let json = match one_json(v.stdout) {
        Ok(j) => j,
        Err(e) => return Some(Err(CheckFailure::of(schema_id, e))),
    };
    // 1.x results carry no ips[].version (RES-19).
    let is_v1 = json["cniVersion"]
        .as_str()
        .and_then(SpecVersion::from_exact)
        .is_some_and(|x| x >= SpecVersion::V1_0_0);
    let has_version = json["ips"]
        .as_array()
        .is_some_and(|a| a.iter().any(|ip| ip.get("version").is_some()));
    if is_v1 && has_version {
        return Some(Err(CheckFailure::of(
            "RES-19",
            "a 1.x result has ips[].version",
        )));
    }
    Some(match CniResult::from_value(json, None) {
        Ok(_) => Ok(()),
        Err(e) => {
            use cni::result::ResultError as E;
            let id = match &e {
                E::BadInterfaceIndex { .. } => "RES-6",
                E::FamilyMismatch(_) => "RES-14",
                E::GatewayFamily { .. } => "RES-5",
                _ => schema_id,
            };
            Err(CheckFailure::of(
                id,
                format!("result does not follow the {} schema: {e}", v.version),
            ))
        }
    })
}

fn result_version(v: &StepView) -> Verdict {
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    Some(
        one_json(v.stdout)
            .and_then(|j| match j.get("cniVersion").and_then(Value::as_str) {
                Some(got) if got == v.version => Ok(()),
                Some(got) => Err(format!(
                    "result cniVersion {got:?}, request was {:?}",
                    v.version
                )),
                None => Err("result has no cniVersion".into()),
            })
            .map_err(Into::into),
    )
}

fn container_interfaces(r: &CniResult) -> Vec<(String, Option<String>)> {
    match r {
        CniResult::V1(x) => x
            .interfaces
            .iter()
            .map(|i| (i.name.clone(), i.sandbox.clone()))
            .collect(),
        CniResult::V04(x) => x
            .interfaces
            .iter()
            .map(|i| (i.name.clone(), i.sandbox.clone()))
            .collect(),
        CniResult::Legacy(_) => Vec::new(),
    }
}

fn sandbox(v: &StepView) -> Verdict {
    if v.kind != Kind::Interface {
        return None;
    }
    let r = parsed_result(v)?;
    Some(r.map_err(CheckFailure::new).and_then(|r| {
        if matches!(r, CniResult::Legacy(_)) {
            return Ok(());
        }
        let ifaces = container_interfaces(&r);
        let Some((_, sb)) = ifaces.iter().find(|(n, _)| n == v.ifname) else {
            return Err(CheckFailure::of(
                "ADD-11",
                format!("result lists no interface named {:?}", v.ifname),
            ));
        };
        match sb {
            Some(s) if s == v.netns => Ok(()),
            Some(s) => Err(format!("sandbox {s:?} differs from CNI_NETNS {:?}", v.netns).into()),
            None => Err(format!("interface {:?} has no sandbox", v.ifname).into()),
        }
    }))
}

fn link_exists(v: &StepView) -> Option<bool> {
    let out = v
        .world?
        .container_output(v.attachment, &["ip", "-o", "link", "show"])?;
    Some(out.lines().any(|l| {
        l.split(':')
            .nth(1)
            .map(|n| n.trim().split('@').next().unwrap_or("") == v.ifname)
            .unwrap_or(false)
    }))
}

fn ifname_exists(v: &StepView) -> Verdict {
    if v.kind != Kind::Interface || !v.exit_ok || v.world.is_none() {
        return None;
    }
    Some(match link_exists(v) {
        Some(true) => Ok(()),
        Some(false) => Err(format!("no link named {:?} in the container", v.ifname).into()),
        None => Err("container namespace is gone".into()),
    })
}

fn ifname_absent(v: &StepView) -> Verdict {
    if v.kind != Kind::Interface {
        return None;
    }
    match link_exists(v)? {
        false => Some(Ok(())),
        true => Some(Err(format!(
            "link {:?} still in the container after DEL",
            v.ifname
        )
        .into())),
    }
}

fn addresses_applied(v: &StepView) -> Verdict {
    if v.kind != Kind::Interface {
        return None;
    }
    let r = parsed_result(v)?.ok()?;
    let CniResult::V1(r) = r.convert_to(SpecVersion::V1_1_0).ok()? else {
        return None;
    };
    let addrs = v
        .world?
        .container_output(v.attachment, &["ip", "-o", "addr", "show"])?;
    for ip in &r.ips {
        let Some(idx) = ip.interface else { continue };
        let Some(iface) = r.interfaces.get(idx) else {
            continue;
        };
        if iface.sandbox.is_none() {
            continue;
        }
        let want = ip.address.to_string();
        let found = addrs
            .lines()
            .any(|l| l.contains(&format!(" {} ", iface.name)) && l.contains(&format!(" {want} ")));
        if !found {
            return Some(Err(format!(
                "{want} is not on {} in the container",
                iface.name
            )
            .into()));
        }
    }
    Some(Ok(()))
}

fn ipam_abbreviated(v: &StepView) -> Verdict {
    if v.kind != Kind::Ipam {
        return None;
    }
    let j = one_json(v.stdout).ok()?;
    if !v.exit_ok || v.verb != "ADD" {
        return None;
    }
    let has_ifaces = j["interfaces"].as_array().is_some_and(|a| !a.is_empty());
    let has_index = j["ips"]
        .as_array()
        .is_some_and(|a| a.iter().any(|ip| ip.get("interface").is_some()));
    Some(if has_ifaces || has_index {
        Err("an IPAM result lists interfaces or interface indexes".into())
    } else {
        Ok(())
    })
}

fn prev_kept(v: &StepView) -> Verdict {
    let prev = v.prev_result?;
    let r = parsed_result(v)?;
    Some(
        r.and_then(|r| {
            let now = r.to_v1();
            let before = prev.to_v1();
            for i in &before.interfaces {
                if !now
                    .interfaces
                    .iter()
                    .any(|n| n.name == i.name && n.sandbox == i.sandbox)
                {
                    return Err(format!(
                        "prevResult interface {:?} missing from the result",
                        i.name
                    ));
                }
            }
            for ip in &before.ips {
                if !now.ips.iter().any(|n| n.address == ip.address) {
                    return Err(format!(
                        "prevResult address {} missing from the result",
                        ip.address
                    ));
                }
            }
            Ok(())
        })
        .map_err(Into::into),
    )
}

fn stdout_empty(v: &StepView) -> Verdict {
    if !v.exit_ok {
        return None;
    }
    Some(if is_blank(v.stdout) {
        Ok(())
    } else {
        Err(format!(
            "stdout not empty: {}",
            excerpt(&String::from_utf8_lossy(v.stdout))
        )
        .into())
    })
}

fn error_object(v: &StepView) -> Option<Result<Value, String>> {
    if v.exit_ok {
        return None;
    }
    Some(one_json(v.stdout).and_then(|j| {
        if !j.is_object() {
            return Err("stdout is not a JSON object".into());
        }
        if !j.get("code").is_some_and(Value::is_u64) {
            return Err(format!(
                "error object has no numeric code: {}",
                excerpt(&j.to_string())
            ));
        }
        if !j.get("msg").is_some_and(Value::is_string) {
            return Err("error object has no msg".into());
        }
        Ok(j)
    }))
}

fn error_json(v: &StepView) -> Verdict {
    Some(error_object(v)?.map(drop).map_err(Into::into))
}

fn error_fields(v: &StepView) -> Verdict {
    let j = error_object(v)?.ok()?;
    Some(match j.get("cniVersion").and_then(Value::as_str) {
        None => Err("error object has no cniVersion".into()),
        Some(_) if j["msg"].as_str().is_some_and(|m| m.trim().is_empty()) => {
            Err("error msg is empty".into())
        }
        Some(_) => Ok(()),
    })
}

fn error_only(v: &StepView) -> Verdict {
    if v.exit_ok {
        return None;
    }
    if is_blank(v.stdout) {
        return Some(Ok(()));
    }
    Some(match one_json(v.stdout) {
        Ok(j) if j.get("code").is_some() => Ok(()),
        Ok(j)
            if j.get("cniVersion").is_some()
                && (j.get("ips").is_some() || j.get("interfaces").is_some()) =>
        {
            Err("a failing plugin printed a success result".into())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
    })
}

fn version_info(v: &StepView) -> Verdict {
    if v.verb != "VERSION" {
        return None;
    }
    if !v.exit_ok {
        return Some(Err("VERSION failed".into()));
    }
    Some(
        one_json(v.stdout)
            .and_then(|j| {
                let list = j["supportedVersions"]
                    .as_array()
                    .ok_or("no supportedVersions list")?;
                if !list.iter().all(Value::is_string) || list.is_empty() {
                    return Err("supportedVersions is not a non-empty list of strings".into());
                }
                j["cniVersion"].as_str().ok_or("no cniVersion")?;
                Ok(())
            })
            .map_err(Into::into),
    )
}

fn version_echo(v: &StepView) -> Verdict {
    if v.verb != "VERSION" || !v.exit_ok {
        return None;
    }
    let j = one_json(v.stdout).ok()?;
    Some(match j["cniVersion"].as_str() {
        Some(got) if got == v.version => Ok(()),
        got => Err(format!(
            "VERSION answered cniVersion {got:?} to a request for {:?}",
            v.version
        )
        .into()),
    })
}

/// Either a valid result in the requested version (exit 0) or an error object (non-zero exit);
/// never a crash or a signal.
fn outcome(v: &StepView) -> Verdict {
    if v.exit_ok {
        if v.verb != "ADD" {
            return Some(Ok(()));
        }
        // A request without cniVersion is read as 0.1.0 (VER-5), so its result says 0.1.0.
        let expected = if v.version.is_empty() {
            "0.1.0"
        } else {
            v.version
        };
        return Some(one_json(v.stdout).map_err(CheckFailure::new).and_then(|j| {
            match j.get("cniVersion").and_then(Value::as_str) {
                Some(got) if got == expected => {}
                got => {
                    return Err(CheckFailure::of(
                        "ADD-6",
                        format!("result version {got:?} for a {:?} request", v.version),
                    ))
                }
            }
            // Schema failures count against the rule defining the schema, as in `result`.
            CniResult::from_value(j, None)
                .map(drop)
                .map_err(|e| CheckFailure::of(schema_req(expected), format!("invalid result: {e}")))
        }));
    }
    Some(match error_object(v)? {
        Ok(_) => Ok(()),
        Err(e) => Err(CheckFailure::of("ERR-2", e)),
    })
}

fn calls_of<'a>(v: &'a StepView) -> Option<&'a [Value]> {
    v.delegate_calls
}

fn delegate_env(v: &StepView) -> Verdict {
    let calls = calls_of(v)?;
    if calls.is_empty() {
        return Some(Err(CheckFailure::of(
            "IPAM-3",
            format!("no delegate call was seen during {}", v.verb),
        )));
    }
    for call in calls {
        for key in [
            "CNI_CONTAINERID",
            "CNI_NETNS",
            "CNI_IFNAME",
            "CNI_ARGS",
            "CNI_PATH",
        ] {
            let given = v
                .env
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, x)| x.as_str())
                .unwrap_or("");
            let seen = call["env"][key].as_str().unwrap_or("");
            if given != seen {
                return Some(Err(CheckFailure::of(
                    "ENV-17",
                    format!("the delegate got {key}={seen:?}, the plugin was given {given:?}"),
                )));
            }
        }
    }
    Some(Ok(()))
}

fn delegate_stdin(v: &StepView) -> Verdict {
    let calls = calls_of(v)?;
    let given: Value = serde_json::from_slice(v.stdin).ok()?;
    for call in calls {
        let seen: Option<Value> = call["stdin"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok());
        if seen.as_ref() != Some(&given) {
            return Some(Err(format!(
                "the delegate's stdin differs from the plugin's: {}",
                excerpt(call["stdin"].as_str().unwrap_or(""))
            )
            .into()));
        }
    }
    if calls.is_empty() {
        return None;
    }
    Some(Ok(()))
}

fn delegate_verb(v: &StepView) -> Verdict {
    let calls = calls_of(v)?;
    if !matches!(v.verb, "ADD" | "CHECK" | "DEL" | "GC" | "STATUS") {
        return None;
    }
    Some(if calls.iter().any(|c| c["command"] == v.verb) {
        Ok(())
    } else {
        Err(format!("the plugin did not run its delegate for {}", v.verb).into())
    })
}

fn delegate_stderr(v: &StepView) -> Verdict {
    let calls = calls_of(v)?;
    if calls.is_empty() {
        return None;
    }
    Some(
        if String::from_utf8_lossy(v.stderr).contains(STDERR_MARKER) {
            Ok(())
        } else {
            Err("the delegate's stderr did not reach the plugin's stderr".into())
        },
    )
}

fn delegate_released(v: &StepView) -> Verdict {
    let calls = calls_of(v)?;
    if v.exit_ok || v.verb != "ADD" {
        return None;
    }
    let add = calls.iter().position(|c| c["command"] == "ADD")?;
    Some(if calls[add..].iter().any(|c| c["command"] == "DEL") {
        Ok(())
    } else {
        Err("the plugin failed ADD after calling its delegate's ADD, and did not run the delegate's DEL".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_with_invalid_utf8_is_not_json() {
        // A byte that is no UTF-8 inside a JSON string: read lossily it would be U+FFFD and
        // the document valid.
        let stdout = b"{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad \xff\"}";
        let e = one_json(stdout).unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
        assert_eq!(error_code(stdout), None);
    }

    #[test]
    fn only_json_whitespace_surrounds_the_document() {
        assert_eq!(one_json(b" \t\r\n{}\n").unwrap(), serde_json::json!({}));
        // U+3000 and U+00A0 are whitespace to str::trim, not to JSON.
        assert!(one_json("\u{3000}{}".as_bytes()).is_err());
        assert!(one_json("{}\u{a0}".as_bytes()).is_err());
        assert_eq!(one_json(b" \n").unwrap_err(), "stdout is empty");
        assert!(is_blank(b" \r\n\t"));
        assert!(!is_blank("\u{a0}".as_bytes()));
    }

    #[test]
    fn the_error_code_comes_from_one_json_object() {
        assert_eq!(error_code(br#" {"code": 7, "msg": "x"} "#), Some(7));
        assert_eq!(error_code(br#"{"code": 7}{"code": 8}"#), None);
        assert_eq!(error_code(br#"{"code": -1}"#), None);
    }
}
