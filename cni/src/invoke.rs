//! Running a plugin executable: locating it on `CNI_PATH`, passing the environment and stdin,
//! bounding its run time, and reading its result or error. Used by runtimes
//! ([`crate::runtime`]) and by plugins that delegate to IPAM plugins ([`delegate`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use crate::env::{self, Command};
use crate::error::Error;
use crate::result::CniResult;
use crate::version::{SpecVersion, VersionInfo};

/// Why running a plugin did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The plugin type is empty or holds a path separator.
    #[error("plugin type {0:?} contains a path separator")]
    BadType(String),
    /// No executable of that name in any directory of the path.
    #[error("failed to find plugin {name:?} in path {path:?}")]
    NotFound {
        /// The plugin type looked for.
        name: String,
        /// The directories searched.
        path: Vec<PathBuf>,
    },
    /// The executable could not be started.
    #[error("failed to run plugin {path}: {source}")]
    Spawn {
        /// The executable.
        path: PathBuf,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// The plugin ran longer than allowed and was killed.
    #[error("plugin {path} did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The executable.
        path: PathBuf,
        /// The time it was given.
        timeout: Duration,
    },
    /// The plugin failed and said why (the error object from stdout).
    #[error("plugin {path} failed: {error}")]
    Plugin {
        /// The executable.
        path: PathBuf,
        /// Its error object.
        error: Error,
    },
    /// The plugin failed without a readable error object.
    #[error("plugin {path} failed with {status}: {text}")]
    Failed {
        /// The executable.
        path: PathBuf,
        /// How it ended.
        status: String,
        /// What it printed.
        text: String,
    },
    /// The plugin succeeded but its stdout is no result of the expected version.
    #[error("plugin {path} printed an unreadable result: {reason}")]
    BadOutput {
        /// The executable.
        path: PathBuf,
        /// What is wrong with the output.
        reason: String,
    },
}

impl InvokeError {
    /// The CNI error to report to our own caller when we are a plugin that delegated.
    pub fn to_cni_error(&self) -> Error {
        match self {
            InvokeError::Plugin { error, .. } => error.clone(),
            other => Error::plugin(100, other.to_string()),
        }
    }
}

/// Finds `name` in `dirs`: the first regular, executable file wins (RT-8).
pub fn find_in_path(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, InvokeError> {
    use std::os::unix::fs::PermissionsExt;
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(InvokeError::BadType(name.to_string()));
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| InvokeError::NotFound {
            name: name.to_string(),
            path: dirs.to_vec(),
        })
}

/// The `CNI_*` variables of one call. Every variable is set, empty when not applicable, as
/// libcni does (RT-14).
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS`: the namespace path.
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`, as the raw string.
    pub args: String,
    /// `CNI_PATH`: the plugin directories.
    pub path: Vec<PathBuf>,
}

impl Invocation {
    /// The `CNI_*` variables for `command`, in a fixed order.
    pub fn env(&self, command: Command) -> Vec<(String, String)> {
        let path = std::env::join_paths(&self.path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        vec![
            (env::CNI_COMMAND.into(), command.as_str().into()),
            (env::CNI_CONTAINERID.into(), self.container_id.clone()),
            (env::CNI_NETNS.into(), self.netns.clone()),
            (env::CNI_IFNAME.into(), self.ifname.clone()),
            (env::CNI_ARGS.into(), self.args.clone()),
            (env::CNI_PATH.into(), path),
        ]
    }
}

/// What a finished plugin process gave back.
#[derive(Debug, Clone)]
pub struct RawOutput {
    /// Whether it exited with status 0.
    pub success: bool,
    /// How it ended, for messages (`exit status: 1`, a signal).
    pub status: String,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr, when captured.
    pub stderr: Vec<u8>,
}

/// How stderr of the plugin is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    /// Captured into [`RawOutput::stderr`].
    Capture,
    /// Passed through to our own stderr (IPAM-7 for delegation).
    Inherit,
}

/// Runs `path` with our environment plus `env` overriding (RT-13), writes `stdin`, and waits at
/// most `timeout`. On timeout the plugin's whole process group is killed.
pub fn exec_raw(
    path: &Path,
    env: &[(String, String)],
    stdin: &[u8],
    timeout: Option<Duration>,
    stderr: Stderr,
) -> Result<RawOutput, InvokeError> {
    let mut cmd = Process::new(path);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    exec_command(cmd, path, stdin, timeout, stderr)
}

/// Runs a prepared command (environment, namespaces and the like already set up by the
/// caller) as a plugin: pipes stdin/stdout (and stderr unless inherited), bounds the run time
/// and kills the whole process group on timeout. `path` names the plugin in errors.
pub fn exec_command(
    mut cmd: Process,
    path: &Path,
    stdin: &[u8],
    timeout: Option<Duration>,
    stderr: Stderr,
) -> Result<RawOutput, InvokeError> {
    use std::os::unix::process::CommandExt;
    let spawn_err = |source| InvokeError::Spawn {
        path: path.to_path_buf(),
        source,
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(match stderr {
            Stderr::Capture => Stdio::piped(),
            Stderr::Inherit => Stdio::inherit(),
        });
    if timeout.is_some() {
        cmd.process_group(0);
    }
    let mut child = spawn_with_retry(&mut cmd).map_err(spawn_err)?;

    let mut child_stdin = child.stdin.take().expect("piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // A plugin may exit without reading stdin; a broken pipe is not our error.
        let _ = child_stdin.write_all(&input);
    });
    let mut out_pipe = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = child.stderr.take().map(|mut p| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            buf
        })
    });

    let status = match timeout {
        None => child.wait().map_err(spawn_err)?,
        Some(limit) => match child.wait_timeout(limit).map_err(spawn_err)? {
            Some(status) => status,
            None => {
                // SAFETY: signalling the process group we created for the child.
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(InvokeError::Timeout {
                    path: path.to_path_buf(),
                    timeout: limit,
                });
            }
        },
    };
    let _ = writer.join();
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    Ok(RawOutput {
        success: status.success(),
        status: status.to_string(),
        stdout,
        stderr,
    })
}

