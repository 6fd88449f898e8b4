//! The container's network namespace (`CNI_NETNS`), opened the same way by every plugin and
//! verb.
//!
//! - ADD and CHECK need it: [`required`] and [`open`] fail when it is unset or cannot be
//!   entered.
//! - DEL must succeed when the container's network is gone, so [`open_for_del`] answers
//!   `None` when there is nothing to work in: `CNI_NETNS` unset, a path that no longer exists,
//!   or a path that is not a network namespace (a runtime that tore the namespace down first
//!   leaves its bind-mount target behind as a plain file). Anything else (permission denied,
//!   say) is still an error: the namespace may be there and hold what DEL must remove.
//!   [`delete_container_link`] is DEL's removal of the attachment's link under that rule.

use cni::{CmdArgs, Error};

use crate::error::Context;
use crate::iface;
use crate::netlink::{Netlink, NetlinkError};

/// `CNI_NETNS`, which skel guarantees for ADD and CHECK; only its absence is an error here.
pub fn required(args: &CmdArgs) -> Result<&str, Error> {
    args.netns
        .as_deref()
        .ok_or_else(|| Error::invalid_env("CNI_NETNS is required"))
}

/// A handle in the container's namespace, for ADD and CHECK.
pub fn open(args: &CmdArgs) -> Result<Netlink, Error> {
    open_path(required(args)?)
}

/// A handle in the namespace at `netns`, for ADD and CHECK.
pub fn open_path(netns: &str) -> Result<Netlink, Error> {
    Netlink::open_in(netns).with_context(|| format!("failed to open netns {netns:?}"))
}

/// A handle in the container's namespace for DEL, or `None` when the namespace is gone
/// (see the module documentation).
pub fn open_for_del(args: &CmdArgs) -> Result<Option<Netlink>, Error> {
    open_path_for_del(args.netns.as_deref())
}

/// [`open_for_del`] for a `CNI_NETNS` value.
pub fn open_path_for_del(netns: Option<&str>) -> Result<Option<Netlink>, Error> {
    let Some(netns) = netns else {
        return Ok(None);
    };
    match Netlink::open_in(netns) {
        Ok(nl) => Ok(Some(nl)),
        Err(e) if is_gone(&e) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("failed to open netns {netns:?}")),
    }
}

/// DEL's removal of the container's `CNI_IFNAME` (a veth's peer goes with it): success when
/// the namespace ([`open_for_del`]) or the link is gone already.
pub fn delete_container_link(args: &CmdArgs) -> Result<(), Error> {
    let Some(mut cont) = open_for_del(args)? else {
        return Ok(());
    };
    iface::delete_link_and_addrs(&mut cont, &args.ifname)
        .map(drop)
        .with_context(|| format!("failed to delete {:?}", args.ifname))
}

/// Whether opening a namespace failed because there is none at the path: it does not exist,
/// or `setns` refused it (`EINVAL`: a regular file, a directory, another kind of namespace).
pub fn is_gone(e: &NetlinkError) -> bool {
    match e {
        NetlinkError::NetnsNotFound { .. } => true,
        NetlinkError::EnterNetns { source, .. } => source.raw_os_error() == Some(libc::EINVAL),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(netns: Option<&str>) -> CmdArgs {
        let conf = serde_json::json!({"cniVersion": "1.0.0", "name": "n", "type": "t"});
        crate::test_args::cmd_args(cni::Command::Del, &conf, netns)
    }

    #[test]
    fn del_treats_missing_and_non_namespace_paths_as_gone() {
        assert!(open_for_del(&args(None)).unwrap().is_none());
        assert!(open_for_del(&args(Some("/run/netns/cnirs-never-existed")))
            .unwrap()
            .is_none());
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().to_str().unwrap();
        assert!(open_for_del(&args(Some(path))).unwrap().is_none());
        let dir = tempfile::tempdir().unwrap();
        assert!(open_for_del(&args(Some(dir.path().to_str().unwrap())))
            .unwrap()
            .is_none());
    }

    #[test]
    fn add_and_check_need_a_namespace() {
        assert_eq!(
            required(&args(None)).unwrap_err().code,
            cni::ErrorCode::InvalidEnvironmentVariables
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        let e = open(&args(Some(file.path().to_str().unwrap()))).unwrap_err();
        assert!(e.msg.starts_with("failed to open netns"), "{}", e.msg);
    }
}
