//! Which black-box requirements the case tables cover, and why the others are not covered.
//! Reasons for uncovered ones live in `conformance-cases/uncovered.toml` (`[[uncovered]]` with
//! `id` and `reason`), so every gap is stated, never silent.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::cases::Case;
use crate::catalogue::Catalogue;

#[derive(Debug, Deserialize)]
struct Uncovered {
    #[serde(default)]
    uncovered: Vec<Gap>,
}

#[derive(Debug, Deserialize)]
struct Gap {
    id: String,
    reason: String,
}

/// Stated reasons for black-box requirements without a case (none if the file is absent).
pub fn reasons(root: &Path) -> Result<BTreeMap<String, String>, String> {
    let path = root.join("uncovered.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(BTreeMap::new());
    };
    reasons_from_text(&text, &path.display().to_string())
}

/// The reasons of an `uncovered.toml` text; `origin` names it in errors.
pub fn reasons_from_text(text: &str, origin: &str) -> Result<BTreeMap<String, String>, String> {
    let u: Uncovered = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    Ok(u.uncovered.into_iter().map(|g| (g.id, g.reason)).collect())
}

/// Cases covering each requirement ID: those the case names, and those of the checks its
/// steps run (by default); generated variants count as the case "generated-*", the
/// robustness runs as "fault-*" and "concurrency-*".
pub fn coverage(cases: &[Case]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |id: &str, case: &str| {
        let v = map.entry(id.to_string()).or_default();
        if !v.iter().any(|c| c == case) {
            v.push(case.to_string());
        }
    };
    for c in cases {
        for id in &c.requirements {
            add(id, &c.id);
        }
        for step in &c.steps {
            for check in &step.checks {
                if check.req().is_none() {
                    for id in crate::checks::find(check.name())
                        .map(|k| k.req)
                        .unwrap_or_default()
                    {
                        add(id, &c.id);
                    }
                }
            }
        }
    }
    for id in crate::generated::REQUIREMENTS {
        add(id, "generated-*");
    }
    for id in crate::faults::REQUIREMENTS {
        add(id, "fault-* (--faults)");
    }
    for id in crate::concurrency::REQUIREMENTS {
        add(id, "concurrency-* (--concurrency)");
    }
    map
}

/// Prints every black-box requirement with its cases or the stated reason; returns how many
/// have neither.
pub fn print(catalogue: &Catalogue, cases: &[Case], root: &Path) -> usize {
    let why = match reasons(root) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("cni-conformance: {e}");
            BTreeMap::new()
        }
    };
    print_with_reasons(catalogue, cases, &why)
}

/// [`print`] with the reasons already read.
pub fn print_with_reasons(
    catalogue: &Catalogue,
    cases: &[Case],
    why: &BTreeMap<String, String>,
) -> usize {
    let cov = coverage(cases);
    let mut missing = 0;
    for r in catalogue.iter().filter(|r| r.blackbox) {
        match (cov.get(&r.id), why.get(&r.id)) {
            (Some(cs), _) => println!("{:<11} {:<10} {}", r.id, r.level.as_str(), cs.join(", ")),
            (None, Some(reason)) => {
                println!(
                    "{:<11} {:<10} not covered: {reason}",
                    r.id,
                    r.level.as_str()
                )
            }
            (None, None) => {
                missing += 1;
                println!(
                    "{:<11} {:<10} NOT COVERED (no reason stated)",
                    r.id,
                    r.level.as_str()
                )
            }
        }
    }
    missing
}
