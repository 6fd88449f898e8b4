//! `cni-test-plugin`: a small plugin built on [`cni::skel`] whose behaviour is chosen by keys of
//! its own configuration. It never touches a network namespace, so any path works as
//! `CNI_NETNS`; the tests of this crate drive it directly (`tests/skel_cli.rs`), and the
//! cnitool crate's through `cnitool` (`cnitool/tests/cnitool.rs`).
//!
//! Configuration keys (all optional):
//! - `testAddress` (CIDR): ADD adds an `ips` entry with this address on the new interface.
//! - `logFile` (path): every invocation that reaches the plugin appends one JSON line with the
//!   verb, the `CNI_*` parameters, the request as JSON and, for GC, the valid attachments.
//! - `failOn` (verb): that verb fails with code 100.
//! - `panicOn` (verb): that verb panics.
//! - `noiseOn` (verb): that verb writes junk to stdout (`println!`, `print!` and a child
//!   process); skel's stdout guard must keep it off the result channel.
//! - `unavailable` (bool): STATUS fails with code 50.
//! - `tag` (any JSON): not interpreted; lets tests tell list entries apart in the log.
//!
//! ADD takes `prevResult` (or an empty 1.1.0 result), appends the interface
//! `{name: CNI_IFNAME, sandbox: CNI_NETNS}` and returns it; CHECK fails without `prevResult`;
//! DEL, GC and STATUS succeed unless told otherwise.

use std::io::Write;

use cni::error::ErrorCode;
use cni::result::{
    CniResult, Interface, IpConfig, IpConfig040, IpVersion, LegacyIpConfig, Result100,
};
use cni::skel::{plugin_main, CmdArgs, Plugin};
use cni::{Command, Error, SpecVersion};
use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{json, Value};

/// Code for `failOn`.
const INJECTED_FAILURE: u32 = 100;
/// Code for CHECK without `prevResult`.
const CHECK_WITHOUT_PREV_RESULT: u32 = 101;
/// Code for a log file that cannot be written.
const LOG_FAILURE: u32 = 102;

/// The plugin's own keys, read from the request's unknown keys.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    test_address: Option<String>,
    log_file: Option<String>,
    fail_on: Option<String>,
    panic_on: Option<String>,
    noise_on: Option<String>,
    #[serde(default)]
    unavailable: bool,
}

impl Options {
    fn from_args(args: &CmdArgs) -> Result<Options, Error> {
        serde_json::from_value(Value::Object(args.conf.extra.clone()))
            .map_err(|e| Error::decode("invalid cni-test-plugin options").with_details(e))
    }

    fn test_address(&self) -> Result<Option<IpNet>, Error> {
        self.test_address
            .as_deref()
            .map(|s| {
                s.parse::<IpNet>().map_err(|e| {
                    Error::invalid_config(format!("testAddress {s:?} is not a CIDR"))
                        .with_details(e)
                })
            })
            .transpose()
    }
}

fn verb_matches(opt: &Option<String>, command: Command) -> bool {
    opt.as_deref() == Some(command.as_str())
}

struct TestPlugin;

impl TestPlugin {
    /// Everything common to the verbs: log the call, then make the requested noise, panic or
    /// failure. Returns the options for the verb's own work.
    fn begin(&self, args: &CmdArgs) -> Result<Options, Error> {
        let opts = Options::from_args(args)?;
        if let Some(path) = &opts.log_file {
            log_invocation(path, args)?;
        }
        if verb_matches(&opts.noise_on, args.command) {
            make_noise(args.command);
        }
        if verb_matches(&opts.panic_on, args.command) {
            panic!("cni-test-plugin: panicOn {}", args.command);
        }
        if verb_matches(&opts.fail_on, args.command) {
            return Err(Error::plugin(
                INJECTED_FAILURE,
                format!("cni-test-plugin: injected failure on {}", args.command),
            ));
        }
        Ok(opts)
    }
}

fn log_invocation(path: &str, args: &CmdArgs) -> Result<(), Error> {
    let stdin: Value = serde_json::from_slice(&args.stdin).unwrap_or(Value::Null);
    let mut line = json!({
        "command": args.command.as_str(),
        "containerID": args.container_id,
        "netns": args.netns,
        "ifname": args.ifname,
        "args": args.raw_args,
        "path": args.path,
        "stdin": stdin,
    });
    if args.command == Command::Gc {
        line["validAttachments"] =
            serde_json::to_value(args.conf.gc_valid_attachments()).expect("attachments serialize");
    }
    let mut text = line.to_string();
    text.push('\n');
    // One write per line with O_APPEND, so concurrent invocations do not interleave.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| {
            Error::plugin(LOG_FAILURE, format!("cannot write log file {path}")).with_details(e)
        })
}

/// Writes to fd 1 in three ways; skel has pointed fd 1 at stderr, so none of it may reach the
/// runtime's stdout.
fn make_noise(command: Command) {
    println!("noise: println during {command}");
    print!("noise: unterminated print during {command}");
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("echo 'noise: child process during {command}'"))
        .status();
}

/// Appends the interface (and address) of this invocation to `prev`, in `prev`'s own layout.
fn extend_result(prev: Option<CniResult>, iface: Interface, address: Option<IpNet>) -> CniResult {
    match prev.unwrap_or_else(|| Result100::new(SpecVersion::V1_1_0).into()) {
        CniResult::V1(mut r) => {
            r.interfaces.push(iface);
            if let Some(address) = address {
                r.ips.push(IpConfig {
                    interface: Some(r.interfaces.len() - 1),
                    address,
                    gateway: None,
                });
            }
            CniResult::V1(r)
        }
        CniResult::V04(mut r) => {
            r.interfaces.push(iface);
            if let Some(address) = address {
                r.ips.push(IpConfig040 {
                    version: IpVersion::of(&address),
                    interface: Some(r.interfaces.len() - 1),
                    address,
                    gateway: None,
                });
            }
            CniResult::V04(r)
        }
        // The legacy layout has no interfaces; the address fills its family's empty slot.
        CniResult::Legacy(mut r) => {
            if let Some(address) = address {
                let slot = match address {
                    IpNet::V4(_) => &mut r.ip4,
                    IpNet::V6(_) => &mut r.ip6,
                };
                slot.get_or_insert(LegacyIpConfig {
                    ip: address,
                    gateway: None,
                    routes: Vec::new(),
                });
            }
            CniResult::Legacy(r)
        }
    }
}

impl Plugin for TestPlugin {
    fn about(&self) -> String {
        "cni-test-plugin: a configurable test plugin of the cni crate".into()
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        let opts = self.begin(args)?;
        let address = opts.test_address()?;
        let iface = Interface {
            name: args.ifname.clone(),
            sandbox: args.netns.clone(),
            ..Interface::default()
        };
        Ok(extend_result(args.prev_result()?, iface, address))
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        self.begin(args)?;
        match args.prev_result()? {
            Some(_) => Ok(()),
            None => Err(Error::new(
                ErrorCode::Other(CHECK_WITHOUT_PREV_RESULT),
                "cni-test-plugin: CHECK needs a prevResult",
            )),
        }
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        self.begin(args).map(drop)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        let opts = self.begin(args)?;
        if opts.unavailable {
            return Err(Error::new(
                ErrorCode::PluginNotAvailable,
                "cni-test-plugin: configured as unavailable",
            ));
        }
        Ok(())
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        self.begin(args).map(drop)
    }
}

fn main() {
    plugin_main(TestPlugin)
}
