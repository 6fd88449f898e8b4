//! Checks on JSON text that serde_json leaves out where it skips a field: what the typed
//! readers of configurations and results look for before they trust a typed parse.

/// Whether JSON text may hold a `\u` escape of a UTF-16 surrogate (`\uD800` to `\uDFFF`),
/// which serde_json does not check in a field it skips: true for every such escape, and for
/// the same six characters after an escaped backslash too.
pub(crate) fn may_hold_surrogate_escape(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| {
        w[0] == b'\\'
            && w[1] == b'u'
            && w[2].eq_ignore_ascii_case(&b'd')
            && matches!(w[3].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
    })
}

#[cfg(test)]
mod tests {
    use super::may_hold_surrogate_escape;

    #[test]
    fn surrogate_escapes_are_found_in_either_case_and_nothing_else() {
        assert!(may_hold_surrogate_escape(br#""\uDa00""#));
        assert!(may_hold_surrogate_escape(br#""\udfff""#));
        assert!(may_hold_surrogate_escape(br#""\\uD800""#));
        assert!(!may_hold_surrogate_escape(br#""\uD7FF\ue000 \u0044800""#));
        assert!(!may_hold_surrogate_escape(b"uD800 \\ D800"));
    }
}
