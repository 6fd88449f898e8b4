//! Results of any version from untrusted bytes: parsing (with and without an assumed version)
//! never panics, a parsed result re-parses from its own JSON to the same value, and every
//! successful conversion yields a valid result labelled with the target version.

use cni::result::CniResult;
use cni::SpecVersion;

fn check(original: &CniResult) {
    original
        .validate()
        .expect("parse only returns valid results");
    let json = original.to_json();
    let again = match CniResult::parse(json.as_bytes(), None) {
        Ok(r) => r,
        Err(e) => panic!("re-parse of {json} failed: {e}"),
    };
    assert_eq!(*original, again, "round trip changed the result: {json}");

    for target in SpecVersion::ALL {
        let Ok(converted) = original.convert_to(target) else {
            continue;
        };
        if let Err(e) = converted.validate() {
            panic!(
                "{} -> {target} gave an invalid result ({e}): {}",
                original.version(),
                converted.to_json()
            );
        }
        assert_eq!(converted.version(), target);
        // The converted result is itself a readable result of that version.
        let text = converted.to_json();
        let back = CniResult::parse(text.as_bytes(), None)
            .unwrap_or_else(|e| panic!("converted result {text} does not parse: {e}"));
        assert_eq!(back, converted);
    }
}

/// The oracle of the `result` target.
pub fn result(data: &[u8]) {
    if let Ok(r) = CniResult::parse(data, None) {
        check(&r);
    }
    for assume in SpecVersion::ALL {
        if let Ok(r) = CniResult::parse(data, Some(assume)) {
            check(&r);
        }
    }
}
