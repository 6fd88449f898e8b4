//! Addresses: the family filter ([`Family`]), an address as configured on a link
//! ([`Address`], with its `IFA_F_*` flags) and an address to add ([`AddressSpec`]).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// `IFA_F_TENTATIVE`: an IPv6 address still doing duplicate address detection.
pub const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_DADFAILED`: duplicate address detection found the address in use.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_NODAD`.
pub const IFA_F_NODAD: u32 = 0x02;

/// An address family filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// An address configured on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Index of the link carrying it.
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// `RT_SCOPE_*` (0 universe, 253 link, 254 host).
    pub scope: u8,
    /// `IFA_F_*` flags ([`IFA_F_TENTATIVE`], [`IFA_F_DADFAILED`]...).
    pub flags: u32,
}

impl Address {
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// The address with its prefix length, host bits kept (`10.1.0.5/24`).
    pub fn net(&self) -> IpNet {
        IpNet::new(self.addr, self.prefix_len).expect("the kernel reports valid prefixes")
    }

    /// IPv6 duplicate address detection is still running.
    pub fn is_tentative(&self) -> bool {
        self.flags & IFA_F_TENTATIVE != 0
    }

    /// IPv6 duplicate address detection found the address in use elsewhere.
    pub fn is_dad_failed(&self) -> bool {
        self.flags & IFA_F_DADFAILED != 0
    }
}

/// An address to add to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressSpec {
    /// The address with its prefix length (`10.1.0.5/24`).
    pub net: IpNet,
    /// IPv4 only: the broadcast address (`IFA_BROADCAST`). `None` sends none, as
    /// `ip addr add` does without `brd`; see [`AddressSpec::with_default_broadcast`].
    pub broadcast: Option<Ipv4Addr>,
    /// IPv6 only: skip duplicate address detection (`IFA_F_NODAD`), so the address is
    /// usable at once.
    pub nodad: bool,
}

impl AddressSpec {
    pub fn new(net: IpNet) -> AddressSpec {
        AddressSpec {
            net,
            broadcast: None,
            nodad: false,
        }
    }

    /// For an IPv4 address with a prefix shorter than /31, the subnet's last address as
    /// broadcast (what `ip addr add ... brd +` and Go's netlink library set).
    pub fn with_default_broadcast(mut self) -> Self {
        if let IpNet::V4(v4) = self.net {
            if v4.prefix_len() < 31 {
                self.broadcast = Some(v4.broadcast());
            }
        }
        self
    }

    pub fn with_nodad(mut self) -> Self {
        self.nodad = true;
        self
    }
}
