//! Helpers shared by the integration tests: each test binary uses some of them.
#![allow(dead_code)]

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;

use cni_netlink::{LinkSpec, Netlink};
use ipnet::IpNet;
use netns_sandbox::Netns;

pub fn own_netns_inode() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `ip -j <args>` run inside `ns`, parsed.
pub fn ip_json(ns: &Netns, args: &[&str]) -> serde_json::Value {
    let out = ns.command("ip").arg("-j").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A veth pair `a`/`b` inside the handle's namespace, both ends up; returns their indexes.
pub fn up_pair(nl: &mut Netlink, a: &str, b: &str) -> (u32, u32) {
    nl.create_link(&LinkSpec::veth(a, b, None)).unwrap();
    let (a, b) = (nl.link(a).unwrap().index, nl.link(b).unwrap().index);
    nl.set_up(a).unwrap();
    nl.set_up(b).unwrap();
    (a, b)
}
