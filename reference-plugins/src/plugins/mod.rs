//! One module per plugin, named as upstream's binary: its configuration type (`config`), its
//! verbs and its [`cni::Plugin`] implementation. Each `src/bin/<name>.rs` only hands that
//! implementation to [`cni::skel::plugin_main`].

pub mod bridge;
pub mod host_local;
pub mod ipvlan;
pub mod loopback;
pub mod macvlan;
pub mod ptp;
pub mod vlan;
