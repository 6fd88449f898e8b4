//! portmap's iptables backend (`backend: "iptables"`, or implied by `externalSetMarkChain`
//! or iptables-style conditions): upstream's chains in the `nat` table, so that a node can
//! move between upstream's plugin and this one either way and each DEL removes what the
//! other's ADD wrote. Per family and call, one `iptables-save -t nat` to see what is there
//! and one `iptables-restore -w --noflush` batch.
//!
//! ```text
//! PREROUTING, OUTPUT:   -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
//! CNI-HOSTPORT-DNAT:    -p tcp -m comment --comment "dnat name: ... if: ..." -m multiport --dports 8080,8081 [conditions] -j CNI-DN-<hash>
//! CNI-DN-<hash>:        -s <container subnet> -p tcp -m tcp --dport 8080 ... -j CNI-HOSTPORT-SETMARK   (snat: hairpin)
//!                       -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 ... -j CNI-HOSTPORT-SETMARK     (snat, IPv4: localhost)
//!                       -p tcp -m tcp --dport 8080 ... -j DNAT --to-destination 10.88.0.5:80
//! CNI-HOSTPORT-SETMARK: -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
//! POSTROUTING:          -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ (first)
//! CNI-HOSTPORT-MASQ:    -m mark --mark 0x2000/0x2000 -j MASQUERADE
//! ```
//!
//! `CNI-DN-` is followed by 21 hex digits of SHA-512(network name + container ID), as
//! upstream names it, so the chain is shared by the container's interfaces on one network.
//! Unlike upstream, every rule this plugin writes in it, and every jump to it, carries the
//! comment `dnat name: "<net>" id: "<container>" if: "<ifname>"`: a DEL removes its own
//! interface's rules and jumps (and upstream's, which carry no interface) and the chain only
//! when nothing else is left in it, so the container's other interfaces keep their mappings.
//! DEL finds the chains through the jumps of `CNI-HOSTPORT-DNAT` whose comment names the
//! container, so a network renamed since ADD leaves nothing behind either. Shared chains are
//! created with `-N` (which fails rather than empty a chain another process just made; the
//! batch is then built again from a fresh save), never removed.

use std::net::IpAddr;

use cni::{CmdArgs, Error};
use ipnet::IpNet;

use super::config::{Conditions, PortMapping, PortmapConf, Protocol};
use super::nftables::Family;
use super::Addresses;
use crate::error::{internal, Context};
use crate::firewall::{sha512, FirewallError, Runner};
use crate::netlink::nfnetlink as nfnl;

pub const TOP_DNAT: &str = "CNI-HOSTPORT-DNAT";
pub const SETMARK: &str = "CNI-HOSTPORT-SETMARK";
pub const MASQ: &str = "CNI-HOSTPORT-MASQ";
const CHAIN_MAX: usize = 28;
/// iptables keeps comments of up to 255 bytes; longer ones are cut to 252 and `...`
/// (upstream cuts to 253 and `...`, one byte more than iptables takes).
const COMMENT_MAX: usize = 255;
/// Attempts at a save and restore whose restore failed (another process changed the table
/// in between).
const ATTEMPTS: usize = 3;
const SETMARK_COMMENT: &str = "CNI portfwd masquerade mark";
const MASQ_COMMENT: &str = "CNI portfwd requiring masquerade";

/// `CNI-<prefix><hex of SHA-512(network + container ID)>`, 28 characters, as upstream.
pub fn chain_name(prefix: &str, network: &str, container_id: &str) -> String {
    let head = format!("CNI-{prefix}");
    let hash = sha512::hex_prefix(
        format!("{network}{container_id}").as_bytes(),
        CHAIN_MAX - head.len(),
    );
    head + &hash
}

/// The `nat` chains an ADD (`conf` given) or a DEL writes for attachment `tag`
/// ([`crate::plan`]): the top DNAT chain and its jumps, the attachment's own chain (and
/// upstream's older `CNI-SN-` one on DEL), and with `snat` the mark and masquerade chains.
pub fn plan_touches(
    plan: &mut crate::plan::Plan,
    conf: Option<&PortmapConf>,
    tag: &AttachmentIds<'_>,
) {
    let mut chains = vec![TOP_DNAT.to_string(), "PREROUTING".into(), "OUTPUT".into()];
    chains.push(chain_name("DN-", tag.network, tag.container_id));
    match conf {
        Some(conf) if conf.snat && conf.external_set_mark_chain.is_none() => {
            chains.extend([SETMARK.into(), MASQ.into(), "POSTROUTING".into()]);
        }
        Some(_) => {}
        None => chains.push(chain_name("SN-", tag.network, tag.container_id)),
    }
    for chain in chains {
        plan.push(crate::plan::Touch::Iptables {
            table: "nat",
            chain,
        });
    }
}

