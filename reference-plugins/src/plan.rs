//! What a plugin's verb will touch, as data, decided from its request (environment and stdin)
//! before any kernel call: the namespace it enters, the links it creates, changes or deletes
//! and in which namespace, the sysctls it writes, the nf_tables and iptables chains it writes
//! rules into, the files it writes and the IPAM delegate it calls.
//!
//! Each covered plugin decodes a request into its own typed plan first (bridge's
//! `plugins::bridge::plan`, ptp's `plugins::ptp::plan`, [`crate::sublink::LinkPlan`] for
//! macvlan, ipvlan and vlan, loopback's `plugins::loopback::plan`), and its verb then takes
//! the names it works on from that value. The typed plan lists what it names as a [`Plan`]
//! ([`for_request`]), which the `plugin_plan` fuzz target checks against what the request
//! named: a plan that names anything else is a bug in the decoding, caught before any kernel
//! sees it.
//!
//! Names only known at run time are symbolic: a host veth or a sublink's temporary name is
//! [`LinkName::Temporary`] (`veth` and 8 hex digits, picked when created), the master found
//! through the default route is [`LinkName::DefaultRouteInterface`]. Reads (CHECK's lookups,
//! DEL's scans for rules by comment) are not listed: only what changes state.

use std::fmt;
use std::path::PathBuf;

use cni::{CmdArgs, Command, Error};

use crate::firewall::MasqSpec;

/// The namespace a link or sysctl lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Netns {
    /// The plugin's own (the host's, for a runtime).
    Own,
    /// The container's, `CNI_NETNS`.
    Container,
}

/// A link as the plan names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkName {
    Named(String),
    /// `veth` and 8 hex digits, picked when the link is made.
    Temporary,
    /// The interface of the first default route, found at run time.
    DefaultRouteInterface,
    /// The interface of the node's route to the container's address, found at run time.
    RouteInterface,
}

impl LinkName {
    pub fn named(name: impl Into<String>) -> LinkName {
        LinkName::Named(name.into())
    }
}

impl fmt::Display for LinkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkName::Named(n) => f.write_str(n),
            LinkName::Temporary => f.write_str("<temporary veth>"),
            LinkName::DefaultRouteInterface => f.write_str("<default route interface>"),
            LinkName::RouteInterface => f.write_str("<interface of the route to the container>"),
        }
    }
}

/// What happens to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    Create,
    /// The lower device a new link is made on (a sublink's master); not changed itself.
    Parent,
    /// Addresses, routes, state, master, VLANs, MAC.
    Change,
    Delete,
}

/// A sysctl under `/proc/sys/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysctlKey {
    /// A key naming no interface, `net/ipv4/ip_forward` say.
    Global(String),
    /// Any file under `/proc/sys`, as its components (tuning's configured sysctls).
    Path(Vec<String>),
    /// `net/<family>/conf/<link>/<leaf>`.
    Interface {
        /// `ipv4` or `ipv6`.
        family: &'static str,
        link: LinkName,
        leaf: &'static str,
    },
}

impl SysctlKey {
    /// `net/<family>/conf/<link>/<leaf>` for a named link.
    pub fn interface(family: &'static str, link: &LinkName, leaf: &'static str) -> SysctlKey {
        SysctlKey::Interface {
            family,
            link: link.clone(),
            leaf,
        }
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlKey::Global(k) => f.write_str(k),
            SysctlKey::Path(c) => f.write_str(&c.join("/")),
            SysctlKey::Interface { family, link, leaf } => {
                write!(f, "net/{family}/conf/{link}/{leaf}")
            }
        }
    }
}

/// One thing a verb changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// The container namespace at this path is entered.
    EnterNetns(String),
    Link {
        netns: Netns,
        name: LinkName,
        change: LinkChange,
    },
    Sysctl {
        netns: Netns,
        key: SysctlKey,
    },
    /// Rules written into (or deleted from) an nf_tables chain; `comment` is what the
    /// rules carry (`None`: the chain itself, shared, without rules of its own).
    Nft {
        family: &'static str,
        table: String,
        chain: String,
        comment: Option<String>,
    },
    /// An iptables chain made or removed, with the rules jumping to it.
    Iptables {
        table: &'static str,
        chain: String,
    },
    /// File `name` in `dir` written or removed (with its temporaries, `.<name>.tmp-*`);
    /// `dir` is created when missing.
    File {
        dir: PathBuf,
        name: String,
    },
    /// Files directly in `dir` written or removed: host-local's store (created when
    /// missing), tuning's saved files of this network (GC).
    DirEntries(PathBuf),
    /// A request sent to the dhcp daemon at `socket`, as it goes over the socket (the
    /// daemon then works in the namespace and on the attachment it names).
    Daemon {
        socket: PathBuf,
        request: serde_json::Value,
    },
    /// The IPAM plugin called with this verb.
    Delegate {
        plugin: String,
        verb: Command,
    },
}

/// Everything one verb of one plugin will change, in the order it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub plugin: &'static str,
    pub verb: Command,
    pub touches: Vec<Touch>,
}

impl Plan {
    pub fn new(plugin: &'static str, verb: Command) -> Plan {
        Plan {
            plugin,
            verb,
            touches: Vec::new(),
        }
    }

    pub fn push(&mut self, t: Touch) {
        self.touches.push(t);
    }

    pub fn enter(&mut self, netns: &str) {
        self.push(Touch::EnterNetns(netns.to_string()));
    }

