//! `resolvConf`: a resolv.conf file read into the result's `dns`.
//!
//! Per line, after trimming: empty lines and lines starting with `#` or `;` are skipped, as are
//! lines with fewer than two fields. `nameserver` adds its first argument to `nameservers`,
//! `domain` sets `domain` (the last one wins), `search` and `options` append all their
//! arguments. Other keywords are ignored.

use std::path::Path;

use cni::result::Dns;
use cni::Error;

/// Parses resolv.conf text.
pub fn parse_resolv_conf(text: &str) -> Dns {
    let mut dns = Dns::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(key), Some(first)) = (fields.next(), fields.next()) else {
            continue;
        };
        match key {
            "nameserver" => dns.nameservers.push(first.to_string()),
            "domain" => dns.domain = Some(first.to_string()),
            "search" => dns
                .search
                .extend(std::iter::once(first).chain(fields).map(str::to_string)),
            "options" => dns
                .options
                .extend(std::iter::once(first).chain(fields).map(str::to_string)),
            _ => {}
        }
    }
    dns
}

/// Reads and parses the file at `path`; a file that cannot be read is an I/O error (code 5).
pub fn read_resolv_conf(path: &Path) -> Result<Dns, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::io(format!("cannot read resolvConf {}", path.display())).with_details(e)
    })?;
    Ok(parse_resolv_conf(&String::from_utf8_lossy(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_keyword() {
        let dns = parse_resolv_conf(
            "# comment\n; other comment\n\nnameserver 1.1.1.1\n  nameserver   2001:db8::53 extra\n\
             domain a.example\ndomain b.example\nsearch x.example y.example\nsearch z.example\n\
             options ndots:5 timeout:1\nnameserver\nsortlist 10.0.0.0\n",
        );
        assert_eq!(dns.nameservers, ["1.1.1.1", "2001:db8::53"]);
        assert_eq!(dns.domain.as_deref(), Some("b.example"));
        assert_eq!(dns.search, ["x.example", "y.example", "z.example"]);
        assert_eq!(dns.options, ["ndots:5", "timeout:1"]);
    }

    #[test]
    fn empty_and_missing() {
        assert!(parse_resolv_conf("").is_empty());
        let e = read_resolv_conf(Path::new("/nonexistent/resolv.conf")).unwrap_err();
        assert_eq!(e.code.code(), 5);
    }
}
