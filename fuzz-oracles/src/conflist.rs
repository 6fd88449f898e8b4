//! A network configuration list (and a single config lifted into one) from untrusted bytes:
//! no panics, version negotiation succeeds on anything accepted, and the round trip through
//! serialization is exact.

use cni::config::NetConfList;

fn round_trip(list: &NetConfList) {
    // `parse` validates, so anything accepted negotiates a version.
    let version = list
        .negotiated_version()
        .expect("an accepted list has a negotiable version");
    assert!(!list.plugins().is_empty() || list.plugins.is_none());

    let bytes = serde_json::to_vec(list).expect("a parsed list serializes");
    let again = match NetConfList::parse(&bytes) {
        Ok(l) => l,
        Err(e) => panic!("re-parse failed: {e}\n{}", String::from_utf8_lossy(&bytes)),
    };
    assert_eq!(*list, again, "round trip changed the list");
    assert_eq!(version, again.negotiated_version().unwrap());
}

/// The oracle of the `conflist` target.
pub fn conflist(data: &[u8]) {
    if let Ok(list) = NetConfList::parse(data) {
        round_trip(&list);
    }
    if let Ok(list) = NetConfList::from_single(data) {
        assert_eq!(list.plugins().len(), 1);
        round_trip(&list);
    }
}
