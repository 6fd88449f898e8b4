//! The plugin entry point: reads and checks the environment for the verb, reads stdin,
//! negotiates the version, dispatches to a [`Plugin`], and prints exactly one JSON document
//! (the result, the version info, or an error) on stdout.
//!
//! Order of checks, each with its code: `CNI_COMMAND` (4), the verb's required variables, all
//! missing ones named together (4), container ID (3/4), ifname (4), `CNI_ARGS` syntax (4),
//! reading stdin (5), decoding it (6), name/type rules (7), `cniVersion` support (1), the verb
//! existing at that version (1), `CNI_NETNS` not being the plugin's own namespace (4).
//! A panic in the plugin becomes error code [`INTERNAL_ERROR_CODE`] with exit 1.
//!
//! [`plugin_main`] also points file descriptor 1 at stderr while the plugin runs, so a stray
//! `println!` (or a child process) cannot corrupt the result on stdout. Run with `--version` as
//! its only argument, a plugin prints its about text (name, version, build) on stdout and exits
//! 0 before reading anything else; runtimes never pass arguments, so no invocation changes.

use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use crate::args::CniArgs;
use crate::config::{ConfigError, NetConf};
use crate::env::{self, Command};
use crate::error::Error;
use crate::result::CniResult;
use crate::version::{SpecVersion, VersionInfo};

pub use crate::error::INTERNAL_ERROR_CODE;

/// Everything a plugin gets for one invocation.
#[derive(Debug, Clone)]
pub struct CmdArgs {
    /// The verb (`CNI_COMMAND`).
    pub command: Command,
    /// Empty for verbs that do not need it.
    pub container_id: String,
    /// `None` when `CNI_NETNS` is absent or empty.
    pub netns: Option<String>,
    /// The interface name in the container (`CNI_IFNAME`).
    pub ifname: String,
    /// The parsed `CNI_ARGS`.
    pub args: CniArgs,
    /// The raw `CNI_ARGS` value, for delegation.
    pub raw_args: String,
    /// The plugin search path (`CNI_PATH`), split on `:`.
    pub path: Vec<PathBuf>,
    /// stdin as received, for delegating the complete configuration (IPAM-5).
    pub stdin: Vec<u8>,
    /// The decoded network configuration from stdin.
    pub conf: NetConf,
    /// The spec version of the request (its `cniVersion`).
    pub version: SpecVersion,
}

impl CmdArgs {
    /// What [`run`] hands a plugin for a request, built without a process: `raw_args` is read
    /// as `CNI_ARGS` (code 4) and `stdin` as the configuration, with the checks [`run`] makes
    /// on it, in its order: decoding (6), the name and type rules (7), `cniVersion` among
    /// `supported` (1), the verb existing at that version (1). Non-empty `container_id` and
    /// `ifname` are checked as [`run`] checks them (3/4); `netns` is `None` and `path` empty
    /// (set the fields afterwards). Reads no environment and no file.
    ///
    /// For tests and fuzzing of a plugin's configuration decoding (the `plugin_config` fuzz
    /// target builds its requests with it), and for running a plugin in-process.
    pub fn from_request(
        command: Command,
        container_id: &str,
        ifname: &str,
        raw_args: &str,
        stdin: Vec<u8>,
        supported: &[SpecVersion],
    ) -> Result<CmdArgs, Error> {
        if !container_id.is_empty() {
            env::validate_container_id(container_id)?;
        }
        if !ifname.is_empty() {
            env::validate_ifname(ifname)?;
        }
        let args = CniArgs::parse(raw_args).map_err(|e| Error::invalid_env(e.to_string()))?;
        let (conf, version) = read_request(command, &stdin, supported, &mut None)?;
        Ok(CmdArgs {
            command,
            container_id: container_id.to_string(),
            netns: None,
            ifname: ifname.to_string(),
            args,
            raw_args: raw_args.to_string(),
            path: Vec::new(),
            stdin,
            conf,
            version,
        })
    }

    /// The `prevResult`, decoded in the request's version (VER-12), if any.
    pub fn prev_result(&self) -> Result<Option<CniResult>, Error> {
        match &self.conf.prev_result {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) if v.as_object().is_some_and(|o| o.is_empty()) => Ok(None),
            Some(v) => CniResult::from_value(v.clone(), Some(self.version))
                .map(Some)
                .map_err(|e| Error::decode("could not parse prevResult").with_details(e)),
        }
    }
}

