//! Masquerading (`ipMasq`) for a container's addresses, as the bridge and ptp plugins ask
//! for it: traffic from the container's address to anything outside its own subnet (and not
//! multicast) leaves the node with the node's address.
//!
//! What this module owns, and nothing more: the firewall rules of that masquerade, their
//! names, and the choice of the tool that writes them. Sysctls (`ip_forward`) and links are
//! the plugins' business.
//!
//! One trait, [`Masquerade`] (setup, teardown, check for one [`MasqSpec`]), and two
//! backends chosen at run time ([`select`]), in the way netavark puts its firewall drivers
//! behind one interface:
//!
//! - [`Nftables`] (the default): table `inet cni_plugins_masquerade`, a `postrouting` nat
//!   base chain that skips multicast destinations and jumps to `masq_checks`, and in
//!   `masq_checks` one rule per container address (`ip saddr A ip daddr != NET masquerade`)
//!   whose comment starts with a hash of (network, interface, container ID). Every change is
//!   one transaction. The rules to replace or remove are found first by a netlink dump;
//!   adding an attachment's rules (once the table and chains are in place) and removing them
//!   are one nf_tables batch over netlink, with the bytes `nft` would send; the table, chains
//!   and base chain are written by one `nft -j -f -` run when missing or not as expected, and
//!   CHECK reads the table with `nft -j list`.
//! - [`Iptables`] (the fallback when nftables does not work here): the `nat` table, a chain
//!   `CNI-<hash of network and container ID>` holding `-d NET -j ACCEPT` and
//!   `! -d MULTICAST -j MASQUERADE`, and `POSTROUTING -s A -j CNI-…` per address. Each change
//!   is one `iptables-save` and one `iptables-restore --noflush` batch per address family.
//!
//! Names, hashes and comments are the upstream plugins' own, so either implementation finds
//! and removes what the other made. Teardown needs no addresses (rules are found by comment
//! or chain name: DEL may come after the namespace is gone) and succeeds when there is
//! nothing left to remove. [`teardown_around`] undoes both layouts, for a DEL of an
//! attachment made by another version or configuration, and keeps the timing of its netlink
//! socket to itself.
//!
//! Everything happens in the network namespace of the calling thread: netlink sockets are
//! opened there, and child processes inherit it. A [`Runner`] starts those processes and can
//! carry a hook that sees every command before it is spawned.

mod iptables;
pub(crate) mod nftables;
pub(crate) mod sha512;

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;

use cni_netlink::nfnetlink as nfnl;
pub use ipnet::IpNet;
pub use iptables::Iptables;
pub use nftables::Nftables;

/// The variable that picks a backend (`nftables` or `iptables`) when the configuration
/// does not.
pub const BACKEND_ENV: &str = "CNI_RS_FIREWALL_BACKEND";
/// The upstream table for masquerade rules.
pub const NFT_TABLE: &str = "cni_plugins_masquerade";
/// The upstream chain holding one rule per container address.
pub const NFT_CHAIN: &str = "masq_checks";
/// The nat base chain of [`NFT_TABLE`] (hook postrouting, priority srcnat).
pub const NFT_BASE_CHAIN: &str = "postrouting";
/// nft refuses longer comments.
const NFT_COMMENT_MAX: usize = 128;
/// Length of the hex hashes in nftables comments.
const NFT_HASH_LEN: usize = 16;
/// iptables chain names are at most 28 characters; upstream's are `CNI-` and 24 hex digits.
const IPT_CHAIN_MAX: usize = 28;
const IPT_CHAIN_PREFIX: &str = "CNI-";

pub type Result<T, E = FirewallError> = std::result::Result<T, E>;