    pub fn link(&mut self, netns: Netns, name: &LinkName, change: LinkChange) {
        self.push(Touch::Link {
            netns,
            name: name.clone(),
            change,
        });
    }

    /// DEL's removal of the attachment's interface when `CNI_NETNS` is given: the namespace
    /// entered, `CNI_IFNAME` deleted in it, and the temporary-named link that goes with it
    /// (`temporary_in`: the container for a link left under its temporary name by a killed
    /// ADD, the plugin's own namespace for a veth's host end, which goes with its peer).
    pub fn delete_container_interface(&mut self, args: &CmdArgs, temporary_in: Netns) {
        if let Some(path) = &args.netns {
            self.enter(path);
            self.link(
                Netns::Container,
                &LinkName::named(args.ifname.as_str()),
                LinkChange::Delete,
            );
            self.link(temporary_in, &LinkName::Temporary, LinkChange::Delete);
        }
    }

    pub fn sysctl(&mut self, netns: Netns, key: SysctlKey) {
        self.push(Touch::Sysctl { netns, key });
    }

    pub fn delegate(&mut self, plugin: &str, verb: Command) {
        self.push(Touch::Delegate {
            plugin: plugin.to_string(),
            verb,
        });
    }

    /// The masquerade rules of `spec` in either layout ([`crate::firewall`]), as set up or
    /// torn down: the attachment's rules in the nftables chain, the iptables chain.
    pub fn masquerade(&mut self, spec: &MasqSpec) {
        // The shared base chain and its own rules, written when missing or out of date.
        for comment in crate::firewall::nftables::base_rule_comments(spec) {
            self.push(Touch::Nft {
                family: "inet",
                table: spec.nft_table().to_string(),
                chain: crate::firewall::NFT_BASE_CHAIN.to_string(),
                comment: Some(comment),
            });
        }
        self.push(Touch::Nft {
            family: "inet",
            table: spec.nft_table().to_string(),
            chain: spec.nft_chain().to_string(),
            comment: Some(spec.nft_comment()),
        });
        self.push(Touch::Iptables {
            table: "nat",
            chain: spec.iptables_chain(),
        });
    }

    /// GC's masquerade clean-up for `network`: rules of its attachments in the nftables chain.
    pub fn masquerade_gc(&mut self, network: &str) {
        let probe = MasqSpec::new(network, "", "", []);
        self.push(Touch::Nft {
            family: "inet",
            table: probe.nft_table().to_string(),
            chain: probe.nft_chain().to_string(),
            comment: Some(format!(
                "{}, net: {network}",
                probe
                    .nft_comment_prefix()
                    .split('-')
                    .next()
                    .unwrap_or_default()
            )),
        });
    }

    /// The sysctls [`crate::iface::configure_from_result`] may write on `link` in the
    /// container (IPv6 enabled on `lo` and the link, addresses kept when it goes down).
    pub fn configure_from_result(&mut self, link: &LinkName) {
        let lo = LinkName::named("lo");
        self.sysctl(
            Netns::Container,
            SysctlKey::interface("ipv6", &lo, "disable_ipv6"),
        );
        self.sysctl(
            Netns::Container,
            SysctlKey::interface("ipv6", link, "disable_ipv6"),
        );
        self.sysctl(
            Netns::Container,
            SysctlKey::interface("ipv6", link, "keep_addr_on_down"),
        );
        self.link(Netns::Container, link, LinkChange::Change);
    }

    /// What [`crate::iface::setup_veth`] makes: `cont` in the container and a temporary host
    /// end in the plugin's namespace, up, with `accept_ra` off.
    pub fn veth_pair(&mut self, cont: &LinkName) {
        self.link(Netns::Container, cont, LinkChange::Create);
        self.link(Netns::Own, &LinkName::Temporary, LinkChange::Create);
        self.sysctl(
            Netns::Own,
            SysctlKey::interface("ipv6", &LinkName::Temporary, "accept_ra"),
        );
    }
}

/// The plan of `args`'s verb for the plugin named `plugin`, from the same decoding its verb
/// starts with. `None` for a plugin this module does not cover ([`COVERED`] lists the others).
/// An `Err` is what the verb would answer before touching anything.
pub fn for_request(plugin: &str, args: &CmdArgs) -> Option<Result<Plan, Error>> {
    use crate::plugins::{
        bridge, dhcp, host_local, ipvlan, loopback, macvlan, portmap, ptp, tuning, vlan,
    };
    Some(match plugin {
        "bridge" => bridge::plan::plan(args),
        "ptp" => ptp::plan::plan(args),
        "loopback" => loopback::plan(args),
        "tuning" => tuning::plan::plan(args),
        "portmap" => portmap::plan::plan(args),
        "host-local" => host_local::plan(args),
        "dhcp" => dhcp::plan(args),
        "macvlan" => crate::sublink::plan(&macvlan::Macvlan, args),
        "ipvlan" => crate::sublink::plan(&ipvlan::Ipvlan, args),
        "vlan" => crate::sublink::plan(&vlan::Vlan, args),
        _ => return None,
    })
}

/// The plugins [`for_request`] covers.
pub const COVERED: &[&str] = &[
    "bridge",
    "ptp",
    "macvlan",
    "ipvlan",
    "vlan",
    "loopback",
    "tuning",
    "portmap",
    "host-local",
    "dhcp",
];
