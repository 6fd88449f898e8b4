//! Spec versions: the set this library speaks, how version strings are parsed and compared,
//! and which result shape ("family") belongs to each version.
//!
//! Support is decided by exact string match against [`SpecVersion::ALL`] (as every runtime and
//! the Go skel do), while ordering comparisons (for example "CHECK needs 0.4.0 or later") use
//! [`Semver`], a lenient `major.minor.patch` parser that never panics.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One released version of the CNI specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecVersion {
    /// 0.1.0
    V0_1_0,
    /// 0.2.0
    V0_2_0,
    /// 0.3.0
    V0_3_0,
    /// 0.3.1
    V0_3_1,
    /// 0.4.0
    V0_4_0,
    /// 1.0.0
    V1_0_0,
    /// 1.1.0
    V1_1_0,
}

/// The result layout a version uses. Conversions happen between families; versions inside one
/// family only differ in their label (and, for 1.1.0, in a few optional fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResultFamily {
    /// 0.1.0 and 0.2.0: `ip4` / `ip6` / `dns`.
    Legacy,
    /// 0.3.0, 0.3.1 and 0.4.0: `interfaces`, `ips` with `version`, `routes`, `dns`.
    V04,
    /// 1.0.0 and 1.1.0: as 0.4.0 without `ips[].version`, plus the 1.1.0 optional fields.
    V1,
}

impl SpecVersion {
    /// Every version, oldest first.
    pub const ALL: [SpecVersion; 7] = [
        SpecVersion::V0_1_0,
        SpecVersion::V0_2_0,
        SpecVersion::V0_3_0,
        SpecVersion::V0_3_1,
        SpecVersion::V0_4_0,
        SpecVersion::V1_0_0,
        SpecVersion::V1_1_0,
    ];

    /// The newest version this library implements.
    pub const LATEST: SpecVersion = SpecVersion::V1_1_0;

