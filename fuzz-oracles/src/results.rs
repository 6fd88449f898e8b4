//! Checks the `result` and `version_convert` oracles share: the JSON round trip of a result and
//! its conversion to every version.

use std::fmt::Display;

use cni::result::{CniResult, ResultError};
use cni::version::ResultFamily;
use cni::SpecVersion;

/// `r` reads back from its own JSON text as the same value.
pub(crate) fn json_round_trip(r: &CniResult, what: impl Display) {
    let json = r.to_json();
    match CniResult::parse(json.as_bytes(), None) {
        Ok(again) => assert_eq!(*r, again, "{what}: the JSON round trip changed it: {json}"),
        Err(e) => panic!("{what}: its JSON does not parse ({e}): {json}"),
    }
}

/// Versions whose results differ only in their label: 0.1.0/0.2.0, 0.3.0/0.3.1/0.4.0; 1.0.0
/// and 1.1.0 are apart (1.0.0 drops 1.1.0's fields).
fn layout(v: SpecVersion) -> u8 {
    match v.family() {
        ResultFamily::Legacy => 0,
        ResultFamily::V04 => 1,
        ResultFamily::V1 if v < SpecVersion::V1_1_0 => 2,
        ResultFamily::V1 => 3,
    }
}

/// `r` labelled `v` (a version of the same layout).
fn relabel(r: &CniResult, v: SpecVersion) -> CniResult {
    let mut r = r.clone();
    match &mut r {
        CniResult::Legacy(x) => x.cni_version = v,
        CniResult::V04(x) => x.cni_version = v,
        CniResult::V1(x) => x.cni_version = v,
    }
    r
}

/// Converts `original` to every version, oldest first, and checks each success: it validates,
/// it is labelled with its target, and it reads back from its JSON text unchanged.
///
/// The JSON round trip (the expensive part: a serialization and a parse) runs for the first
/// version of each layout only (see [`layout`]); the conversion to any other version of that
/// layout must be that one's result relabelled (or fail like it), which makes its round trip
/// the same one.
pub(crate) fn convert_to_all(
    original: &CniResult,
) -> Vec<(SpecVersion, Result<CniResult, ResultError>)> {
    let start = original.version();
    let mut out: Vec<(SpecVersion, Result<CniResult, ResultError>)> = Vec::new();
    for target in SpecVersion::ALL {
        let converted = original.convert_to(target);
        let first_of_layout = out.iter().find(|(v, _)| layout(*v) == layout(target));
        match (&converted, first_of_layout) {
            (Ok(c), None) => {
                if let Err(e) = c.validate() {
                    panic!("{start} -> {target} gave an invalid result ({e}): {c:?}");
                }
                assert_eq!(c.version(), target, "{start} -> {target}: wrong label");
                json_round_trip(c, format_args!("{start} -> {target}"));
            }
            (Ok(c), Some((v, Ok(first)))) => assert_eq!(
                *c,
                relabel(first, target),
                "{start} -> {target} differs from {start} -> {v} beyond the label"
            ),
            (Err(_), None | Some((_, Err(_)))) => {}
            (Ok(_), Some((v, Err(_)))) | (Err(_), Some((v, Ok(_)))) => {
                panic!("{start} -> {target} and {start} -> {v} do not both succeed or fail")
            }
        }
        out.push((target, converted));
    }
    out
}
