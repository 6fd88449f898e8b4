//! `macspoofchk`: frames entering the bridge from the container's host veth must carry the
//! container's MAC as source, others are dropped. The nftables layout is upstream's, so
//! either implementation removes what the other made:
//!
//! - table `bridge nat`, base chain `PREROUTING` (type filter, hook prerouting, priority
//!   -300, policy accept), shared by every attachment and never removed;
//! - per attachment (`<containerID>-<ifname>`, the "ref ID"): a rule in `PREROUTING`
//!   matching `iifname <host veth>` that jumps to chain `cni-br-iface-<ref ID>`, which jumps
//!   to `cni-br-iface-<ref ID>-mac`, which returns for `ether saddr <container MAC>` and
//!   drops everything else. Every rule carries the comment `macspoofchk-<ref ID>`.
//!
//! Setup is one `nft -j -f -` transaction (declare table and chains, flush the two
//! attachment chains, add the four rules), so a repeated setup replaces rather than
//! duplicates. Teardown reads the table once and deletes, in one transaction, whatever of
//! the attachment is there: nothing there is success.

use serde_json::{json, Value};

use crate::firewall::{FirewallError, Runner};

const NFT: &str = "nft";
const FAMILY: &str = "bridge";
const TABLE: &str = "nat";
const BASE_CHAIN: &str = "PREROUTING";
const BASE_PRIORITY: i32 = -300;
const CHAIN_PREFIX: &str = "cni-br-iface-";
const COMMENT_PREFIX: &str = "macspoofchk-";
/// Attempts at a teardown whose rule handles another process may have removed meanwhile.
const ATTEMPTS: usize = 3;

/// The spoof check of one attachment.
#[derive(Debug, Clone)]
pub struct SpoofCheck {
    /// `<containerID>-<ifname>`.
    ref_id: String,
    runner: Runner,
}

impl SpoofCheck {
    pub fn new(container_id: &str, ifname: &str) -> SpoofCheck {
        SpoofCheck {
            ref_id: format!("{container_id}-{ifname}"),
            runner: Runner::new(),
        }
    }

    /// The chains setup and teardown write ([`crate::plan`]): the attachment's rule in the
    /// shared base chain, its two chains.
    pub fn touches(&self, plan: &mut crate::plan::Plan) {
        for chain in [BASE_CHAIN.to_string(), self.iface_chain(), self.mac_chain()] {
            plan.push(crate::plan::Touch::Nft {
                family: FAMILY,
                table: TABLE.to_string(),
                chain,
                comment: Some(self.comment()),
            });
        }
    }

    fn iface_chain(&self) -> String {
        format!("{CHAIN_PREFIX}{}", self.ref_id)
    }

    fn mac_chain(&self) -> String {
        format!("{}-mac", self.iface_chain())
    }

    fn comment(&self) -> String {
        format!("{COMMENT_PREFIX}{}", self.ref_id)
    }

    fn run(&self, batch: &Value) -> Result<String, FirewallError> {
        self.runner
            .run(NFT, &["-j", "-f", "-"], batch.to_string().as_bytes())
    }

