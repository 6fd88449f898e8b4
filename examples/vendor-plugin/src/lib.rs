//! `vendor-ipam`: the template for a plugin vendor. A tiny IPAM plugin written with the `cni`
//! crate's skel, whose own `cargo test` certifies it with the `harness` library in both styles:
//! `tests/conformance.rs` (one `#[test]` asserting the whole certification) and
//! `tests/conformance_cases.rs` (one test per case and spec version). `tests/broken_variant.rs`
//! shows that the per-case tests of a deliberately broken build (`vendor-ipam-broken`, whose
//! second DEL of an attachment fails) fail exactly the cases of the requirement it breaks.
//!
//! Config: `"ipam": {"type": "vendor-ipam", "subnet": "10.98.0.0/24"}`. ADD gives the
//! attachment (container ID, ifname) the lowest free address of the subnet above the gateway
//! (the first address), one file per address under `/var/lib/cni/vendor-ipam/<network>/`
//! holding its owner; DEL releases it (nothing to release is success); CHECK wants the
//! attachment's allocation and every address of `prevResult` in the subnet to be it; GC
//! releases the allocations of attachments not in `cni.dev/valid-attachments`. A lock file
//! serialises the calls of one network.

use std::fs::File;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use cni::config::Attachment;
use cni::result::{IpConfig, Result100};
use cni::skel::{CmdArgs, Plugin};
use cni::{CniResult, Error, SpecVersion};
use ipnet::{IpNet, Ipv4Net};

/// Where the allocations live (one directory per network).
const STATE_DIR: &str = "/var/lib/cni/vendor-ipam";
/// ADD for an attachment that already has an address.
const CODE_DUPLICATE: u32 = 101;
/// CHECK found no allocation, or another address than `prevResult`'s.
const CODE_NOT_ALLOCATED: u32 = 102;
/// No free address left.
const CODE_EXHAUSTED: u32 = 103;
/// The broken variant's DEL of an attachment it already released.
const CODE_ALREADY_RELEASED: u32 = 104;
/// The directory of released attachments kept by the broken variant.
const RELEASED_DIR: &str = "released";

/// The plugin. `broken_del`: remember released attachments and fail their next DEL, which a
/// conformant plugin must not do (DEL-6: repeated DELs succeed).
pub struct VendorIpam {
    /// Make a repeated DEL fail (the broken variant).
    pub broken_del: bool,
}

/// The subnet from the `ipam` object.
fn subnet(args: &CmdArgs) -> Result<Ipv4Net, Error> {
    let text = args
        .conf
        .ipam
        .as_ref()
        .and_then(|i| i.extra.get("subnet"))
        .and_then(|s| s.as_str())
        .ok_or_else(|| {
            Error::invalid_config("vendor-ipam: ipam.subnet (an IPv4 CIDR) is required")
        })?;
    let net: Ipv4Net = text.parse().map_err(|_| {
        Error::invalid_config(format!("vendor-ipam: subnet {text:?} is not an IPv4 CIDR"))
    })?;
    if net.prefix_len() > 30 {
        return Err(Error::invalid_config(format!(
            "vendor-ipam: subnet {net} has no room for a gateway and an address"
        )));
    }
    Ok(net.trunc())
}

/// The network's store: its directory, locked for the life of the value.
struct Store {
    dir: PathBuf,
    _lock: File,
}

impl Store {
    /// Opens (and with `create`, creates) the network's directory and takes its lock; `None`
    /// when it does not exist and `create` is false.
    fn open(network: &str, create: bool) -> Result<Option<Store>, Error> {
        let dir = Path::new(STATE_DIR).join(network);
        if create {
            std::fs::create_dir_all(&dir).map_err(|e| {
                Error::io(format!("vendor-ipam: cannot create {}: {e}", dir.display()))
            })?;
        } else if !dir.is_dir() {
            return Ok(None);
        }
        let lock = File::create(dir.join("lock"))
            .map_err(|e| Error::io(format!("vendor-ipam: cannot open the lock: {e}")))?;
        // SAFETY: flock on a file descriptor this value owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io(format!(
                "vendor-ipam: cannot lock: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(Some(Store { dir, _lock: lock }))
    }

    /// Every allocation: (address, container ID, ifname).
    fn entries(&self) -> Result<Vec<(Ipv4Addr, String, String)>, Error> {
        let read = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("vendor-ipam: cannot read the store: {e}")))?;
        let mut out = Vec::new();
        for entry in read.flatten() {
            let Some(ip) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let mut lines = text.lines();
            let (id, ifname) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
            out.push((ip, id.to_string(), ifname.to_string()));
        }
        out.sort();
        Ok(out)
    }

    fn release(&self, ip: Ipv4Addr) -> Result<(), Error> {
        match std::fs::remove_file(self.dir.join(ip.to_string())) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("vendor-ipam: cannot release {ip}: {e}"))),
        }
    }

    /// The broken variant's record of a released attachment (hex, so any ID is a file name).
    fn released_marker(&self, id: &str, ifname: &str) -> PathBuf {
        let hex: String = format!("{id}\n{ifname}")
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(RELEASED_DIR).join(hex)
    }
}

