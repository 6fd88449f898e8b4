//! Link operations: look up and list, create (veth, bridge, macvlan, ipvlan, vlan), delete,
//! up/down, promiscuous and all-multicast mode, MTU, MAC, transmit queue length (alone or
//! several at once), name, namespace, master, macvlan queue length.

use std::os::fd::BorrowedFd;

use super::Netlink;
use crate::error::{NetlinkError, Result};
use crate::socket::{NLM_F_CREATE, NLM_F_EXCL};
use crate::types::{
    format_mac, Link, LinkChange, LinkId, LinkSpec, IFF_ALLMULTI, IFF_PROMISC, IFF_UP,
};
use crate::wire::link::{self as wire, SetLink};
use crate::wire::{RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, RTM_SETLINK};

impl Netlink {
    /// Looks a link up by name or index.
    pub fn link<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<Link> {
        let id = id.into();
        let op = format!("get link {id}");
        let msg = wire::get_link_message(id);
        let replies = self.socket.request(&op, RTM_GETLINK, 0, &msg)?;
        wire::links_from(&op, &replies)?
            .into_iter()
            .next()
            .ok_or_else(|| NetlinkError::decode(&op, "no link in the reply"))
    }

    /// Every link of the namespace, with kind, master and parent (peer) indexes.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let op = "list links";
        let replies = self
            .socket
            .dump(op, RTM_GETLINK, &wire::dump_links_message())?;
        wire::links_from(op, &replies)
    }

    /// Creates a link (`NLM_F_CREATE | NLM_F_EXCL`: an existing name is
    /// [`NetlinkError::Exists`]; a kind this kernel lacks is `EOPNOTSUPP`, see
    /// [`NetlinkError::is_not_supported`]). The link is created down; look it up by name
    /// (in the namespace it went to) for its index.
    pub fn create_link(&mut self, spec: &LinkSpec<'_>) -> Result<()> {
        let op = format!("create {} link {:?}", spec.kind.name(), spec.name);
        let msg = wire::new_link_message(spec);
        self.socket
            .request(&op, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &msg)
            .map(drop)
    }

    /// Deletes a link (a veth's peer goes with it). A missing link is
    /// [`NetlinkError::NotFound`].
    pub fn delete_link<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<()> {
        let id = id.into();
        let op = format!("delete link {id}");
        self.socket
            .request(&op, RTM_DELLINK, 0, &wire::link_message(id))
            .map(drop)
    }

    /// Sets a link (by index, or by name without a lookup first) administratively up.
    pub fn set_up<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<()> {
        self.set_flags(id.into(), IFF_UP, IFF_UP, "set link up")
    }

    /// Sets a link administratively down.
    pub fn set_down<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<()> {
        self.set_flags(id.into(), 0, IFF_UP, "set link down")
    }

    /// Turns promiscuous mode (`IFF_PROMISC`) on or off.
    pub fn set_promisc<'a>(&mut self, id: impl Into<LinkId<'a>>, on: bool) -> Result<()> {
        let flags = if on { IFF_PROMISC } else { 0 };
        self.set_flags(id.into(), flags, IFF_PROMISC, "set promiscuous mode")
    }

    /// Turns all-multicast mode (`IFF_ALLMULTI`) on or off.
    pub fn set_allmulti<'a>(&mut self, id: impl Into<LinkId<'a>>, on: bool) -> Result<()> {
        let flags = if on { IFF_ALLMULTI } else { 0 };
        self.set_flags(id.into(), flags, IFF_ALLMULTI, "set all-multicast mode")
    }

    /// Changes the `IFF_*` flags selected by `mask` to their values in `flags`.
    fn set_flags(&mut self, id: LinkId<'_>, flags: u32, mask: u32, what: &str) -> Result<()> {
        let msg = wire::set_flags_message(id, flags, mask);
        let op = format!("{what} ({id})");
        self.socket.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// One `RTM_SETLINK` with one attribute.
    fn set_attribute(&mut self, index: u32, change: SetLink<'_>, what: &str) -> Result<()> {
        let msg = wire::set_link_message(index, change);
        let op = format!("{what} (index {index})");
        self.socket.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Sets a macvlan's broadcast queue length (`IFLA_MACVLAN_BC_QUEUE_LEN`), a change of the
    /// link's kind data, which the kernel takes through `RTM_NEWLINK` without create flags.
    pub fn set_macvlan_bc_queue_len(&mut self, index: u32, len: u32) -> Result<()> {
        let msg = wire::macvlan_bc_queue_len_message(index, len);
        let op = format!("set macvlan bcqueuelen {len} (index {index})");
        self.socket.request(&op, RTM_NEWLINK, 0, &msg).map(drop)
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<()> {
        self.set_attribute(index, SetLink::Mtu(mtu), &format!("set MTU {mtu}"))
    }

    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<()> {
        let what = format!("set MAC {}", format_mac(&mac));
        self.set_attribute(index, SetLink::Mac(mac), &what)
    }

    /// Sets the transmit queue length (`IFLA_TXQLEN`).
    pub fn set_tx_queue_len(&mut self, index: u32, len: u32) -> Result<()> {
        let what = format!("set txqueuelen {len}");
        self.set_attribute(index, SetLink::TxQueueLen(len), &what)
    }

    /// The transmit queue length (`IFLA_TXQLEN`) of a link.
    pub fn tx_queue_len<'a>(&mut self, id: impl Into<LinkId<'a>>) -> Result<u32> {
        let id = id.into();
        let op = format!("get txqueuelen of link {id}");
        let msg = wire::get_link_message(id);
        let replies = self.socket.request(&op, RTM_GETLINK, 0, &msg)?;
        wire::tx_queue_len_from(&op, &replies)?
            .ok_or_else(|| NetlinkError::decode(&op, "no IFLA_TXQLEN in the reply"))
    }

    /// Changes several attributes of link `index` in one `RTM_SETLINK`: the kernel applies
    /// them in its own order (address, MTU, flags, queue length) and stops at the first it
    /// refuses, keeping those applied before it. An empty change sends nothing.
    pub fn set_link_attrs(&mut self, index: u32, change: &LinkChange) -> Result<()> {
        if change.is_empty() {
            return Ok(());
        }
        let msg = wire::set_link_attrs_message(index, change);
        let op = format!("set link attributes {change} (index {index})");
        self.socket.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Renames a link. The kernel refuses (`EBUSY`) while the link is up.
    pub fn rename(&mut self, index: u32, name: &str) -> Result<()> {
        let what = format!("rename link to {name:?}");
        self.set_attribute(index, SetLink::Name(name), &what)
    }

    /// Moves a link to the namespace open at `netns`. Its index may change there, and it
    /// arrives down.
    pub fn set_netns(&mut self, index: u32, netns: BorrowedFd<'_>) -> Result<()> {
        self.set_attribute(
            index,
            SetLink::Netns(netns),
            "move link to another namespace",
        )
    }

    /// Makes the link a port of `master` (a bridge's index).
    pub fn set_master(&mut self, index: u32, master: u32) -> Result<()> {
        let what = format!("set master index {master}");
        self.set_attribute(index, SetLink::Master(master), &what)
    }

    /// Detaches the link from its master.
    pub fn set_nomaster(&mut self, index: u32) -> Result<()> {
        self.set_attribute(index, SetLink::Master(0), "set nomaster")
    }
}
