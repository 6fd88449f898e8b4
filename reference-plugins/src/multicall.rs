//! One binary for every plugin: [`PLUGINS`] names each plugin with the function that runs it,
//! and [`main`] picks the plugin by the name the binary was started under (the basename of
//! `argv[0]`). Installed once and hard-linked under each upstream name, the set costs the disk
//! of one binary (see `BENCH.md`, "Size and start-up of the installed set").
//!
//! Started under its own name, the binary answers `--version`, `--list` (the plugin names, one
//! a line, for installers) and `--help`, and runs [`crate::installer`]'s `install` and `wait`;
//! anything else is a usage error (exit 2). Started under
//! a name it does not know with `CNI_COMMAND` set, it answers a CNI error object (code 999)
//! like any plugin, so a runtime sees a readable failure.

use std::ffi::OsStr;
use std::path::Path;

use cni::skel::plugin_main as run;

use crate::plugins;

/// The multicall binary's own name (its cargo target).
pub const NAME: &str = "cni-rs-plugins";

/// A plugin the multicall binary can run: its upstream binary name and its entry point.
pub struct Entry {
    pub name: &'static str,
    pub main: fn() -> !,
}

/// An [`Entry`]; a `const fn` so that each line of [`PLUGINS`] stays one line.
const fn entry(name: &'static str, main: fn() -> !) -> Entry {
    Entry { name, main }
}

/// Every plugin, by upstream name. Adding a plugin is one line here (and its `src/bin/` file);
/// a plugin with its own command line (a daemon mode) gives its `main` instead of `run`.
pub const PLUGINS: &[Entry] = &[
    entry("bridge", || run(plugins::bridge::PLUGIN)),
    entry("dhcp", plugins::dhcp::main),
    entry("host-local", || run(plugins::host_local::PLUGIN)),
    entry("ipvlan", || run(plugins::ipvlan::PLUGIN)),
    entry("loopback", || run(plugins::loopback::PLUGIN)),
    entry("macvlan", || run(plugins::macvlan::PLUGIN)),
    entry("portmap", || run(plugins::portmap::PLUGIN)),
    entry("ptp", || run(plugins::ptp::PLUGIN)),
    entry("tuning", || run(plugins::tuning::PLUGIN)),
    entry("vlan", || run(plugins::vlan::PLUGIN)),
];

/// The plugin started as `argv0` (a path or a bare name), if it is one of [`PLUGINS`].
pub fn lookup(argv0: &OsStr) -> Option<&'static Entry> {
    let base = Path::new(argv0).file_name()?;
    PLUGINS.iter().find(|e| OsStr::new(e.name) == base)
}