/// A CNI plugin. ADD returns a result in any version; skel converts it to the requested one.
pub trait Plugin {
    /// One line naming the plugin (name, version, build), printed to stderr when run without
    /// `CNI_COMMAND` and to stdout for `--version`.
    fn about(&self) -> String;

    /// The versions the plugin accepts, oldest first.
    fn supported_versions(&self) -> &[SpecVersion] {
        &SpecVersion::ALL
    }

    /// ADD: creates the attachment and returns its result, in any version (skel converts it to the requested one).
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error>;
    /// CHECK: succeeds when the attachment is as `prevResult` describes.
    fn check(&self, args: &CmdArgs) -> Result<(), Error>;
    /// DEL: removes the attachment; succeeds when there is nothing left to remove.
    fn del(&self, args: &CmdArgs) -> Result<(), Error>;

    /// STATUS: may ADD be served now? Default: yes.
    fn status(&self, _args: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }

    /// GC: drop resources of attachments not in `cni.dev/valid-attachments`. Default: nothing held.
    fn gc(&self, _args: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }
}

/// What one invocation ended with, before it is printed.
enum Outcome {
    Printed(String),
    Silent,
    /// Run without `CNI_COMMAND`: the about text for stderr, exit 0 (ENV-15).
    About(String),
}

/// Runs one invocation against the given environment and streams; returns the exit code.
pub fn run<P: Plugin + ?Sized>(
    plugin: &P,
    getenv: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let mut version_hint: Option<String> = None;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        dispatch(plugin, getenv, stdin, &mut version_hint)
    }));
    let outcome = match outcome {
        Ok(o) => o,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::internal("plugin panicked").with_details(what))
        }
    };
    match outcome {
        Ok(Outcome::Printed(json)) => {
            let _ = writeln!(stdout, "{json}");
            let _ = stdout.flush();
            0
        }
        Ok(Outcome::Silent) => 0,
        Ok(Outcome::About(text)) => {
            let _ = writeln!(stderr, "{text}");
            0
        }
        Err(e) => {
            let e = match version_hint {
                Some(v) => e.or_version(&v),
                None => e,
            };
            let _ = writeln!(stdout, "{}", e.to_json());
            let _ = stdout.flush();
            let _ = writeln!(stderr, "{e}");
            1
        }
    }
}

fn dispatch<P: Plugin + ?Sized>(
    plugin: &P,
    getenv: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    version_hint: &mut Option<String>,
) -> Result<Outcome, Error> {
    // RT-14: libcni sends empty strings for values it lacks; empty means absent.
    let var = |k: &str| getenv(k).filter(|v| !v.is_empty());
    let supported = plugin.supported_versions();

    let Some(cmd) = var(env::CNI_COMMAND) else {
        let versions: Vec<&str> = supported.iter().map(|v| v.as_str()).collect();
        return Ok(Outcome::About(format!(
            "{}\nCNI protocol versions supported: {}",
            plugin.about(),
            versions.join(", ")
        )));
    };
    let command: Command = cmd.parse()?;

    if command == Command::Version {
        return Ok(Outcome::Printed(version_answer(stdin, supported)));
    }

    let missing: Vec<&str> = command
        .required_vars()
        .iter()
        .copied()
        .filter(|k| var(k).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid_env(format!(
            "required environment variables missing: {}",
            missing.join(", ")
        )));
    }
    let container_id = var(env::CNI_CONTAINERID).unwrap_or_default();
    if !container_id.is_empty() || command.required_vars().contains(&env::CNI_CONTAINERID) {
        env::validate_container_id(&container_id)?;
    }
    let ifname = var(env::CNI_IFNAME).unwrap_or_default();
    if !ifname.is_empty() || command.required_vars().contains(&env::CNI_IFNAME) {
        env::validate_ifname(&ifname)?;
    }
    let raw_args = var(env::CNI_ARGS).unwrap_or_default();
    let args = CniArgs::parse(&raw_args).map_err(|e| Error::invalid_env(e.to_string()))?;

    let mut input = Vec::new();
    stdin
        .read_to_end(&mut input)
        .map_err(|e| Error::io("error reading from stdin").with_details(e))?;
    let (conf, version) = read_request(command, &input, supported, version_hint)?;

    let netns = var(env::CNI_NETNS);
    if matches!(command, Command::Add | Command::Check | Command::Del) {
        if let Some(ns) = &netns {
            refuse_own_netns(ns, getenv)?;
        }
    }

    let cmd_args = CmdArgs {
        command,
        container_id,
        netns,
        ifname,
        args,
        raw_args,
        path: var(env::CNI_PATH)
            .map(|p| env::split_path(&p))
            .unwrap_or_default(),
        stdin: input,
        conf,
        version,
    };
    match command {
        Command::Add => {
            let result = plugin.add(&cmd_args)?;
            let result = result.convert_to(version).map_err(|e| {
                Error::incompatible_version(format!("cannot express the result in {version}"))
                    .with_details(e)
            })?;
            Ok(Outcome::Printed(result.to_json_pretty()))
        }
        Command::Check => plugin.check(&cmd_args).map(|_| Outcome::Silent),
        Command::Del => plugin.del(&cmd_args).map(|_| Outcome::Silent),
        Command::Status => plugin.status(&cmd_args).map(|_| Outcome::Silent),
        Command::Gc => plugin.gc(&cmd_args).map(|_| Outcome::Silent),
        Command::Version => unreachable!("handled above"),
    }
}

