//! portmap's nftables backend: the layout of upstream v1.9's, written and read over netlink
//! ([`crate::netlink::nfnetlink`]), one nf_tables transaction per ADD, DEL or GC, no
//! process started.
//!
//! Per family, table `ip cni_hostport` / `ip6 cni_hostport` (comment "CNI portmap plugin"):
//!
//! ```text
//! chain hostports          { [conditions] tcp dport 8080 dnat to 10.88.0.5:80   comment "<tag>" }
//! chain hostip_hostports   { [conditions] ip daddr 192.0.2.1 tcp dport 8080 dnat to ...     }
//! chain hostports_all      { jump hostip_hostports; jump hostports }
//! chain prerouting         { type nat hook prerouting priority dstnat; fib daddr type local jump hostports_all }
//! chain output             { type nat hook output priority -100;       fib daddr type local jump hostports_all }
//! chain masquerading       { type nat hook postrouting priority srcnat;
//!                            ip saddr C/P ip daddr C masquerade; ip saddr 127.0.0.1 ip daddr C masquerade }
//! ```
//!
//! The entry rules only match packets to the node's own addresses (`fib daddr type local`:
//! upstream up to 1.8 DNATed traffic passing through the node to any address on a mapped
//! port, CVE-2025-67499). The shared chains (the *skeleton*) are written when missing or not
//! exactly as above, in the same transaction as the attachment's rules; they are never
//! removed. Where this differs from upstream v1.9, on purpose:
//!
//! - rules for one host address go to `hostip_hostports`, which is looked at first, so a
//!   mapping of one address wins over a mapping of every address whatever the order of the
//!   ADDs (upstream puts both in `hostports`, first come first served);
//! - the conditions are matched by the attachment's own DNAT rules, not by the shared jump
//!   that the last ADD of any network rewrites for all;
//! - with `snat`, mapped connections from the container's whole subnet are masqueraded
//!   (`ip saddr C/P ip daddr C`), as upstream's iptables layout does, not hairpin alone
//!   (`ip saddr C`): a neighbour on the same bridge reaching the mapping through a node
//!   address would otherwise be answered straight over the bridge and fail (UPSTREAM-29);
//! - `masqAll` masquerades the connections DNATed to the container
//!   (`ip daddr C ct status dnat masquerade`): upstream v1.9 ignores it in this backend;
//! - every rule of an attachment carries its [`Tag`] (network, container ID and interface
//!   name) as comment, instead of the bare container ID, so two interfaces of one container
//!   keep separate mappings; DEL finds them by container ID and interface alone, so a network
//!   renamed since ADD leaves nothing behind, and removes upstream's rules of the container
//!   (comment = container ID) too;
//! - the skeleton is only rewritten when it differs: the common ADD adds rules and deletes
//!   nothing, which spares it nf_tables' grace period.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use crate::netlink::nfnetlink::{self as nfnl, BaseChain, Change, Expr, Op, Verdict};

use super::config::{AddrField, Conditions, IfDir, Match, PortMapping, PortmapConf};

/// The table of each family.
pub const TABLE: &str = "cni_hostport";
const TABLE_COMMENT: &str = "CNI portmap plugin";
/// Rules for every address of the node.
pub const HOSTPORTS: &str = "hostports";
/// Rules for one address of the node (looked at first).
pub const HOSTIP_HOSTPORTS: &str = "hostip_hostports";
const HOSTPORTS_ALL: &str = "hostports_all";
const PREROUTING: &str = "prerouting";
const OUTPUT: &str = "output";
/// Masquerade for hairpin and localhost connections.
pub const MASQUERADING: &str = "masquerading";
/// The chains that hold attachments' rules.
const RULE_CHAINS: [&str; 3] = [HOSTPORTS, HOSTIP_HOSTPORTS, MASQUERADING];
/// Attempts at a transaction built from a dump that a concurrent change made stale.
const ATTEMPTS: usize = 3;
/// How a tag comment starts.
const TAG_PREFIX: &str = "cnirs-portmap ";
/// Hex digits of each hash in a tag.
const HASH_LEN: usize = 16;

/// One address family's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub v6: bool,
}

pub const V4: Family = Family { v6: false };
pub const V6: Family = Family { v6: true };

impl Family {
    fn nfproto(self) -> u8 {
        if self.v6 {
            nfnl::FAMILY_IPV6
        } else {
            nfnl::FAMILY_IPV4
        }
    }