/// Go's `%q` for printable text.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// An argument as iptables-save prints it and iptables-restore reads it: quoted (with `"`
/// and `\` escaped) when it holds white space or quotes.
fn restore_arg(s: &str) -> String {
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        go_quote(s)
    } else {
        s.to_string()
    }
}

/// The comment of an attachment's rules and jumps.
pub fn comment(network: &str, container_id: &str, ifname: &str) -> String {
    let c = format!(
        "dnat name: {} id: {} if: {}",
        go_quote(network),
        go_quote(container_id),
        go_quote(ifname)
    );
    trim_comment(c)
}

fn trim_comment(mut c: String) -> String {
    if c.len() > COMMENT_MAX {
        let mut end = COMMENT_MAX - 3;
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        c.truncate(end);
        c.push_str("...");
    }
    c
}

/// Whose a rule or jump is, by its comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// This plugin's, for this container and interface.
    Ours,
    /// Upstream's, for this container (upstream names no interface).
    Upstreams,
    /// Someone else's.
    Other,
}

fn owner(comment: Option<&str>, container_id: &str, ifname: &str) -> Owner {
    let Some(c) = comment else {
        return Owner::Other;
    };
    if !c.starts_with("dnat name: ") {
        return Owner::Other;
    }
    let id = go_quote(container_id);
    if c.ends_with(&format!(" id: {id} if: {}", go_quote(ifname))) {
        Owner::Ours
    } else if c.ends_with(&format!(" id: {id}")) {
        Owner::Upstreams
    } else {
        Owner::Other
    }
}

// ----- the saved table ------------------------------------------------------------------

/// A `-A` line of `iptables-save`, split into words (quotes and escapes resolved).
#[derive(Debug, Clone)]
struct SavedRule<'a> {
    line: &'a str,
    chain: String,
    words: Vec<String>,
}

impl SavedRule<'_> {
    fn value_of(&self, flag: &str) -> Option<&str> {
        let i = self.words.iter().rposition(|w| w == flag)?;
        self.words.get(i + 1).map(String::as_str)
    }

    fn comment(&self) -> Option<&str> {
        self.value_of("--comment")
    }

    fn target(&self) -> Option<&str> {
        self.value_of("-j")
    }

    /// The `-D` line that deletes it.
    fn delete(&self) -> String {
        let rest = self
            .line
            .trim_start()
            .strip_prefix("-A")
            .unwrap_or(self.line);
        format!("-D{rest}")
    }
}

/// The words of a saved line, as a shell would split it.
fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                word.push(e);
                            }
                        }
                        c => word.push(c),
                    }
                }
            } else {
                word.push(c);
            }
        }
        out.push(word);
    }
    out
}

/// The `nat` table as `iptables-save -t nat` printed it.
struct Saved<'a> {
    chains: Vec<&'a str>,
    rules: Vec<SavedRule<'a>>,
}

impl<'a> Saved<'a> {
    fn parse(text: &'a str) -> Saved<'a> {
        let mut chains = Vec::new();
        let mut rules = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(':') {
                chains.extend(rest.split_whitespace().next());
            } else if line.starts_with("-A ") {
                let words = split_words(line);
                if words.len() >= 2 {
                    rules.push(SavedRule {
                        line,
                        chain: words[1].clone(),
                        words,
                    });
                }
            }
        }
        Saved { chains, rules }
    }

    fn has_chain(&self, chain: &str) -> bool {
        self.chains.contains(&chain)
    }

    fn rules_of<'s>(&'s self, chain: &'s str) -> impl Iterator<Item = &'s SavedRule<'a>> + 's {
        self.rules.iter().filter(move |r| r.chain == chain)
    }

    fn jumps_to<'s>(&'s self, target: &'s str) -> impl Iterator<Item = &'s SavedRule<'a>> + 's {
        self.rules
            .iter()
            .filter(move |r| r.target() == Some(target))
    }
}

// ----- what ADD writes --------------------------------------------------------------------

/// The mark of `markMasqBit`, as upstream writes it (`0x2000/0x2000`).
fn mark(conf: &PortmapConf) -> String {
    let v = 1u32 << conf.mark_masq_bit;
    format!("{v:#x}/{v:#x}")
}

