//! DHCPv4 option names as the `request` and `provide` entries of the configuration give them:
//! the names upstream accepts, the names cni.dev documents (which upstream's code rejects,
//! e.g. `classless-static-routes`), other common ISC-style names, or a decimal number.
//! Names match ASCII case-insensitively. Pure.

/// `(name, code)`, the first six being the ones upstream accepts.
pub const NAMES: &[(&str, u8)] = &[
    ("dhcp-client-identifier", 61),
    ("subnet-mask", 1),
    ("routers", 3),
    ("host-name", 12),
    ("user-class", 77),
    ("vendor-class-identifier", 60),
    ("time-offset", 2),
    ("domain-name-servers", 6),
    ("domain-name", 15),
    ("interface-mtu", 26),
    ("broadcast-address", 28),
    ("static-routes", 33),
    ("ntp-servers", 42),
    ("dhcp-lease-time", 51),
    ("dhcp-server-identifier", 54),
    ("dhcp-renewal-time", 58),
    ("dhcp-rebinding-time", 59),
    ("domain-search", 119),
    ("classless-static-routes", 121),
];

/// Options the client manages itself: a `provide` entry may not set them.
pub const CLIENT_MANAGED: &[u8] = &[0, 50, 53, 54, 55, 255];

/// The option code of a name or a decimal number (1 to 254).
pub fn parse(name: &str) -> Option<u8> {
    let name = name.trim();
    if let Some(&(_, code)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Some(code);
    }
    match name.parse::<u8>() {
        Ok(code) if (1..=254).contains(&code) => Some(code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("routers"), Some(3));
        assert_eq!(parse("Classless-Static-Routes"), Some(121));
        assert_eq!(parse("121"), Some(121));
        assert_eq!(parse("0"), None);
        assert_eq!(parse("255"), None);
        assert_eq!(parse("256"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("no-such-option"), None);
        assert_eq!(parse(""), None);
    }
}
