//! The requirement catalogue: the data model and loader for
//! `conformance-cases/requirements.toml`.
//!
//! This module owns the list of CNI spec rules the harness knows about: each rule's stable
//! ID (`AREA-N`), its strength ([`Level`]), where in the spec it comes from, a one-line
//! summary, which side a black-box test exercises ([`Side`]) and whether the harness can test
//! it against a plugin binary at all. It parses and validates the TOML file and nothing else:
//! deciding which rules a profile runs, and running them, belongs to other modules.
//!
//! Validation guarantees, for every catalogue [`Catalogue::parse`] accepts: IDs are unique and
//! of the form `AREA-N`; the ID prefix equals `area`; `area` is one of [`AREAS`]; the summary is
//! a non-empty single line; and a rule with `blackbox = false` carries a non-empty `reason`.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The requirement areas, in catalogue order. An ID's prefix must be one of these.
pub const AREAS: [&str; 15] = [
    "ENV", "CFG", "ADD", "CHECK", "DEL", "VERSION", "STATUS", "GC", "RES", "ERR", "CHAIN", "CAP",
    "IPAM", "VER", "RT",
];

/// How strong a rule is, in the spec's RFC 2119 terms, plus `DE-FACTO` for behaviour of the
/// reference library that no spec sentence requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "MUST NOT")]
    MustNot,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "SHOULD NOT")]
    ShouldNot,
    #[serde(rename = "MAY")]
    May,
    /// Library behaviour with no spec sentence behind it: compatibility profile only.
    #[serde(rename = "DE-FACTO")]
    DeFacto,
}

impl Level {
    /// Every level, strongest first.
    pub const ALL: [Level; 6] = [
        Level::Must,
        Level::MustNot,
        Level::Should,
        Level::ShouldNot,
        Level::May,
        Level::DeFacto,
    ];

    /// True for MUST and MUST NOT: the rules a plain certification run fails on.
    pub fn is_mandatory(self) -> bool {
        matches!(self, Level::Must | Level::MustNot)
    }

    /// The spelling used in the catalogue file.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::MustNot => "MUST NOT",
            Level::Should => "SHOULD",
            Level::ShouldNot => "SHOULD NOT",
            Level::May => "MAY",
            Level::DeFacto => "DE-FACTO",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which party a black-box test of the rule exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The harness drives a plugin binary and judges its behaviour.
    Plugin,
    /// The harness plays recording fake plugins and judges the runtime.
    Runtime,
    /// Both parties carry part of the rule.
    Both,
}

impl Side {
    /// The spelling used in the catalogue file.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Plugin => "plugin",
            Side::Runtime => "runtime",
            Side::Both => "both",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Stable identifier, `AREA-N` (e.g. `ADD-6`).
    pub id: String,
    /// One of [`AREAS`]; always equal to the ID prefix.
    pub area: String,
    /// Strength of the rule.
    pub level: Level,
    /// Where the rule comes from (e.g. `S2 ADD`, `CONVENTIONS`, `OLD 0.4.0`, `libcni`).
    pub section: String,
    /// One-line paraphrase of the rule.
    pub summary: String,
    /// Which party a black-box test exercises.
    pub side: Side,
    /// Whether the harness can test the rule against a plugin binary.
    pub blackbox: bool,
    /// Why the rule cannot be tested black-box; present whenever `blackbox` is false.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The shape of the TOML file before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    requirement: Vec<Requirement>,
}

/// Why a catalogue could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read catalogue {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalogue does not match the schema: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("catalogue holds no requirements")]
    Empty,
    #[error("duplicate requirement id {id}")]
    DuplicateId { id: String },
    #[error("requirement id {id:?} is not of the form AREA-N")]
    MalformedId { id: String },
    #[error("requirement {id}: unknown area {area:?}")]
    UnknownArea { id: String, area: String },
    #[error("requirement {id}: id prefix does not match area {area:?}")]
    AreaMismatch { id: String, area: String },
    #[error("requirement {id}: blackbox = false needs a reason")]
    MissingReason { id: String },
    #[error("requirement {id}: summary must be a single non-empty line")]
    BadSummary { id: String },
    #[error("requirement {id}: section must not be empty")]
    EmptySection { id: String },
}

/// The validated list of requirements, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    requirements: Vec<Requirement>,
}