    /// Installs (or replaces) the rules letting only `mac` in from `host_veth`.
    pub fn setup(&self, host_veth: &str, mac: &str) -> Result<(), FirewallError> {
        let (iface, macs) = (self.iface_chain(), self.mac_chain());
        let comment = self.comment();
        let rule = |chain: &str, expr: Value| {
            json!({"add": {"rule": {
                "family": FAMILY, "table": TABLE, "chain": chain, "expr": expr,
                "comment": comment,
            }}})
        };
        let batch = json!({"nftables": [
            {"add": {"table": {"family": FAMILY, "name": TABLE}}},
            {"add": {"chain": {
                "family": FAMILY, "table": TABLE, "name": BASE_CHAIN, "type": "filter",
                "hook": "prerouting", "prio": BASE_PRIORITY, "policy": "accept",
            }}},
            {"add": {"chain": chain_ref(&iface)}},
            {"add": {"chain": chain_ref(&macs)}},
            {"flush": {"chain": chain_ref(&iface)}},
            {"flush": {"chain": chain_ref(&macs)}},
            rule(BASE_CHAIN, json!([
                {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": host_veth}},
                {"jump": {"target": iface}},
            ])),
            rule(&iface, json!([{"jump": {"target": macs}}])),
            rule(&macs, json!([
                {"match": {"op": "==",
                    "left": {"payload": {"protocol": "ether", "field": "saddr"}},
                    "right": mac}},
                {"return": null},
            ])),
            rule(&macs, json!([{"drop": null}])),
        ]});
        self.run(&batch).map(drop)
    }

    /// The table as `nft -j` lists it; `None` when it does not exist.
    fn listing(&self) -> Result<Option<Vec<Value>>, FirewallError> {
        let list = json!({"nftables": [{"list": {"table": {"family": FAMILY, "name": TABLE}}}]});
        match self.run(&list) {
            Ok(out) => {
                let v: Value = serde_json::from_str(&out).map_err(|e| FirewallError::Output {
                    program: NFT.into(),
                    reason: e.to_string(),
                })?;
                Ok(Some(
                    v.get("nftables")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                ))
            }
            Err(FirewallError::Tool { stderr, .. }) if stderr.contains("No such file") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the attachment's rule from `PREROUTING` and its two chains.
    pub fn teardown(&self) -> Result<(), FirewallError> {
        let mut attempt = 1;
        loop {
            let Some(items) = self.listing()? else {
                return Ok(());
            };
            let mut cmds = Vec::new();
            for handle in self.base_rule_handles(&items) {
                cmds.push(json!({"delete": {"rule": {
                    "family": FAMILY, "table": TABLE, "chain": BASE_CHAIN, "handle": handle,
                }}}));
            }
            for chain in [self.iface_chain(), self.mac_chain()] {
                if has_chain(&items, &chain) {
                    cmds.push(json!({"delete": {"chain": chain_ref(&chain)}}));
                }
            }
            if cmds.is_empty() {
                return Ok(());
            }
            match self.run(&json!({"nftables": cmds})) {
                Err(FirewallError::Tool { .. }) if attempt < ATTEMPTS => attempt += 1,
                other => return other.map(drop),
            }
        }
    }

    /// Fails unless the attachment's jump rule and both chains are in place and the MAC
    /// chain lets `mac` through.
    pub fn check(&self, mac: Option<&str>) -> Result<(), String> {
        let items = self
            .listing()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("macspoofchk: table {FAMILY} {TABLE} does not exist"))?;
        if self.base_rule_handles(&items).is_empty() {
            return Err(format!(
                "macspoofchk: no rule {:?} in chain {FAMILY} {TABLE} {BASE_CHAIN}",
                self.comment()
            ));
        }
        for chain in [self.iface_chain(), self.mac_chain()] {
            if !has_chain(&items, &chain) {
                return Err(format!("macspoofchk: chain {chain:?} is missing"));
            }
        }
        if let Some(mac) = mac {
            let macs = self.mac_chain();
            let allowed = items.iter().filter_map(|i| i.get("rule")).any(|r| {
                r["chain"] == macs.as_str()
                    && r["expr"][0]["match"]["right"]
                        .as_str()
                        .is_some_and(|m| m.eq_ignore_ascii_case(mac))
            });
            if !allowed {
                return Err(format!(
                    "macspoofchk: chain {macs:?} does not let MAC {mac} through"
                ));
            }
        }
        Ok(())
    }

    fn base_rule_handles(&self, items: &[Value]) -> Vec<u64> {
        let comment = self.comment();
        items
            .iter()
            .filter_map(|i| i.get("rule"))
            .filter(|r| r["chain"] == BASE_CHAIN && r["comment"] == comment.as_str())
            .filter_map(|r| r["handle"].as_u64())
            .collect()
    }
}

fn chain_ref(name: &str) -> Value {
    json!({"family": FAMILY, "table": TABLE, "name": name})
}

fn has_chain(items: &[Value], name: &str) -> bool {
    items
        .iter()
        .filter_map(|i| i.get("chain"))
        .any(|c| c["name"] == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_upstream() {
        let s = SpoofCheck::new("ctr1", "eth0");
        assert_eq!(s.iface_chain(), "cni-br-iface-ctr1-eth0");
        assert_eq!(s.mac_chain(), "cni-br-iface-ctr1-eth0-mac");
        assert_eq!(s.comment(), "macspoofchk-ctr1-eth0");
    }

    #[test]
    fn finds_own_rules_only() {
        let s = SpoofCheck::new("a", "eth0");
        let items: Vec<Value> = serde_json::from_value(json!([
            {"table": {"family": "bridge", "name": "nat"}},
            {"chain": {"family": "bridge", "table": "nat", "name": "cni-br-iface-a-eth0"}},
            {"rule": {"chain": "PREROUTING", "handle": 4, "comment": "macspoofchk-a-eth0"}},
            {"rule": {"chain": "PREROUTING", "handle": 7, "comment": "macspoofchk-b-eth0"}},
            {"rule": {"chain": "cni-br-iface-a-eth0", "handle": 5, "comment": "macspoofchk-a-eth0"}},
        ]))
        .unwrap();
        assert_eq!(s.base_rule_handles(&items), vec![4]);
        assert!(has_chain(&items, "cni-br-iface-a-eth0"));
        assert!(!has_chain(&items, "cni-br-iface-a-eth0-mac"));
    }
}