/// What a firewall operation failed with.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// Neither nftables nor iptables works in this namespace.
    #[error("no firewall backend works here: nft is missing or nf_tables does not answer, and iptables-restore/iptables-save are missing")]
    NoBackend,
    /// A backend name that is neither `nftables` nor `iptables`.
    #[error("unknown ipMasq backend {0:?} (expected \"nftables\" or \"iptables\")")]
    UnknownBackend(String),
    /// The spec cannot be written as rules (a name with control characters, say).
    #[error("invalid masquerade spec: {0}")]
    InvalidSpec(String),
    /// A tool could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: io::Error },
    /// A tool ran and failed.
    #[error("{program} failed ({status}): {stderr}")]
    Tool {
        program: String,
        status: String,
        stderr: String,
    },
    /// A tool's output could not be understood.
    #[error("unexpected output from {program}: {reason}")]
    Output { program: String, reason: String },
    /// Reading the nf_tables ruleset over netlink failed.
    #[error("reading nftables rules over netlink: {0}")]
    Netlink(io::Error),
    /// CHECK found rules missing or different.
    #[error("{backend} masquerade for {what} is missing: {detail}")]
    Missing {
        backend: BackendKind,
        what: String,
        detail: String,
    },
    /// Several backends failed ([`teardown_around`]).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<FirewallError>),
}

/// Which masquerade to set up, tear down or check: one attachment and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasqSpec {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    /// The container's addresses with their prefix (`10.1.2.3/24`): traffic from the
    /// address to outside the prefix is masqueraded. Teardown does not need them.
    pub ips: Vec<IpNet>,
    /// Table and chain names, the upstream ones by default.
    pub naming: Naming,
}

impl MasqSpec {
    pub fn new(
        network: impl Into<String>,
        container_id: impl Into<String>,
        ifname: impl Into<String>,
        ips: impl IntoIterator<Item = IpNet>,
    ) -> MasqSpec {
        MasqSpec {
            network: network.into(),
            container_id: container_id.into(),
            ifname: ifname.into(),
            ips: ips.into_iter().collect(),
            naming: Naming::default(),
        }
    }

    /// The same spec with other table or chain names.
    pub fn with_naming(mut self, naming: Naming) -> MasqSpec {
        self.naming = naming;
        self
    }

    /// The hash that starts the nftables comment of this attachment's rules: 16 hex digits
    /// of SHA-512(network), `-`, 16 hex digits of SHA-512(`ifname:containerID`).
    pub fn nft_comment_prefix(&self) -> String {
        format!(
            "{}-{}",
            sha512::hex_prefix(self.network.as_bytes(), NFT_HASH_LEN),
            sha512::hex_prefix(
                format!("{}:{}", self.ifname, self.container_id).as_bytes(),
                NFT_HASH_LEN
            )
        )
    }

    /// The full nftables comment: the hash, then the names for people (without `"`), cut at
    /// nft's 128-byte limit.
    pub fn nft_comment(&self) -> String {
        let plain = |s: &str| s.replace('"', "");
        let mut comment = format!(
            "{}, net: {}, if: {}, id: {}",
            self.nft_comment_prefix(),
            plain(&self.network),
            plain(&self.ifname),
            plain(&self.container_id)
        );
        if comment.len() > NFT_COMMENT_MAX {
            let mut end = NFT_COMMENT_MAX;
            while !comment.is_char_boundary(end) {
                end -= 1;
            }
            comment.truncate(end);
        }
        comment
    }

    /// The nftables table holding the rules.
    pub fn nft_table(&self) -> &str {
        self.naming.nft_table.as_deref().unwrap_or(NFT_TABLE)
    }

    /// The nftables chain holding one rule per address.
    pub fn nft_chain(&self) -> &str {
        self.naming.nft_chain.as_deref().unwrap_or(NFT_CHAIN)
    }

    /// The iptables chain of this (network, container): `CNI-` and 24 hex digits of
    /// SHA-512(network + containerID), unless named otherwise. The interface name plays no
    /// part, as upstream.
    pub fn iptables_chain(&self) -> String {
        match &self.naming.iptables_chain {
            Some(chain) => chain.clone(),
            None => format!(
                "{IPT_CHAIN_PREFIX}{}",
                sha512::hex_prefix(
                    format!("{}{}", self.network, self.container_id).as_bytes(),
                    IPT_CHAIN_MAX - IPT_CHAIN_PREFIX.len()
                )
            ),
        }
    }

    /// The iptables comment: `name: "<network>" id: "<containerID>"`, each quoted as Go's
    /// `%q` does for printable text.
    pub fn iptables_comment(&self) -> String {
        format!(
            "name: {} id: {}",
            quote(&self.network),
            quote(&self.container_id)
        )
    }