/// `ip:port` or `[ip]:port`.
fn ip_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The full-length prefix of `addr` as iptables prints it (`/32`, `/128`).
fn host(addr: IpAddr) -> String {
    IpNet::from(addr).to_string()
}

/// The mappings of `family`.
fn of_family(conf: &PortmapConf, family: Family) -> Vec<&PortMapping> {
    conf.mappings
        .iter()
        .filter(|m| m.host_ip.covers(family.v6))
        .collect()
}

/// The attachment's rules in its chain `chain`, as `iptables-save` prints them: per mapping
/// the hairpin and localhost marks (with `snat`) and the DNAT.
fn chain_rules(
    conf: &PortmapConf,
    family: Family,
    container: IpNet,
    comment: &str,
    chain: &str,
) -> Vec<String> {
    let setmark = conf.external_set_mark_chain.as_deref().unwrap_or(SETMARK);
    let comment = restore_arg(comment);
    let mut out = Vec::new();
    for m in of_family(conf, family) {
        let proto = m.protocol.as_str();
        let dst = m
            .host_ip
            .addr()
            .map(|a| format!(" -d {}", host(a)))
            .unwrap_or_default();
        let base = format!(
            "-p {proto} -m {proto} --dport {} -m comment --comment {comment}",
            m.host_port
        );
        if conf.snat {
            // Upstream marks from the container's whole subnet (`-s` with its prefix), or
            // from anywhere with masqAll.
            let src = if conf.masq_all {
                String::new()
            } else {
                format!(" -s {}", container.trunc())
            };
            out.push(format!("-A {chain}{src}{dst} {base} -j {setmark}"));
            if !family.v6 && !conf.masq_all {
                out.push(format!(
                    "-A {chain} -s 127.0.0.1/32{dst} {base} -j {setmark}"
                ));
            }
        }
        out.push(format!(
            "-A {chain}{dst} {base} -j DNAT --to-destination {}",
            ip_port(container.addr(), m.container_port)
        ));
    }
    out
}

/// The attachment's jumps from `CNI-HOSTPORT-DNAT` to `chain`: per protocol (in name order)
/// its host ports, 15 to a rule (multiport's limit), then the family's iptables conditions.
fn jump_rules(conf: &PortmapConf, family: Family, comment: &str, chain: &str) -> Vec<String> {
    let conditions: String = match conf.conditions(family.v6) {
        Conditions::Iptables(args) => args
            .iter()
            .map(|a| format!(" {}", restore_arg(a)))
            .collect(),
        _ => String::new(),
    };
    let comment = restore_arg(comment);
    let mut out = Vec::new();
    for proto in [Protocol::Sctp, Protocol::Tcp, Protocol::Udp] {
        let mut ports: Vec<u16> = Vec::new();
        for m in of_family(conf, family) {
            if m.protocol == proto && !ports.contains(&m.host_port) {
                ports.push(m.host_port);
            }
        }
        for group in ports.chunks(15) {
            let list: Vec<String> = group.iter().map(u16::to_string).collect();
            out.push(format!(
                "-A {TOP_DNAT} -p {} -m comment --comment {comment} -m multiport --dports {}{conditions} -j {chain}",
                proto.as_str(),
                list.join(",")
            ));
        }
    }
    out
}

/// The shared chains and their entry rules that are missing from `saved`.
fn shared_lines(conf: &PortmapConf, saved: &Saved<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if !saved.has_chain(TOP_DNAT) {
        out.push(format!("-N {TOP_DNAT}"));
    }
    for entry in ["PREROUTING", "OUTPUT"] {
        if !saved.jumps_to(TOP_DNAT).any(|r| r.chain == entry) {
            out.push(format!(
                "-A {entry} -m addrtype --dst-type LOCAL -j {TOP_DNAT}"
            ));
        }
    }
    if conf.snat && conf.external_set_mark_chain.is_none() {
        let mark = mark(conf);
        if !saved.has_chain(SETMARK) {
            out.push(format!("-N {SETMARK}"));
        }
        if !saved.rules_of(SETMARK).any(|r| r.target() == Some("MARK")) {
            out.push(format!(
                "-A {SETMARK} -m comment --comment {} -j MARK --set-xmark {mark}",
                restore_arg(SETMARK_COMMENT)
            ));
        }
        if !saved.has_chain(MASQ) {
            out.push(format!("-N {MASQ}"));
        }
        if !saved
            .rules_of(MASQ)
            .any(|r| r.target() == Some("MASQUERADE"))
        {
            out.push(format!("-A {MASQ} -m mark --mark {mark} -j MASQUERADE"));
        }
        if !saved.jumps_to(MASQ).any(|r| r.chain == "POSTROUTING") {
            out.push(format!(
                "-I POSTROUTING 1 -m comment --comment {} -j {MASQ}",
                restore_arg(MASQ_COMMENT)
            ));
        }
    }
    out
}

