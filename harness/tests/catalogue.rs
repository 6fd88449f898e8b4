//! Checks the real requirement catalogue (`conformance-cases/requirements.toml`) and the
//! loader's validation.

use std::collections::{BTreeMap, HashSet};

use harness::catalogue::{Catalogue, CatalogueError, Level, Side, AREAS};

fn catalogue() -> Catalogue {
    Catalogue::load(Catalogue::default_path()).expect("the workspace catalogue loads")
}

#[test]
fn default_path_points_at_the_workspace_file() {
    let path = Catalogue::default_path();
    assert!(path.ends_with("conformance-cases/requirements.toml"));
    assert!(path.is_file(), "{} missing", path.display());
}

#[test]
fn has_at_least_80_rules() {
    let cat = catalogue();
    assert!(cat.len() >= 80, "only {} rules", cat.len());
    assert_eq!(cat.iter().count(), cat.len());
}

#[test]
fn ids_are_unique() {
    let cat = catalogue();
    let mut seen = HashSet::new();
    for r in &cat {
        assert!(seen.insert(r.id.clone()), "duplicate {}", r.id);
        assert_eq!(cat.get(&r.id), Some(r));
    }
}

/// Reads the file as plain TOML, independent of the serde model, and checks the level strings.
#[test]
fn every_level_string_is_valid() {
    let text = std::fs::read_to_string(Catalogue::default_path()).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let entries = table["requirement"].as_array().unwrap();
    let allowed = [
        "MUST",
        "MUST NOT",
        "SHOULD",
        "SHOULD NOT",
        "MAY",
        "DE-FACTO",
    ];
    for entry in entries {
        let level = entry["level"].as_str().unwrap();
        assert!(allowed.contains(&level), "{entry:?} has level {level:?}");
    }
    assert_eq!(entries.len(), catalogue().len());
    // Every level is actually used.
    let cat = catalogue();
    for level in Level::ALL {
        assert!(cat.iter().any(|r| r.level == level), "no {level} rule");
    }
}

#[test]
fn all_fifteen_areas_are_present_and_prefixes_match() {
    let cat = catalogue();
    let mut per_area: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &cat {
        assert!(
            AREAS.contains(&r.area.as_str()),
            "{}: area {}",
            r.id,
            r.area
        );
        assert!(r.id.starts_with(&format!("{}-", r.area)), "{}", r.id);
        *per_area.entry(r.area.as_str()).or_default() += 1;
    }
    assert_eq!(AREAS.len(), 15);
    for area in AREAS {
        assert!(per_area.contains_key(area), "area {area} has no rule");
        assert_eq!(cat.in_area(area).count(), per_area[area]);
    }
}

#[test]
fn every_non_blackbox_rule_has_a_reason() {
    for r in &catalogue() {
        if !r.blackbox {
            let reason = r.reason.as_deref().unwrap_or("");
            assert!(!reason.trim().is_empty(), "{} lacks a reason", r.id);
        }
    }
}

#[test]
fn runtime_only_rules_are_not_blackbox() {
    for r in &catalogue() {
        if r.side == Side::Runtime {
            assert!(!r.blackbox, "{} is runtime-side yet marked blackbox", r.id);
        }
    }
}

#[test]
fn summaries_are_single_lines() {
    for r in &catalogue() {
        assert!(!r.summary.trim().is_empty(), "{}", r.id);
        assert!(!r.summary.contains('\n'), "{}", r.id);
        assert!(!r.section.trim().is_empty(), "{}", r.id);
    }
}

/// Rules whose level the spec text fixes; a catalogue edit that changes one of these must be
/// a deliberate re-reading of the spec. The keyword ties each ID to its meaning.
#[test]
fn anchor_rules_have_the_spec_level() {
    let anchors: &[(&str, Level, &str)] = &[
        // ADD
        ("ADD-2", Level::Must, "stdout"),
        ("ADD-3", Level::Must, "already"),
        ("ADD-4", Level::Must, "prevResult"),
        ("ADD-6", Level::Must, "cniVersion"),
        ("ADD-7", Level::Should, "code 1"),
        ("ADD-11", Level::Should, "sandbox"),
        // DEL
        ("DEL-1", Level::Should, "DEL"),
        ("DEL-5", Level::Should, "netns"),
        ("DEL-6", Level::Must, "Repeated"),
        // errors: exit status is mandatory, the error object only recommended
        ("ERR-1", Level::Must, "exits 0"),
        ("ERR-2", Level::Should, "error object to stdout"),
        ("ERR-3", Level::Should, "code"),
        // CHECK
        ("CHECK-1", Level::Must, "prevResult"),
        ("CHECK-3", Level::Should, "missing"),
        ("CHECK-6", Level::Must, "after ADD"),
        ("CHECK-11", Level::MustNot, "CHECK"),
        // STATUS
        ("STATUS-1", Level::Must, "exits 0"),
        ("STATUS-5", Level::MustNot, "STATUS"),
        ("STATUS-7", Level::Must, "delegate"),
        // VERSION: section 2 says should for the object, section 5 fixes the echoed version
        ("VERSION-1", Level::Should, "supportedVersions"),
        ("VERSION-2", Level::Must, "cniVersion"),
        // GC
        ("GC-3", Level::Should, "removes"),
        ("GC-5", Level::May, "assume"),
        ("GC-7", Level::Must, "delegate"),
        ("GC-11", Level::MustNot, "DEL"),
        ("GC-12", Level::Must, "exclusively"),
        // version negotiation
        ("VER-1", Level::Must, "highest"),
        ("VER-2", Level::May, "VERSION"),
        // configuration and runtime side
        ("CFG-4", Level::Must, "disableCheck"),
        ("CFG-5", Level::Must, "disableGC"),
        ("CFG-13", Level::ShouldNot, "runtimeConfig"),
        ("CHAIN-2", Level::MustNot, "prevResult"),
        ("CAP-2", Level::MustNot, "capabilities"),
        ("CAP-16", Level::Must, "CNI_ARGS"),
        ("IPAM-8", Level::Must, "GC"),
        ("RT-3", Level::Must, "concurrent"),
        ("RES-4", Level::Should, "sandbox"),
        ("RES-6", Level::Must, "interfaces"),
        // library-only behaviour never counts for certification
        ("ENV-2", Level::DeFacto, "code 4"),
        ("VERSION-4", Level::DeFacto, "stdin"),
    ];
    let cat = catalogue();
    for (id, level, keyword) in anchors {
        let r = cat.get(id).unwrap_or_else(|| panic!("anchor {id} missing"));
        assert_eq!(r.level, *level, "{id} should be {level}");
        assert!(
            r.summary.contains(keyword),
            "{id} summary {:?} lacks {keyword:?}",
            r.summary
        );
    }
}

