//! The iptables backend, for hosts where nftables does not work: upstream's layout in the
//! `nat` table, written with one `iptables-restore --noflush` batch per address family
//! after one `iptables-save -t nat` to see what is there (restore has no "delete if
//! present"). Works with iptables-nft and iptables-legacy alike.
//!
//! Two behaviours of `iptables-restore --noflush` the batches rely on: a `:CHAIN` line
//! creates the chain, or empties it when it exists; a `-D` line takes a rule in the form
//! `iptables-save` prints it.

use std::net::IpAddr;

use super::{multicast, BackendKind, FirewallError, IpNet, MasqSpec, Masquerade, Result, Runner};

/// The address families, with their tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    const ALL: [Family; 2] = [Family::V4, Family::V6];

    fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn save(self) -> &'static str {
        match self {
            Family::V4 => "iptables-save",
            Family::V6 => "ip6tables-save",
        }
    }

    fn restore(self) -> &'static str {
        match self {
            Family::V4 => "iptables-restore",
            Family::V6 => "ip6tables-restore",
        }
    }
}

/// Masquerade through iptables (see the module documentation of [`super`]).
#[derive(Debug, Clone, Default)]
pub struct Iptables {
    runner: Runner,
}

impl Iptables {
    pub fn new(runner: Runner) -> Iptables {
        Iptables { runner }
    }

    fn save(&self, family: Family) -> Result<String> {
        self.runner.run(family.save(), &["-t", "nat"], b"")
    }

    fn restore(&self, family: Family, script: &str) -> Result<()> {
        self.runner
            .run(family.restore(), &["-w", "--noflush"], script.as_bytes())
            .map(|_| ())
    }

    fn families(m: &MasqSpec) -> Vec<Family> {
        Family::ALL
            .into_iter()
            .filter(|f| m.ips.iter().any(|n| Family::of(n.addr()) == *f))
            .collect()
    }
}

impl Masquerade for Iptables {
    fn kind(&self) -> BackendKind {
        BackendKind::Iptables
    }

    fn setup(&self, m: &MasqSpec) -> Result<()> {
        m.validate()?;
        let chain = m.iptables_chain();
        let comment = m.iptables_comment();
        for family in Iptables::families(m) {
            let saved = self.save(family)?;
            let ips: Vec<IpNet> = m
                .ips
                .iter()
                .copied()
                .filter(|n| Family::of(n.addr()) == family)
                .collect();
            self.restore(family, &setup_script(&chain, &comment, &ips, &saved))?;
        }
        Ok(())
    }

    /// Both families, whatever the spec's addresses. A family whose save fails counts only
    /// when the spec has addresses in it (the other may simply not exist here).
    fn teardown(&self, m: &MasqSpec) -> Result<()> {
        m.validate()?;
        let chain = m.iptables_chain();
        let wanted = Iptables::families(m);
        for family in Family::ALL {
            let saved = match self.save(family) {
                Ok(saved) => saved,
                Err(_) if !wanted.contains(&family) => continue,
                Err(e) => return Err(e),
            };
            if let Some(script) = teardown_script(&chain, &saved) {
                self.restore(family, &script)?;
            }
        }
        Ok(())
    }

    fn check(&self, m: &MasqSpec) -> Result<()> {
        m.validate()?;
        let chain = m.iptables_chain();
        for family in Iptables::families(m) {
            let saved = self.save(family)?;
            for net in m.ips.iter().filter(|n| Family::of(n.addr()) == family) {
                check_saved(&chain, *net, &saved).map_err(|detail| FirewallError::Missing {
                    backend: BackendKind::Iptables,
                    what: m.describe(),
                    detail,
                })?;
            }
        }
        Ok(())
    }
}

/// Quotes a comment for a restore line.
fn quoted(comment: &str) -> String {
    let mut out = String::from("\"");
    for c in comment.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `-A` lines of the saved table (any chain) that jump to `chain`.
fn jumps_to<'a>(chain: &'a str, saved: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    saved.lines().filter(move |line| {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        tokens.first() == Some(&"-A")
            && tokens.len() >= 4
            && tokens[tokens.len() - 2] == "-j"
            && tokens[tokens.len() - 1] == chain
    })
}