/// What the multicall binary does when started under `argv0` with `args` (after `argv[0]`)
/// and, for an unknown name, with or without `CNI_COMMAND` set.
#[derive(Debug, PartialEq, Eq)]
pub enum Dispatch {
    Plugin(&'static str),
    Version,
    List,
    Help,
    /// An unknown name started as a plugin: a CNI error object on stdout, exit 1.
    UnknownPlugin(String),
    /// An unknown name or argument from a person: usage on stderr, exit 2.
    Usage(String),
}

/// Decides what to do; pure, so the rules are tested without processes.
pub fn dispatch(argv0: &OsStr, args: &[&OsStr], cni_command_set: bool) -> Dispatch {
    if let Some(e) = lookup(argv0) {
        return Dispatch::Plugin(e.name);
    }
    let base = Path::new(argv0)
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base != NAME && cni_command_set {
        return Dispatch::UnknownPlugin(base);
    }
    match args {
        [a] if *a == "--version" || *a == "-V" => Dispatch::Version,
        [a] if *a == "--list" => Dispatch::List,
        [a] if *a == "--help" || *a == "-h" => Dispatch::Help,
        [] if base == NAME => Dispatch::Help,
        _ if base != NAME => Dispatch::Usage(format!("not a plugin name: {base:?}")),
        _ => Dispatch::Usage(format!(
            "unknown arguments: {:?}",
            args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>()
        )),
    }
}

fn names() -> String {
    PLUGINS
        .iter()
        .map(|e| e.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn usage() -> String {
    format!(
        "{NAME}: every cni-rs plugin in one binary; it runs the plugin named by the name it is \
         started under (hard-link or symlink it as bridge, host-local, ...).\n\
         usage: {NAME} --version | --list | --help | install [--dir DIR] [--force] \
         [--from PATH] [--wait] | wait\nplugins: {}",
        names()
    )
}

/// The multicall binary's `main`.
pub fn main() -> ! {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    let rest: Vec<_> = argv.collect();
    let rest: Vec<&OsStr> = rest.iter().map(|a| a.as_os_str()).collect();
    if let Some(code) = crate::installer::subcommand(&argv0, &rest) {
        std::process::exit(code)
    }
    let cni_command_set = std::env::var_os("CNI_COMMAND").is_some();
    match dispatch(&argv0, &rest, cni_command_set) {
        Dispatch::Plugin(name) => {
            let entry = PLUGINS.iter().find(|e| e.name == name);
            (entry.expect("dispatch returns known names").main)()
        }
        Dispatch::Version => {
            println!("{}", cni::build_info::version_line(NAME));
            std::process::exit(0)
        }
        Dispatch::List => {
            for e in PLUGINS {
                println!("{}", e.name);
            }
            std::process::exit(0)
        }
        Dispatch::Help => {
            println!("{}", usage());
            std::process::exit(0)
        }
        Dispatch::UnknownPlugin(base) => {
            let err = cni::Error::internal(format!("{NAME} has no plugin named {base:?}"))
                .with_details(format!("plugins: {}", names()))
                .with_version(cni::SpecVersion::LATEST.as_str());
            println!("{}", err.to_json());
            std::process::exit(1)
        }
        Dispatch::Usage(msg) => {
            eprintln!("{NAME}: {msg}\n{}", usage());
            std::process::exit(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn plugin_by_basename_of_argv0() {
        assert_eq!(
            dispatch(os("/opt/cni/bin/bridge"), &[], true),
            Dispatch::Plugin("bridge")
        );
        assert_eq!(
            dispatch(os("host-local"), &[], false),
            Dispatch::Plugin("host-local")
        );
        // A plugin's own arguments are the plugin's business (skel's --version).
        assert_eq!(
            dispatch(os("./loopback"), &[os("--version")], false),
            Dispatch::Plugin("loopback")
        );
    }

    #[test]
    fn own_name_answers_version_list_help() {
        let me = "/usr/bin/cni-rs-plugins";
        assert_eq!(
            dispatch(os(me), &[os("--version")], false),
            Dispatch::Version
        );
        assert_eq!(dispatch(os(me), &[os("--list")], false), Dispatch::List);
        assert_eq!(dispatch(os(me), &[], false), Dispatch::Help);
        assert!(matches!(
            dispatch(os(me), &[os("bridge")], false),
            Dispatch::Usage(_)
        ));
    }

    #[test]
    fn unknown_name_is_a_cni_error_for_runtimes_and_usage_for_people() {
        assert_eq!(
            dispatch(os("/opt/cni/bin/flannel"), &[], true),
            Dispatch::UnknownPlugin("flannel".into())
        );
        assert!(matches!(
            dispatch(os("flannel"), &[], false),
            Dispatch::Usage(_)
        ));
    }

    #[test]
    fn every_plugin_binary_is_in_the_table() {
        // Each src/bin/<name>.rs is a plugin the multicall binary must also run.
        let bins = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin")).unwrap();
        let mut names: Vec<String> = bins
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(".rs")
                    .map(String::from)
            })
            .collect();
        names.sort();
        let mut table: Vec<String> = PLUGINS.iter().map(|e| e.name.to_string()).collect();
        table.sort();
        assert_eq!(names, table);
    }
}
