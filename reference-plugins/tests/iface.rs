//! The shared interface plumbing end to end: a veth pair between a "host" and a "container"
//! namespace, an IPAM result applied to the container end, checked with iproute2 and with
//! real TCP connections, then torn down.

use cni::result::{Interface, IpConfig, Result100, Route};
use cni::SpecVersion;
use ipnet::IpNet;
use netns_sandbox::fixtures::tcp_round_trip;
use netns_sandbox::Netns;
use reference_plugins::iface::{self};
use reference_plugins::netlink::{AddressSpec, Family, Netlink};
use serde_json::Value;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// `ip -j <args>` inside `ns`, parsed.
fn ip_json(ns: &Netns, args: &[&str]) -> Value {
    let out = ns.command("ip").arg("-j").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `dst`/`gateway` pairs of the main-table routes on `dev`, as `ip -j route` shows them.
fn routes(ns: &Netns, family: &str, dev: &str) -> Vec<(String, Option<String>)> {
    let v = ip_json(ns, &[family, "route", "show", "dev", dev]);
    let mut out: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["dst"].as_str().unwrap().to_string(),
                r["gateway"].as_str().map(str::to_string),
            )
        })
        .collect();
    out.sort();
    out
}

fn addrs(ns: &Netns, dev: &str) -> Vec<String> {
    let v = ip_json(ns, &["addr", "show", "dev", dev, "scope", "global"]);
    v[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        // iproute2 leaves empty objects where its filter dropped an address.
        .filter_map(|a| Some(format!("{}/{}", a["local"].as_str()?, a["prefixlen"])))
        .collect()
}

#[test]
fn veth_with_a_result_applied_and_removed() {
    let host = Netns::new("iface-host").unwrap();
    let cont = Netns::new("iface-cont").unwrap();
    let mut h = Netlink::open_in(host.path()).unwrap();
    let mut c = Netlink::open_in(cont.path()).unwrap();

    let pair = iface::setup_veth(&mut c, &mut h, "eth0", None, Some(1450), None).unwrap();
    let host_name = pair.host.name.clone();
    // The host end plays the gateway.
    h.add_address(
        pair.host.index,
        &AddressSpec::new(net("10.30.0.1/24")).with_default_broadcast(),
    )
    .unwrap();
    h.add_address(
        pair.host.index,
        &AddressSpec::new(net("2001:db8:30::1/64")).with_nodad(),
    )
    .unwrap();

    let mut result = Result100::new(SpecVersion::LATEST);
    result.interfaces.push(Interface {
        name: host_name.clone(),
        mac: pair.host.mac_string(),
        ..Interface::default()
    });
    result.interfaces.push(Interface {
        name: "eth0".into(),
        mac: pair.container.mac_string(),
        sandbox: Some(cont.path().display().to_string()),
        ..Interface::default()
    });
    result.ips.push(IpConfig {
        interface: Some(1),
        address: net("10.30.0.2/24"),
        gateway: Some("10.30.0.1".parse().unwrap()),
    });
    result.ips.push(IpConfig {
        interface: Some(1),
        address: net("2001:db8:30::2/64"),
        gateway: Some("2001:db8:30::1".parse().unwrap()),
    });
    result.routes.push(Route::new(net("0.0.0.0/0"), None));
    result.routes.push(Route::new(
        net("192.168.50.0/24"),
        Some("10.30.0.1".parse().unwrap()),
    ));
    result.routes.push(Route::new(net("::/0"), None));
    result
        .routes
        .push(Route::new(net("2001:db8:99::/48"), None));

    iface::configure_from_result(&mut c, pair.container.index, &result, "eth0").unwrap();

    // What iproute2 sees in the container.
    let link = ip_json(&cont, &["link", "show", "dev", "eth0"]);
    assert_eq!(link[0]["mtu"], 1450);
    assert!(link[0]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "UP"));
    assert_eq!(
        addrs(&cont, "eth0"),
        vec!["10.30.0.2/24".to_string(), "2001:db8:30::2/64".to_string()]
    );
    let v4 = ip_json(&cont, &["-4", "addr", "show", "dev", "eth0"]);
    assert_eq!(v4[0]["addr_info"][0]["broadcast"], "10.30.0.255");
    let v6 = ip_json(&cont, &["-6", "addr", "show", "dev", "eth0"]);
    assert!(
        v6[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["tentative"] != true),
        "DAD settled: {v6}"
    );
    let gw4 = Some("10.30.0.1".to_string());
    let gw6 = Some("2001:db8:30::1".to_string());
    assert_eq!(
        routes(&cont, "-4", "eth0"),
        vec![
            ("10.30.0.0/24".to_string(), None),
            ("192.168.50.0/24".to_string(), gw4.clone()),
            ("default".to_string(), gw4),
        ]
    );
    let r6 = routes(&cont, "-6", "eth0");
    assert!(
        r6.contains(&("2001:db8:30::/64".to_string(), None)),
        "{r6:?}"
    );
    assert!(
        r6.contains(&("2001:db8:99::/48".to_string(), gw6.clone())),
        "{r6:?}"
    );
    assert!(r6.contains(&("default".to_string(), gw6)), "{r6:?}");
    // The same through our dump.
    let ours = c.routes(Some(Family::V4)).unwrap();
    assert!(ours
        .iter()
        .any(|r| r.is_default() && r.oif == Some(pair.container.index)));

    // And packets flow both families, container to host.
    tcp_round_trip(&host, &cont, "10.30.0.1:7777".parse().unwrap()).unwrap();
    tcp_round_trip(&host, &cont, "[2001:db8:30::1]:7777".parse().unwrap()).unwrap();

    // DEL: the container end goes, its addresses are reported, the host end goes with it.
    let removed = iface::delete_link_and_addrs(&mut c, "eth0")
        .unwrap()
        .unwrap();
    assert_eq!(removed, vec![net("10.30.0.2/24"), net("2001:db8:30::2/64")]);
    assert_eq!(iface::delete_link_and_addrs(&mut c, "eth0").unwrap(), None);
    let left = ip_json(&cont, &["link", "show"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "only lo: {left}");
    assert_eq!(left[0]["ifname"], "lo");
    let left_host = ip_json(&host, &["link", "show"]);
    assert_eq!(left_host.as_array().unwrap().len(), 1, "{left_host}");
    assert!(ip_json(&cont, &["-4", "route", "show"])
        .as_array()
        .unwrap()
        .is_empty());
    assert!(ip_json(&cont, &["-6", "route", "show", "table", "main"])
        .as_array()
        .unwrap()
        .is_empty());
    assert!(h.link(host_name.as_str()).unwrap_err().is_not_found());
}

/// DEL in a namespace that is gone: distinguishable, so the plugin can report success.
#[test]
fn gone_namespace_is_distinguishable() {
    let ns = Netns::new("iface-gone").unwrap();
    let path = ns.path().to_path_buf();
    ns.delete();
    let e = Netlink::open_in(&path).unwrap_err();
    assert!(reference_plugins::netns::is_gone(&e), "{e:?}");
    assert!(reference_plugins::netns::open_path_for_del(path.to_str())
        .unwrap()
        .is_none());
}
