//! Results of any version from untrusted bytes: parsing (with and without an assumed version)
//! never panics, a parsed result re-parses from its own JSON to the same value, and every
//! successful conversion yields a valid result labelled with the target version that re-parses
//! to itself (see [`crate::results::convert_to_all`]).

use cni::result::{CniResult, ResultError};
use cni::SpecVersion;

use crate::results::{convert_to_all, json_round_trip};

fn check(original: &CniResult) {
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

/// The oracle of the `result` target.
///
/// For one input in four (by length), parsing must also give exactly what reading the text
/// into a `serde_json::Value` first gives ([`CniResult::from_value`]): `parse` reads most
/// results straight into their layout and must never differ from that.
///
/// An assumed version only matters to a result without `cniVersion`: for those, the input is
/// read with each of the seven versions assumed and each result is checked. Any other input
/// parses the same with or without one, which is checked for one assumed version (picked by
/// the input's length) rather than all seven, and its result is checked once.
pub fn result(data: &[u8]) {
    if data.len().is_multiple_of(4) {
        same_as_through_value(data);
    }
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
            let assume = SpecVersion::ALL[data.len() % SpecVersion::ALL.len()];
            assert_eq!(
                CniResult::parse(data, Some(assume)),
                parsed,
                "assuming {assume} changed the outcome for an input that names its version"
            );
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
