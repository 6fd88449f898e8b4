//! A scenario's world: a node namespace in which the plugin process runs, a container
//! namespace per attachment, and a private state directory mounted over `/var/lib/cni` for
//! the plugin's processes only, so IPAM stores and caches of parallel scenarios never meet.
//! Everything is removed when the world is dropped.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netns_sandbox::snapshot::{Snapshot, Watch};
use netns_sandbox::Netns;

use cni::invoke::{exec_command, InvokeError, RawOutput, Stderr};
use serde_json::Value;

use crate::dhcp_fixture::{self, DhcpFixture};
use crate::target::Target;

/// Where plugins keep state by default; each world mounts its own directory here.
pub const STATE_MOUNT: &str = "/var/lib/cni";

/// Files of the delegate recorder inside the state directory (see [`crate::recorder`]); the
/// recorder's directory of links is named [`RECORDER_BIN_DIR`] wherever it is.
pub const RECORDER_LOG: &str = "cni-recorder.log";
pub const RECORDER_FAIL_ADD: &str = "cni-recorder.fail-add";
pub const RECORDER_FAIL_STATUS: &str = "cni-recorder.fail-status";
pub const RECORDER_UNUSABLE_ADD: &str = "cni-recorder.unusable-add";
pub const RECORDER_BIN_DIR: &str = "cni-recorder-bin";

/// One attachment of a scenario.
#[derive(Debug)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
    /// The container namespace; `None` once a case deleted it.
    pub netns: Option<Netns>,
    /// The path given as `CNI_NETNS` (kept after the namespace is deleted).
    pub netns_path: String,
}

/// The result of one plugin run.
#[derive(Debug, Clone)]
pub struct Run {
    pub output: Result<RawOutput, String>,
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// A scenario's namespaces and state directory.
pub struct World {
    /// The DHCP server and daemon of a target with `x-conformance.dhcp`; first, so that they
    /// stop before the namespaces and the state directory go.
    dhcp: Option<DhcpFixture>,
    pub node: Netns,
    attachments: BTreeMap<String, Attachment>,
    state: tempfile::TempDir,
    label: String,
}

/// State of the whole world at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldSnapshot {
    pub node: Snapshot,
    pub containers: BTreeMap<String, Snapshot>,
}

impl WorldSnapshot {
    pub fn diff(&self, after: &WorldSnapshot) -> Vec<String> {
        let mut out: Vec<String> = self
            .node
            .diff(&after.node)
            .into_iter()
            .map(|l| format!("node: {l}"))
            .collect();
        for (name, before) in &self.containers {
            if let Some(now) = after.containers.get(name) {
                out.extend(
                    before
                        .diff(now)
                        .into_iter()
                        .map(|l| format!("container {name}: {l}")),
                );
            }
        }
        out
    }
}

