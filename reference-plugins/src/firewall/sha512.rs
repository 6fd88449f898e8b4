//! The SHA-512 hex prefixes upstream uses to name firewall chains and rule comments
//! (computed with the `sha2` crate).

use sha2::{Digest, Sha512};

/// The first `len` hex digits of SHA-512(`data`).
pub fn hex_prefix(data: &[u8], len: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(128);
    for byte in Sha512::digest(data) {
        let _ = write!(out, "{byte:02x}");
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // sha512("abc"), FIPS 180-2 example.
        assert_eq!(hex_prefix(b"abc", 16), "ddaf35a193617aba");
        assert_eq!(hex_prefix(b"", 8), "cf83e135");
    }
}