/// The `-D` form of a saved `-A` line.
fn delete_line(saved_line: &str) -> String {
    let rest = saved_line
        .trim_start()
        .strip_prefix("-A")
        .unwrap_or(saved_line);
    format!("-D{rest}\n")
}

fn chain_exists(chain: &str, saved: &str) -> bool {
    saved.lines().any(|l| {
        l.strip_prefix(':')
            .and_then(|l| l.split_whitespace().next())
            == Some(chain)
    })
}

/// The setup batch for one family: the chain (created, or emptied) with an ACCEPT per
/// subnet and one MASQUERADE for non-multicast destinations, and exactly one POSTROUTING
/// jump per address; jumps an earlier setup left are deleted first.
pub(super) fn setup_script(chain: &str, comment: &str, ips: &[IpNet], saved: &str) -> String {
    let comment = quoted(comment);
    let mut script = format!("*nat\n:{chain} - [0:0]\n");
    for line in jumps_to(chain, saved) {
        script += &delete_line(line);
    }
    let mut subnets: Vec<IpNet> = Vec::new();
    for net in ips.iter().map(IpNet::trunc) {
        if !subnets.contains(&net) {
            subnets.push(net);
        }
    }
    for net in subnets {
        script += &format!("-A {chain} -d {net} -m comment --comment {comment} -j ACCEPT\n");
    }
    if let Some(first) = ips.first() {
        let mcast = multicast(first.addr());
        script +=
            &format!("-A {chain} ! -d {mcast} -m comment --comment {comment} -j MASQUERADE\n");
    }
    for net in ips {
        let host = IpNet::new(net.addr(), net.max_prefix_len()).expect("full-length prefix");
        script += &format!("-A POSTROUTING -s {host} -m comment --comment {comment} -j {chain}\n");
    }
    script + "COMMIT\n"
}

/// The teardown batch for one family: every jump to the chain removed, then the chain
/// emptied and deleted; `None` when neither exists.
pub(super) fn teardown_script(chain: &str, saved: &str) -> Option<String> {
    let jumps: Vec<&str> = jumps_to(chain, saved).collect();
    let exists = chain_exists(chain, saved);
    if jumps.is_empty() && !exists {
        return None;
    }
    let mut script = String::from("*nat\n");
    for line in jumps {
        script += &delete_line(line);
    }
    if exists {
        script += &format!("-F {chain}\n-X {chain}\n");
    }
    Some(script + "COMMIT\n")
}

