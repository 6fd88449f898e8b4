//! One verb at a time per attachment: ADD, CHECK and DEL of one (network, container ID,
//! ifname) exclude each other across processes. The spec forbids a runtime to run two at once
//! (RT-2), but two runtimes, or a runtime retrying after a timeout while the first call still
//! runs, do; without the lock a DEL racing an ADD could release the address the ADD just
//! reserved and leave the ADD's interface using an address that is free to hand out again.
//!
//! The lock is an abstract unix socket (no file anywhere) bound under a name derived from the
//! attachment, in the network namespace the plugin starts in (the runtime's). The kernel
//! releases it when the process ends, however it ends, so a killed plugin never leaves a stale
//! lock. IPAM delegates do not take it: they run inside their caller's verb, which holds it,
//! and lock their own store.

use std::io::ErrorKind;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

use cni::error::ErrorCode;
use cni::{CmdArgs, Error};

/// How long a verb waits for another one of the same attachment before giving up (code 11,
/// try again later).
const WAIT: Duration = Duration::from_secs(30);

/// Held while the value lives.
#[derive(Debug)]
pub struct AttachmentLock {
    _socket: Option<UnixDatagram>,
}

fn fnv64(parts: &[&str]) -> u64 {
    parts.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, p| {
        p.bytes()
            .chain(std::iter::once(0))
            .fold(h, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    })
}

/// The abstract socket name of the attachment of `args`.
fn name(args: &CmdArgs) -> String {
    format!(
        "cni-rs/attachment/{:016x}",
        fnv64(&[&args.conf.name, &args.container_id, &args.ifname])
    )
}

/// Waits for, and takes, the lock of the attachment `args` names. Requests without a
/// container ID have no attachment to lock; where abstract sockets cannot be bound at all the
/// verb runs unlocked, as before.
pub fn hold(args: &CmdArgs) -> Result<AttachmentLock, Error> {
    let unlocked = AttachmentLock { _socket: None };
    if args.container_id.is_empty() {
        return Ok(unlocked);
    }
    let Ok(addr) = SocketAddr::from_abstract_name(name(args).as_bytes()) else {
        return Ok(unlocked);
    };
    let deadline = Instant::now() + WAIT;
    loop {
        match UnixDatagram::bind_addr(&addr) {
            Ok(s) => return Ok(AttachmentLock { _socket: Some(s) }),
            Err(e) if e.kind() == ErrorKind::AddrInUse => {
                if Instant::now() >= deadline {
                    return Err(Error::new(
                        ErrorCode::TryAgainLater,
                        "another operation on this attachment is still running",
                    )
                    .with_details(format!("waited {WAIT:?} for it")));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return Ok(unlocked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_per_attachment_and_are_stable() {
        assert_eq!(fnv64(&["n", "c", "eth0"]), fnv64(&["n", "c", "eth0"]));
        assert_ne!(fnv64(&["n", "c", "eth0"]), fnv64(&["n", "c", "eth1"]));
        // Parts are separated: ("ab", "c") is not ("a", "bc").
        assert_ne!(fnv64(&["ab", "c", "x"]), fnv64(&["a", "bc", "x"]));
    }

    #[test]
    fn a_second_holder_waits_until_the_first_lets_go() {
        let addr = SocketAddr::from_abstract_name(b"cni-rs/attachment/test-lock").unwrap();
        let first = UnixDatagram::bind_addr(&addr).unwrap();
        assert_eq!(
            UnixDatagram::bind_addr(&addr).unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        drop(first);
        assert!(UnixDatagram::bind_addr(&addr).is_ok());
    }
}