/// The request's configuration and version: decoding (6), the name and type rules (7),
/// `cniVersion` support (1), the verb existing at that version (1). Sets `version_hint` to the
/// config's version string as soon as it is decoded, for the error object.
fn read_request(
    command: Command,
    input: &[u8],
    supported: &[SpecVersion],
    version_hint: &mut Option<String>,
) -> Result<(NetConf, SpecVersion), Error> {
    let conf = match NetConf::parse(input) {
        Ok(c) => c,
        Err(ConfigError::Json(e)) => {
            return Err(Error::decode("error parsing network configuration").with_details(e))
        }
        Err(e) => return Err(Error::decode(e.to_string())),
    };
    *version_hint = Some(conf.version_str().to_string());
    conf.validate()
        .map_err(|e| Error::invalid_config(e.to_string()))?;

    let requested = conf.version_str();
    let version = SpecVersion::from_exact(requested)
        .filter(|v| supported.contains(v))
        .ok_or_else(|| {
            let list: Vec<&str> = supported.iter().map(|v| v.as_str()).collect();
            Error::incompatible_version(format!(
                "incompatible CNI versions: config is {requested:?}"
            ))
            .with_details(format!("plugin supports {}", list.join(", ")))
        })?;
    let verb_exists = match command {
        Command::Check => version.has_check(),
        Command::Status | Command::Gc => version.has_status_and_gc(),
        _ => true,
    };
    if !verb_exists {
        return Err(Error::incompatible_version(format!(
            "config version {version} does not allow {command}"
        )));
    }
    Ok((conf, version))
}

/// VERSION never fails: it echoes a known input `cniVersion` (or names the newest supported
/// one) and lists the supported versions.
fn version_answer(stdin: &mut dyn Read, supported: &[SpecVersion]) -> String {
    let mut input = Vec::new();
    let _ = stdin.read_to_end(&mut input);
    let asked = serde_json::from_slice::<serde_json::Value>(&input)
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().map(str::to_string))
        .filter(|v| SpecVersion::from_exact(v).is_some());
    let newest = supported.last().copied().unwrap_or(SpecVersion::LATEST);
    let info = VersionInfo::new(asked.as_deref().unwrap_or(newest.as_str()), supported);
    serde_json::to_string(&info).expect("version info serializes")
}

/// ENV-12: refuse a `CNI_NETNS` that is the plugin's own network namespace, before any change,
/// unless `CNI_NETNS_OVERRIDE` is 1/true. A path that cannot be opened passes here; the plugin
/// reports it when it tries to enter it.
fn refuse_own_netns(netns: &str, getenv: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let overridden =
        getenv("CNI_NETNS_OVERRIDE").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if overridden {
        return Ok(());
    }
    let (Ok(target), Ok(own)) = (
        std::fs::metadata(netns),
        std::fs::metadata("/proc/self/ns/net"),
    ) else {
        return Ok(());
    };
    if target.dev() == own.dev() && target.ino() == own.ino() {
        return Err(
            Error::invalid_env("CNI_NETNS is the plugin's own network namespace")
                .with_details(netns),
        );
    }
    Ok(())
}

