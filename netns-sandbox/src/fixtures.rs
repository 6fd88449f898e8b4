//! Host-side fixtures plugins need in a namespace: veth pairs (one end can serve as the
//! `master` of macvlan/ipvlan/vlan plugins) and bridges, created over rtnetlink and brought up.
//! They live in the namespace and go with it.

use cni_netlink::{LinkSpec, Netlink, NetlinkError};

use crate::Netns;

/// Creates the veth pair `name`/`peer` inside `ns`, both ends up.
pub fn veth_pair(ns: &Netns, name: &str, peer: &str) -> Result<(), NetlinkError> {
    let mut nl = Netlink::open_in(ns.path())?;
    nl.create_link(&LinkSpec::veth(name, peer, None))?;
    nl.set_up(name)?;
    nl.set_up(peer)
}

/// Creates the bridge `name` inside `ns`, up.
pub fn bridge(ns: &Netns, name: &str) -> Result<(), NetlinkError> {
    let mut nl = Netlink::open_in(ns.path())?;
    nl.create_link(&LinkSpec::bridge(name, None))?;
    nl.set_up(name)
}

/// Whether a link called `name` exists in `ns`.
pub fn link_exists(ns: &Netns, name: &str) -> bool {
    Netlink::open_in(ns.path())
        .and_then(|mut nl| nl.link(name))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_and_bridge_fixtures() {
        let ns = Netns::new("fixtures").unwrap();
        veth_pair(&ns, "up0", "up0p").unwrap();
        bridge(&ns, "br-fix").unwrap();
        assert!(link_exists(&ns, "up0") && link_exists(&ns, "up0p") && link_exists(&ns, "br-fix"));
        assert!(!link_exists(&ns, "nope"));
        let snap = crate::snapshot::Snapshot::take(&ns, &Default::default());
        assert!(
            snap.links
                .iter()
                .any(|l| l.starts_with("up0 kind=veth") && l.ends_with("UP")),
            "{snap:?}"
        );
        assert!(
            snap.links
                .iter()
                .any(|l| l.starts_with("br-fix kind=bridge")),
            "{snap:?}"
        );
        // creating it again is an "exists" error, not a panic
        assert!(veth_pair(&ns, "up0", "up0p").unwrap_err().is_exists());
    }
}
