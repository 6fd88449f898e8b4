//! The portmap plugin's configuration decoder (`PortmapConf`: `snat`, `masqAll`,
//! `markMasqBit`, `externalSetMarkChain`, `conditionsV4`/`V6` in both backends' languages,
//! `backend`, `runtimeConfig.portMappings`) on one untrusted request (input format:
//! [`crate::request`]).
//!
//! Never panics; a refusal carries code 2 (unsupported: an unknown backend or nftables
//! expression), 6 or 7. An accepted configuration satisfies what the firewall backends rely
//! on:
//! - `markMasqBit` 0 to 31, and the default when `externalSetMarkChain` is given; that chain
//!   a valid iptables chain name (1 to 28 printable characters, no quotes, not starting with
//!   `-` or `!`);
//! - the backend the options need: iptables for the chain and iptables-style conditions,
//!   nftables for nftables conditions; iptables arguments without quotes or control
//!   characters; nftables matches of the condition's family, with a prefix that is not 0 and
//!   has no host bits, interface names the kernel accepts;
//! - every mapping: host and container port 1 to 65535, a specific `hostIP` that is not an
//!   unspecified address (those mean a whole family), and no two mappings claiming the same
//!   port, protocol and destination (in a family both cover, every address or the same one).

use reference_plugins::conf::is_valid_ifname;
use reference_plugins::plugins::portmap::config::{
    Backend, Conditions, HostIp, Match, PortMapping, PortmapConf, DEFAULT_MARK_BIT,
};

use crate::request::{assert_code, Request};

/// The oracle of the `portmap_config` target.
pub fn portmap_config(data: &[u8]) {
    let req = Request::new(data);
    let r = match &req.built {
        Ok(cmd) => PortmapConf::from_cmd(cmd),
        Err(_) => PortmapConf::parse(req.stdin),
    };
    let c = match r {
        Ok(c) => c,
        Err(e) => return assert_code("portmap", &e, &[2, 6, 7]),
    };
    assert!(
        c.mark_masq_bit <= 31,
        "portmap: markMasqBit {}",
        c.mark_masq_bit
    );
    if let Some(chain) = &c.external_set_mark_chain {
        assert_eq!(c.mark_masq_bit, DEFAULT_MARK_BIT);
        assert!(
            (1..=28).contains(&chain.len())
                && !chain.starts_with(['-', '!'])
                && chain
                    .chars()
                    .all(|ch| ch.is_ascii_graphic() && ch != '"' && ch != '\''),
            "portmap: chain {chain:?}"
        );
        assert_eq!(c.backend.fixed(), Some(Backend::Iptables), "{c:?}");
    }
    for v6 in [false, true] {
        match c.conditions(v6) {
            Conditions::None => {}
            Conditions::Iptables(args) => {
                assert_eq!(c.backend.fixed(), Some(Backend::Iptables), "{c:?}");
                assert!(args[0].starts_with(['-', '!']), "{args:?}");
                assert!(
                    args.iter()
                        .all(|a| !a.contains('"') && !a.chars().any(char::is_control)),
                    "portmap: iptables arguments {args:?}"
                );
            }
            Conditions::Nftables(matches) => {
                assert_eq!(c.backend.fixed(), Some(Backend::Nftables), "{c:?}");
                for m in matches {
                    nft_match(m, v6);
                }
            }
        }
    }
    for (i, m) in c.mappings.iter().enumerate() {
        assert!(m.host_port >= 1 && m.container_port >= 1, "{m:?}");
        if let HostIp::Addr(a) = m.host_ip {
            assert!(
                !a.is_unspecified(),
                "portmap: hostIP {a} kept as one address"
            );
        }
        assert!(
            m.describe.contains(&format!("[{i}]")),
            "portmap: {:?}",
            m.describe
        );
        for earlier in &c.mappings[..i] {
            assert!(!claims_same(earlier, m), "portmap: {earlier:?} and {m:?}");
        }
    }
}

fn nft_match(m: &Match, v6: bool) {
    match m {
        Match::Addr { net, .. } => {
            assert_eq!(
                net.addr().is_ipv6(),
                v6,
                "portmap: {net} in the other family"
            );
            assert!(
                net.prefix_len() > 0 && net.trunc() == *net,
                "portmap: {net}"
            );
        }
        Match::Ifname { name, .. } => assert!(is_valid_ifname(name), "portmap: {name:?}"),
        Match::Mark { .. } => {}
    }
}

/// Same port and protocol and, in some family both cover, the same destination.
fn claims_same(a: &PortMapping, b: &PortMapping) -> bool {
    a.host_port == b.host_port
        && a.protocol == b.protocol
        && [false, true].into_iter().any(|v6| {
            a.host_ip.covers(v6) && b.host_ip.covers(v6) && a.host_ip.addr() == b.host_ip.addr()
        })
}