/// libcni retries an exec that fails with "text file busy" (RT-13).
fn spawn_with_retry(cmd: &mut Process) -> std::io::Result<std::process::Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 5 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// Interprets a finished run: success gives stdout; failure gives the error object from stdout
/// or, when stdout is empty, stderr's text (libcni's fallback).
pub fn interpret(path: &Path, out: RawOutput) -> Result<Vec<u8>, InvokeError> {
    if out.success {
        return Ok(out.stdout);
    }
    let trimmed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !trimmed.is_empty() {
        if let Ok(error) = serde_json::from_str::<Error>(&trimmed) {
            return Err(InvokeError::Plugin {
                path: path.to_path_buf(),
                error,
            });
        }
    }
    let text = if trimmed.is_empty() {
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    } else {
        trimmed
    };
    Err(InvokeError::Failed {
        path: path.to_path_buf(),
        status: out.status,
        text,
    })
}

/// Runs a plugin and returns its stdout on success.
pub fn exec(
    path: &Path,
    command: Command,
    inv: &Invocation,
    stdin: &[u8],
    timeout: Option<Duration>,
) -> Result<Vec<u8>, InvokeError> {
    let out = exec_raw(path, &inv.env(command), stdin, timeout, Stderr::Capture)?;
    interpret(path, out)
}

/// Runs ADD and parses the result; a result without `cniVersion` is taken to be in `assume`.
pub fn exec_add(
    path: &Path,
    inv: &Invocation,
    stdin: &[u8],
    assume: SpecVersion,
    timeout: Option<Duration>,
) -> Result<CniResult, InvokeError> {
    let out = exec(path, Command::Add, inv, stdin, timeout)?;
    CniResult::parse(&out, Some(assume)).map_err(|e| InvokeError::BadOutput {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Asks a plugin which versions it supports. A plugin that fails VERSION is taken to speak
/// only 0.1.0, as libcni does.
pub fn exec_version(path: &Path, timeout: Option<Duration>) -> Result<VersionInfo, InvokeError> {
    let stdin = br#"{"cniVersion":"1.1.0"}"#;
    let env = vec![(env::CNI_COMMAND.to_string(), "VERSION".to_string())];
    let out = interpret(path, exec_raw(path, &env, stdin, timeout, Stderr::Capture)?)?;
    serde_json::from_slice(&out).map_err(|e| InvokeError::BadOutput {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Delegation from inside a plugin (section 4 of the spec): the delegate gets our own
/// environment with only `CNI_COMMAND` changed (ENV-17), the complete stdin we received
/// (IPAM-5), and our stderr (IPAM-7).
pub mod delegate {
    use super::*;

    fn run(plugin_type: &str, command: Command, stdin: &[u8]) -> Result<Vec<u8>, Error> {
        let dirs = std::env::var(env::CNI_PATH)
            .map(|p| env::split_path(&p))
            .unwrap_or_default();
        let path = find_in_path(plugin_type, &dirs).map_err(|e| e.to_cni_error())?;
        let vars = vec![(env::CNI_COMMAND.to_string(), command.as_str().to_string())];
        let out =
            exec_raw(&path, &vars, stdin, None, Stderr::Inherit).map_err(|e| e.to_cni_error())?;
        interpret(&path, out).map_err(|e| e.to_cni_error())
    }

    /// ADD through the delegate; the result is read in `version`.
    pub fn add(plugin_type: &str, stdin: &[u8], version: SpecVersion) -> Result<CniResult, Error> {
        let out = run(plugin_type, Command::Add, stdin)?;
        CniResult::parse(&out, Some(version)).map_err(|e| {
            Error::decode(format!(
                "IPAM plugin {plugin_type} returned an unreadable result"
            ))
            .with_details(e)
        })
    }

    /// CHECK of the IPAM plugin named `plugin_type`, with the same request.
    pub fn check(plugin_type: &str, stdin: &[u8]) -> Result<(), Error> {
        run(plugin_type, Command::Check, stdin).map(drop)
    }

    /// DEL of the IPAM plugin named `plugin_type`, with the same request.
    pub fn del(plugin_type: &str, stdin: &[u8]) -> Result<(), Error> {
        run(plugin_type, Command::Del, stdin).map(drop)
    }

    /// STATUS of the IPAM plugin named `plugin_type`, with the same request.
    pub fn status(plugin_type: &str, stdin: &[u8]) -> Result<(), Error> {
        run(plugin_type, Command::Status, stdin).map(drop)
    }

    /// GC of the IPAM plugin named `plugin_type`, with the same request.
    pub fn gc(plugin_type: &str, stdin: &[u8]) -> Result<(), Error> {
        run(plugin_type, Command::Gc, stdin).map(drop)
    }
}