    /// `ip` or `ip6`.
    pub fn name(self) -> &'static str {
        if self.v6 {
            "ip6"
        } else {
            "ip"
        }
    }

    /// Offset of the source (destination: + length) address in the network header.
    fn saddr_offset(self) -> u32 {
        if self.v6 {
            8
        } else {
            12
        }
    }

    fn addr_len(self) -> u32 {
        if self.v6 {
            16
        } else {
            4
        }
    }
}

/// An attachment's identity in its rules' comments: a hash of the network name and one of
/// `ifname:containerID`, then the names for people, cut at nft's 128 bytes:
/// `cnirs-portmap <16 hex>-<16 hex> net: N, if: I, id: C`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
}

impl Tag {
    pub fn new(network: &str, container_id: &str, ifname: &str) -> Tag {
        Tag {
            network: network.to_string(),
            container_id: container_id.to_string(),
            ifname: ifname.to_string(),
        }
    }

    fn network_hash(&self) -> String {
        network_hash(&self.network)
    }

    /// The hash that names the attachment whatever its network.
    fn attachment_hash(&self) -> String {
        attachment_hash(&self.container_id, &self.ifname)
    }

    /// The comment of the attachment's rules.
    pub fn comment(&self) -> String {
        let plain = |s: &str| s.replace(|c: char| c == '"' || c.is_control(), "");
        let mut comment = format!(
            "{TAG_PREFIX}{}-{} net: {}, if: {}, id: {}",
            self.network_hash(),
            self.attachment_hash(),
            plain(&self.network),
            plain(&self.ifname),
            plain(&self.container_id)
        );
        if comment.len() > nfnl::COMMENT_MAX {
            let mut end = nfnl::COMMENT_MAX;
            while !comment.is_char_boundary(end) {
                end -= 1;
            }
            comment.truncate(end);
        }
        comment
    }
}

/// What a change of `family`'s table writes ([`crate::plan`]): with `skeleton`, the table's
/// chains (ADD creates them when missing); the rule chains, with rules commented `comment`.
pub fn plan_touches(plan: &mut crate::plan::Plan, family: Family, comment: &str, skeleton: bool) {
    let mut nft = |chain: &str, comment: Option<String>| {
        plan.push(crate::plan::Touch::Nft {
            family: family.name(),
            table: TABLE.to_string(),
            chain: chain.to_string(),
            comment,
        })
    };
    if skeleton {
        for chain in [HOSTPORTS_ALL, PREROUTING, OUTPUT] {
            nft(chain, None);
        }
    }
    for chain in RULE_CHAINS {
        nft(chain, Some(comment.to_string()));
    }
}

/// How the comments of every rule of `network` start (GC removes such rules).
pub fn network_comment_prefix(network: &str) -> String {
    format!("{TAG_PREFIX}{}", network_hash(network))
}

fn network_hash(network: &str) -> String {
    crate::firewall::sha512::hex_prefix(network.as_bytes(), HASH_LEN)
}

fn attachment_hash(container_id: &str, ifname: &str) -> String {
    crate::firewall::sha512::hex_prefix(format!("{ifname}:{container_id}").as_bytes(), HASH_LEN)
}

/// The (network hash, attachment hash) of a tag comment.
fn parse_tag(comment: &str) -> Option<(&str, &str)> {
    let rest = comment.strip_prefix(TAG_PREFIX)?;
    let net = rest.get(..HASH_LEN)?;
    let att = rest.get(HASH_LEN + 1..2 * HASH_LEN + 1)?;
    (rest.as_bytes().get(HASH_LEN) == Some(&b'-')).then_some((net, att))
}

/// Whether a rule belongs to the attachment `tag` names: its tag (whatever the network), or
/// upstream's comment, the bare container ID.
fn is_attachments(comment: Option<&str>, tag: &Tag) -> bool {
    let Some(comment) = comment else {
        return false;
    };
    match parse_tag(comment) {
        Some((_, att)) => att == tag.attachment_hash(),
        None => comment == tag.container_id,
    }
}

// ----- expressions --------------------------------------------------------------------

fn cmp(eq: bool, data: Vec<u8>) -> Expr {
    Expr::Cmp {
        op: if eq { nfnl::CMP_EQ } else { nfnl::CMP_NEQ },
        data,
    }
}