    /// Refuses names that cannot be written into rules.
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str, value: &str| {
            FirewallError::InvalidSpec(format!("{what} {value:?} contains control characters"))
        };
        for (what, value) in [
            ("network name", &self.network),
            ("container ID", &self.container_id),
            ("interface name", &self.ifname),
        ] {
            if value.chars().any(char::is_control) {
                return Err(invalid(what, value));
            }
        }
        for (what, value) in [
            ("nftables table", self.naming.nft_table.as_deref()),
            ("nftables chain", self.naming.nft_chain.as_deref()),
        ] {
            if let Some(value) = value {
                let ok = !value.is_empty()
                    && value.len() < 256
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                if !ok || value == NFT_BASE_CHAIN {
                    return Err(FirewallError::InvalidSpec(format!(
                        "{what} name {value:?} is not usable"
                    )));
                }
            }
        }
        if let Some(chain) = &self.naming.iptables_chain {
            let ok = !chain.is_empty()
                && chain.len() <= IPT_CHAIN_MAX
                && !chain.starts_with(['-', '!'])
                && chain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !ok {
                return Err(FirewallError::InvalidSpec(format!(
                    "iptables chain name {chain:?} is not usable"
                )));
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "network {:?}, container {:?}, interface {:?}",
            self.network, self.container_id, self.ifname
        )
    }
}

/// Table and chain names; `None` keeps the upstream name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    /// nftables table (family `inet`), default [`NFT_TABLE`].
    pub nft_table: Option<String>,
    /// nftables chain of per-address rules, default [`NFT_CHAIN`].
    pub nft_chain: Option<String>,
    /// iptables chain of this attachment, default `CNI-<hash>` (at most 28 characters).
    pub iptables_chain: Option<String>,
}

/// Masquerade for one attachment, on one backend.
pub trait Masquerade: Send + Sync {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Installs the rules for every address of `m`, replacing those an earlier setup of the
    /// same attachment left.
    fn setup(&self, m: &MasqSpec) -> Result<()>;
    /// Removes every rule of the attachment, whatever its addresses; nothing to remove is
    /// success. Rules of other attachments stay.
    fn teardown(&self, m: &MasqSpec) -> Result<()>;
    /// Fails with [`FirewallError::Missing`] unless the rules for every address of `m` are
    /// in place.
    fn check(&self, m: &MasqSpec) -> Result<()>;
}

/// The backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    Nftables,
    Iptables,
}

impl FromStr for BackendKind {
    type Err = FirewallError;
    fn from_str(s: &str) -> Result<BackendKind> {
        match s {
            "nftables" => Ok(BackendKind::Nftables),
            "iptables" => Ok(BackendKind::Iptables),
            other => Err(FirewallError::UnknownBackend(other.to_string())),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Nftables => "nftables",
            BackendKind::Iptables => "iptables",
        })
    }
}

/// The backend asked for, if any: the configuration's choice (`ipMasqBackend`) first, then
/// [`BACKEND_ENV`]; empty values count as unset. `None` means "detect".
pub fn requested(configured: Option<&str>, env: Option<&str>) -> Result<Option<BackendKind>> {
    configured
        .filter(|s| !s.is_empty())
        .or(env.filter(|s| !s.is_empty()))
        .map(str::parse)
        .transpose()
}

/// The backend that works here: nftables when the `nft` binary is installed and the kernel
/// answers nf_tables requests in this namespace, else iptables when its restore and save
/// tools are installed.
pub fn detect() -> Result<BackendKind> {
    if nftables_available() {
        Ok(BackendKind::Nftables)
    } else if iptables_available() {
        Ok(BackendKind::Iptables)
    } else {
        Err(FirewallError::NoBackend)
    }
}

/// `nft` is installed and nf_tables answers a table dump here (what `nft list tables`
/// needs, without starting it).
pub fn nftables_available() -> bool {
    locate("nft").is_some() && nfnl::probe().is_ok()
}

