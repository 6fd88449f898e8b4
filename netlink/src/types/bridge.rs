//! Bridge ports and VLANs: a port's settings ([`BridgePort`]), one VLAN of a VLAN table
//! ([`BridgeVlan`]) and whose table a request changes ([`VlanTable`]).

/// Bridge port settings (`IFLA_BRPORT_*`). `None` leaves a setting as it is when writing,
/// and means "not reported" when reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgePort {
    /// Hairpin mode (`IFLA_BRPORT_MODE`): frames may leave by the port they came in on.
    pub hairpin: Option<bool>,
    /// The bridge learns source MACs seen on this port.
    pub learning: Option<bool>,
    /// Isolated ports cannot talk to each other, only to non-isolated ones.
    pub isolated: Option<bool>,
    /// Unknown-destination unicast is flooded to this port.
    pub unicast_flood: Option<bool>,
    /// The bridge answers ARP requests for this port's neighbours.
    pub proxy_arp: Option<bool>,
}

/// One VLAN of a bridge port's (or bridge's own) VLAN table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BridgeVlan {
    pub vid: u16,
    /// Untagged frames arriving on the port belong to this VLAN.
    pub pvid: bool,
    /// Frames of this VLAN leave the port untagged.
    pub untagged: bool,
}

impl BridgeVlan {
    /// A tagged VLAN (a trunk member).
    pub fn tagged(vid: u16) -> BridgeVlan {
        BridgeVlan {
            vid,
            pvid: false,
            untagged: false,
        }
    }

    /// The port's native VLAN: PVID, egress untagged (an access port).
    pub fn access(vid: u16) -> BridgeVlan {
        BridgeVlan {
            vid,
            pvid: true,
            untagged: true,
        }
    }
}

/// Whose VLAN table a bridge VLAN request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanTable {
    /// The link is a bridge port; the entry goes in its bridge's table for that port
    /// (`BRIDGE_FLAGS_MASTER`, `bridge vlan add ... master`).
    Port,
    /// The link is the bridge device itself; the entry is the bridge's own
    /// (`BRIDGE_FLAGS_SELF`, `bridge vlan add dev br0 ... self`).
    Bridge,
}