impl World {
    pub fn new(label: &str) -> std::io::Result<World> {
        std::fs::create_dir_all(STATE_MOUNT)?;
        let node = Netns::new(&format!("n-{label}")).map_err(std::io::Error::other)?;
        // Loopback up in the node namespace, as on any host.
        let _ = node
            .command("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        Ok(World {
            dhcp: None,
            node,
            attachments: BTreeMap::new(),
            state: tempfile::Builder::new().prefix("cnirs-state-").tempdir()?,
            label: label.to_string(),
        })
    }

    /// A world for `target`: [`World::new`], the master link its config names (`master`),
    /// and the DHCP server and daemon of `x-conformance.dhcp`.
    pub fn for_target(label: &str, target: &Target) -> Result<World, String> {
        let mut world = World::new(label).map_err(|e| format!("cannot create the sandbox: {e}"))?;
        if let Some(master) = target.plugin_conf.get("master").and_then(Value::as_str) {
            world
                .ensure_master(master)
                .map_err(|e| format!("cannot create master link {master}: {e}"))?;
        }
        if let Some(spec) = &target.dhcp {
            let ipam = target.ipam_type().ok_or(
                "x-conformance.dhcp: the tested plugin's config names no IPAM type to run the \
                 daemon of",
            )?;
            let daemon = dhcp_fixture::daemon_binary(&ipam, &target.cni_path)?;
            world.dhcp = Some(DhcpFixture::start(&world, spec, &daemon)?);
        }
        Ok(world)
    }

    /// The world's DHCP fixture, if its target has one.
    pub fn dhcp(&self) -> Option<&DhcpFixture> {
        self.dhcp.as_ref()
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// The attachment called `name` ("a", "a2", "b", ...), created on first use. "a2" shares
    /// the container of "a" with another ifname; other names get their own container.
    pub fn attachment(&mut self, name: &str) -> std::io::Result<&Attachment> {
        if !self.attachments.contains_key(name) {
            let (container_id, ifname, netns) = if name == "a2" {
                self.attachment("a")?;
                let a = &self.attachments["a"];
                (a.container_id.clone(), "eth1".to_string(), None)
            } else {
                let ns = Netns::new(&format!("c{name}-{}", self.label))
                    .map_err(std::io::Error::other)?;
                (
                    format!("cnirs-{}-{name}", self.label),
                    "eth0".to_string(),
                    Some(ns),
                )
            };
            let netns_path = match &netns {
                Some(ns) => ns.path().to_string_lossy().into_owned(),
                None => self.attachments["a"].netns_path.clone(),
            };
            self.attachments.insert(
                name.to_string(),
                Attachment {
                    container_id,
                    ifname,
                    netns,
                    netns_path,
                },
            );
        }
        Ok(&self.attachments[name])
    }

    /// The namespace holding `name`'s interface (for "a2", that of "a").
    pub fn container_ns(&self, name: &str) -> Option<&Netns> {
        let owner = if name == "a2" { "a" } else { name };
        self.attachments.get(owner)?.netns.as_ref()
    }

    /// Deletes the container namespace of `name`; its path stays in `CNI_NETNS`.
    pub fn delete_netns(&mut self, name: &str) {
        let owner = if name == "a2" { "a" } else { name };
        if let Some(a) = self.attachments.get_mut(owner) {
            a.netns = None;
        }
    }

    pub fn attachment_names(&self) -> Vec<String> {
        self.attachments.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<&Attachment> {
        self.attachments.get(name)
    }

    /// Runs `program` as a plugin inside the node namespace with a private mount namespace in
    /// which the state directory is mounted at [`STATE_MOUNT`]. The environment is exactly
    /// `env` plus a standard `PATH`.
    pub fn run_plugin(
        &self,
        program: &Path,
        env: &[(String, String)],
        stdin: &[u8],
        timeout: Duration,
    ) -> Run {
        let start = Instant::now();
        let prepared = self.command(program, env);
        let output = match prepared {
            Ok(cmd) => exec_command(cmd, program, stdin, Some(timeout), Stderr::Capture),
            Err(e) => Err(InvokeError::Spawn {
                path: program.to_path_buf(),
                source: e,
            }),
        };
        let timed_out = matches!(output, Err(InvokeError::Timeout { .. }));
        Run {
            output: output.map_err(|e| e.to_string()),
            timed_out,
            elapsed: start.elapsed(),
        }
    }

    /// The command [`Self::run_plugin`] runs: `program` entering the node namespace and a
    /// private mount namespace with the state directory, with exactly `env` and `PATH`.
    pub(crate) fn command(
        &self,
        program: &Path,
        env: &[(String, String)],
    ) -> std::io::Result<Command> {
        self.command_with(program, env, libc::MS_PRIVATE)
    }

    /// [`Self::command`] for a long-running process of the world (the DHCP fixture's daemon):
    /// its mount namespace is a slave of the host's, so namespaces bound under `/run/netns`
    /// after it started are visible to it (`netns-sandbox` makes that directory a shared
    /// mount point).
    pub(crate) fn service_command(
        &self,
        program: &Path,
        env: &[(String, String)],
    ) -> std::io::Result<Command> {
        self.command_with(program, env, libc::MS_SLAVE)
    }

    fn command_with(
        &self,
        program: &Path,
        env: &[(String, String)],
        propagation: libc::c_ulong,
    ) -> std::io::Result<Command> {
        use std::os::unix::process::CommandExt;
        let node: OwnedFd = std::fs::File::open(self.node.path())?.into();
        let source = CString::new(self.state.path().as_os_str().as_encoded_bytes())?;
        let target = CString::new(STATE_MOUNT)?;
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(env.iter().map(|(k, v)| (k, v)));
        // SAFETY: between fork and exec only raw syscalls run, on values prepared beforehand.
        unsafe {
            cmd.pre_exec(move || {
                let fail = |r: libc::c_int| {
                    if r < 0 {
                        Err(std::io::Error::last_os_error())
                    } else {
                        Ok(())
                    }
                };
                fail(libc::setns(node.as_raw_fd(), libc::CLONE_NEWNET))?;
                fail(libc::unshare(libc::CLONE_NEWNS))?;
                fail(libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | propagation,
                    std::ptr::null(),
                ))?;
                fail(libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))
            });
        }
        Ok(cmd)
    }

    /// Sets up the recorder directory: `program` (the harness's own executable, see
    /// [`crate::recorder`]) linked under the name `delegate`. Returns the directory to put
    /// first on `CNI_PATH`.
    pub fn recorder_dir(&self, program: &Path, delegate: &str) -> std::io::Result<PathBuf> {
        let dir = self.state.path().join(RECORDER_BIN_DIR);
        std::fs::create_dir_all(&dir)?;
        let link = dir.join(delegate);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(program, &link)?;
        }
        Ok(dir)
    }

    /// The recorded delegate calls so far (one JSON object each).
    pub fn recorded_calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.path().join(RECORDER_LOG))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Makes the recorder fail ADD from now on.
    pub fn fail_delegate_add(&self) -> std::io::Result<()> {
        std::fs::write(self.state.path().join(RECORDER_FAIL_ADD), b"")
    }

    /// Makes the delegate recorder forward ADD and answer a successful one with a result the
    /// caller cannot use (see `crate::recorder`).
    pub fn unusable_delegate_add(&self) -> std::io::Result<()> {
        std::fs::write(self.state.path().join(RECORDER_UNUSABLE_ADD), b"")
    }

    /// Makes the delegate recorder answer STATUS with code 50 (see `crate::recorder`).
    pub fn fail_delegate_status(&self) -> std::io::Result<()> {
        std::fs::write(self.state.path().join(RECORDER_FAIL_STATUS), b"")
    }

    /// Runs a fixture command (`ip ...`) in the node namespace.
    pub fn node_cmd(&self, args: &[&str]) -> std::io::Result<()> {
        run_ok(self.node.command(args[0]).args(&args[1..]))
    }

    /// Runs a fixture command in the container namespace of `name`.
    pub fn container_cmd(&self, name: &str, args: &[&str]) -> std::io::Result<()> {
        let ns = self
            .container_ns(name)
            .ok_or_else(|| std::io::Error::other("container namespace is gone"))?;
        run_ok(ns.command(args[0]).args(&args[1..]))
    }

    /// Output of a command in the container namespace of `name` (`None` if it is gone).
    pub fn container_output(&self, name: &str, args: &[&str]) -> Option<String> {
        let ns = self.container_ns(name)?;
        let out = ns.command(args[0]).args(&args[1..]).output().ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates master links a config names (`master`) in the node namespace when missing: a
    /// veth pair, both ends up.
    pub fn ensure_master(&self, name: &str) -> std::io::Result<()> {
        if netns_sandbox::fixtures::link_exists(&self.node, name) {
            return Ok(());
        }
        let peer = format!("{}p", &name[..name.len().min(14)]);
        netns_sandbox::fixtures::veth_pair(&self.node, name, &peer).map_err(std::io::Error::other)
    }

    /// The state of the node namespace, every live container namespace and the state dir.
    pub fn snapshot(&self) -> WorldSnapshot {
        let watch = Watch {
            dirs: vec![self.state.path().to_path_buf()],
            // Allocation cursors and lock files are shared, per-network state by design.
            ignore_files: vec![
                "lock".into(),
                RECORDER_LOG.into(),
                RECORDER_FAIL_ADD.into(),
                RECORDER_FAIL_STATUS.into(),
                RECORDER_UNUSABLE_ADD.into(),
                RECORDER_BIN_DIR.into(),
            ],
        };
        let mut containers = BTreeMap::new();
        for (name, a) in &self.attachments {
            if let Some(ns) = &a.netns {
                containers.insert(name.clone(), Snapshot::take(ns, &Watch::default()));
            }
        }
        WorldSnapshot {
            node: Snapshot::take(&self.node, &watch),
            containers,
        }
    }
}

fn run_ok(cmd: &mut Command) -> std::io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A path helper for callers that need the plugin's directory.
pub fn parent_dir(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}
