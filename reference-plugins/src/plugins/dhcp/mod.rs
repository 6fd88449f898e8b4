//! dhcp IPAM: addresses from a DHCP server, through a long-running daemon (`dhcp daemon`,
//! [`daemon`]) that holds the leases. The plugin process is short and synchronous: it reads
//! the configuration ([`config`], option names in [`options`]) and asks the daemon over its
//! unix socket ([`client`], messages and framing in [`protocol`]).
//!
//! - ADD: the daemon acquires a DHCPv4 lease on `CNI_IFNAME` inside `CNI_NETNS` and answers
//!   the IPAM result: the address with option 1's mask, the first router as gateway, routes
//!   (option 121, else option 33 plus a default route) with `priority` as metric, and DNS
//!   from options 6, 15 and 119.
//! - DEL: the daemon sends DHCPRELEASE from the leased address and forgets the lease. An
//!   unknown lease, a gone namespace and an unreachable daemon are all success (the lease is
//!   then left to expire, so the interface plugin's own DEL still runs).
//! - With `dhcpv6: true` the daemon also (or, with `dhcpv4: false`, only) acquires one
//!   DHCPv6 address (IA_NA), a /128 in the result, with DNS from options 23 and 24; it is
//!   renewed, rebound and released like the DHCPv4 lease.
//! - CHECK: the daemon must hold live leases for the attachment whose addresses are among
//!   `prevResult`'s; nothing is sent to the DHCP server.
//! - STATUS: code 50 when the daemon does not answer.
//! - GC: the daemon releases the network's leases whose attachment is not in
//!   `cni.dev/valid-attachments`; an unreachable daemon is success (nothing to release here).
//!
//! Error codes: 4 (bad `CNI_ARGS` value, missing `CNI_NETNS`), 6/7 (configuration), 11
//! (ADD/CHECK: daemon not reachable), 50 (STATUS), [`CODE_NO_SERVER`], [`CODE_NO_LEASE`],
//! [`protocol::CODE_PROTOCOL`].
//!
//! # Where we differ from upstream dhcp, on purpose
//!
//! - The plugin-daemon protocol is ours (versioned JSON lines), not Go's gob RPC: our plugin
//!   and upstream's daemon (or the reverse) do not talk.
//! - The result carries DNS (options 6, 15, 119); upstream's has none.
//! - DHCPRELEASE leaves from the leased address (upstream sends it from 0.0.0.0, which
//!   dnsmasq ignores), so the server frees the address at once.
//! - Renewal REQUESTs carry neither requested address nor server identifier, and rebinding
//!   is a broadcast REQUEST (upstream starts over with DISCOVER).
//! - Leases are saved under the state directory and survive a daemon restart.
//! - CHECK sends no packet (upstream's CHECK acquires again); STATUS and GC are implemented.
//! - DEL succeeds when the daemon is unreachable (upstream fails, blocking the interface
//!   plugin's DEL).
//! - Option names also include those cni.dev documents (`classless-static-routes`, ...).
//! - At expiry the lease is dropped; the link is left as it is (upstream sets it down).
//! - DHCPv6 (`dhcpv6`); upstream has none.

pub mod client;
pub mod config;
pub mod daemon;
pub mod options;
pub mod protocol;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use cni::result::CniResult;
use cni::{CmdArgs, Error, ErrorCode};

use crate::plugins::Verbs;
use client::CallError;
use config::DhcpConfig;
use protocol::{AddRequest, AttachmentKey, Request, Response};

/// ADD: no DHCP server answered in time.
pub const CODE_NO_SERVER: u32 = 100;
/// CHECK: the daemon holds no live lease matching `prevResult`.
pub const CODE_NO_LEASE: u32 = 101;

/// How long ADD waits for the daemon (its acquisition gives up after `-resendtimeout`, 208 s
/// by default).
const ADD_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the other verbs wait.
const SHORT_TIMEOUT: Duration = Duration::from_secs(60);

fn attachment(args: &CmdArgs) -> AttachmentKey {
    AttachmentKey {
        container_id: args.container_id.clone(),
        network: args.conf.name.clone(),
        ifname: args.ifname.clone(),
    }
}

fn unexpected(resp: Response) -> Error {
    Error::plugin(
        protocol::CODE_PROTOCOL,
        format!("dhcp daemon gave an unexpected answer: {resp:?}"),
    )
}

fn expect_ok(resp: Response) -> Result<(), Error> {
    match resp {
        Response::Ok => Ok(()),
        Response::Error { error } => Err(error),
        other => Err(unexpected(other)),
    }
}

/// What a verb asks of the daemon, and at which socket, decided from the request alone: the
/// plan of a dhcp call ([`crate::plan`]).
pub struct DaemonCall {
    pub socket: PathBuf,
    pub request: Request,
}

/// ADD's call.
pub fn add_call(args: &CmdArgs) -> Result<DaemonCall, Error> {
    let cfg = DhcpConfig::parse(&args.stdin, &args.args)?;
    let netns = crate::netns::required(args)?.to_string();
    let request = Request::Add(AddRequest {
        attachment: attachment(args),
        netns,
        request: cfg.request,
        provide: cfg.provide,
        priority: cfg.priority,
        dhcpv4: cfg.dhcpv4,
        dhcpv6: cfg.dhcpv6,
    });
    Ok(DaemonCall {
        socket: cfg.socket_path,
        request,
    })
}

