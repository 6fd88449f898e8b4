//! One module per plugin, named as upstream's binary: its configuration type (`config`), its
//! verbs and its `PLUGIN`, the [`cni::Plugin`] that `src/bin/<name>.rs` hands to
//! [`cni::skel::plugin_main`]: a [`Verbs`] table of the module's verb functions (macvlan,
//! ipvlan and vlan share theirs: [`crate::sublink::SublinkPlugin`]).

pub mod bridge;
pub mod dhcp;
pub mod host_local;
pub mod ipvlan;
pub mod loopback;
pub mod macvlan;
pub mod portmap;
pub mod ptp;
pub mod tuning;
pub mod vlan;

use cni::{CmdArgs, CniResult, Error, Plugin};

/// A plugin given as the functions that serve its verbs.
pub struct Verbs {
    /// The upstream binary's name.
    pub name: &'static str,
    pub add: fn(&CmdArgs) -> Result<CniResult, Error>,
    pub check: fn(&CmdArgs) -> Result<(), Error>,
    pub del: fn(&CmdArgs) -> Result<(), Error>,
    pub status: fn(&CmdArgs) -> Result<(), Error>,
    pub gc: fn(&CmdArgs) -> Result<(), Error>,
}

/// Runs `verb` holding the attachment's lock ([`crate::attachment_lock`]), unless `plugin`
/// is an IPAM plugin: it runs as a delegate inside a verb that holds the lock already.
pub fn locked<T>(
    plugin: &str,
    args: &CmdArgs,
    verb: impl FnOnce(&CmdArgs) -> Result<T, Error>,
) -> Result<T, Error> {
    if plugin == "host-local" || plugin == "dhcp" {
        return verb(args);
    }
    let _lock = crate::attachment_lock::hold(args)?;
    verb(args)
}

/// STATUS or GC of a plugin that holds no state and depends on nothing: success.
pub fn nothing_held(_: &CmdArgs) -> Result<(), Error> {
    Ok(())
}

impl Plugin for Verbs {
    fn about(&self) -> String {
        crate::about(self.name)
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        locked(self.name, args, self.add)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        locked(self.name, args, self.check)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        locked(self.name, args, self.del)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        (self.status)(args)
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        (self.gc)(args)
    }
}
