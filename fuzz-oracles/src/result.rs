//! Results of any version from untrusted bytes: parsing (with and without an assumed version)
//! never panics, a parsed result re-parses from its own JSON to the same value, and every
//! successful conversion yields a valid result labelled with the target version that re-parses
//! to itself (see [`crate::results::convert_to_all`]). A fuzz run samples the costly checks
//! ([`crate::full_checks_for`]); the seed replay runs them all.

use cni::result::{CniResult, ResultError};
use cni::SpecVersion;

use crate::full_checks_for;
use crate::results::{convert_to_all, json_round_trip};

/// Every check of a parsed result: it validates, reads back from its own JSON, and converts to
/// every version (see [`convert_to_all`]).
fn check_fully(original: &CniResult) {
    original
        .validate()
        .expect("parse only returns valid results");
    // convert_to_all does the JSON round trip of the first conversion of each layout and
    // checks that the other versions of the layout (the result's own among them) give that
    // one relabelled; when the conversion to the result's own version is the result itself
    // (no field its label lacks), that covers this result's round trip.
    if original.convert_to(original.version()).as_ref() != Ok(original) {
        json_round_trip(original, "the parsed result");
    }
    convert_to_all(original);
}

/// The cheap subset: the result validates and its conversion to `target`, when it succeeds,
/// validates and carries `target`'s label.
fn check_cheaply(original: &CniResult, target: SpecVersion) {
    original
        .validate()
        .expect("parse only returns valid results");
    if let Ok(c) = original.convert_to(target) {
        let start = original.version();
        if let Err(e) = c.validate() {
            panic!("{start} -> {target} gave an invalid result ({e}): {c:?}");
        }
        assert_eq!(c.version(), target, "{start} -> {target}: wrong label");
    }
}

/// The oracle of the `result` target.
///
/// An assumed version only matters to a result without `cniVersion`: for those, the input is
/// read with each of the seven versions assumed and each result is checked. Any other input
/// parses the same with or without one.
///
/// The costly checks run on the inputs [`full_checks_for`] picks (every seed in the replay,
/// one input in eight in a fuzz run): parsing gives exactly what reading the text into a
/// `serde_json::Value` first gives ([`CniResult::from_value`]: `parse` reads most results
/// straight into their layout and must never differ from that), parsing with an assumed
/// version (picked by the input's length) gives the same outcome as without, and every parsed
/// result passes [`check_fully`]. The others get [`check_cheaply`] with one target version
/// picked by the input's length.
pub fn result(data: &[u8]) {
    let full = full_checks_for(data);
    if full {
        same_as_through_value(data);
    }
    let pick = SpecVersion::ALL[data.len() % SpecVersion::ALL.len()];
    let check = |r: &CniResult| {
        if full {
            check_fully(r)
        } else {
            check_cheaply(r, pick)
        }
    };
    match CniResult::parse(data, None) {
        Err(ResultError::MissingVersion) => {
            for assume in SpecVersion::ALL {
                match CniResult::parse(data, Some(assume)) {
                    Ok(r) => {
                        assert_eq!(r.version(), assume, "assumed {assume}");
                        check(&r);
                    }
                    Err(e) => assert_ne!(e, ResultError::MissingVersion, "assumed {assume}"),
                }
            }
        }
        parsed => {
            if full {
                assert_eq!(
                    CniResult::parse(data, Some(pick)),
                    parsed,
                    "assuming {pick} changed the outcome for an input that names its version"
                );
            }
            if let Ok(r) = parsed {
                check(&r);
            }
        }
    }
}

fn same_as_through_value(data: &[u8]) {
    let assume = SpecVersion::ALL[data.len() / 4 % SpecVersion::ALL.len()];
    for assume in [None, Some(assume)] {
        let through_value = serde_json::from_slice::<serde_json::Value>(data)
            .map_err(|e| ResultError::Decode(e.to_string()))
            .and_then(|v| CniResult::from_value(v, assume));
        assert_eq!(
            CniResult::parse(data, assume),
            through_value,
            "parse differs from reading through a Value (assumed {assume:?})"
        );
    }
}