/// CHECK's call: the addresses of `prevResult` by family.
pub fn check_call(args: &CmdArgs) -> Result<DaemonCall, Error> {
    let cfg = DhcpConfig::parse(&args.stdin, &args.args)?;
    let prev: Vec<IpAddr> = args
        .prev_result()?
        .map(|r| r.to_v1().ips.iter().map(|c| c.address.addr()).collect())
        .unwrap_or_default();
    let request = Request::Check {
        attachment: attachment(args),
        addresses: prev
            .iter()
            .filter_map(|a| match a {
                IpAddr::V4(a) => Some(*a),
                IpAddr::V6(_) => None,
            })
            .collect(),
        addresses6: prev
            .iter()
            .filter_map(|a| match a {
                IpAddr::V6(a) => Some(*a),
                IpAddr::V4(_) => None,
            })
            .collect(),
    };
    Ok(DaemonCall {
        socket: cfg.socket_path,
        request,
    })
}

/// DEL's call, from the socket path alone (read leniently).
pub fn del_call(args: &CmdArgs) -> DaemonCall {
    DaemonCall {
        socket: DhcpConfig::socket_path_lenient(&args.stdin),
        request: Request::Del {
            attachment: attachment(args),
        },
    }
}

/// STATUS's call.
pub fn status_call(args: &CmdArgs) -> Result<DaemonCall, Error> {
    let cfg = DhcpConfig::parse(&args.stdin, &args.args)?;
    Ok(DaemonCall {
        socket: cfg.socket_path,
        request: Request::Status,
    })
}

/// GC's call; `None` without a valid-attachments list (nothing to collect).
pub fn gc_call(args: &CmdArgs) -> Option<DaemonCall> {
    let valid = args.conf.gc_valid_attachments()?;
    Some(DaemonCall {
        socket: DhcpConfig::socket_path_lenient(&args.stdin),
        request: Request::Gc {
            network: args.conf.name.clone(),
            valid,
        },
    })
}

/// The plan of `args`'s verb ([`crate::plan`]): the daemon call.
pub fn plan(args: &CmdArgs) -> Result<crate::plan::Plan, Error> {
    use cni::Command;
    let mut plan = crate::plan::Plan::new("dhcp", args.command);
    let call = match args.command {
        Command::Add => Some(add_call(args)?),
        Command::Check => Some(check_call(args)?),
        Command::Del => Some(del_call(args)),
        Command::Status => Some(status_call(args)?),
        Command::Gc => gc_call(args),
        Command::Version => None,
    };
    if let Some(call) = call {
        plan.push(crate::plan::Touch::Daemon {
            socket: call.socket,
            request: serde_json::to_value(&call.request).map_err(|e| {
                crate::error::internal(format!("dhcp: cannot encode the request: {e}"))
            })?,
        });
    }
    Ok(plan)
}

fn add(args: &CmdArgs) -> Result<CniResult, Error> {
    let DaemonCall { socket, request } = add_call(args)?;
    let resp = client::call(&socket, &request, ADD_TIMEOUT).map_err(|e| e.into_error(&socket))?;
    match resp {
        Response::Result { result } => CniResult::from_value(result, None).map_err(|e| {
            Error::plugin(
                protocol::CODE_PROTOCOL,
                "dhcp daemon sent a malformed result",
            )
            .with_details(e)
        }),
        Response::Error { error } => Err(error),
        other => Err(unexpected(other)),
    }
}

fn check(args: &CmdArgs) -> Result<(), Error> {
    let DaemonCall { socket, request } = check_call(args)?;
    let resp = client::call(&socket, &request, SHORT_TIMEOUT).map_err(|e| e.into_error(&socket))?;
    expect_ok(resp)
}

fn del(args: &CmdArgs) -> Result<(), Error> {
    let DaemonCall { socket, request } = del_call(args);
    match client::call(&socket, &request, SHORT_TIMEOUT) {
        Ok(resp) => expect_ok(resp),
        Err(CallError::Unreachable(e)) => {
            eprintln!(
                "dhcp: daemon not reachable at {} ({e}); the lease is left to expire",
                socket.display()
            );
            Ok(())
        }
        Err(CallError::NotASocket) => {
            eprintln!(
                "dhcp: {} is not a socket; the lease is left to expire",
                socket.display()
            );
            Ok(())
        }
        Err(CallError::Exchange(e)) => Err(e),
    }
}

fn status(args: &CmdArgs) -> Result<(), Error> {
    let DaemonCall { socket, request } = status_call(args)?;
    client::call(&socket, &request, Duration::from_secs(10))
        .map_err(|e| {
            let inner = e.into_error(&socket);
            Error::new(
                ErrorCode::PluginNotAvailable,
                format!("dhcp daemon is not available at {}", socket.display()),
            )
            .with_details(if inner.details.is_empty() {
                inner.msg
            } else {
                format!("{}: {}", inner.msg, inner.details)
            })
        })
        .and_then(|resp| {
            expect_ok(resp).map_err(|e| {
                Error::new(
                    ErrorCode::PluginNotAvailable,
                    "dhcp daemon is not available",
                )
                .with_details(e.msg)
            })
        })
}

fn gc(args: &CmdArgs) -> Result<(), Error> {
    let Some(DaemonCall { socket, request }) = gc_call(args) else {
        return Ok(());
    };
    match client::call(&socket, &request, SHORT_TIMEOUT) {
        Ok(resp) => expect_ok(resp),
        Err(CallError::Unreachable(_)) | Err(CallError::NotASocket) => Ok(()),
        Err(CallError::Exchange(e)) => Err(e),
    }
}

/// The `dhcp` binary (and the multicall binary started as `dhcp`): `dhcp daemon [flags]` runs
/// the daemon, anything else is the CNI plugin ([`PLUGIN`]).
pub fn main() -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("daemon") {
        std::process::exit(daemon::main(&args[1..]));
    }
    cni::skel::plugin_main(PLUGIN)
}

/// What the `dhcp` binary runs when its first argument is not `daemon`.
pub const PLUGIN: Verbs = Verbs {
    name: "dhcp",
    add,
    check,
    del,
    status,
    gc,
};
