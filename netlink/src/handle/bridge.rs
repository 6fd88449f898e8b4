//! Bridge port and VLAN operations: a port's options (hairpin, learning, isolation,
//! flooding, proxy ARP) and the VLAN tables of ports and bridges.

use super::Netlink;
use crate::error::Result;
use crate::types::{BridgePort, BridgeVlan, VlanTable};
use crate::wire::bridge as wire;
use crate::wire::{RTM_DELLINK, RTM_GETLINK, RTM_SETLINK};

impl Netlink {
    /// Changes the settings of bridge port `index` that `port` gives (`AF_BRIDGE`
    /// `RTM_SETLINK` with `IFLA_PROTINFO`). The link must already be a bridge port.
    pub fn set_bridge_port(&mut self, index: u32, port: &BridgePort) -> Result<()> {
        let Some(msg) = wire::set_port_message(index, port) else {
            return Ok(());
        };
        let op = format!("set bridge port options (index {index})");
        self.socket.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Hairpin mode of bridge port `index`.
    pub fn set_hairpin(&mut self, index: u32, on: bool) -> Result<()> {
        self.set_bridge_port(
            index,
            &BridgePort {
                hairpin: Some(on),
                ..BridgePort::default()
            },
        )
    }

    /// Adds `vlan` to the VLAN table of `index` (a port or the bridge itself, per `table`).
    /// Adding an existing VLAN updates its flags.
    pub fn bridge_vlan_add(
        &mut self,
        index: u32,
        vlan: BridgeVlan,
        table: VlanTable,
    ) -> Result<()> {
        let op = format!("add bridge vlan {} (index {index})", vlan.vid);
        let msg = wire::vlan_message(index, vlan, table);
        self.socket.request(&op, RTM_SETLINK, 0, &msg).map(drop)
    }

    /// Removes VLAN `vid` from the VLAN table of `index`.
    pub fn bridge_vlan_del(&mut self, index: u32, vid: u16, table: VlanTable) -> Result<()> {
        let op = format!("delete bridge vlan {vid} (index {index})");
        let msg = wire::vlan_message(index, BridgeVlan::tagged(vid), table);
        self.socket.request(&op, RTM_DELLINK, 0, &msg).map(drop)
    }

    /// The VLAN table of bridge port (or bridge) `index`, VLAN by VLAN.
    pub fn bridge_vlans(&mut self, index: u32) -> Result<Vec<BridgeVlan>> {
        let op = format!("list bridge vlans (index {index})");
        let replies = self
            .socket
            .dump(&op, RTM_GETLINK, &wire::dump_vlans_message())?;
        wire::vlans_from(&op, &replies, index)
    }
}