/// ADD's batch for one family: shared chains where missing, the container's chain where
/// missing, the attachment's earlier rules and jumps deleted, its rules and jumps added.
fn add_script(
    conf: &PortmapConf,
    family: Family,
    container: IpNet,
    tag: &AttachmentIds<'_>,
    saved: &Saved<'_>,
) -> String {
    let chain = chain_name("DN-", tag.network, tag.container_id);
    let comment = comment(tag.network, tag.container_id, tag.ifname);
    let mut lines = vec!["*nat".to_string()];
    lines.extend(shared_lines(conf, saved));
    if !saved.has_chain(&chain) {
        lines.push(format!("-N {chain}"));
    }
    let mine = |r: &&SavedRule<'_>| owner(r.comment(), tag.container_id, tag.ifname) == Owner::Ours;
    lines.extend(saved.jumps_to(&chain).filter(mine).map(SavedRule::delete));
    lines.extend(saved.rules_of(&chain).filter(mine).map(SavedRule::delete));
    lines.extend(jump_rules(conf, family, &comment, &chain));
    lines.extend(chain_rules(conf, family, container, &comment, &chain));
    lines.push("COMMIT".to_string());
    lines.join("\n") + "\n"
}

/// The names DEL and ADD go by.
#[derive(Debug, Clone, Copy)]
pub struct AttachmentIds<'a> {
    pub network: &'a str,
    pub container_id: &'a str,
    pub ifname: &'a str,
}

/// DEL's batch for one family: in the container's chain of this network and in every
/// `CNI-DN-` chain a jump naming the container leads to, the rules and jumps of this
/// interface and upstream's for the container; each such chain goes once nothing else is in
/// it or leads to it. Upstream's old `CNI-SN-` chain too. `None`: nothing to do.
fn del_script(tag: &AttachmentIds<'_>, saved: &Saved<'_>) -> Option<String> {
    let own = chain_name("DN-", tag.network, tag.container_id);
    let mut chains: Vec<String> = vec![own];
    for r in saved.rules_of(TOP_DNAT) {
        if owner(r.comment(), tag.container_id, tag.ifname) != Owner::Other {
            if let Some(t) = r.target().filter(|t| t.starts_with("CNI-DN-")) {
                if !chains.iter().any(|c| c == t) {
                    chains.push(t.to_string());
                }
            }
        }
    }
    let mut lines = Vec::new();
    for chain in &chains {
        let jumps: Vec<&SavedRule<'_>> = saved.jumps_to(chain).collect();
        let rules: Vec<&SavedRule<'_>> = saved.rules_of(chain).collect();
        if jumps.is_empty() && rules.is_empty() && !saved.has_chain(chain) {
            continue;
        }
        let mut left = 0;
        for j in &jumps {
            if owner(j.comment(), tag.container_id, tag.ifname) == Owner::Other {
                left += 1;
            } else {
                lines.push(j.delete());
            }
        }
        for r in &rules {
            let gone = match r.comment() {
                // Upstream's rules in the chain carry no comment.
                None => true,
                c => owner(c, tag.container_id, tag.ifname) == Owner::Ours,
            };
            if gone {
                lines.push(r.delete());
            } else {
                left += 1;
            }
        }
        if left == 0 && saved.has_chain(chain) {
            lines.push(format!("-X {chain}"));
        }
    }
    let old = chain_name("SN-", tag.network, tag.container_id);
    if saved.has_chain(&old) {
        lines.extend(saved.jumps_to(&old).map(SavedRule::delete));
        lines.push(format!("-F {old}"));
        lines.push(format!("-X {old}"));
    }
    if lines.is_empty() {
        return None;
    }
    let mut script = vec!["*nat".to_string()];
    script.extend(lines);
    script.push("COMMIT".to_string());
    Some(script.join("\n") + "\n")
}