/// DEL's teardown of an attachment's masquerade rules, in both layouts (a DEL cannot know
/// which backend, or which implementation, ours or upstream's, made them), around the work
/// that deletes the attachment's links: the rules are deleted first, then `delete_links`
/// runs, then the netlink socket that deleted the rules is closed. Closing it waits for
/// nf_tables' clean-up of the deleted rules while holding the lock that link deletion also
/// takes; closed after the links are gone, that wait overlaps the link deletion's own.
///
/// A backend's failure counts only where that backend works; the iptables layout is only
/// looked at where it can exist (see [`iptables_layout_possible`]), which spares a DEL its
/// two `iptables-save` runs. Returns the teardown's outcome and `delete_links`' value.
pub fn teardown_around<R>(
    m: &MasqSpec,
    runner: &Runner,
    delete_links: impl FnOnce() -> R,
) -> (Result<()>, R) {
    let (result, linger) = teardown_before_links(m, runner);
    let out = delete_links();
    drop(linger);
    (result, out)
}

/// Deletes the rules; the socket that deleted them comes back still open.
fn teardown_before_links(m: &MasqSpec, runner: &Runner) -> (Result<()>, Option<nfnl::Linger>) {
    let mut errors = Vec::new();
    // First: its netlink queries close sockets, which would wait for a pending clean-up.
    if iptables_layout_possible(m) && iptables_available() {
        if let Err(e) = Iptables::new(runner.clone()).teardown(m) {
            errors.push(e);
        }
    }
    let linger = match Nftables::new(runner.clone()).teardown_lingering(m) {
        Ok(linger) => linger,
        Err(e) => {
            if nftables_available() {
                errors.push(e);
            }
            None
        }
    };
    let result = match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(FirewallError::Several(errors)),
    };
    (result, linger)
}

/// Whether `m`'s iptables rules may exist here: its chain (`CNI-…`) is in the `nat` table of
/// iptables-nft (nf_tables families ip or ip6), or a legacy (x_tables) `nat` table is loaded
/// in this namespace, whose rules only `iptables-save` can list. When nf_tables cannot be
/// asked, the answer is yes.
pub fn iptables_layout_possible(m: &MasqSpec) -> bool {
    let chain = m.iptables_chain();
    let in_nf_tables = [nfnl::FAMILY_IPV4, nfnl::FAMILY_IPV6]
        .iter()
        .any(|&family| nfnl::chain_exists(family, "nat", &chain).unwrap_or(true));
    let legacy_nat = ["/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"]
        .iter()
        .any(|path| std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| l == "nat")));
    in_nf_tables || legacy_nat
}

/// `iptables-restore` and `iptables-save` are installed.
pub fn iptables_available() -> bool {
    locate("iptables-restore").is_some() && locate("iptables-save").is_some()
}

/// The backend for a plugin: [`requested`] from `configured` and [`BACKEND_ENV`], else
/// [`detect`].
pub fn select(configured: Option<&str>, runner: Runner) -> Result<Box<dyn Masquerade>> {
    let env = std::env::var(BACKEND_ENV).ok();
    let kind = match requested(configured, env.as_deref())? {
        Some(kind) => kind,
        None => detect()?,
    };
    Ok(backend(kind, runner))
}

/// The backend of `kind`, without checking that it works here.
pub fn backend(kind: BackendKind, runner: Runner) -> Box<dyn Masquerade> {
    match kind {
        BackendKind::Nftables => Box::new(Nftables::new(runner)),
        BackendKind::Iptables => Box::new(Iptables::new(runner)),
    }
}

type Hook = dyn Fn(&mut Command) + Send + Sync;