    /// The version as `cniVersion` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V0_1_0 => "0.1.0",
            SpecVersion::V0_2_0 => "0.2.0",
            SpecVersion::V0_3_0 => "0.3.0",
            SpecVersion::V0_3_1 => "0.3.1",
            SpecVersion::V0_4_0 => "0.4.0",
            SpecVersion::V1_0_0 => "1.0.0",
            SpecVersion::V1_1_0 => "1.1.0",
        }
    }

    /// Exact-string lookup; `"1.0"` or `"v1.0.0"` are not versions of the spec.
    pub fn from_exact(s: &str) -> Option<SpecVersion> {
        SpecVersion::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The result layout of this version.
    pub fn family(self) -> ResultFamily {
        match self {
            SpecVersion::V0_1_0 | SpecVersion::V0_2_0 => ResultFamily::Legacy,
            SpecVersion::V0_3_0 | SpecVersion::V0_3_1 | SpecVersion::V0_4_0 => ResultFamily::V04,
            SpecVersion::V1_0_0 | SpecVersion::V1_1_0 => ResultFamily::V1,
        }
    }

    /// Whether the `CHECK` verb exists at this version (0.4.0 and later).
    pub fn has_check(self) -> bool {
        self >= SpecVersion::V0_4_0
    }

    /// Whether the `STATUS` and `GC` verbs exist at this version (1.1.0 and later).
    pub fn has_status_and_gc(self) -> bool {
        self >= SpecVersion::V1_1_0
    }

    /// The version as a comparable triple.
    pub fn semver(self) -> Semver {
        Semver::parse(self.as_str()).expect("spec versions are valid semver")
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string that is not one of the spec's versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CNI spec version {0:?}")]
pub struct UnknownVersion(pub String);

impl FromStr for SpecVersion {
    type Err = UnknownVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpecVersion::from_exact(s).ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

impl Serialize for SpecVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SpecVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A `major.minor.patch` triple for ordering comparisons. Missing parts count as zero
/// (`"1"` is 1.0.0, as the Go library reads it); anything else is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Semver {
    /// The major version.
    pub major: u64,
    /// The minor version.
    pub minor: u64,
    /// The patch version.
    pub patch: u64,
}

/// A string that cannot be read as `major[.minor[.patch]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {0:?}: expected major.minor.patch")]
pub struct InvalidSemver(pub String);

impl Semver {
    /// Reads `major[.minor[.patch]]`; missing parts are zero. Each part is one or more ASCII
    /// digits whose value fits a `u64`.
    pub fn parse(s: &str) -> Result<Semver, InvalidSemver> {
        let bad = || InvalidSemver(s.to_string());
        // One pass over the bytes: version strings come from untrusted configs and results,
        // and negotiation reads every entry of `cniVersions`.
        let mut parts = [0u64; 3];
        let mut part = 0;
        let mut digits = 0;
        for &b in s.as_bytes() {
            if b == b'.' {
                if digits == 0 || part == 2 {
                    return Err(bad());
                }
                part += 1;
                digits = 0;
            } else if b.is_ascii_digit() {
                parts[part] = parts[part]
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                    .ok_or_else(bad)?;
                digits += 1;
            } else {
                return Err(bad());
            }
        }
        if digits == 0 {
            return Err(bad());
        }
        Ok(Semver {
            major: parts[0],
            minor: parts[1],
            patch: parts[2],
        })
    }

    /// Compares two version strings; `None` if either is unparsable.
    pub fn compare(a: &str, b: &str) -> Option<Ordering> {
        Some(Semver::parse(a).ok()?.cmp(&Semver::parse(b).ok()?))
    }
}

impl fmt::Display for Semver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The answer to `CNI_COMMAND=VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    #[serde(rename = "cniVersion")]
    /// `cniVersion`: the version of the request being answered.
    pub cni_version: String,
    #[serde(rename = "supportedVersions")]
    /// `supportedVersions`: every spec version the plugin accepts.
    pub supported_versions: Vec<String>,
}

impl VersionInfo {
    /// An answer naming `cni_version` and the given supported versions.
    pub fn new(cni_version: &str, supported: &[SpecVersion]) -> VersionInfo {
        VersionInfo {
            cni_version: cni_version.to_string(),
            supported_versions: supported.iter().map(|v| v.as_str().to_string()).collect(),
        }
    }

    /// Whether `version` is among the supported versions (exact string).
    pub fn supports(&self, version: &str) -> bool {
        self.supported_versions.iter().any(|v| v == version)
    }
}

/// Picks the version a runtime sends: the highest of `cni_version` and `cni_versions` that this
/// library supports (VER-1). Unparsable `cniVersions` entries are an error (VER-3).
pub fn negotiate(
    cni_version: &str,
    cni_versions: Option<&[String]>,
) -> Result<SpecVersion, UnknownVersion> {
    let mut best = SpecVersion::from_exact(cni_version);
    for v in cni_versions.unwrap_or_default() {
        if Semver::parse(v).is_err() {
            return Err(UnknownVersion(v.clone()));
        }
        if let Some(known) = SpecVersion::from_exact(v) {
            best = best.max(Some(known));
        }
    }
    best.ok_or_else(|| UnknownVersion(cni_version.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_only() {
        assert_eq!(SpecVersion::from_exact("1.0.0"), Some(SpecVersion::V1_0_0));
        for bad in ["1.0", "v1.0.0", " 1.0.0", "1.0.0.0", "1.0.0-rc1", ""] {
            assert_eq!(SpecVersion::from_exact(bad), None, "{bad}");
        }
    }

    #[test]
    fn semver_parsing() {
        assert_eq!(
            Semver::parse("1").unwrap(),
            Semver {
                major: 1,
                minor: 0,
                patch: 0
            }
        );
        assert_eq!(Semver::parse("0.4").unwrap().minor, 4);
        assert!(Semver::parse("1.0.0.0").is_err());
        assert!(Semver::parse("v1").is_err());
        assert!(Semver::parse("1..0").is_err());
        assert!(Semver::parse("99999999999999999999999").is_err());
        assert_eq!(Semver::compare("1.10.0", "1.9.0"), Some(Ordering::Greater));
    }

    /// The definition `parse` implements: dot-separated parts, one to three, each a non-empty
    /// run of ASCII digits that fits a `u64`.
    fn parse_by_definition(s: &str) -> Option<Semver> {
        let mut parts = [0u64; 3];
        for (n, piece) in s.split('.').enumerate() {
            if n == 3 || piece.is_empty() || !piece.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            parts[n] = piece.parse().ok()?;
        }
        Some(Semver {
            major: parts[0],
            minor: parts[1],
            patch: parts[2],
        })
    }

    proptest::proptest! {
        #[test]
        fn semver_parsing_follows_its_definition(s in "[0-9.]{0,12}|[0-9]{18,22}(\\.[0-9]{0,21}){0,3}|[0-9.a-z+-]{0,8}") {
            proptest::prop_assert_eq!(Semver::parse(&s).ok(), parse_by_definition(&s));
        }
    }

    #[test]
    fn negotiation_picks_highest_supported() {
        let list = vec!["1.0.0".to_string(), "1.1.0".into(), "9.0.0".into()];
        assert_eq!(
            negotiate("0.4.0", Some(&list)).unwrap(),
            SpecVersion::V1_1_0
        );
        assert_eq!(negotiate("0.3.1", None).unwrap(), SpecVersion::V0_3_1);
        assert!(negotiate("9.9.9", None).is_err());
        assert!(negotiate("1.0.0", Some(&["x".to_string()])).is_err());
    }

    #[test]
    fn families_and_verbs() {
        assert_eq!(SpecVersion::V0_3_0.family(), ResultFamily::V04);
        assert!(!SpecVersion::V0_3_1.has_check());
        assert!(SpecVersion::V0_4_0.has_check());
        assert!(SpecVersion::V1_1_0.has_status_and_gc());
        assert!(!SpecVersion::V1_0_0.has_status_and_gc());
    }
}
