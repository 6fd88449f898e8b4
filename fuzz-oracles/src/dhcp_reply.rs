//! Datagrams the dhcp daemon receives: the first byte picks DHCPv4 (even) or DHCPv6 (odd),
//! the rest is the datagram. Decoding never panics, and what it accepts is sane: a DHCPv4
//! lease has a unicast address, a prefix of at most 32 bits and T1 <= T2 <= lease time, and
//! its CNI result serializes; a DHCPv6 lease likewise for its timers.
//!
//! The answer is matched to the transaction and client the datagram itself names (DHCPv4:
//! `xid` and `chaddr`; DHCPv6: the transaction ID, the client identifier and the first
//! IA_NA's IAID), so inputs reach past the "not ours" check.

use dhcproto::{v6, Decodable, Decoder};
use reference_plugins::plugins::dhcp::daemon::packet::{decode_reply, LeaseEvent};
use reference_plugins::plugins::dhcp::daemon::packet6::{decode_reply6, Client6, Lease6Event};

/// The oracle of the `dhcp_reply` target.
pub fn dhcp_reply(data: &[u8]) {
    let Some((&pick, datagram)) = data.split_first() else {
        return;
    };
    // dhcproto's decoder asserts on some malformed options; the daemon's decode functions
    // catch such a panic and drop the datagram as malformed. libFuzzer's panic hook would
    // abort even on a caught panic, so a silent hook stands in while they run; a panic that
    // escapes them still fails the target.
    let _quiet = QuietPanics::install();
    if pick % 2 == 0 {
        v4(datagram);
    } else {
        v6(datagram);
    }
}

type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// The previous panic hook, put back on drop.
struct QuietPanics(Option<Hook>);

impl QuietPanics {
    fn install() -> QuietPanics {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        QuietPanics(Some(previous))
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            if !std::thread::panicking() {
                std::panic::set_hook(previous);
            }
        }
    }
}

fn v4(d: &[u8]) {
    let xid = d
        .get(4..8)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let mut mac = [0u8; 6];
    if let Some(b) = d.get(28..34) {
        mac.copy_from_slice(b);
    }
    match decode_reply(d, xid, &mac) {
        Ok(LeaseEvent::Ack(info)) => {
            assert!(!info.address.is_unspecified() && !info.address.is_broadcast());
            assert!(!info.address.is_multicast() && !info.address.is_loopback());
            assert!(info.prefix_len >= 1 && info.prefix_len <= 32, "{info:?}");
            assert!(info.t1_secs <= info.t2_secs, "{info:?}");
            assert!(info.t2_secs <= info.lease_secs, "{info:?}");
            assert!(info.lease_secs >= 1);
            let result = info.to_result(Some(7));
            serde_json::to_string(&result).expect("a result serializes");
            assert_eq!(result.ips.len(), 1);
        }
        Ok(LeaseEvent::Offer(o)) => assert!(!o.address.is_unspecified()),
        Ok(LeaseEvent::Nak { .. }) | Err(_) => {}
    }
}

fn v6(d: &[u8]) {
    let xid = d
        .get(1..4)
        .map_or(0, |b| u32::from_be_bytes([0, b[0], b[1], b[2]]));
    // The client the datagram names, when it decodes at all.
    // dhcproto's decoder may panic on hostile input (decode_reply6 catches that the same way).
    let decoded = std::panic::catch_unwind(|| v6::Message::decode(&mut Decoder::new(d)));
    let client = decoded
        .ok()
        .and_then(Result::ok)
        .and_then(|m| {
            let duid = match m.opts().get(v6::OptionCode::ClientId) {
                Some(v6::DhcpOption::ClientId(id)) => id.clone(),
                _ => return None,
            };
            let iaid = match m.opts().get(v6::OptionCode::IANA) {
                Some(v6::DhcpOption::IANA(ia)) => ia.id,
                _ => 0,
            };
            Some(Client6 { duid, iaid })
        })
        .unwrap_or_else(|| Client6::new("fuzz"));
    if let Ok(Lease6Event::Reply(info)) = decode_reply6(d, xid, &client) {
        assert!(!info.address.is_unspecified() && !info.address.is_multicast());
        assert!(info.t1_secs <= info.t2_secs, "{info:?}");
        assert!(info.valid_secs >= 1);
        serde_json::to_string(&info.to_result()).expect("a result serializes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/dhcp_reply/");
        std::fs::read(format!("{path}{name}")).unwrap()
    }

    #[test]
    fn seeds_reach_the_lease_paths() {
        let ack = seed("seed-v4-ack");
        let d = &ack[1..];
        let mac = [2, 0, 0, 0, 0, 1];
        assert!(matches!(
            decode_reply(d, 0x1234_5678, &mac),
            Ok(LeaseEvent::Ack(_))
        ));
        let classless = seed("seed-v4-ack-classless");
        let Ok(LeaseEvent::Ack(info)) = decode_reply(&classless[1..], 0x1234_5678, &mac) else {
            panic!("classless seed is no ACK")
        };
        assert_eq!(info.classless_routes.len(), 2);
        assert!(info.t1_secs <= info.t2_secs);
        let reply = seed("seed-v6-reply");
        let mut duid = vec![0, 4];
        duid.extend(0u8..16);
        let client = Client6 {
            duid,
            iaid: 0x0102_0304,
        };
        assert!(matches!(
            decode_reply6(&reply[1..], 0xab_cdef, &client),
            Ok(Lease6Event::Reply(_))
        ));
    }
}