fn owned<'a>(
    entries: &'a [(Ipv4Addr, String, String)],
    id: &'a str,
    ifname: &'a str,
) -> impl Iterator<Item = Ipv4Addr> + 'a {
    entries
        .iter()
        .filter(move |(_, i, n)| i == id && n == ifname)
        .map(|(ip, _, _)| *ip)
}

impl Plugin for VendorIpam {
    fn about(&self) -> String {
        format!("vendor-ipam {}", env!("CARGO_PKG_VERSION"))
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        let net = subnet(args)?;
        let store = Store::open(&args.conf.name, true)?.expect("created");
        let entries = store.entries()?;
        if let Some(ip) = owned(&entries, &args.container_id, &args.ifname).next() {
            return Err(Error::plugin(
                CODE_DUPLICATE,
                format!(
                    "vendor-ipam: {ip} is already allocated to container {} (ifname {})",
                    args.container_id, args.ifname
                ),
            ));
        }
        let gateway = net.hosts().next().expect("prefix at most 30");
        let ip = net
            .hosts()
            .skip(1)
            .find(|ip| !entries.iter().any(|(taken, _, _)| taken == ip))
            .ok_or_else(|| {
                Error::plugin(
                    CODE_EXHAUSTED,
                    format!("vendor-ipam: no free address in {net}"),
                )
            })?;
        std::fs::write(
            store.dir.join(ip.to_string()),
            format!("{}\n{}\n", args.container_id, args.ifname),
        )
        .map_err(|e| Error::io(format!("vendor-ipam: cannot record {ip}: {e}")))?;
        if self.broken_del {
            let _ = std::fs::remove_file(store.released_marker(&args.container_id, &args.ifname));
        }
        let mut result = Result100::new(SpecVersion::LATEST);
        result.ips.push(IpConfig {
            interface: None,
            address: IpNet::V4(Ipv4Net::new(ip, net.prefix_len()).expect("valid prefix")),
            gateway: Some(gateway.into()),
        });
        Ok(CniResult::V1(result))
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        let net = subnet(args)?;
        let missing = || {
            Error::plugin(
                CODE_NOT_ALLOCATED,
                format!(
                    "vendor-ipam: no address is allocated to container {} (ifname {})",
                    args.container_id, args.ifname
                ),
            )
        };
        let store = Store::open(&args.conf.name, false)?.ok_or_else(missing)?;
        let entries = store.entries()?;
        let mine: Vec<Ipv4Addr> = owned(&entries, &args.container_id, &args.ifname).collect();
        if mine.is_empty() {
            return Err(missing());
        }
        if let Some(prev) = args.prev_result()? {
            for addr in prev.to_v1().ips.iter().map(|c| c.address.addr()) {
                if let std::net::IpAddr::V4(v4) = addr {
                    if net.contains(&v4) && !mine.contains(&v4) {
                        return Err(Error::plugin(
                            CODE_NOT_ALLOCATED,
                            format!("vendor-ipam: {v4} from prevResult is not this attachment's"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        let Some(store) = Store::open(&args.conf.name, false)? else {
            return Ok(());
        };
        let entries = store.entries()?;
        let mine: Vec<Ipv4Addr> = owned(&entries, &args.container_id, &args.ifname).collect();
        if self.broken_del {
            let marker = store.released_marker(&args.container_id, &args.ifname);
            if mine.is_empty() && marker.exists() {
                return Err(Error::plugin(
                    CODE_ALREADY_RELEASED,
                    format!(
                        "vendor-ipam: container {} (ifname {}) was already released",
                        args.container_id, args.ifname
                    ),
                ));
            }
            if !mine.is_empty() {
                let _ = std::fs::create_dir_all(store.dir.join(RELEASED_DIR));
                let _ = std::fs::write(&marker, b"");
            }
        }
        for ip in mine {
            store.release(ip)?;
        }
        Ok(())
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        let Some(valid) = args.conf.gc_valid_attachments() else {
            return Ok(());
        };
        let Some(store) = Store::open(&args.conf.name, false)? else {
            return Ok(());
        };
        let keep = |id: &str, ifname: &str| {
            valid
                .iter()
                .any(|a: &Attachment| a.container_id == id && a.ifname == ifname)
        };
        for (ip, id, ifname) in store.entries()? {
            if !keep(&id, &ifname) {
                store.release(ip)?;
            }
        }
        Ok(())
    }
}
