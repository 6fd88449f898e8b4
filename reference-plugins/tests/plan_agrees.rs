//! The plan a verb lists (`reference_plugins::plan::for_request`, what the `plugin_plan` fuzz
//! target checks) against what the built plugin then does to the kernel: for ADD and DEL of
//! bridge (gateway, masquerade, spoof check), ptp (masquerade), macvlan and portmap
//! (nftables, both families, `snat`), every link that
//! appears, changes or goes in the node or the container namespace, every link an address
//! or route is added to or removed from, every watched sysctl that changes, and every
//! nftables table, chain and rule comment the ruleset gains or loses is one the plan names.
//! A plan that left out a name its verb uses fails here.

mod support;
use support::{merged, LinkKind, Node};

use std::path::Path;

use cni::{CmdArgs, Command, SpecVersion};
use netns_sandbox::snapshot::{Snapshot, Watch};
use netns_sandbox::Netns;
use reference_plugins::plan::{
    self, LinkChange, LinkName, Netns as PlanNs, Plan, SysctlKey, Touch,
};
use serde_json::{json, Value};

/// The plan of `verb` for `conf`, container `id` on `eth0` in `netns`.
fn plan_of(plugin: &str, verb: Command, id: &str, netns: &Path, conf: &Value) -> Plan {
    let mut args = CmdArgs::from_request(
        verb,
        id,
        "eth0",
        "",
        serde_json::to_vec(conf).unwrap(),
        &SpecVersion::ALL,
    )
    .unwrap();
    args.netns = Some(netns.to_str().unwrap().to_string());
    plan::for_request(plugin, &args).unwrap().unwrap()
}

/// Whether `plan` names link `name` in `ns`.
fn names_link(plan: &Plan, ns: PlanNs, name: &str) -> bool {
    let temporary = name.len() == 12 && name.starts_with("veth");
    plan.touches.iter().any(|t| match t {
        Touch::Link { netns, name: n, .. } if *netns == ns => match n {
            LinkName::Named(n) => n == name,
            LinkName::Temporary => temporary,
            _ => false,
        },
        _ => false,
    })
}

/// The names of what changed in one namespace between `before` and `after`.
fn changed_links(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let first = |l: &String| l.split_whitespace().next().unwrap_or_default().to_string();
    let dev = |l: &String| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("dev="))
            .unwrap_or_default()
            .to_string()
    };
    let mut out = Vec::new();
    for l in before.links.symmetric_difference(&after.links) {
        out.push(first(l));
    }
    for l in before.addresses.symmetric_difference(&after.addresses) {
        out.push(first(l));
    }
    for l in before.routes.symmetric_difference(&after.routes) {
        out.push(dev(l));
    }
    out.retain(|n| !n.is_empty());
    out.sort();
    out.dedup();
    out
}

/// Fails unless every change from `before` to `after` (node and container) is named by
/// `plan`.
fn assert_planned(plan: &Plan, node: (&Snapshot, &Snapshot), cont: (&Snapshot, &Snapshot)) {
    let what = format!("{} {:?}: {:#?}", plan.plugin, plan.verb, plan.touches);
    for name in changed_links(node.0, node.1) {
        assert!(
            names_link(plan, PlanNs::Own, &name),
            "node link {name} not in the plan of {what}"
        );
    }
    for name in changed_links(cont.0, cont.1) {
        assert!(
            names_link(plan, PlanNs::Container, &name),
            "container link {name} not in the plan of {what}"
        );
    }
    for s in node.0.sysctls.symmetric_difference(&node.1.sysctls) {
        let key = s.split('=').next().unwrap().replace('.', "/");
        let planned = plan.touches.iter().any(|t| match t {
            Touch::Sysctl {
                netns: PlanNs::Own,
                key: k,
            } => k.to_string() == key,
            _ => false,
        });
        assert!(planned, "node sysctl {key} not in the plan of {what}");
    }
    let nft: Vec<(String, String, Option<String>)> = plan
        .touches
        .iter()
        .filter_map(|t| match t {
            Touch::Nft {
                family,
                table,
                chain,
                comment,
            } => Some((format!("{family} {table}"), chain.clone(), comment.clone())),
            _ => None,
        })
        .collect();
    for line in node.0.firewall.symmetric_difference(&node.1.firewall) {
        if let Some(table) = line.strip_prefix("table ") {
            let table = table.trim_end_matches(" {").trim();
            assert!(
                nft.iter().any(|(t, _, _)| t == table),
                "nftables table {table} not in the plan of {what}"
            );
        } else if let Some(chain) = line.strip_prefix("chain ") {
            let chain = chain.trim_end_matches(" {").trim();
            assert!(
                nft.iter().any(|(_, c, _)| c == chain),
                "nftables chain {chain} not in the plan of {what}"
            );
        } else if line.starts_with("comment ") {
            // A table's own comment, checked with its table.
        } else if let Some((_, comment)) = line.split_once("comment \"") {
            let comment = comment.trim_end_matches('"');
            assert!(
                nft.iter()
                    .any(|(_, _, c)| c.as_deref().is_some_and(|c| c.starts_with(comment))),
                "nftables rule comment {comment:?} not in the plan of {what}"
            );
        }
    }
}