impl Catalogue {
    /// Parses and validates catalogue text.
    pub fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
        let raw: RawCatalogue = toml::from_str(text)?;
        if raw.requirement.is_empty() {
            return Err(CatalogueError::Empty);
        }
        let mut seen = HashSet::new();
        for req in &raw.requirement {
            validate(req)?;
            if !seen.insert(req.id.as_str()) {
                return Err(CatalogueError::DuplicateId { id: req.id.clone() });
            }
        }
        Ok(Catalogue {
            requirements: raw.requirement,
        })
    }

    /// Reads and validates the catalogue at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Catalogue, CatalogueError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Catalogue::parse(&text)
    }

    /// The workspace's `conformance-cases/requirements.toml`.
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("conformance-cases")
            .join("requirements.toml")
    }

    /// Loads the catalogue from [`Catalogue::default_path`].
    pub fn load_default() -> Result<Catalogue, CatalogueError> {
        Catalogue::load(Catalogue::default_path())
    }

    /// The requirement with this ID, if any.
    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// All requirements, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Requirement> {
        self.requirements.iter()
    }

    /// The requirements of one area, in file order.
    pub fn in_area<'a>(&'a self, area: &'a str) -> impl Iterator<Item = &'a Requirement> + 'a {
        self.iter().filter(move |r| r.area == area)
    }

    /// Number of requirements.
    pub fn len(&self) -> usize {
        self.requirements.len()
    }

    /// Always false for a catalogue that passed validation.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl<'a> IntoIterator for &'a Catalogue {
    type Item = &'a Requirement;
    type IntoIter = std::slice::Iter<'a, Requirement>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

fn validate(req: &Requirement) -> Result<(), CatalogueError> {
    let id = || req.id.clone();
    let (prefix, number) = req
        .id
        .split_once('-')
        .ok_or_else(|| CatalogueError::MalformedId { id: id() })?;
    let number_ok = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    if prefix.is_empty() || !number_ok {
        return Err(CatalogueError::MalformedId { id: id() });
    }
    if !AREAS.contains(&req.area.as_str()) {
        return Err(CatalogueError::UnknownArea {
            id: id(),
            area: req.area.clone(),
        });
    }
    if prefix != req.area {
        return Err(CatalogueError::AreaMismatch {
            id: id(),
            area: req.area.clone(),
        });
    }
    if req.summary.trim().is_empty() || req.summary.contains(['\n', '\r']) {
        return Err(CatalogueError::BadSummary { id: id() });
    }
    if req.section.trim().is_empty() {
        return Err(CatalogueError::EmptySection { id: id() });
    }
    let has_reason = matches!(req.reason.as_deref(), Some(r) if !r.trim().is_empty());
    if !req.blackbox && !has_reason {
        return Err(CatalogueError::MissingReason { id: id() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
[[requirement]]
id = "ADD-6"
area = "ADD"
level = "MUST"
section = "S5 Result"
summary = "Result version equals request version."
side = "plugin"
blackbox = true
"#;

    #[test]
    fn parses_a_minimal_entry() {
        let cat = Catalogue::parse(ONE).unwrap();
        let r = cat.get("ADD-6").unwrap();
        assert_eq!(r.level, Level::Must);
        assert_eq!(r.side, Side::Plugin);
        assert!(r.reason.is_none());
        assert_eq!(cat.len(), 1);
    }

    #[test]
    fn level_strings_round_trip() {
        for level in Level::ALL {
            let text = ONE.replace("\"MUST\"", &format!("\"{level}\""));
            let cat = Catalogue::parse(&text).unwrap();
            assert_eq!(cat.get("ADD-6").unwrap().level, level);
        }
        assert!(Level::Must.is_mandatory() && Level::MustNot.is_mandatory());
        assert!(!Level::Should.is_mandatory() && !Level::DeFacto.is_mandatory());
    }

    #[test]
    fn rejects_unknown_level_and_fields() {
        assert!(matches!(
            Catalogue::parse(&ONE.replace("\"MUST\"", "\"must\"")),
            Err(CatalogueError::Syntax(_))
        ));
        assert!(matches!(
            Catalogue::parse(&format!("{ONE}extra = 1\n")),
            Err(CatalogueError::Syntax(_))
        ));
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in ["ADD", "ADD-", "ADD-x", "ADD-06", "-6", "ADD-6a"] {
            let text = ONE.replace("\"ADD-6\"", &format!("\"{bad}\""));
            assert!(
                matches!(
                    Catalogue::parse(&text),
                    Err(CatalogueError::MalformedId { .. })
                ),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn rejects_empty_catalogue_and_blank_summary() {
        assert!(matches!(Catalogue::parse(""), Err(CatalogueError::Empty)));
        let text = ONE.replace("Result version equals request version.", "  ");
        assert!(matches!(
            Catalogue::parse(&text),
            Err(CatalogueError::BadSummary { .. })
        ));
    }
}
