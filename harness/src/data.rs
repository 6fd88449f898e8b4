//! The data a certification runs on: the requirement catalogue, the case tables and the stated
//! reasons for uncovered requirements. By default the copies embedded at build time (the
//! crate's `build.rs` includes `conformance-cases/`), so a certification needs no checkout;
//! [`CaseData::load`] reads a directory of the same layout instead (`--cases`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cases::Case;
use crate::catalogue::Catalogue;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The catalogue and case tables, checked against each other.
#[derive(Debug, Clone)]
pub struct CaseData {
    /// The requirements.
    pub catalogue: Catalogue,
    /// The cases of every case file, in file order.
    pub cases: Vec<Case>,
    /// Why a black-box requirement has no case (`uncovered.toml`), by ID.
    pub uncovered: BTreeMap<String, String>,
}

impl CaseData {
    /// The data embedded in the library at build time.
    pub fn embedded() -> Result<CaseData, String> {
        let catalogue = Catalogue::parse(embedded::REQUIREMENTS)
            .map_err(|e| format!("embedded requirements.toml: {e}"))?;
        let mut cases: Vec<Case> = Vec::new();
        for (name, text) in embedded::CASE_FILES {
            let path = PathBuf::from("conformance-cases/cases").join(name);
            let more =
                crate::cases::parse_file(text, &path, &|id| catalogue.get(id).is_some(), &cases)
                    .map_err(|e| e.to_string())?;
            cases.extend(more);
        }
        let uncovered =
            crate::coverage::reasons_from_text(embedded::UNCOVERED, "embedded uncovered.toml")?;
        Ok(CaseData {
            catalogue,
            cases,
            uncovered,
        })
    }

    /// The data of a directory holding `requirements.toml`, `cases/` and optionally
    /// `uncovered.toml` (an unreadable one gives no reasons).
    pub fn load(root: &Path) -> Result<CaseData, String> {
        let catalogue =
            Catalogue::load(root.join("requirements.toml")).map_err(|e| e.to_string())?;
        let cases = crate::cases::load_dir(&root.join("cases"), &|id| catalogue.get(id).is_some())
            .map_err(|e| e.to_string())?;
        // Only `requirements` reads the reasons; it reports a broken file itself.
        let uncovered = crate::coverage::reasons(root).unwrap_or_default();
        Ok(CaseData {
            catalogue,
            cases,
            uncovered,
        })
    }

    /// [`CaseData::load`] of `root`, else [`CaseData::embedded`].
    pub fn from_dir_or_embedded(root: Option<&Path>) -> Result<CaseData, String> {
        match root {
            Some(r) => CaseData::load(r),
            None => CaseData::embedded(),
        }
    }
}
