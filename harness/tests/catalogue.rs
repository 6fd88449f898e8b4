//! Checks the real requirement catalogue (`conformance-cases/requirements.toml`) and the
//! loader's validation; the list of deliberate differences from upstream's plugins
//! (`conformance-cases/upstream-deviations.toml`); and that every ID a source file cites is
//! defined in one of the two.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use harness::catalogue::{Catalogue, CatalogueError, Level, Side, AREAS};
use serde::Deserialize;

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

// ---------------------------------------------------------------------------------------
// conformance-cases/upstream-deviations.toml, and the IDs the sources cite.

/// The repository's root (the workspace).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The upstream plugins a deviation may name (binary names in /usr/lib/cni).
const UPSTREAM_PLUGINS: [&str; 10] = [
    "loopback",
    "host-local",
    "dhcp",
    "bridge",
    "ptp",
    "macvlan",
    "ipvlan",
    "vlan",
    "tuning",
    "portmap",
];

/// The prefix of a deviation ID, `UPSTREAM-N`.
const DEVIATION_PREFIX: &str = "UPSTREAM";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deviations {
    deviation: Vec<Deviation>,
}

/// One entry of `conformance-cases/upstream-deviations.toml` (its header explains the fields).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deviation {
    id: String,
    title: String,
    plugins: Vec<String>,
    #[serde(default)]
    requirements: Vec<String>,
    upstream: String,
    ours: String,
    #[serde(default)]
    links: Vec<String>,
    #[serde(default)]
    upstream_code: Vec<String>,
    #[serde(default)]
    tests: Vec<String>,
    #[serde(default)]
    cases: Vec<String>,
}

