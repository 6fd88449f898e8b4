//! portmap's iptables backend: not written yet. ADD and CHECK with this backend fail with
//! code 2 (unsupported field); DEL has nothing of this layout to remove.

use cni::{CmdArgs, Error, ErrorCode};

use super::config::PortmapConf;
use super::Addresses;

fn unsupported() -> Error {
    Error::new(
        ErrorCode::UnsupportedField,
        "portmap: the iptables backend is not implemented yet; use \"backend\": \"nftables\"",
    )
}

/// ADD with the iptables backend.
pub fn add(_conf: &PortmapConf, _args: &CmdArgs, _addrs: &Addresses) -> Result<(), Error> {
    Err(unsupported())
}

/// CHECK with the iptables backend.
pub fn check(_conf: &PortmapConf, _args: &CmdArgs, _addrs: &Addresses) -> Result<(), Error> {
    Err(unsupported())
}

/// DEL of the attachment's iptables layout.
pub fn del(_args: &CmdArgs) -> Result<(), Error> {
    Ok(())
}