fn octets(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// `ip saddr|daddr [!=] NET`, as nft encodes it in an `ip`/`ip6` table: a whole address
/// or a byte-aligned prefix loads just its bytes, another prefix loads the address and masks
/// it.
fn addr_match(family: Family, field: AddrField, eq: bool, net: ipnet::IpNet) -> Vec<Expr> {
    let offset = match field {
        AddrField::Saddr => family.saddr_offset(),
        AddrField::Daddr => family.saddr_offset() + family.addr_len(),
    };
    let full = family.addr_len();
    let bits = u32::from(net.prefix_len());
    let network = octets(net.network());
    if bits % 8 == 0 {
        let len = bits / 8;
        vec![
            Expr::Payload {
                base: nfnl::PAYLOAD_NETWORK_HEADER,
                offset,
                len,
            },
            cmp(eq, network[..len as usize].to_vec()),
        ]
    } else {
        let mask: Vec<u8> = (0..full)
            .map(|i| {
                let left = bits.saturating_sub(i * 8).min(8);
                (0xffu16 << (8 - left)) as u8
            })
            .collect();
        vec![
            Expr::Payload {
                base: nfnl::PAYLOAD_NETWORK_HEADER,
                offset,
                len: full,
            },
            Expr::Bitwise {
                mask,
                xor: vec![0; full as usize],
            },
            cmp(eq, network),
        ]
    }
}

/// One condition's expressions.
fn match_exprs(family: Family, m: &Match) -> Vec<Expr> {
    match m {
        Match::Addr { field, eq, net } => addr_match(family, *field, *eq, *net),
        Match::Ifname { dir, eq, name } => {
            let key = match dir {
                IfDir::In => nfnl::META_IIFNAME,
                IfDir::Out => nfnl::META_OIFNAME,
            };
            let mut data = name.as_bytes().to_vec();
            data.resize(16, 0);
            vec![Expr::Meta { key }, cmp(*eq, data)]
        }
        Match::Mark { eq, value } => vec![
            Expr::Meta {
                key: nfnl::META_MARK,
            },
            cmp(*eq, value.to_ne_bytes().to_vec()),
        ],
    }
}

/// `fib daddr type local jump hostports_all`.
fn local_jump() -> Vec<Expr> {
    vec![
        Expr::Fib {
            result: nfnl::FIB_RESULT_ADDRTYPE,
            flags: nfnl::FIB_F_DADDR,
        },
        cmp(true, nfnl::RTN_LOCAL.to_ne_bytes().to_vec()),
        Expr::Verdict(Verdict::Jump(HOSTPORTS_ALL.to_string())),
    ]
}

fn jump(chain: &str) -> Vec<Expr> {
    vec![Expr::Verdict(Verdict::Jump(chain.to_string()))]
}

/// `<conditions> [ip daddr H] <proto> dport P dnat to C:CP`, and its chain.
fn dnat_rule(
    family: Family,
    conditions: &[Match],
    m: &PortMapping,
    container: IpAddr,
) -> (&'static str, Vec<Expr>) {
    let mut exprs: Vec<Expr> = conditions
        .iter()
        .flat_map(|c| match_exprs(family, c))
        .collect();
    let chain = match m.host_ip.addr() {
        Some(host) => {
            let full = ipnet::IpNet::from(host);
            exprs.extend(addr_match(family, AddrField::Daddr, true, full));
            HOSTIP_HOSTPORTS
        }
        None => HOSTPORTS,
    };
    exprs.extend([
        Expr::Meta {
            key: nfnl::META_L4PROTO,
        },
        cmp(true, vec![m.protocol.number()]),
        Expr::Payload {
            base: nfnl::PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
        },
        cmp(true, m.host_port.to_be_bytes().to_vec()),
        Expr::Immediate {
            reg: nfnl::NFT_REG_1,
            data: octets(container),
        },
        Expr::Immediate {
            reg: nfnl::NFT_REG_2,
            data: m.container_port.to_be_bytes().to_vec(),
        },
        Expr::Nat {
            kind: nfnl::NAT_DNAT,
            family: u32::from(family.nfproto()),
            addr_reg: Some(nfnl::NFT_REG_1),
            proto_reg: Some(nfnl::NFT_REG_2),
            flags: nfnl::NAT_RANGE_PROTO_SPECIFIED,
        },
    ]);
    (chain, exprs)
}

/// `ip saddr S ip daddr C masquerade` (S an address or a subnet).
fn masq_from(family: Family, source: ipnet::IpNet, container: IpAddr) -> Vec<Expr> {
    let mut exprs = addr_match(family, AddrField::Saddr, true, source);
    exprs.extend(addr_match(family, AddrField::Daddr, true, container.into()));
    exprs.push(Expr::Masq);
    exprs
}

/// `ip daddr C ct status dnat masquerade`.
fn masq_dnatted(family: Family, container: IpAddr) -> Vec<Expr> {
    let mut exprs = addr_match(family, AddrField::Daddr, true, container.into());
    exprs.extend([
        Expr::Ct {
            key: nfnl::CT_STATUS,
        },
        Expr::Bitwise {
            mask: nfnl::IPS_DST_NAT.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        cmp(false, vec![0; 4]),
        Expr::Masq,
    ]);
    exprs
}

/// The rules (chain, expressions) of one attachment in `family`'s table, for the container's
/// address with its prefix `net`: a DNAT rule per mapping of the family, and with `snat` the
/// masquerade rules (none when no mapping is of the family). The masquerade covers mapped
/// connections from the container's whole subnet, as upstream's iptables layout does, not only
/// hairpin: a neighbour on the same bridge reaching a mapped port through a node address
/// needs its source rewritten, or the container answers it straight over the bridge (when
/// bridged packets skip netfilter) and the connection fails.
pub fn attachment_rules(
    conf: &PortmapConf,
    family: Family,
    net: ipnet::IpNet,
) -> Vec<(&'static str, Vec<Expr>)> {
    let container = net.addr();
    let conditions: &[Match] = match conf.conditions(family.v6) {
        Conditions::Nftables(m) => m,
        _ => &[],
    };
    let mut rules: Vec<(&'static str, Vec<Expr>)> = conf
        .mappings
        .iter()
        .filter(|m| m.host_ip.covers(family.v6))
        .map(|m| dnat_rule(family, conditions, m, container))
        .collect();
    if conf.snat && !rules.is_empty() {
        if conf.masq_all {
            rules.push((MASQUERADING, masq_dnatted(family, container)));
        } else {
            rules.push((MASQUERADING, masq_from(family, net.trunc(), container)));
            if !family.v6 {
                let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
                rules.push((MASQUERADING, masq_from(family, localhost.into(), container)));
            }
        }
    }
    rules
}

// ----- the skeleton ---------------------------------------------------------------------

/// The shared chains: name and, for base chains, type, hook and priority.
fn skeleton_chains() -> [(&'static str, Option<BaseChain>); 6] {
    [
        (HOSTPORTS, None),
        (HOSTIP_HOSTPORTS, None),
        (HOSTPORTS_ALL, None),
        (
            PREROUTING,
            Some(BaseChain::nat(nfnl::HOOK_PREROUTING, nfnl::PRIORITY_DSTNAT)),
        ),
        (
            OUTPUT,
            Some(BaseChain::nat(nfnl::HOOK_OUTPUT, nfnl::PRIORITY_DSTNAT)),
        ),
        (
            MASQUERADING,
            Some(BaseChain::nat(
                nfnl::HOOK_POSTROUTING,
                nfnl::PRIORITY_SRCNAT,
            )),
        ),
    ]
}

/// The rules of the shared chains, in order: (chain, expressions).
fn skeleton_rules() -> [(&'static str, Vec<Expr>); 4] {
    [
        (HOSTPORTS_ALL, jump(HOSTIP_HOSTPORTS)),
        (HOSTPORTS_ALL, jump(HOSTPORTS)),
        (PREROUTING, local_jump()),
        (OUTPUT, local_jump()),
    ]
}

/// Whether the table's chains and the rules of its shared chains are exactly the skeleton
/// (comments aside: upstream writes none).
fn skeleton_current(chains: &[nfnl::Chain], rules: &[nfnl::Rule]) -> bool {
    let chains_ok = skeleton_chains().iter().all(|(name, base)| {
        chains
            .iter()
            .any(|c| c.name == *name && c.base == *base && c.policy.unwrap_or(1) == 1)
    });
    let shared = [HOSTPORTS_ALL, PREROUTING, OUTPUT];
    let have: Vec<(&str, &[Expr])> = rules
        .iter()
        .filter(|r| shared.contains(&r.chain.as_str()))
        .map(|r| (r.chain.as_str(), &r.exprs[..]))
        .collect();
    let want = skeleton_rules();
    let want: Vec<(&str, &[Expr])> = want.iter().map(|(c, e)| (*c, &e[..])).collect();
    // The kernel lists rules chain by chain; compare per chain, in order.
    let per_chain = |list: &[(&str, &[Expr])], chain: &str| -> Vec<Vec<Expr>> {
        list.iter()
            .filter(|(c, _)| *c == chain)
            .map(|(_, e)| e.to_vec())
            .collect()
    };
    chains_ok
        && shared
            .iter()
            .all(|chain| per_chain(&have, chain) == per_chain(&want, chain))
}

/// The operations that write the skeleton of `family`'s table: table and chains added (no
/// change where they exist), the shared chains flushed and given their rules.
fn skeleton_ops(family: Family) -> Vec<Op<'static>> {
    let op = |change| Op {
        family: family.nfproto(),
        table: TABLE,
        change,
    };
    let mut ops = vec![op(Change::AddTable {
        comment: TABLE_COMMENT,
    })];
    for (chain, base) in skeleton_chains() {
        ops.push(op(Change::AddChain { chain, base }));
    }
    for chain in [HOSTPORTS_ALL, PREROUTING, OUTPUT] {
        ops.push(op(Change::FlushChain { chain }));
    }
    for (chain, exprs) in skeleton_rules() {
        ops.push(op(Change::AddRule {
            chain,
            exprs,
            comment: "",
        }));
    }
    ops
}

// ----- plans ------------------------------------------------------------------------------

/// What the kernel holds in one family's table.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    pub chains: Vec<nfnl::Chain>,
    pub rules: Vec<nfnl::Rule>,
}

impl TableState {
    /// The table of `family` as it is now (empty when it does not exist).
    pub fn read(family: Family) -> io::Result<TableState> {
        Ok(TableState {
            chains: nfnl::chains(family.nfproto(), TABLE)?,
            rules: nfnl::table_rules(family.nfproto(), TABLE)?,
        })
    }

    /// The attachment's rules (see [`is_attachments`]).
    fn attachments(&self, tag: &Tag) -> Vec<&nfnl::Rule> {
        self.rules
            .iter()
            .filter(|r| {
                RULE_CHAINS.contains(&r.chain.as_str()) && is_attachments(r.comment.as_deref(), tag)
            })
            .collect()
    }
}

fn delete_op(family: Family, rule: &nfnl::Rule) -> Op<'_> {
    Op {
        family: family.nfproto(),
        table: TABLE,
        change: Change::DeleteRule {
            chain: &rule.chain,
            handle: rule.handle,
        },
    }
}

/// ADD's transaction for one family: the attachment's earlier rules deleted, the skeleton
/// written unless current, and `rules` added with `comment`.
pub fn add_ops<'a>(
    family: Family,
    state: &'a TableState,
    tag: &Tag,
    rules: &'a [(&'static str, Vec<Expr>)],
    comment: &'a str,
) -> Vec<Op<'a>> {
    let mut ops: Vec<Op<'a>> = state
        .attachments(tag)
        .into_iter()
        .map(|r| delete_op(family, r))
        .collect();
    if rules.is_empty() {
        return ops;
    }
    if !skeleton_current(&state.chains, &state.rules) {
        ops.extend(skeleton_ops(family));
    }
    for (chain, exprs) in rules {
        ops.push(Op {
            family: family.nfproto(),
            table: TABLE,
            change: Change::AddRule {
                chain,
                exprs: exprs.clone(),
                comment,
            },
        });
    }
    ops
}

