//! Address operations: list a link's addresses, add one, delete one.

use ipnet::IpNet;

use super::Netlink;
use crate::error::Result;
use crate::socket::{NLM_F_CREATE, NLM_F_EXCL};
use crate::types::{Address, AddressSpec, Family};
use crate::wire::address as wire;
use crate::wire::{RTM_DELADDR, RTM_GETADDR, RTM_NEWADDR};

impl Netlink {
    /// Addresses of the link with index `index`, in the kernel's order, optionally of one
    /// family only.
    pub fn addresses(&mut self, index: u32, family: Option<Family>) -> Result<Vec<Address>> {
        let msg = wire::dump_addresses_message(family);
        let op = format!("list addresses (index {index})");
        let replies = self.socket.dump(&op, RTM_GETADDR, &msg)?;
        Ok(wire::addresses_from(&op, &replies)?
            .into_iter()
            .filter(|a| a.index == index && (family.is_none() || family == Some(a.family())))
            .collect())
    }

    /// Adds an address to link `index`; an existing one is
    /// [`NetlinkError::Exists`](crate::NetlinkError::Exists).
    pub fn add_address(&mut self, index: u32, spec: &AddressSpec) -> Result<()> {
        let op = format!("add address {} (index {index})", spec.net);
        let msg = wire::address_message(index, spec);
        self.socket
            .request(&op, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &msg)
            .map(drop)
    }

    /// Removes address `net` (address and prefix length) from link `index`; a missing one is
    /// [`NetlinkError::NotFound`](crate::NetlinkError::NotFound).
    pub fn delete_address(&mut self, index: u32, net: IpNet) -> Result<()> {
        let op = format!("delete address {net} (index {index})");
        let msg = wire::address_message(index, &AddressSpec::new(net));
        self.socket.request(&op, RTM_DELADDR, 0, &msg).map(drop)
    }
}