/// The `main` of a plugin binary: runs one invocation on the real process environment and
/// exits. Stray writes to fd 1 during the plugin's work are redirected to stderr.
pub fn plugin_main<P: Plugin>(plugin: P) -> ! {
    if wants_version(std::env::args_os().skip(1)) {
        println!("{}", plugin.about());
        std::process::exit(0)
    }
    std::panic::set_hook(Box::new(|info| {
        eprintln!("plugin panic: {info}");
    }));
    let result_fd = guard_stdout();
    let mut stdout: Box<dyn Write> = match result_fd {
        Some(file) => Box::new(file),
        None => Box::new(std::io::stdout()),
    };
    let code = run(
        &plugin,
        &|k| std::env::var(k).ok(),
        &mut std::io::stdin().lock(),
        &mut stdout,
        &mut std::io::stderr(),
    );
    let _ = stdout.flush();
    std::process::exit(code)
}

/// `--version` (or `-V`) as the only argument.
fn wants_version(mut args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    match (args.next(), args.next()) {
        (Some(a), None) => a == "--version" || a == "-V",
        _ => false,
    }
}

/// Duplicates fd 1 for the result and points fd 1 at stderr. `None` if that is not possible.
fn guard_stdout() -> Option<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain fd duplication; the new fd is owned by the returned File.
    unsafe {
        let saved = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if saved < 0 {
            return None;
        }
        if libc::dup2(2, 1) < 0 {
            libc::close(saved);
            return None;
        }
        Some(std::fs::File::from_raw_fd(saved))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<CmdArgs, Error>) -> u32 {
        r.expect_err("expected an error").code.code()
    }

    #[test]
    fn version_flag_only_as_the_one_argument() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(wants_version(args(&["--version"]).into_iter()));
        assert!(wants_version(args(&["-V"]).into_iter()));
        assert!(!wants_version(args(&[]).into_iter()));
        assert!(!wants_version(args(&["--version", "x"]).into_iter()));
        assert!(!wants_version(args(&["daemon"]).into_iter()));
    }

    #[test]
    fn from_request_builds_what_run_hands_a_plugin() {
        let stdin = br#"{"cniVersion":"0.4.0","name":"n","type":"bridge","prevResult":{"ips":[{"version":"4","address":"10.0.0.2/24"}]}}"#;
        let a = CmdArgs::from_request(
            Command::Add,
            "c1",
            "eth0",
            "IgnoreUnknown=1;MAC=c2:00:00:00:00:01",
            stdin.to_vec(),
            &SpecVersion::ALL,
        )
        .unwrap();
        assert_eq!(a.version, SpecVersion::V0_4_0);
        assert_eq!((a.container_id.as_str(), a.ifname.as_str()), ("c1", "eth0"));
        assert_eq!(a.args.get("MAC"), Some("c2:00:00:00:00:01"));
        assert_eq!(a.stdin, stdin);
        assert_eq!(a.netns, None);
        // prevResult is read in the request's version.
        let prev = a.prev_result().unwrap().unwrap();
        assert_eq!(prev.version(), SpecVersion::V0_4_0);
    }

    #[test]
    fn from_request_checks_as_run_does() {
        let ok = br#"{"cniVersion":"1.0.0","name":"n","type":"t"}"#.to_vec();
        let all = &SpecVersion::ALL[..];
        let build = |cmd, id: &str, ifname: &str, args: &str, stdin: &[u8], sup: &[SpecVersion]| {
            CmdArgs::from_request(cmd, id, ifname, args, stdin.to_vec(), sup)
        };
        assert_eq!(code(build(Command::Add, "", "", "A", &ok, all)), 4);
        assert_eq!(code(build(Command::Add, "", "a/b", "", &ok, all)), 4);
        assert_eq!(code(build(Command::Add, "", "", "", b"{", all)), 6);
        assert_eq!(code(build(Command::Add, "", "", "", b"[]", all)), 6);
        let no_name = br#"{"cniVersion":"1.0.0","type":"t"}"#;
        assert_eq!(code(build(Command::Add, "", "", "", no_name, all)), 7);
        let unknown = br#"{"cniVersion":"9.9.9","name":"n","type":"t"}"#;
        assert_eq!(code(build(Command::Add, "", "", "", unknown, all)), 1);
        assert_eq!(
            code(build(Command::Add, "", "", "", &ok, &[SpecVersion::V0_4_0])),
            1
        );
        let old = br#"{"cniVersion":"0.3.1","name":"n","type":"t"}"#;
        assert_eq!(code(build(Command::Check, "", "", "", old, all)), 1);
        assert!(build(Command::Del, "", "", "", old, all).is_ok());
    }
}