/// ADD then DEL of `conf` for container `id`, each checked against its plan.
fn add_then_del(node: &Node, id: &str, conf: &Value) {
    let c = Netns::new("plan-c").unwrap();
    let watch = Watch::default();
    for verb in [Command::Add, Command::Del] {
        let plan = plan_of(node.plugin, verb, id, c.path(), conf);
        assert!(!plan.touches.is_empty());
        let (n0, c0) = (Snapshot::take(&node.ns, &watch), Snapshot::take(&c, &watch));
        let out = node.run(verb.as_str(), id, Some(c.path()), conf);
        assert!(
            out.status.success(),
            "{verb:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let (n1, c1) = (Snapshot::take(&node.ns, &watch), Snapshot::take(&c, &watch));
        assert!(
            n0 != n1 || c0 != c1,
            "{verb:?} changed nothing: the comparison would be empty"
        );
        assert_planned(&plan, (&n0, &n1), (&c0, &c1));
    }
}

#[test]
fn bridge_add_and_del_stay_inside_their_plans() {
    let node = Node::new("plan-br", "bridge", "plannet");
    node.set_sysctl("net/ipv4/ip_forward", "0");
    let conf = node.net_conf(
        "1.0.0",
        json!({
            "bridge": "plan-br0",
            "isGateway": true,
            "ipMasq": true,
            "macspoofchk": true,
            "ipam": node.host_local("10.76.0.0/24"),
        }),
    );
    add_then_del(&node, "plan-ctr-1", &conf);
}

#[test]
fn ptp_add_and_del_stay_inside_their_plans() {
    let node = Node::new("plan-ptp", "ptp", "plannet");
    node.set_sysctl("net/ipv4/ip_forward", "0");
    let conf = node.net_conf(
        "1.0.0",
        json!({"ipMasq": true, "mtu": 1400, "ipam": node.host_local("10.77.0.0/24")}),
    );
    add_then_del(&node, "plan-ctr-2", &conf);
}

#[test]
fn macvlan_add_and_del_stay_inside_their_plans() {
    let node = Node::new("plan-mv", "macvlan", "plannet").with_master("plan-up0", LinkKind::Veth);
    let conf = merged(
        node.net_conf("1.0.0", json!({"master": "plan-up0", "mode": "bridge"})),
        json!({"ipam": node.host_local("10.78.0.0/24")}),
    );
    add_then_del(&node, "plan-ctr-3", &conf);
}

/// The comparison itself catches a link the plan leaves out.
#[test]
fn a_link_missing_from_the_plan_is_caught() {
    let mut before = Snapshot::default();
    before
        .links
        .insert("lo kind= mtu=65536 master= flags=UP".into());
    let mut after = before.clone();
    after
        .links
        .insert("rogue0 kind=dummy mtu=1500 master= flags=UP".into());
    let mut plan = Plan::new("bridge", Command::Add);
    plan.link(PlanNs::Own, &LinkName::named("cni0"), LinkChange::Create);
    plan.sysctl(PlanNs::Own, SysctlKey::Global("net/ipv4/ip_forward".into()));
    let caught = std::panic::catch_unwind(|| {
        assert_planned(
            &plan,
            (&before, &after),
            (&Snapshot::default(), &Snapshot::default()),
        )
    });
    assert!(caught.is_err());
}

#[test]
fn portmap_add_and_del_stay_inside_their_plans() {
    let node = Node::new("plan-pm", "portmap", "plannet");
    let c = Netns::new("plan-pm-c").unwrap();
    let prev = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": c.path()}],
        "ips": [
            {"address": "10.79.0.2/24", "gateway": "10.79.0.1", "interface": 0},
            {"address": "fd79::2/64", "interface": 0},
        ],
    });
    let maps = json!([
        {"hostPort": 18080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 15353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"},
    ]);
    let base = node.net_conf(
        "1.0.0",
        json!({
            "capabilities": {"portMappings": true},
            "runtimeConfig": {"portMappings": maps},
            "snat": true,
        }),
    );
    let watch = Watch::default();
    for (verb, conf) in [
        (
            Command::Add,
            merged(base.clone(), json!({ "prevResult": prev })),
        ),
        (Command::Del, base),
    ] {
        let plan = plan_of("portmap", verb, "plan-ctr-4", c.path(), &conf);
        let (n0, c0) = (Snapshot::take(&node.ns, &watch), Snapshot::take(&c, &watch));
        let out = node.run(verb.as_str(), "plan-ctr-4", Some(c.path()), &conf);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let (n1, c1) = (Snapshot::take(&node.ns, &watch), Snapshot::take(&c, &watch));
        assert!(n0.firewall != n1.firewall, "{verb:?} changed no rule");
        assert_planned(&plan, (&n0, &n1), (&c0, &c1));
    }
}