/// CHECK of one family against a saved table.
fn check_saved(
    conf: &PortmapConf,
    family: Family,
    container: IpNet,
    tag: &AttachmentIds<'_>,
    saved: &Saved<'_>,
) -> Result<(), String> {
    let chain = chain_name("DN-", tag.network, tag.container_id);
    let comment = comment(tag.network, tag.container_id, tag.ifname);
    if !saved.has_chain(TOP_DNAT) {
        return Err(format!("chain {TOP_DNAT} does not exist"));
    }
    for entry in ["PREROUTING", "OUTPUT"] {
        if !saved.jumps_to(TOP_DNAT).any(|r| r.chain == entry) {
            return Err(format!("{entry} does not lead to {TOP_DNAT}"));
        }
    }
    if conf.snat && conf.external_set_mark_chain.is_none() {
        for c in [SETMARK, MASQ] {
            if !saved.has_chain(c) {
                return Err(format!("chain {c} does not exist"));
            }
        }
        if !saved.jumps_to(MASQ).any(|r| r.chain == "POSTROUTING") {
            return Err(format!("POSTROUTING does not lead to {MASQ}"));
        }
    }
    if !saved.has_chain(&chain) {
        return Err(format!("chain {chain} does not exist"));
    }
    let mut have: Vec<&str> = saved
        .rules_of(&chain)
        .filter(|r| owner(r.comment(), tag.container_id, tag.ifname) == Owner::Ours)
        .map(|r| r.line.trim())
        .collect();
    for want in chain_rules(conf, family, container, &comment, &chain) {
        match have.iter().position(|h| *h == want) {
            Some(i) => {
                have.swap_remove(i);
            }
            None => return Err(format!("rule missing or changed: {want}")),
        }
    }
    if let Some(extra) = have.first() {
        return Err(format!("rule its mappings do not explain: {extra}"));
    }
    // Jumps: compared by protocol, ports and comment (iptables-save may move conditions).
    let key = |words: &[String]| -> Option<(String, String)> {
        let at = |flag: &str| {
            words
                .iter()
                .position(|w| w == flag)
                .and_then(|i| words.get(i + 1).cloned())
        };
        Some((at("-p")?, at("--dports")?))
    };
    let mut jumps: Vec<(String, String)> = saved
        .jumps_to(&chain)
        .filter(|r| r.chain == TOP_DNAT)
        .filter(|r| owner(r.comment(), tag.container_id, tag.ifname) == Owner::Ours)
        .filter_map(|r| key(&r.words))
        .collect();
    for want in jump_rules(conf, family, &comment, &chain) {
        let k = key(&split_words(&want)).expect("our jumps name protocol and ports");
        match jumps.iter().position(|j| *j == k) {
            Some(i) => {
                jumps.swap_remove(i);
            }
            None => {
                return Err(format!(
                    "no jump from {TOP_DNAT} to {chain} for {} ports {}",
                    k.0, k.1
                ))
            }
        }
    }
    if !jumps.is_empty() {
        return Err(format!(
            "{TOP_DNAT} has jumps to {chain} its mappings do not explain"
        ));
    }
    Ok(())
}

// ----- running the tools ----------------------------------------------------------------------

fn tools(family: Family) -> (&'static str, &'static str) {
    if family.v6 {
        ("ip6tables-save", "ip6tables-restore")
    } else {
        ("iptables-save", "iptables-restore")
    }
}

fn save(runner: &Runner, family: Family) -> Result<String, FirewallError> {
    runner.run(tools(family).0, &["-t", "nat"], b"")
}

fn restore(runner: &Runner, family: Family, script: &str) -> Result<(), FirewallError> {
    runner
        .run(tools(family).1, &["-w", "--noflush"], script.as_bytes())
        .map(drop)
}

/// Saves, builds a batch from what is there, restores; a restore that fails is tried again
/// from a fresh save (another process may have changed the table in between).
fn save_and_restore(
    runner: &Runner,
    family: Family,
    build: impl Fn(&Saved<'_>) -> Option<String>,
) -> Result<(), FirewallError> {
    let mut tries = 1;
    loop {
        let text = save(runner, family)?;
        let Some(script) = build(&Saved::parse(&text)) else {
            return Ok(());
        };
        match restore(runner, family, &script) {
            Err(FirewallError::Tool { .. }) if tries < ATTEMPTS => tries += 1,
            other => return other,
        }
    }
}

pub(crate) fn ids(args: &CmdArgs) -> AttachmentIds<'_> {
    AttachmentIds {
        network: &args.conf.name,
        container_id: &args.container_id,
        ifname: &args.ifname,
    }
}

