//! The plugins after the tested one in a list (the postlude), run as a runtime runs a list:
//! after the tested plugin's successful ADD, each one's ADD in order, given the previous
//! result, the last result becoming the list's result (what a runtime caches and sends as
//! `prevResult` on CHECK and DEL); before the tested plugin's DEL, each one's DEL in reverse
//! order. A later plugin may change the interface (a MAC, an MTU, routes): the tested plugin's
//! CHECK must accept it (CHECK-2). A later plugin that fails is a finding against no
//! requirement of the tested plugin (the config's trouble, shown as a setup failure).

use serde_json::Value;

use cni::result::CniResult;

use crate::cases::Case;
use crate::session::Session;
use crate::target::Target;

/// Why `case` does not apply to `target`: it needs plugins after the tested one and the
/// config has none.
pub fn not_applicable(case: &Case, target: &Target) -> Option<String> {
    (case.requires_later_plugins && target.postlude.is_empty()).then(|| {
        "needs a list with plugins after the tested one (they run after its ADD)".to_string()
    })
}

impl Session<'_> {
    /// ADD of the postlude for `attachment` with the environment `env` (the tested plugin's
    /// call's) at `version`, starting from the tested plugin's `result`; returns the list's
    /// result, or `None` when a later plugin failed (a finding).
    pub(crate) fn postlude_add(
        &mut self,
        attachment: &str,
        env: &[(String, String)],
        version: &str,
        result: CniResult,
    ) -> Option<CniResult> {
        let spec = cni::version::SpecVersion::from_exact(version)?;
        let mut prev = result;
        for obj in self.target.postlude.clone() {
            let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
            let Ok(path) = cni::invoke::find_in_path(ty, &self.target.cni_path) else {
                self.finding(
                    &[],
                    false,
                    format!("later plugin {ty:?} not found on --cni-path"),
                );
                return None;
            };
            let mut req = self.request(&obj, version, Some(&prev));
            self.inject_capability_args(&mut req, &obj, "ADD", attachment);
            let run =
                self.world
                    .run_plugin(&path, env, req.to_string().as_bytes(), self.target.timeout);
            match run.output {
                Ok(o) if o.success => match CniResult::parse(&o.stdout, Some(spec)) {
                    Ok(r) => prev = r,
                    Err(e) => {
                        self.finding(
                            &[],
                            false,
                            format!("later plugin {ty} answered ADD with no result: {e}"),
                        );
                        return None;
                    }
                },
                other => {
                    self.finding(
                        &[],
                        false,
                        format!(
                            "later plugin {ty} failed ADD: {}",
                            crate::runner::describe_output(&other)
                        ),
                    );
                    return None;
                }
            }
        }
        Some(prev)
    }

    /// DEL of the postlude for `attachment` in reverse order, with `env` at `version` and the
    /// list's result as `prevResult`, before the tested plugin's DEL. Best effort, as a
    /// runtime's list DEL goes on after a failure.
    pub(crate) fn postlude_del(
        &mut self,
        attachment: &str,
        env: &[(String, String)],
        version: &str,
        prev: Option<&CniResult>,
    ) {
        for obj in self.target.postlude.clone().iter().rev() {
            let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
            if let Ok(path) = cni::invoke::find_in_path(ty, &self.target.cni_path) {
                let mut req = self.request(obj, version, prev);
                self.inject_capability_args(&mut req, obj, "DEL", attachment);
                self.world
                    .run_plugin(&path, env, req.to_string().as_bytes(), self.target.timeout);
            }
        }
    }
}
