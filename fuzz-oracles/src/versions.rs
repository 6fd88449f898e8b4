//! Version strings, negotiation, and the identifier rules of the invocation environment.

use std::cmp::Ordering;
use std::str::FromStr;

use cni::env::{validate_container_id, validate_ifname, Command};
use cni::version::{negotiate, Semver};
use cni::SpecVersion;

/// The oracle of the `versions` target (input: the valid UTF-8 prefix of `data`).
pub fn versions(data: &[u8]) {
    check(crate::utf8_prefix(data));
}

fn check(s: &str) {
    if let Some(v) = SpecVersion::from_exact(s) {
        assert_eq!(v.as_str(), s);
        assert_eq!(Semver::parse(s).unwrap(), v.semver());
    }
    if let Ok(sv) = Semver::parse(s) {
        // Printing normalizes; the normal form parses to the same triple.
        assert_eq!(Semver::parse(&sv.to_string()).unwrap(), sv);
        assert_eq!(Semver::compare(s, s), Some(Ordering::Equal));
    }

    // The input as a comma-separated cniVersion list, its first entry the cniVersion.
    let mut parts = s.split(',');
    let first = parts.next().unwrap_or("");
    let rest: Vec<String> = parts.map(str::to_string).collect();
    for (a, b) in rest.iter().zip(rest.iter().skip(1)) {
        let ab = Semver::compare(a, b);
        let ba = Semver::compare(b, a);
        assert_eq!(ab.map(Ordering::reverse), ba);
    }
    match negotiate(first, Some(&rest)) {
        Ok(v) => {
            // The pick is one of the offered versions and no offered supported one is higher.
            assert!(first == v.as_str() || rest.iter().any(|r| r == v.as_str()));
            for r in rest.iter().chain(std::iter::once(&first.to_string())) {
                if let Some(known) = SpecVersion::from_exact(r) {
                    assert!(known <= v);
                }
            }
        }
        Err(_) => {
            let any_bad = rest.iter().any(|r| Semver::parse(r).is_err());
            let any_known = std::iter::once(first)
                .chain(rest.iter().map(String::as_str))
                .any(|r| SpecVersion::from_exact(r).is_some());
            assert!(any_bad || !any_known);
        }
    }
    let _ = negotiate(s, None);

    if validate_ifname(s).is_ok() {
        assert!(!s.is_empty() && s.len() <= 15 && !s.contains('/'));
    }
    if validate_container_id(s).is_ok() {
        assert!(!s.is_empty() && s.is_ascii() && !s.contains('/'));
    }
    if let Ok(c) = Command::from_str(s) {
        assert_eq!(c.as_str(), s);
    }
}
