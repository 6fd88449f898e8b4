//! `CNI_ARGS`: the deprecated `K=V;K2=V2` string (ENV-7, ENV-8).
//!
//! Keys and values may hold any character but `;` and `=` (the spec calls them alphanumeric,
//! but real runtimes put `-`, `:`, `/` in values, e.g. `K8S_POD_NAMESPACE=kube-system`).
//! Empty segments (`A=1;;B=2`, a trailing `;`) are skipped. A pair without `=`, or with a second `=`, is an error, as in the Go library.

use std::fmt;

/// Why a `CNI_ARGS` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("CNI_ARGS: invalid pair {0:?}: expected KEY=VALUE")]
    /// A segment without `=`, or with a second `=`.
    InvalidPair(String),
    #[error("CNI_ARGS: empty key in pair {0:?}")]
    /// A segment whose key is empty (`=value`).
    EmptyKey(String),
    #[error("CNI_ARGS: unknown key {0:?} (set IgnoreUnknown=1 to allow it)")]
    /// A key the plugin does not know, without `IgnoreUnknown`.
    UnknownKey(String),
}

/// Parsed `CNI_ARGS`, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    pairs: Vec<(String, String)>,
}

impl CniArgs {
    /// Parses `K=V;K2=V2`, skipping empty segments.
    pub fn parse(s: &str) -> Result<CniArgs, ArgsError> {
        let mut pairs = Vec::new();
        for segment in s.split(';').filter(|p| !p.is_empty()) {
            let mut kv = segment.split('=');
            let (Some(k), Some(v), None) = (kv.next(), kv.next(), kv.next()) else {
                return Err(ArgsError::InvalidPair(segment.to_string()));
            };
            if k.is_empty() {
                return Err(ArgsError::EmptyKey(segment.to_string()));
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(CniArgs { pairs })
    }

    /// Arguments from key/value pairs, in the order given.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> CniArgs {
        CniArgs {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The last value given for `key` (later pairs override earlier ones).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, in input order (a key may appear more than once).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether no pair was given.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `IgnoreUnknown` set to `1` or `true` (any case).
    pub fn ignore_unknown(&self) -> bool {
        self.get("IgnoreUnknown")
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }

    /// Fails on a key outside `known` unless `IgnoreUnknown` is set (the Go `LoadArgs` rule).
    pub fn check_known(&self, known: &[&str]) -> Result<(), ArgsError> {
        if self.ignore_unknown() {
            return Ok(());
        }
        match self
            .pairs
            .iter()
            .find(|(k, _)| k != "IgnoreUnknown" && !known.contains(&k.as_str()))
        {
            Some((k, _)) => Err(ArgsError::UnknownKey(k.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Display for CniArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_runtime_values() {
        let a = CniArgs::parse(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;MAC=c2:11:22:33:44:55;P=/a/b",
        )
        .unwrap();
        assert_eq!(a.get("MAC"), Some("c2:11:22:33:44:55"));
        assert!(a.ignore_unknown());
        assert!(a.check_known(&[]).is_ok());
    }

    #[test]
    fn errors() {
        assert_eq!(
            CniArgs::parse("FOO"),
            Err(ArgsError::InvalidPair("FOO".into()))
        );
        assert!(CniArgs::parse("A=B=C").is_err());
        assert!(CniArgs::parse("=B").is_err());
        assert_eq!(CniArgs::parse("").unwrap(), CniArgs::default());
        assert_eq!(CniArgs::parse("A=1;;B=2;").unwrap().pairs().len(), 2);
        let a = CniArgs::parse("FOO=BAR").unwrap();
        assert_eq!(
            a.check_known(&["IP"]),
            Err(ArgsError::UnknownKey("FOO".into()))
        );
        assert!(CniArgs::parse("IgnoreUnknown=TRUE;FOO=1")
            .unwrap()
            .check_known(&[])
            .is_ok());
    }

    #[test]
    fn display_round_trips() {
        let s = "A=1;B=x:y";
        assert_eq!(CniArgs::parse(s).unwrap().to_string(), s);
    }
}