fn deviations() -> Vec<Deviation> {
    let path = root().join("conformance-cases/upstream-deviations.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let d: Deviations = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    d.deviation
}

/// `N` of `PREFIX-N` when the rest is a number without leading zero.
fn numbered(id: &str, prefix: &str) -> Option<u32> {
    let n = id.strip_prefix(prefix)?.strip_prefix('-')?;
    if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Whether `file` (relative to the root) holds a test function `name`: `fn name(` with
/// `#[test]` or an rstest attribute among the lines right above it (its attributes and doc
/// comment, back to the previous item's end or a blank line).
fn has_test_fn(file: &str, name: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(root().join(file)) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines.iter().enumerate().any(|(i, line)| {
        let is_fn = line.starts_with(&format!("fn {name}("))
            || line.starts_with(&format!("fn {name}<"))
            || line.starts_with(&format!("pub fn {name}("));
        is_fn
            && lines[..i]
                .iter()
                .rev()
                .take_while(|l| !l.is_empty() && !l.ends_with('}') && !l.ends_with(';'))
                .any(|l| l.starts_with("#[test]") || l.starts_with("#[rstest"))
    })
}

#[test]
fn upstream_deviations_are_well_formed_and_unique() {
    let cat = catalogue();
    let cases =
        harness::cases::load_dir(&harness::cases::default_dir(), &|id| cat.get(id).is_some())
            .expect("the cases load");
    let devs = deviations();
    assert!(!devs.is_empty(), "no deviation");
    let mut ids = HashSet::new();
    let mut problems = Vec::new();
    for d in &devs {
        let mut bad = |what: String| problems.push(format!("{}: {what}", d.id));
        if numbered(&d.id, DEVIATION_PREFIX).is_none() {
            bad(format!("the id is not of the form {DEVIATION_PREFIX}-N"));
        }
        if !ids.insert(d.id.as_str()) {
            bad("duplicate id".into());
        }
        for (field, text) in [
            ("title", &d.title),
            ("upstream", &d.upstream),
            ("ours", &d.ours),
        ] {
            if text.trim().is_empty() {
                bad(format!("empty {field}"));
            }
        }
        if d.title.contains('\n') {
            bad("the title is not one line".into());
        }
        if d.plugins.is_empty() {
            bad("no plugin named".into());
        }
        let mut seen = HashSet::new();
        for p in &d.plugins {
            if !UPSTREAM_PLUGINS.contains(&p.as_str()) || !seen.insert(p) {
                bad(format!("plugin {p:?} is unknown or named twice"));
            }
        }
        for r in &d.requirements {
            if cat.get(r).is_none() {
                bad(format!("requirement {r} is not in requirements.toml"));
            }
        }
        for l in &d.links {
            if !l.starts_with("https://") || l.contains(char::is_whitespace) {
                bad(format!("link {l:?} is not an https URL"));
            }
        }
        for c in &d.upstream_code {
            let ok = c.split_once(": ").is_some_and(|(repo, path)| {
                repo.starts_with("containernetworking/")
                    && !path.is_empty()
                    && !path.contains(char::is_whitespace)
            });
            if !ok {
                bad(format!(
                    "upstream_code {c:?} is not \"<repository>: <path>\""
                ));
            }
        }
        for t in &d.tests {
            let found = t
                .split_once("::")
                .is_some_and(|(file, name)| has_test_fn(file, name));
            if !found {
                bad(format!(
                    "test {t:?} names no test function (\"<path>::<fn>\")"
                ));
            }
        }
        for c in &d.cases {
            if !cases.iter().any(|k| &k.id == c) {
                bad(format!("case {c:?} is not in conformance-cases/cases/"));
            }
        }
        if d.tests.is_empty() && d.cases.is_empty() {
            bad("no evidence in this repository (tests or cases)".into());
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One ID a line cites, as the scan found it.
#[derive(Debug, PartialEq, Eq)]
enum Cited {
    /// `AREA-N` (an area of requirements.toml) or `UPSTREAM-N`.
    Id(String),
    /// A reference into a document this repository does not hold: an `E` followed by digits
    /// (an edge-case number of the external catalogue) or "contradiction" and a number.
    External(String),
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Every ID `line` cites. IDs with a leading zero (`ADD-06`) are not of the cited form.
fn cited(line: &str) -> Vec<Cited> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts_word = i == 0 || !(is_word(b[i - 1]) || b[i - 1] == b'-');
        if !starts_word || !b[i].is_ascii_uppercase() {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && b[j].is_ascii_uppercase() {
            j += 1;
        }
        let prefix = &line[i..j];
        let digits_from = |k: usize| {
            let mut e = k;
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            e
        };
        if prefix == "E" && j < b.len() && b[j].is_ascii_digit() {
            let e = digits_from(j);
            if e == b.len() || !is_word(b[e]) {
                out.push(Cited::External(line[i..e].to_string()));
            }
            i = e;
            continue;
        }
        if (AREAS.contains(&prefix) || prefix == DEVIATION_PREFIX)
            && j + 1 < b.len()
            && b[j] == b'-'
            && matches!(b[j + 1], b'1'..=b'9')
        {
            let e = digits_from(j + 1);
            if e == b.len() || !is_word(b[e]) {
                out.push(Cited::Id(line[i..e].to_string()));
            }
            i = e;
            continue;
        }
        i = j;
    }
    let lower = line.to_ascii_lowercase();
    let word = "contradiction ";
    let mut from = 0;
    while let Some(at) = lower[from..].find(word) {
        let n = from + at + word.len();
        if lower[n..].starts_with(|c: char| c.is_ascii_digit()) {
            let end = lower[n..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(lower.len(), |e| n + e);
            out.push(Cited::External(line[from + at..end].to_string()));
        }
        from = n;
    }
    out
}

#[test]
fn the_scan_finds_each_form() {
    let external = format!("see {}{} and contradiction {}", 'E', 49, 4);
    assert_eq!(
        cited(&external),
        [
            Cited::External(format!("{}{}", 'E', 49)),
            Cited::External(format!("contradiction {}", 4)),
        ]
    );
    assert_eq!(
        cited("(ADD-8, IPAM-9; UPSTREAM-4) and `CHECK-4`."),
        [
            Cited::Id("ADD-8".into()),
            Cited::Id("IPAM-9".into()),
            Cited::Id("UPSTREAM-4".into()),
            Cited::Id("CHECK-4".into()),
        ]
    );
    // Not IDs: other prefixes, leading zeros, parts of longer words, hex, errno names.
    assert!(cited("CNI-a60d XADD-5 ADD-06 ADD-5a 0xE1 E2BIG EEXIST my_E7 RT-").is_empty());
}

/// Every requirement ID, deviation ID and external reference that a `*.rs` or `*.md` file of
/// the repository cites must be defined here: in requirements.toml or upstream-deviations.toml
/// (so nothing cites the external catalogue's numbers, which no reader of this repository
/// can look up).
#[test]
fn every_cited_id_is_defined_in_the_repository() {
    let cat = catalogue();
    let devs: HashSet<String> = deviations().into_iter().map(|d| d.id).collect();
    let mut files = Vec::new();
    let mut dirs = vec![root()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    dirs.push(path);
                }
            } else if name.ends_with(".rs") || name.ends_with(".md") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 50, "only {} files found", files.len());
    let mut undefined = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(root()).unwrap_or(file).display();
        for (n, line) in text.lines().enumerate() {
            for c in cited(line) {
                let what = match c {
                    Cited::Id(id) if cat.get(&id).is_some() || devs.contains(&id) => continue,
                    Cited::Id(id) => format!("{id} is defined nowhere"),
                    Cited::External(r) => format!(
                        "{r:?} cites a document that is not in the repository: state the \
                         fact, or cite an entry of upstream-deviations.toml"
                    ),
                };
                undefined.push(format!("{shown}:{}: {what}", n + 1));
            }
        }
    }
    assert!(undefined.is_empty(), "{}", undefined.join("\n"));
}