#[test]
fn each_verb_section_has_a_mandatory_rule() {
    let cat = catalogue();
    for verb in [
        "S2 ADD",
        "S2 DEL",
        "S2 CHECK",
        "S2 STATUS",
        "S2 VERSION",
        "S2 GC",
    ] {
        assert!(
            cat.iter()
                .any(|r| r.section.contains(verb) && r.level.is_mandatory()),
            "no MUST/MUST NOT rule from {verb}"
        );
    }
    for section in ["S1", "S3", "S4", "S5", "CONVENTIONS"] {
        assert!(
            cat.iter()
                .any(|r| r.section.contains(section) && r.level.is_mandatory()),
            "no MUST/MUST NOT rule from {section}"
        );
    }
}

#[test]
fn de_facto_rules_are_not_mandatory_and_mandatory_plugin_rules_exist() {
    let cat = catalogue();
    assert!(cat
        .iter()
        .filter(|r| r.level == Level::DeFacto)
        .all(|r| !r.level.is_mandatory()));
    let plain = cat
        .iter()
        .filter(|r| r.level.is_mandatory() && r.blackbox && r.side != Side::Runtime)
        .count();
    assert!(plain >= 40, "only {plain} mandatory black-box plugin rules");
}

// ---------------------------------------------------------------------------------------
// Negative tests of the loader's validation.

fn entry(id: &str, area: &str, blackbox: bool, reason: Option<&str>) -> String {
    let mut s = format!(
        "[[requirement]]\nid = \"{id}\"\narea = \"{area}\"\nlevel = \"MUST\"\n\
         section = \"S2 ADD\"\nsummary = \"A rule.\"\nside = \"plugin\"\nblackbox = {blackbox}\n"
    );
    if let Some(reason) = reason {
        s.push_str(&format!("reason = \"{reason}\"\n"));
    }
    s
}

#[test]
fn accepts_a_valid_pair() {
    let text = entry("ADD-1", "ADD", true, None) + &entry("ADD-2", "ADD", false, Some("why"));
    let cat = Catalogue::parse(&text).unwrap();
    assert_eq!(cat.len(), 2);
    assert_eq!(cat.get("ADD-2").unwrap().reason.as_deref(), Some("why"));
}

#[test]
fn rejects_a_duplicate_id() {
    let text = entry("ADD-1", "ADD", true, None) + &entry("ADD-1", "ADD", true, None);
    match Catalogue::parse(&text) {
        Err(CatalogueError::DuplicateId { id }) => assert_eq!(id, "ADD-1"),
        other => panic!("expected DuplicateId, got {other:?}"),
    }
}

#[test]
fn rejects_a_wrong_prefix() {
    let text = entry("DEL-1", "ADD", true, None);
    match Catalogue::parse(&text) {
        Err(CatalogueError::AreaMismatch { id, area }) => {
            assert_eq!((id.as_str(), area.as_str()), ("DEL-1", "ADD"));
        }
        other => panic!("expected AreaMismatch, got {other:?}"),
    }
}

#[test]
fn rejects_an_unknown_area() {
    let text = entry("FOO-1", "FOO", true, None);
    assert!(matches!(
        Catalogue::parse(&text),
        Err(CatalogueError::UnknownArea { .. })
    ));
}

#[test]
fn rejects_a_missing_reason() {
    let text = entry("ADD-1", "ADD", false, None);
    match Catalogue::parse(&text) {
        Err(CatalogueError::MissingReason { id }) => assert_eq!(id, "ADD-1"),
        other => panic!("expected MissingReason, got {other:?}"),
    }
    let blank = entry("ADD-1", "ADD", false, Some("   "));
    assert!(matches!(
        Catalogue::parse(&blank),
        Err(CatalogueError::MissingReason { .. })
    ));
}

#[test]
fn rejects_an_unknown_level_or_side() {
    let text = entry("ADD-1", "ADD", true, None).replace("\"MUST\"", "\"REQUIRED\"");
    assert!(matches!(
        Catalogue::parse(&text),
        Err(CatalogueError::Syntax(_))
    ));
    let text = entry("ADD-1", "ADD", true, None).replace("\"plugin\"", "\"host\"");
    assert!(matches!(
        Catalogue::parse(&text),
        Err(CatalogueError::Syntax(_))
    ));
}

#[test]
fn load_reports_a_missing_file() {
    let err = Catalogue::load("/nonexistent/requirements.toml").unwrap_err();
    assert!(matches!(err, CatalogueError::Io { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/requirements.toml"));
}
