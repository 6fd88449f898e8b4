//! The harness's case loader (`harness::cases::parse_file`) on one untrusted case file.
//!
//! Never panics. A requirement ID is known when it looks like one (`ABC-12`), so the loader's
//! catalogue check is exercised without reading the catalogue. Every case it accepts gives
//! the runner what the runner takes for granted (checked here directly, not by calling the
//! loader's own validation again): a non-empty id, steps and requirements, unique ids (the
//! same file loaded after itself is refused), each step a plugin call or an action, every
//! cited ID listed by the case and known, known check names, a `min_version` the spec knows,
//! attachment names the world can make a namespace of, environment entries a process can
//! carry, `compare` only of an earlier snapshot, `code` only with `expect = "fail"`, a
//! table as `patch`.

use std::path::Path;

use cni::SpecVersion;
use harness::cases::{is_valid_attachment, parse_file, Action, Case, Expect, Step};

/// `ABC-12`: 1 to 8 capitals or digits from a capital, a dash, 1 to 3 digits.
fn known(id: &str) -> bool {
    let Some((a, n)) = id.split_once('-') else {
        return false;
    };
    (1..=8).contains(&a.len())
        && a.starts_with(|c: char| c.is_ascii_uppercase())
        && a.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && (1..=3).contains(&n.len())
        && n.chars().all(|c| c.is_ascii_digit())
}

/// The oracle of the `harness_cases` target.
pub fn harness_cases(data: &[u8]) {
    let text = crate::utf8_prefix(data);
    let path = Path::new("fuzz.toml");
    let Ok(cases) = parse_file(text, path, &known, &[]) else {
        return;
    };
    let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate case ids accepted");
    if !cases.is_empty() {
        assert!(
            parse_file(text, path, &known, &cases).is_err(),
            "the same cases loaded twice"
        );
    }
    for case in &cases {
        case_invariants(case);
    }
}

fn case_invariants(case: &Case) {
    let id = &case.id;
    assert!(!id.trim().is_empty());
    assert!(!case.steps.is_empty(), "{id}: no steps");
    assert!(!case.requirements.is_empty(), "{id}: no requirements");
    assert!(case.requirements.iter().all(|r| known(r)), "{id}");
    if let Some(v) = &case.min_version {
        assert!(
            SpecVersion::from_exact(v).is_some(),
            "{id}: min_version {v:?}"
        );
    }
    let mut snapshots: Vec<&str> = Vec::new();
    for (i, s) in case.steps.iter().enumerate() {
        let cited = s
            .req
            .iter()
            .chain(&s.code_req)
            .chain(&s.leftover_req)
            .chain(s.checks.iter().flat_map(|c| c.req().unwrap_or_default()));
        for r in cited {
            assert!(
                case.requirements.contains(r),
                "{id} step {i}: {r} not listed"
            );
        }
        if let Some(a) = &s.attachment {
            attachment_name(id, a);
        }
        match (&s.verb, &s.action) {
            (Some(verb), None) => call_step(id, i, verb, s),
            (None, Some(action)) => {
                match action {
                    Action::Snapshot(name) => snapshots.push(name),
                    Action::Compare(name) => assert!(
                        snapshots.contains(&name.as_str()),
                        "{id} step {i}: compare {name:?} before its snapshot"
                    ),
                    _ => assert!(s.leftover_req.is_empty()),
                }
                assert!(s.checks.is_empty() && s.code.is_none() && s.env.is_empty());
            }
            _ => panic!("{id} step {i}: not exactly one of verb and action"),
        }
    }
}

/// The world makes `c<name>-<label>` under /run/netns and `cnirs-<label>-<name>` as the
/// container ID: one path component of a few safe characters.
fn attachment_name(id: &str, a: &str) {
    assert!(is_valid_attachment(a));
    assert!(
        !a.is_empty() && a.len() <= 8 && a.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id}: attachment {a:?}"
    );
}

fn call_step(id: &str, i: usize, verb: &str, s: &Step) {
    assert!(!verb.contains('\0'), "{id} step {i}: NUL in the verb");
    if s.expect != Expect::Any {
        assert!(
            !s.req.is_empty(),
            "{id} step {i}: an expectation without req"
        );
    }
    if s.code.is_some() {
        assert_eq!(s.expect, Expect::Fail, "{id} step {i}: code without fail");
    }
    for (k, v) in &s.env {
        assert!(!k.is_empty() && !k.contains(['=', '\0']) && !v.contains('\0'));
    }
    for k in &s.unset {
        assert!(!k.is_empty() && !k.contains(['=', '\0']));
    }
    for c in &s.checks {
        assert!(
            harness::checks::find(c.name()).is_some(),
            "{id} step {i}: unknown check {:?}",
            c.name()
        );
    }
    if let Some(valid) = &s.valid {
        assert_eq!(verb, "GC");
        valid.iter().for_each(|a| attachment_name(id, a));
    }
    if let Some(p) = &s.patch {
        assert!(p.is_table(), "{id} step {i}: patch {p:?}");
    }
}
