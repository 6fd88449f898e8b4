//! Ready-to-run reproducers of fuzz findings, one directory each: `stdin.json` (the request
//! exactly as sent), `env` (the `CNI_*` variables, one `KEY=VALUE` a line), `finding.json`
//! (the broken rule, the seed and call index, the mutations, the request before
//! minimizing) and `run.sh`, which replays the call as the fuzzer made it: the plugin in a
//! fresh node namespace with a private, empty `/var/lib/cni`, `CNI_NETNS` a fresh container
//! namespace, the plain file, directory or missing path in a scratch directory when the
//! finding needs one, and a timeout (`TIMEOUT`, default 10 s; a hang ends in status 137). It
//! exits with the plugin's status (128+N for signal N), shows on stderr the links and state
//! files the call left, and cleans up after itself. A list's
//! prelude is not replayed: its result is in the request's `prevResult`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::generate::Request;
use super::oracle::Violation;

/// Placeholders for the paths of the world the finding came from.
pub const NETNS_MARK: &str = "@CONTAINER_NETNS@";
pub const SCRATCH_MARK: &str = "@SCRATCH@";

/// A reproducer's contents.
#[derive(Debug, Clone, Serialize)]
pub struct Reproducer<'a> {
    pub violation: &'a Violation,
    pub seed: u64,
    pub index: u64,
    pub plugin: &'a Path,
    /// The environment, with [`NETNS_MARK`] and [`SCRATCH_MARK`] for world paths.
    pub env: &'a [(String, String)],
    #[serde(skip)]
    pub stdin: &'a [u8],
    pub request: &'a Request,
    pub original: &'a Request,
}

/// One bash word for `value`: ANSI-C quoted text, with the placeholders as variables.
fn bash_word(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    loop {
        let next = [(NETNS_MARK, "\"$c_netns\""), (SCRATCH_MARK, "\"$scratch\"")]
            .into_iter()
            .filter_map(|(m, var)| rest.find(m).map(|i| (i, m, var)))
            .min_by_key(|(i, _, _)| *i);
        match next {
            Some((i, m, var)) => {
                out.push_str(&quote(&rest[..i]));
                out.push_str(var);
                rest = &rest[i + m.len()..];
            }
            None => {
                out.push_str(&quote(rest));
                return out;
            }
        }
    }
}

/// `$'...'` quoting: backslash, quote and control characters escaped.
fn quote(s: &str) -> String {
    let mut q = String::from("$'");
    for c in s.chars() {
        match c {
            '\\' => q.push_str("\\\\"),
            '\'' => q.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(q, "\\x{:02x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('\'');
    q
}

fn script(r: &Reproducer) -> String {
    let vars: Vec<String> = r
        .env
        .iter()
        .map(|(k, v)| format!("  {k}={}", bash_word(v)))
        .collect();
    format!(
        r#"#!/bin/bash
# Reproduces a cni-conformance fuzz finding (seed {seed:#x}, call {index}):
#   [{req}] {kind}
# Replays the plugin call in a fresh node namespace with a private, empty /var/lib/cni.
# PLUGIN overrides the plugin's path, TIMEOUT (seconds, default 10) the time limit.
set -u
plugin=${{PLUGIN:-{plugin}}}
here=$(cd "$(dirname "$0")" && pwd)
tag=cnirs-repro-$$
scratch=$(mktemp -d /tmp/cnirs-repro-XXXXXX)
cleanup() {{
  ip netns del "$tag-n" 2>/dev/null
  ip netns del "$tag-c" 2>/dev/null
  rm -rf "$scratch"
}}
trap cleanup EXIT
ip netns add "$tag-n" && ip netns add "$tag-c" || exit 2
ip -n "$tag-n" link set lo up
mkdir -p /var/lib/cni "$scratch/state" "$scratch/netns-dir" "$scratch/cwd/a/b/c" || exit 2
touch "$scratch/netns-file"
c_netns=/run/netns/$tag-c
vars=(
{vars}
)
cd "$scratch/cwd/a/b/c"
timeout -s KILL "${{TIMEOUT:-10}}" ip netns exec "$tag-n" unshare -m sh -c \
  'mount --make-rprivate / && mount --bind "$0" /var/lib/cni && exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"' \
  "$scratch/state" "${{vars[@]}}" "$plugin" < "$here/stdin.json"
status=$?
echo "exit status $status" >&2
# What the call left (a failed call should leave nothing: no link, no file).
{{
  echo "--- links after the call (node, container):"
  ip -n "$tag-n" -o link show | cut -d' ' -f2-3
  ip -n "$tag-c" -o link show | cut -d' ' -f2-3
  echo "--- files in /var/lib/cni after the call:"
  (cd "$scratch/state" && find . -type f)
}} >&2
exit $status
"#,
        seed = r.seed,
        index = r.index,
        req = r.violation.requirement,
        kind = r.violation.kind.replace('\n', " "),
        plugin = quote(&r.plugin.to_string_lossy()),
        vars = vars.join("\n"),
    )
}

/// Writes the reproducer into `dir` (created); returns the script's path.
pub fn write(dir: &Path, r: &Reproducer) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("stdin.json"), r.stdin)?;
    let env: String = r.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(dir.join("env"), env)?;
    std::fs::write(
        dir.join("finding.json"),
        serde_json::to_string_pretty(r).expect("serializes"),
    )?;
    let path = dir.join("run.sh");
    std::fs::write(&path, script(r))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quote_text_and_substitute_paths() {
        assert_eq!(bash_word("a'b\\c\n"), r"$'a\'b\\c\x0a'");
        assert_eq!(
            bash_word("@SCRATCH@/netns-file"),
            "$''\"$scratch\"$'/netns-file'"
        );
        assert_eq!(bash_word(NETNS_MARK), "$''\"$c_netns\"$''");
    }
}