/// Starts the firewall tools. Every process this module spawns goes through [`Runner::run`],
/// which first passes the command to the hook, if any (to count, log, or add settings).
/// Children start in the calling thread's network namespace.
#[derive(Clone, Default)]
pub struct Runner {
    hook: Option<Arc<Hook>>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl Runner {
    pub fn new() -> Runner {
        Runner::default()
    }

    /// A runner that calls `hook` on each command right before spawning it.
    pub fn with_hook(hook: impl Fn(&mut Command) + Send + Sync + 'static) -> Runner {
        Runner {
            hook: Some(Arc::new(hook)),
        }
    }

    /// Runs `program` with `args`, feeding `stdin`; returns its stdout, or
    /// [`FirewallError::Tool`] with its stderr when it fails.
    pub fn run(&self, program: &str, args: &[&str], stdin: &[u8]) -> Result<String> {
        let path = locate(program).unwrap_or_else(|| PathBuf::from(program));
        let mut cmd = Command::new(&path);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LC_ALL", "C");
        if let Some(hook) = &self.hook {
            hook(&mut cmd);
        }
        let spawn_error = |source| FirewallError::Spawn {
            program: program.to_string(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_error)?;
        if let Some(mut input) = child.stdin.take() {
            // A tool that fails early closes its stdin; its exit status says why.
            match input.write_all(stdin) {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(spawn_error(e)),
                _ => {}
            }
        }
        let out = child.wait_with_output().map_err(spawn_error)?;
        if !out.status.success() {
            return Err(FirewallError::Tool {
                program: format!("{program} {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        String::from_utf8(out.stdout).map_err(|e| FirewallError::Output {
            program: program.to_string(),
            reason: e.to_string(),
        })
    }
}

/// Finds `program` in `PATH`, then in the sbin directories a runtime's `PATH` may lack.
pub fn locate(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(OsStr::new(program)))
        .find(|p| executable(p))
}

/// Go's `%q` for printable text: double quotes, with `"` and `\` escaped.
fn quote(s: &str) -> String {
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

/// The multicast range a family's rules leave alone.
fn multicast(addr: IpAddr) -> IpNet {
    match addr {
        IpAddr::V4(_) => "224.0.0.0/4".parse().expect("valid"),
        IpAddr::V6(_) => "ff00::/8".parse().expect("valid"),
    }
}

/// GC of masquerade rules (GC-3) for a plugin's GC request `conf`: removes the nftables
/// masquerade rules of its network whose attachment (container ID, ifname) is not among the
/// valid attachments it lists, and returns how many attachments were cleaned. A request that
/// lists none removes nothing. Only the nftables layout names the interface in its rules;
/// iptables chains of a stale attachment go with its DEL. Nothing happens where nf_tables
/// does not answer.
pub fn gc_masquerade(conf: &cni::NetConf, runner: Runner) -> Result<usize> {
    let Some(valid) = conf.gc_valid_attachments() else {
        return Ok(0);
    };
    if !nftables_available() {
        return Ok(0);
    }
    let network = conf.name.as_str();
    let valid: Vec<(&str, &str)> = valid
        .iter()
        .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
        .collect();
    let probe = MasqSpec::new(network, "", "", []);
    let comments: Vec<String> =
        nfnl::rules(nfnl::FAMILY_INET, probe.nft_table(), probe.nft_chain())
            .map_err(FirewallError::Netlink)?
            .into_iter()
            .filter_map(|r| r.comment)
            .collect();
    let stale = stale_attachments(network, &comments, &valid);
    let nft = backend(BackendKind::Nftables, runner);
    for m in &stale {
        nft.teardown(m)?;
    }
    Ok(stale.len())
}

/// The attachments of `network` named by masquerade rule `comments`
/// (`<hash>, net: N, if: I, id: C`) that are not in `valid` (container ID, ifname). A comment
/// counts only when its names reproduce its hash: one cut at nft's length limit, or of another
/// network, is left alone.
pub fn stale_attachments(
    network: &str,
    comments: &[String],
    valid: &[(&str, &str)],
) -> Vec<MasqSpec> {
    let spec = |id: &str, ifname: &str| MasqSpec::new(network, id, ifname, []);
    let keep: std::collections::HashSet<String> = valid
        .iter()
        .map(|(id, ifname)| spec(id, ifname).nft_comment_prefix())
        .collect();
    let mut stale: Vec<MasqSpec> = Vec::new();
    for comment in comments {
        let Some((hash, rest)) = comment.split_once(", net: ") else {
            continue;
        };
        if keep.contains(hash) {
            continue;
        }
        let Some((_, rest)) = rest.rsplit_once(", if: ") else {
            continue;
        };
        let Some((ifname, id)) = rest.split_once(", id: ") else {
            continue;
        };
        let m = spec(id, ifname);
        if m.nft_comment_prefix() == hash && !stale.contains(&m) {
            stale.push(m);
        }
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MasqSpec {
        MasqSpec::new(
            "test",
            "1234",
            "eth0",
            ["10.1.2.3/24".parse::<IpNet>().unwrap()],
        )
    }

    #[test]
    fn iptables_chain_matches_upstream() {
        // Upstream's own test vectors for its chain-name hash.
        assert_eq!(spec().iptables_chain(), "CNI-2bbe0c48b91a7d1b8a6753a8");
        let long = MasqSpec::new("testalongnamethatdoesnotmakesense", "1234", "eth0", []);
        assert_eq!(long.iptables_chain(), "CNI-374f33fe84ab0ed84dcdebe3");
        assert_eq!(spec().iptables_comment(), r#"name: "test" id: "1234""#);
        let quoted = MasqSpec::new(r#"a"b\c"#, "x", "eth0", []);
        assert_eq!(quoted.iptables_comment(), r#"name: "a\"b\\c" id: "x""#);
    }

    #[test]
    fn nft_comment_starts_with_both_hashes_and_is_capped() {
        let s = spec();
        let prefix = s.nft_comment_prefix();
        assert_eq!(prefix.len(), 33);
        assert_eq!(&prefix[..16], &sha512::hex_prefix(b"test", 16));
        assert_eq!(&prefix[17..], &sha512::hex_prefix(b"eth0:1234", 16));
        assert_eq!(
            s.nft_comment(),
            format!("{prefix}, net: test, if: eth0, id: 1234")
        );
        let long = MasqSpec::new("n\"et", "é".repeat(100), "eth0", []);
        let comment = long.nft_comment();
        assert!(comment.len() <= NFT_COMMENT_MAX && comment.len() >= NFT_COMMENT_MAX - 1);
        assert!(comment.contains("net: net,"));
        assert_ne!(
            MasqSpec::new("test", "1234", "eth1", []).nft_comment_prefix(),
            prefix,
            "the interface is part of the identity"
        );
    }

    #[test]
    fn backend_choice_prefers_configuration_then_environment() {
        use BackendKind::*;
        assert_eq!(requested(None, None).unwrap(), None);
        assert_eq!(requested(Some(""), Some("")).unwrap(), None);
        assert_eq!(requested(None, Some("iptables")).unwrap(), Some(Iptables));
        assert_eq!(
            requested(Some("nftables"), Some("iptables")).unwrap(),
            Some(Nftables)
        );
        assert!(matches!(
            requested(Some("ebtables"), None),
            Err(FirewallError::UnknownBackend(_))
        ));
    }

    #[test]
    fn validation_refuses_what_rules_cannot_carry() {
        assert!(spec().validate().is_ok());
        let mut bad = spec();
        bad.container_id = "a\nb".into();
        assert!(matches!(bad.validate(), Err(FirewallError::InvalidSpec(_))));
        let named = |naming: Naming| spec().with_naming(naming).validate();
        assert!(named(Naming {
            nft_table: Some("my_table".into()),
            nft_chain: Some("my-chain".into()),
            iptables_chain: Some("CNI-MINE".into()),
        })
        .is_ok());
        assert!(named(Naming {
            iptables_chain: Some("X".repeat(29)),
            ..Naming::default()
        })
        .is_err());
        assert!(named(Naming {
            nft_chain: Some("postrouting".into()),
            ..Naming::default()
        })
        .is_err());
        assert!(named(Naming {
            nft_table: Some("a b".into()),
            ..Naming::default()
        })
        .is_err());
    }

    #[test]
    fn stale_attachments_of_one_network_only() {
        let c =
            |net: &str, id: &str, ifname: &str| MasqSpec::new(net, id, ifname, []).nft_comment();
        let comments = vec![
            c("net", "a", "eth0"),
            c("net", "b", "eth0"),
            c("other", "z", "eth0"),
            "garbage".to_string(),
        ];
        let stale = stale_attachments("net", &comments, &[("b", "eth0")]);
        assert_eq!(stale, vec![MasqSpec::new("net", "a", "eth0", [])]);
        assert!(stale_attachments("net", &comments, &[("a", "eth0"), ("b", "eth0")]).is_empty());
        // a cut comment does not reproduce its hash and is left alone
        let mut cut = c("net", "a", "eth0");
        cut.truncate(cut.len() - 2);
        assert!(stale_attachments("net", &[cut], &[]).is_empty());
    }
}
