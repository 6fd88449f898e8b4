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

/// Stated reasons for black-box requirements without a case.
pub fn reasons(root: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(root.join("uncovered.toml"))
        .ok()
        .and_then(|t| toml::from_str::<Uncovered>(&t).ok())
        .map(|u| u.uncovered.into_iter().map(|g| (g.id, g.reason)).collect())
        .unwrap_or_default()
}

/// Cases covering each requirement ID.
pub fn coverage(cases: &[Case]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in cases {
        for id in &c.requirements {
            map.entry(id.clone()).or_default().push(c.id.clone());
        }
    }
    map
}

/// Prints every black-box requirement with its cases or the stated reason; returns how many
/// have neither.
pub fn print(catalogue: &Catalogue, cases: &[Case], root: &Path) -> usize {
    let cov = coverage(cases);
    let why = reasons(root);
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