/// ADD with the iptables backend: one save and one restore per family with an address and
/// mappings.
pub fn add(conf: &PortmapConf, args: &CmdArgs, addrs: &Addresses) -> Result<(), Error> {
    let runner = Runner::new();
    let tag = ids(args);
    for (family, net) in addrs.nets() {
        if of_family(conf, family).is_empty() {
            continue;
        }
        save_and_restore(&runner, family, |saved| {
            Some(add_script(conf, family, net, &tag, saved))
        })
        .with_context(|| format!("portmap: setting up {} port mappings", family.name()))?;
    }
    Ok(())
}

/// CHECK with the iptables backend.
pub fn check(conf: &PortmapConf, args: &CmdArgs, addrs: &Addresses) -> Result<(), Error> {
    let runner = Runner::new();
    let tag = ids(args);
    for (family, net) in addrs.nets() {
        if of_family(conf, family).is_empty() {
            continue;
        }
        let text = save(&runner, family).context("portmap: reading the iptables rules")?;
        check_saved(conf, family, net, &tag, &Saved::parse(&text))
            .map_err(|e| internal(format!("portmap: {} iptables: {e}", family.name())))?;
    }
    Ok(())
}

/// Whether iptables rules of portmap may exist in `family` here: the `nat` table of
/// iptables-nft (nf_tables family ip/ip6) has `CNI-HOSTPORT-DNAT` or the old `CNI-SN-`
/// chain, or a legacy (x_tables) `nat` table is loaded, whose rules only `iptables-save`
/// can list. When nf_tables cannot be asked, yes.
fn layout_possible(family: Family, tag: &AttachmentIds<'_>) -> bool {
    let nfproto = if family.v6 {
        nfnl::FAMILY_IPV6
    } else {
        nfnl::FAMILY_IPV4
    };
    let old = chain_name("SN-", tag.network, tag.container_id);
    let in_nf_tables = [TOP_DNAT, old.as_str()]
        .iter()
        .any(|c| nfnl::chain_exists(nfproto, "nat", c).unwrap_or(true));
    let names = if family.v6 {
        "/proc/net/ip6_tables_names"
    } else {
        "/proc/net/ip_tables_names"
    };
    let legacy = std::fs::read_to_string(names).is_ok_and(|t| t.lines().any(|l| l == "nat"));
    in_nf_tables || legacy
}

