//! Requests for unit tests: a [`CmdArgs`] as skel would build it from a configuration.

use cni::{CmdArgs, Command, NetConf, SpecVersion};

/// `command` for container `c` on `eth0` in `netns`, with `conf` (JSON) as stdin.
pub fn cmd_args(command: Command, conf: &serde_json::Value, netns: Option<&str>) -> CmdArgs {
    let stdin = serde_json::to_vec(conf).unwrap();
    CmdArgs {
        command,
        container_id: "c".into(),
        netns: netns.map(String::from),
        ifname: "eth0".into(),
        args: Default::default(),
        raw_args: String::new(),
        path: Vec::new(),
        conf: NetConf::parse(&stdin).unwrap(),
        stdin,
        version: SpecVersion::V1_0_0,
    }
}