/// Checks a saved `nat` table for `net`'s rules: a POSTROUTING jump from the address, and in
/// the chain an ACCEPT for its subnet and a MASQUERADE for non-multicast destinations.
pub(super) fn check_saved(chain: &str, net: IpNet, saved: &str) -> Result<(), String> {
    if !chain_exists(chain, saved) {
        return Err(format!("chain {chain} does not exist"));
    }
    let tokens =
        |line: &str| -> Vec<String> { line.split_whitespace().map(str::to_string).collect() };
    // The value after `flag`, and whether a `!` precedes the flag.
    let option = |t: &[String], flag: &str| -> Option<(bool, IpNet)> {
        let i = t.iter().position(|x| x == flag)?;
        let value = t.get(i + 1)?;
        let net = value
            .parse::<IpNet>()
            .ok()
            .or_else(|| value.parse::<IpAddr>().ok().map(IpNet::from))?;
        Some((i > 0 && t[i - 1] == "!", net))
    };
    let host = IpNet::new(net.addr(), net.max_prefix_len()).expect("full-length prefix");
    let jump = jumps_to(chain, saved)
        .map(tokens)
        .any(|t| t[1] == "POSTROUTING" && option(&t, "-s") == Some((false, host)));
    if !jump {
        return Err(format!(
            "no POSTROUTING rule sends {} to {chain}",
            net.addr()
        ));
    }
    let rules: Vec<Vec<String>> = saved
        .lines()
        .map(tokens)
        .filter(|t| t.len() >= 4 && t[0] == "-A" && t[1] == chain)
        .collect();
    let target = |t: &[String], want: &str| t[t.len() - 2] == "-j" && t[t.len() - 1] == want;
    if !rules
        .iter()
        .any(|t| target(t, "ACCEPT") && option(t, "-d") == Some((false, net.trunc())))
    {
        return Err(format!("chain {chain} does not accept {}", net.trunc()));
    }
    let mcast = multicast(net.addr());
    if !rules
        .iter()
        .any(|t| target(t, "MASQUERADE") && option(t, "-d") == Some((true, mcast)))
    {
        return Err(format!("chain {chain} does not masquerade"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: &str = "CNI-2bbe0c48b91a7d1b8a6753a8";
    const SAVED: &str = r#"# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-2bbe0c48b91a7d1b8a6753a8 - [0:0]
:CNI-other - [0:0]
-A POSTROUTING -s 10.1.2.3/32 -m comment --comment "name: \"test\" id: \"1234\"" -j CNI-2bbe0c48b91a7d1b8a6753a8
-A POSTROUTING -s 10.1.2.9/32 -m comment --comment "name: \"test\" id: \"9\"" -j CNI-other
-A CNI-2bbe0c48b91a7d1b8a6753a8 -d 10.1.2.0/24 -m comment --comment "name: \"test\" id: \"1234\"" -j ACCEPT
-A CNI-2bbe0c48b91a7d1b8a6753a8 ! -d 224.0.0.0/4 -m comment --comment "name: \"test\" id: \"1234\"" -j MASQUERADE
COMMIT
"#;

    #[test]
    fn setup_replaces_earlier_jumps_and_quotes_the_comment() {
        let ips = ["10.1.2.3/24".parse().unwrap()];
        let script = setup_script(CHAIN, r#"name: "test" id: "1234""#, &ips, SAVED);
        let expected = format!(
            "*nat\n:{CHAIN} - [0:0]\n\
             -D POSTROUTING -s 10.1.2.3/32 -m comment --comment \"name: \\\"test\\\" id: \\\"1234\\\"\" -j {CHAIN}\n\
             -A {CHAIN} -d 10.1.2.0/24 -m comment --comment \"name: \\\"test\\\" id: \\\"1234\\\"\" -j ACCEPT\n\
             -A {CHAIN} ! -d 224.0.0.0/4 -m comment --comment \"name: \\\"test\\\" id: \\\"1234\\\"\" -j MASQUERADE\n\
             -A POSTROUTING -s 10.1.2.3/32 -m comment --comment \"name: \\\"test\\\" id: \\\"1234\\\"\" -j {CHAIN}\n\
             COMMIT\n"
        );
        assert_eq!(script, expected);
    }

    #[test]
    fn teardown_touches_only_its_chain() {
        let script = teardown_script(CHAIN, SAVED).unwrap();
        assert!(!script.contains("CNI-other"));
        assert!(script.contains(&format!("-F {CHAIN}\n-X {CHAIN}\n")));
        assert_eq!(script.matches("-D POSTROUTING").count(), 1);
        assert_eq!(teardown_script("CNI-absent", SAVED), None);
    }

    #[test]
    fn check_reads_saved_rules() {
        assert_eq!(
            check_saved(CHAIN, "10.1.2.3/24".parse().unwrap(), SAVED),
            Ok(())
        );
        assert!(check_saved(CHAIN, "10.1.2.4/24".parse().unwrap(), SAVED).is_err());
        assert!(check_saved(CHAIN, "10.1.2.3/16".parse().unwrap(), SAVED).is_err());
        let no_masq: String = SAVED
            .lines()
            .filter(|l| !l.contains("MASQUERADE"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(check_saved(CHAIN, "10.1.2.3/24".parse().unwrap(), &no_masq)
            .unwrap_err()
            .contains("masquerade"));
    }
}