/// DEL's transaction for one family: every rule of the attachment, found by container ID
/// and interface (whatever the network), and upstream's rules of the container.
pub fn del_ops<'a>(family: Family, state: &'a TableState, tag: &Tag) -> Vec<Op<'a>> {
    state
        .attachments(tag)
        .into_iter()
        .map(|r| delete_op(family, r))
        .collect()
}

/// GC's transaction for one family: the rules tagged with `network` whose attachment is not
/// one of `valid` (container ID, interface).
pub fn gc_ops<'a>(
    family: Family,
    state: &'a TableState,
    network: &str,
    valid: &[(&str, &str)],
) -> Vec<Op<'a>> {
    let net = network_hash(network);
    let keep: HashSet<String> = valid
        .iter()
        .map(|(id, ifname)| attachment_hash(id, ifname))
        .collect();
    state
        .rules
        .iter()
        .filter(|r| RULE_CHAINS.contains(&r.chain.as_str()))
        .filter(|r| {
            r.comment
                .as_deref()
                .and_then(parse_tag)
                .is_some_and(|(n, a)| n == net && !keep.contains(a))
        })
        .map(|r| delete_op(family, r))
        .collect()
}

/// CHECK for one family: the skeleton is in place and the attachment's rules are exactly
/// `want`, in any order. The error says what differs.
pub fn check_family(
    family: Family,
    state: &TableState,
    tag: &Tag,
    want: &[(&'static str, Vec<Expr>)],
) -> Result<(), String> {
    if want.is_empty() {
        return Ok(());
    }
    if !skeleton_current(&state.chains, &state.rules) {
        return Err(format!(
            "table {} {TABLE} is missing or its shared chains (prerouting, output, \
             hostports_all) are not as portmap writes them",
            family.name()
        ));
    }
    let mut have: Vec<(&str, &[Expr])> = state
        .attachments(tag)
        .into_iter()
        .map(|r| (r.chain.as_str(), &r.exprs[..]))
        .collect();
    for (chain, exprs) in want {
        match have.iter().position(|(c, e)| c == chain && e == exprs) {
            Some(i) => {
                have.swap_remove(i);
            }
            None => {
                return Err(format!(
                    "a rule of this attachment is missing or changed in chain {} {TABLE} {chain}",
                    family.name()
                ))
            }
        }
    }
    if let Some((chain, _)) = have.first() {
        return Err(format!(
            "chain {} {TABLE} {chain} has a rule of this attachment that its mappings do not \
             explain",
            family.name()
        ));
    }
    Ok(())
}

/// Runs `attempt` on the tables of `families` as they are now; an attempt whose
/// transaction failed because the dump went stale meanwhile (a rule or chain gone, a table
/// being changed) is made again from a fresh dump.
pub fn transact(
    families: &[Family],
    attempt: impl Fn(&[(Family, TableState)]) -> io::Result<()>,
) -> io::Result<()> {
    let mut tries = 1;
    loop {
        let states: Vec<(Family, TableState)> = families
            .iter()
            .map(|&f| TableState::read(f).map(|s| (f, s)))
            .collect::<io::Result<_>>()?;
        match attempt(&states) {
            Err(e)
                if tries < ATTEMPTS
                    && matches!(
                        e.raw_os_error(),
                        Some(
                            libc::ENOENT | libc::EEXIST | libc::EBUSY | libc::EAGAIN | libc::EINTR
                        )
                    ) => {}
            other => return other,
        }
        tries += 1;
    }
}

/// Commits `ops` as one transaction; nothing to do is no transaction.
pub fn commit(ops: &[Op<'_>]) -> io::Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    nfnl::commit_ops(ops).map(drop)
}

/// Whether nf_tables answers here.
pub fn available() -> bool {
    nfnl::probe().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::portmap::config::PortmapConf;

    fn conf(extra: &str) -> PortmapConf {
        PortmapConf::parse(
            format!(r#"{{"cniVersion":"1.0.0","name":"pm","type":"portmap"{extra}}}"#).as_bytes(),
        )
        .unwrap()
    }

    fn with_maps(extra: &str, maps: &str) -> PortmapConf {
        conf(&format!(
            r#"{extra},"runtimeConfig":{{"portMappings":{maps}}}"#
        ))
    }

    #[test]
    fn tags_name_the_attachment_and_survive_renames() {
        let t = Tag::new("net", "ctr", "eth0");
        let c = t.comment();
        assert!(c.starts_with(TAG_PREFIX), "{c}");
        assert!(c.ends_with(" net: net, if: eth0, id: ctr"), "{c}");
        assert!(is_attachments(Some(&c), &t));
        let renamed = Tag::new("other", "ctr", "eth0");
        assert!(
            is_attachments(Some(&c), &renamed),
            "found whatever the network"
        );
        assert!(!is_attachments(Some(&c), &Tag::new("net", "ctr", "eth1")));
        assert!(!is_attachments(Some(&c), &Tag::new("net", "ctr2", "eth0")));
        assert!(is_attachments(Some("ctr"), &t), "upstream's comment");
        assert!(!is_attachments(Some("ctr2"), &t));
        assert!(!is_attachments(None, &t));
        let long = Tag::new("n\"et", &"x".repeat(300), "eth0");
        let c = long.comment();
        assert_eq!(c.len(), nfnl::COMMENT_MAX);
        assert!(is_attachments(Some(&c), &long), "the hashes come first");
        assert!(c.contains("net: net,"));
    }

    #[test]
    fn rules_of_an_attachment() {
        let c = with_maps(
            "",
            r#"[{"hostPort":8080,"containerPort":80},
                {"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"192.0.2.1"},
                {"hostPort":9,"containerPort":9,"hostIP":"::"}]"#,
        );
        let v4: ipnet::IpNet = "10.88.0.5/16".parse().unwrap();
        let rules = attachment_rules(&c, V4, v4);
        let chains: Vec<&str> = rules.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            chains,
            [HOSTPORTS, HOSTIP_HOSTPORTS, MASQUERADING, MASQUERADING]
        );
        assert_eq!(rules[0].1.len(), 7);
        assert_eq!(rules[1].1.len(), 9, "with ip daddr");
        assert_eq!(
            rules[2].1[1],
            cmp(true, vec![10, 88]),
            "the container's subnet"
        );
        assert_eq!(rules[3].1[1], cmp(true, vec![127, 0, 0, 1]));
        let v6 = attachment_rules(&c, V6, "fd00::5/64".parse().unwrap());
        let chains: Vec<&str> = v6.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            chains,
            [HOSTPORTS, HOSTPORTS, MASQUERADING],
            "no localhost rule"
        );
        // snat off: DNAT only; masqAll: one masquerade rule per family.
        let off = with_maps(r#","snat":false"#, r#"[{"hostPort":1,"containerPort":2}]"#);
        assert_eq!(attachment_rules(&off, V4, v4).len(), 1);
        let all = with_maps(
            r#","masqAll":true"#,
            r#"[{"hostPort":1,"containerPort":2}]"#,
        );
        let rules = attachment_rules(&all, V4, v4);
        assert_eq!(rules.len(), 2);
        assert!(rules[1].1.contains(&Expr::Ct {
            key: nfnl::CT_STATUS
        }));
        // No mapping of the family: nothing at all.
        let only6 = with_maps("", r#"[{"hostPort":1,"containerPort":2,"hostIP":"::"}]"#);
        assert!(attachment_rules(&only6, V4, v4).is_empty());
    }

    #[test]
    fn conditions_come_first_in_each_dnat_rule() {
        let c = with_maps(
            r#","conditionsV4":["ip saddr 10.0.0.0/8 iifname eth0"]"#,
            r#"[{"hostPort":1,"containerPort":2}]"#,
        );
        let rules = attachment_rules(&c, V4, "10.88.0.5/16".parse().unwrap());
        assert_eq!(
            rules[0].1[..4],
            [
                Expr::Payload {
                    base: nfnl::PAYLOAD_NETWORK_HEADER,
                    offset: 12,
                    len: 1
                },
                cmp(true, vec![10]),
                Expr::Meta {
                    key: nfnl::META_IIFNAME
                },
                cmp(true, b"eth0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec()),
            ]
        );
        // IPv4 conditions stay out of the IPv6 table.
        let v6 = attachment_rules(&c, V6, "fd00::5/64".parse().unwrap());
        assert_eq!(
            v6[0].1[0],
            Expr::Meta {
                key: nfnl::META_L4PROTO
            }
        );
    }

    fn state_after(ops: &[Op<'_>], base: &TableState) -> TableState {
        // A model of the kernel good enough for the plans: chains added, flushes, rules
        // added (handles counted on) and deleted by handle.
        let mut s = base.clone();
        let mut next = s.rules.iter().map(|r| r.handle).max().unwrap_or(0) + 1;
        for op in ops {
            match &op.change {
                Change::AddTable { .. } => {}
                Change::AddChain { chain, base } => {
                    if !s.chains.iter().any(|c| c.name == *chain) {
                        s.chains.push(nfnl::Chain {
                            name: chain.to_string(),
                            base: base.clone(),
                            policy: base.as_ref().map(|_| 1),
                        });
                    }
                }
                Change::FlushChain { chain } => s.rules.retain(|r| r.chain != *chain),
                Change::DeleteRule { handle, .. } => s.rules.retain(|r| r.handle != *handle),
                Change::AddRule {
                    chain,
                    exprs,
                    comment,
                } => {
                    s.rules.push(nfnl::Rule {
                        chain: chain.to_string(),
                        handle: next,
                        comment: (!comment.is_empty()).then(|| comment.to_string()),
                        exprs: exprs.clone(),
                    });
                    next += 1;
                }
            }
        }
        s
    }

    #[test]
    fn add_then_check_then_del_then_gc() {
        let c = with_maps("", r#"[{"hostPort":8080,"containerPort":80}]"#);
        let addr: ipnet::IpNet = "10.88.0.5/16".parse().unwrap();
        let tag = Tag::new("pm", "ctr", "eth0");
        let comment = tag.comment();
        let rules = attachment_rules(&c, V4, addr);

        let empty = TableState::default();
        let first = add_ops(V4, &empty, &tag, &rules, &comment);
        assert!(matches!(first[0].change, Change::AddTable { .. }));
        let s1 = state_after(&first, &empty);
        assert!(skeleton_current(&s1.chains, &s1.rules));
        assert_eq!(check_family(V4, &s1, &tag, &rules), Ok(()));
        assert!(check_family(V4, &empty, &tag, &rules).is_err());

        // The second ADD of the same attachment replaces its rules; the skeleton stays.
        let again = add_ops(V4, &s1, &tag, &rules, &comment);
        assert!(again
            .iter()
            .all(|o| matches!(o.change, Change::AddRule { .. } | Change::DeleteRule { .. })));
        assert_eq!(
            again
                .iter()
                .filter(|o| matches!(o.change, Change::DeleteRule { .. }))
                .count(),
            3
        );
        let s2 = state_after(&again, &s1);
        assert_eq!(check_family(V4, &s2, &tag, &rules), Ok(()));

        // A second interface of the container and another container.
        let eth1 = Tag::new("pm", "ctr", "eth1");
        let other = Tag::new("pm", "ctr2", "eth0");
        let (c1, c2) = (eth1.comment(), other.comment());
        let mut s3 = state_after(&add_ops(V4, &s2, &eth1, &rules, &c1), &s2);
        s3 = state_after(&add_ops(V4, &s3, &other, &rules, &c2), &s3);
        assert_eq!(check_family(V4, &s3, &tag, &rules), Ok(()));

        // One rule missing, or one too many: CHECK fails.
        let mut broken = s3.clone();
        let h = broken.attachments(&tag)[0].handle;
        broken.rules.retain(|r| r.handle != h);
        assert!(check_family(V4, &broken, &tag, &rules)
            .unwrap_err()
            .contains("missing"));
        let fewer = with_maps(
            r#","snat":false"#,
            r#"[{"hostPort":8080,"containerPort":80}]"#,
        );
        let want = attachment_rules(&fewer, V4, addr);
        assert!(check_family(V4, &s3, &tag, &want)
            .unwrap_err()
            .contains("do not explain"));
        // A flushed prerouting: CHECK fails.
        let mut flushed = s3.clone();
        flushed.rules.retain(|r| r.chain != PREROUTING);
        assert!(check_family(V4, &flushed, &tag, &rules).is_err());

        // DEL of eth0 (even under another network name) leaves the others.
        let renamed = Tag::new("renamed", "ctr", "eth0");
        let s4 = state_after(&del_ops(V4, &s3, &renamed), &s3);
        assert_eq!(s4.attachments(&tag).len(), 0);
        assert_eq!(check_family(V4, &s4, &eth1, &rules), Ok(()));
        assert_eq!(check_family(V4, &s4, &other, &rules), Ok(()));
        assert!(del_ops(V4, &s4, &tag).is_empty());

        // GC keeps the valid attachments of its network only.
        let gc = gc_ops(V4, &s4, "pm", &[("ctr2", "eth0")]);
        let s5 = state_after(&gc, &s4);
        assert_eq!(s5.attachments(&eth1).len(), 0);
        assert_eq!(check_family(V4, &s5, &other, &rules), Ok(()));
        assert!(gc_ops(V4, &s5, "elsewhere", &[]).is_empty());
        // Only the skeleton is left once everything is gone.
        let s6 = state_after(&gc_ops(V4, &s5, "pm", &[]), &s5);
        assert_eq!(s6.rules.len(), skeleton_rules().len());
    }

    #[test]
    fn a_changed_skeleton_is_rewritten() {
        let empty = TableState::default();
        let s = state_after(&skeleton_ops(V4), &empty);
        assert!(skeleton_current(&s.chains, &s.rules));
        // Upstream's rules with conditions on the jump, or a chain at another priority.
        let mut conditioned = s.clone();
        for r in &mut conditioned.rules {
            if r.chain == PREROUTING {
                r.exprs.insert(
                    0,
                    Expr::Meta {
                        key: nfnl::META_MARK,
                    },
                );
            }
        }
        assert!(!skeleton_current(&conditioned.chains, &conditioned.rules));
        let rewritten = state_after(&skeleton_ops(V4), &conditioned);
        assert!(skeleton_current(&rewritten.chains, &rewritten.rules));
        let mut moved = s.clone();
        moved.chains[3].base = Some(BaseChain::nat(nfnl::HOOK_PREROUTING, 0));
        assert!(!skeleton_current(&moved.chains, &moved.rules));
        let mut doubled = s.clone();
        doubled.rules.push(doubled.rules[2].clone());
        assert!(!skeleton_current(&doubled.chains, &doubled.rules));
    }
}
