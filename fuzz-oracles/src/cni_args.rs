//! `CNI_ARGS` strings: parsing never panics and a parsed value prints back to a string that
//! parses to the same pairs.

use cni::args::CniArgs;

/// The oracle of the `cni_args` target (input: the valid UTF-8 prefix of `data`).
pub fn cni_args(data: &[u8]) {
    check(crate::utf8_prefix(data));
}

fn check(s: &str) {
    let Ok(args) = CniArgs::parse(s) else {
        return;
    };
    let printed = args.to_string();
    let again = CniArgs::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?} (printed from {s:?}) does not parse: {e}"));
    assert_eq!(args, again);
    assert_eq!(printed, again.to_string());

    let ignore = args.ignore_unknown();
    let keys: Vec<&str> = args.pairs().iter().map(|(k, _)| k.as_str()).collect();
    // Every key is known to a plugin that lists them all.
    assert!(args.check_known(&keys).is_ok());
    // With IgnoreUnknown set, nothing is refused.
    if ignore {
        assert!(args.check_known(&[]).is_ok());
    }
    for (k, _) in args.pairs() {
        assert!(!k.is_empty() && !k.contains(['=', ';']));
        assert!(args.get(k).is_some());
    }
    for (_, v) in args.pairs() {
        assert!(!v.contains(['=', ';']));
    }
}
