//! `cnitool`: add, check or remove an attachment of a network to a network namespace, with the
//! upstream tool's interface.
//!
//! ```text
//! cnitool add|check|del <network> <netns-path>
//! cnitool gc <network> [<containerID>/<ifname> ...]   # listed attachments are kept, others collected
//! cnitool status <network>
//! ```
//! Environment: `NETCONFPATH` (configuration directory, default `/etc/cni/net.d`), `CNI_PATH`
//! (plugin directories), `CNI_IFNAME` (default `eth0`), `CNI_ARGS`, `CAP_ARGS` (a JSON object
//! of capability arguments). Extensions: `CNI_CONTAINERID` overrides the container ID derived
//! from the netns path, `CNI_CACHE_DIR` the result cache (default `/var/lib/cni`),
//! `CNI_TIMEOUT` (seconds) bounds each plugin run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sha2::{Digest, Sha512};

use cni::args::CniArgs;
use cni::config::Attachment;
use cni::env::split_path;
use cni::runtime::{confdir, CniConfig, RuntimeConf, DEFAULT_CACHE_DIR};

#[derive(Parser)]
#[command(
    name = "cnitool",
    about = "Add, check, or remove network interfaces from a network namespace",
    version = cni::build_info::VERSION_AND_BUILD
)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Run ADD for every plugin of the network and print the result.
    Add { network: String, netns: String },
    /// Run CHECK with the cached result.
    Check { network: String, netns: String },
    /// Run DEL in reverse order and drop the cached result.
    Del { network: String, netns: String },
    /// Collect every cached attachment not listed (as CONTAINERID/IFNAME), then run GC.
    Gc { network: String, valid: Vec<String> },
    /// Ask every plugin whether it can serve ADD.
    Status { network: String },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The upstream tool's container ID: `cnitool-` and the hex SHA-512 of the netns path, cut to 20.
fn container_id_for(netns: &str) -> String {
    let digest = Sha512::digest(netns.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("cnitool-{hex}").chars().take(20).collect()
}

fn run(cli: Cli) -> Result<Option<String>, String> {
    let conf_dir = PathBuf::from(env("NETCONFPATH").unwrap_or_else(|| "/etc/cni/net.d".into()));
    let network = match &cli.verb {
        Verb::Add { network, .. }
        | Verb::Check { network, .. }
        | Verb::Del { network, .. }
        | Verb::Gc { network, .. }
        | Verb::Status { network } => network.clone(),
    };
    let list = confdir::load_by_name(&conf_dir, &network).map_err(|e| e.to_string())?;
    let mut cfg = CniConfig::new(
        split_path(&env("CNI_PATH").unwrap_or_default()),
        env("CNI_CACHE_DIR").unwrap_or_else(|| DEFAULT_CACHE_DIR.into()),
    );
    if let Some(t) = env("CNI_TIMEOUT") {
        let secs: f64 = t
            .parse()
            .map_err(|_| format!("invalid CNI_TIMEOUT {t:?}"))?;
        cfg.timeout = Some(Duration::from_secs_f64(secs));
    }
    let attachment = |netns: &str| -> Result<RuntimeConf, String> {
        let args =
            CniArgs::parse(&env("CNI_ARGS").unwrap_or_default()).map_err(|e| e.to_string())?;
        let capability_args = match env("CAP_ARGS") {
            Some(s) => serde_json::from_str(&s).map_err(|e| format!("invalid CAP_ARGS: {e}"))?,
            None => Default::default(),
        };
        Ok(RuntimeConf {
            container_id: env("CNI_CONTAINERID").unwrap_or_else(|| container_id_for(netns)),
            netns: netns.to_string(),
            ifname: env("CNI_IFNAME").unwrap_or_else(|| "eth0".into()),
            args: args.pairs().to_vec(),
            capability_args,
        })
    };
    let text = |e: cni::runtime::RuntimeError| e.to_string();
    match &cli.verb {
        Verb::Add { netns, .. } => {
            let result = cfg
                .add_network_list(&list, &attachment(netns)?)
                .map_err(text)?;
            Ok(Some(result.to_json_pretty()))
        }
        Verb::Check { netns, .. } => cfg
            .check_network_list(&list, &attachment(netns)?)
            .map(|_| None)
            .map_err(text),
        Verb::Del { netns, .. } => cfg
            .del_network_list(&list, &attachment(netns)?)
            .map(|_| None)
            .map_err(text),
        Verb::Gc { valid, .. } => {
            let valid = valid
                .iter()
                .map(|v| {
                    let (c, i) = v
                        .split_once('/')
                        .ok_or_else(|| format!("expected CONTAINERID/IFNAME, got {v:?}"))?;
                    Ok(Attachment {
                        container_id: c.into(),
                        ifname: i.into(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            cfg.gc_network_list(&list, Some(&valid))
                .map(|_| None)
                .map_err(text)
        }
        Verb::Status { .. } => cfg.status_network_list(&list).map(|_| None).map_err(text),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(Some(out)) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cnitool: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn container_id_shape() {
        let id = super::container_id_for("/run/netns/x");
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("cnitool-"));
        assert!(cni::config::is_valid_identifier(&id));
    }
}