/// DEL of the attachment's iptables layout, in each family where it may exist (nothing is
/// started where it cannot); upstream's rules of the container go too.
pub fn del(args: &CmdArgs) -> Result<(), Error> {
    let runner = Runner::new();
    let tag = ids(args);
    for family in [super::nftables::V4, super::nftables::V6] {
        if !layout_possible(family, &tag) || !crate::firewall::iptables_available() {
            continue;
        }
        save_and_restore(&runner, family, |saved| del_script(&tag, saved))
            .with_context(|| format!("portmap: removing {} iptables rules", family.name()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::portmap::nftables::{V4, V6};

    fn conf(extra: &str, maps: &str) -> PortmapConf {
        PortmapConf::parse(
            format!(
                r#"{{"cniVersion":"1.0.0","name":"pmnet","type":"portmap"{extra},"runtimeConfig":{{"portMappings":{maps}}}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    const TAG: AttachmentIds<'static> = AttachmentIds {
        network: "pmnet",
        container_id: "c1",
        ifname: "eth0",
    };

    #[test]
    fn names_as_upstream() {
        // utils.MustFormatChainNameWithPrefix("test", "1234", "DN-")
        let c = chain_name("DN-", "test", "1234");
        assert_eq!(c.len(), 28);
        assert!(c.starts_with("CNI-DN-"));
        assert_eq!(&c[7..], &sha512::hex_prefix(b"test1234", 21));
        assert_eq!(
            comment("pm\"net", "c1", "eth0"),
            r#"dnat name: "pm\"net" id: "c1" if: "eth0""#
        );
        let long = comment("n", &"x".repeat(300), "eth0");
        assert_eq!(long.len(), 255);
        assert!(long.ends_with("..."));
        assert_eq!(restore_arg("a b\"c"), r#""a b\"c""#);
        assert_eq!(restore_arg("-s"), "-s");
    }

    #[test]
    fn rules_as_iptables_save_prints_them() {
        let c = conf(
            "",
            r#"[{"hostPort":8080,"containerPort":80},
                {"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"10.78.0.1"},
                {"hostPort":9,"containerPort":9,"protocol":"sctp","hostIP":"::"}]"#,
        );
        let net: IpNet = "10.77.0.2/24".parse().unwrap();
        let x = chain_name("DN-", "pmnet", "c1");
        let cm = comment("pmnet", "c1", "eth0");
        let q = restore_arg(&cm);
        assert_eq!(
            chain_rules(&c, V4, net, &cm, &x),
            [
                format!("-A {x} -s 10.77.0.0/24 -p tcp -m tcp --dport 8080 -m comment --comment {q} -j CNI-HOSTPORT-SETMARK"),
                format!("-A {x} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -m comment --comment {q} -j CNI-HOSTPORT-SETMARK"),
                format!("-A {x} -p tcp -m tcp --dport 8080 -m comment --comment {q} -j DNAT --to-destination 10.77.0.2:80"),
                format!("-A {x} -s 10.77.0.0/24 -d 10.78.0.1/32 -p udp -m udp --dport 53 -m comment --comment {q} -j CNI-HOSTPORT-SETMARK"),
                format!("-A {x} -s 127.0.0.1/32 -d 10.78.0.1/32 -p udp -m udp --dport 53 -m comment --comment {q} -j CNI-HOSTPORT-SETMARK"),
                format!("-A {x} -d 10.78.0.1/32 -p udp -m udp --dport 53 -m comment --comment {q} -j DNAT --to-destination 10.77.0.2:53"),
            ]
        );
        assert_eq!(
            jump_rules(&c, V4, &cm, &x),
            [
                format!("-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment {q} -m multiport --dports 8080 -j {x}"),
                format!("-A CNI-HOSTPORT-DNAT -p udp -m comment --comment {q} -m multiport --dports 53 -j {x}"),
            ]
        );
        let v6: IpNet = "fd00:77::2/64".parse().unwrap();
        let r6 = chain_rules(&c, V6, v6, &cm, &x);
        assert_eq!(r6.len(), 4, "no localhost rule: {r6:#?}");
        assert!(r6[3].ends_with("-j DNAT --to-destination [fd00:77::2]:9"));
        let all = conf(
            r#","masqAll":true,"markMasqBit":0"#,
            r#"[{"hostPort":1,"containerPort":2}]"#,
        );
        let r = chain_rules(&all, V4, net, &cm, &x);
        assert_eq!(r.len(), 2);
        assert!(r[0].starts_with(&format!("-A {x} -p tcp")), "{r:?}");
        assert_eq!(mark(&all), "0x1/0x1");
        let ext = conf(
            r#","externalSetMarkChain":"KUBE-MARK-MASQ","conditionsV4":["-s","10.0.0.0/8"]"#,
            r#"[{"hostPort":1,"containerPort":2}]"#,
        );
        assert!(chain_rules(&ext, V4, net, &cm, &x)[0].ends_with("-j KUBE-MARK-MASQ"));
        assert!(
            jump_rules(&ext, V4, &cm, &x)[0].ends_with(&format!("--dports 1 -s 10.0.0.0/8 -j {x}"))
        );
        let many: Vec<String> = (1..=20)
            .map(|p| format!(r#"{{"hostPort":{p},"containerPort":1}}"#))
            .collect();
        let many = conf("", &format!("[{}]", many.join(",")));
        let j = jump_rules(&many, V4, &cm, &x);
        assert_eq!(j.len(), 2);
        assert!(j[1].contains("--dports 16,17,18,19,20 "));
    }

    /// A saved table after ADD of eth0 and eth1 of c1 (ours), with upstream's rules of
    /// container c2 beside them.
    fn saved_after_adds() -> String {
        let c = conf("", r#"[{"hostPort":8080,"containerPort":80}]"#);
        let x = chain_name("DN-", "pmnet", "c1");
        let y = chain_name("DN-", "pmnet", "c2");
        let mut lines = vec![
            "*nat".to_string(),
            ":PREROUTING ACCEPT [0:0]".into(),
            ":OUTPUT ACCEPT [0:0]".into(),
            ":POSTROUTING ACCEPT [0:0]".into(),
            format!(":{x} - [0:0]"),
            format!(":{y} - [0:0]"),
            ":CNI-HOSTPORT-DNAT - [0:0]".into(),
            ":CNI-HOSTPORT-MASQ - [0:0]".into(),
            ":CNI-HOSTPORT-SETMARK - [0:0]".into(),
            "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT".into(),
            "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT".into(),
            "-A POSTROUTING -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ".into(),
            "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE".into(),
            "-A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x2000/0x2000".into(),
        ];
        for (ifname, addr) in [("eth0", "10.77.0.2/24"), ("eth1", "10.77.0.3/24")] {
            let cm = comment("pmnet", "c1", ifname);
            lines.extend(jump_rules(&c, V4, &cm, &x));
            lines.extend(chain_rules(&c, V4, addr.parse().unwrap(), &cm, &x));
        }
        lines.push(format!("-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment \"dnat name: \\\"pmnet\\\" id: \\\"c2\\\"\" -m multiport --dports 9090 -j {y}"));
        lines.push(format!(
            "-A {y} -p tcp -m tcp --dport 9090 -j DNAT --to-destination 10.77.0.9:90"
        ));
        lines.push("COMMIT".into());
        lines.join("\n") + "\n"
    }

    #[test]
    fn add_creates_only_what_is_missing_and_replaces_its_own_rules() {
        let c = conf("", r#"[{"hostPort":8080,"containerPort":80}]"#);
        let net: IpNet = "10.77.0.2/24".parse().unwrap();
        let empty = Saved::parse("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n");
        let first = add_script(&c, V4, net, &TAG, &empty);
        let x = chain_name("DN-", "pmnet", "c1");
        for want in [
            "-N CNI-HOSTPORT-DNAT",
            "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
            "-N CNI-HOSTPORT-SETMARK",
            "-I POSTROUTING 1 -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ",
            &format!("-N {x}"),
        ] {
            assert!(first.contains(want), "{want}\n{first}");
        }
        assert!(!first.contains("-D "));
        let text = saved_after_adds();
        let saved = Saved::parse(&text);
        let again = add_script(&c, V4, net, &TAG, &saved);
        assert!(!again.contains("-N "), "{again}");
        assert_eq!(again.matches("-D ").count(), 4, "{again}");
        assert!(!again.contains("10.77.0.3"), "eth1's rules stay: {again}");
        assert_eq!(check_saved(&c, V4, net, &TAG, &saved), Ok(()));
        let eth1 = AttachmentIds {
            ifname: "eth1",
            ..TAG
        };
        assert_eq!(
            check_saved(&c, V4, "10.77.0.3/24".parse().unwrap(), &eth1, &saved),
            Ok(())
        );
        let other = conf("", r#"[{"hostPort":8081,"containerPort":80}]"#);
        assert!(check_saved(&other, V4, net, &TAG, &saved).is_err());
        assert!(check_saved(&c, V4, net, &TAG, &empty).is_err());
    }

    #[test]
    fn del_takes_its_interface_then_the_chain() {
        let text = saved_after_adds();
        let saved = Saved::parse(&text);
        let x = chain_name("DN-", "pmnet", "c1");
        let script = del_script(&TAG, &saved).unwrap();
        assert_eq!(script.matches("-D ").count(), 4, "{script}");
        assert!(
            !script.contains("10.77.0.3") && !script.contains("-X "),
            "{script}"
        );
        // After eth1's DEL too, the chain goes.
        let rest: String = text
            .lines()
            .filter(|l| !(l.contains("\\\"eth0\\\"")))
            .map(|l| format!("{l}\n"))
            .collect();
        let eth1 = AttachmentIds {
            ifname: "eth1",
            ..TAG
        };
        let script = del_script(&eth1, &Saved::parse(&rest)).unwrap();
        assert!(script.contains(&format!("-X {x}")), "{script}");
        assert!(!script.contains("c2"));
        // Upstream's rules of c2, by any interface name, under another network name.
        let up = AttachmentIds {
            network: "renamed",
            container_id: "c2",
            ifname: "eth0",
        };
        let script = del_script(&up, &saved).unwrap();
        let y = chain_name("DN-", "pmnet", "c2");
        assert_eq!(script.matches("-D ").count(), 2, "{script}");
        assert!(script.contains(&format!("-X {y}")), "{script}");
        let none = AttachmentIds {
            container_id: "c9",
            ..TAG
        };
        assert_eq!(del_script(&none, &saved), None);
    }

    #[test]
    fn saved_lines_split_like_a_shell() {
        assert_eq!(
            split_words(r#"-A X -m comment --comment "a \"b\" c\\" -j Y"#),
            [
                "-A",
                "X",
                "-m",
                "comment",
                "--comment",
                "a \"b\" c\\",
                "-j",
                "Y"
            ]
        );
    }
}
