//! `dhcp daemon`: the long-running process that holds DHCP leases for the `dhcp` plugin.
//!
//! It listens on a unix stream socket (`-socketpath`, default `/run/cni/dhcp.sock`, under
//! `-hostprefix`; or the one listening socket systemd passes, `LISTEN_FDS=1`) and serves the
//! requests of [`crate::plugins::dhcp::protocol`], one connection each. Leases are kept in
//! memory ([`leases`]), each by its own task, and on disk under `-statedir` ([`store`]); a
//! restarted daemon takes them over. SIGTERM and SIGINT stop it, removing the socket it
//! created and the `-pidfile`.
//!
//! Layers: [`flags`] (the command line), [`sock`] (sockets in a container's namespace),
//! [`packet`] (the DHCPv4 messages, pure), [`exchange`] (client exchanges with
//! retransmission), [`store`], [`leases`], [`quiet_panic`] (the decoder panics it catches stay
//! off stderr), and the listener below.

pub mod exchange;
pub mod exchange6;
pub mod flags;
pub mod leases;
pub mod packet;
pub mod packet6;
pub mod quiet_panic;
pub mod sock;
pub mod store;

use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, SignalKind};

use super::protocol::{self, Request, Response, MAX_MESSAGE};
use flags::Flags;
use leases::Daemon;
use store::Store;

/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The listening socket: inherited from systemd, or bound here (and then removed at exit).
fn listener(
    flags: &Flags,
) -> io::Result<(std::os::unix::net::UnixListener, Option<std::path::PathBuf>)> {
    let listen_pid = std::env::var("LISTEN_PID").ok();
    if let Ok(n) = std::env::var("LISTEN_FDS") {
        if listen_pid.is_none_or_self() {
            if n != "1" {
                return Err(io::Error::other(format!(
                    "socket activation passed LISTEN_FDS={n}; the dhcp daemon takes exactly one \
                     listening unix socket"
                )));
            }
            // SAFETY: fd 3 is the first descriptor systemd passes (sd_listen_fds(3)).
            let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(3) };
            // SAFETY: keep the descriptor out of child processes.
            unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) };
            return Ok((l, None));
        }
    }
    let path = flags.on_host(&flags.socket_path.to_string_lossy());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_socket() => {
            // A socket someone answers on belongs to a running daemon: leave it alone.
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(io::Error::other(format!(
                    "another daemon is serving at {}",
                    path.display()
                )));
            }
            std::fs::remove_file(&path)?
        }
        Ok(_) => {
            return Err(io::Error::other(format!(
                "{} exists and is not a socket",
                path.display()
            )))
        }
        Err(_) => {}
    }
    let l = std::os::unix::net::UnixListener::bind(&path)?;
    Ok((l, Some(path)))
}

trait ListenPid {
    fn is_none_or_self(&self) -> bool;
}

impl ListenPid for Option<String> {
    fn is_none_or_self(&self) -> bool {
        match self {
            None => true,
            Some(p) => p.parse::<u32>().ok() == Some(std::process::id()),
        }
    }
}

async fn serve_connection(daemon: Arc<Daemon>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(MAX_MESSAGE as u64 + 1);
    let mut line = Vec::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_until(b'\n', &mut line)).await;
    let response = match read {
        Ok(Ok(n)) if n > 0 => match protocol::decode::<Request>(&line) {
            Ok(req) => daemon.handle(req).await,
            Err(e) => Response::Error { error: e.to_cni() },
        },
        _ => return,
    };
    let _ = write.write_all(&protocol::encode(&response)).await;
    let _ = write.shutdown().await;
}

fn write_pid_file(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{}\n", std::process::id()))
}

/// `dhcp daemon ARGS…`: runs until SIGTERM or SIGINT; the process exit code.
pub fn main(args: &[String]) -> i32 {
    let flags = match Flags::parse(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("dhcp daemon: {e}\n{}", flags::USAGE);
            return 2;
        }
    };
    quiet_panic::install();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dhcp daemon: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(flags)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dhcp daemon: {e}");
            1
        }
    }
}

async fn run(flags: Flags) -> io::Result<()> {
    let store = Store::open(&flags.state_dir).map_err(|e| {
        io::Error::other(format!(
            "state directory {}: {e}",
            flags.state_dir.display()
        ))
    })?;
    let (std_listener, created) =
        listener(&flags).map_err(|e| io::Error::other(format!("listening socket: {e}")))?;
    std_listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(std_listener)?;
    let pid_file = flags.pid_file.clone();
    if let Some(p) = &pid_file {
        write_pid_file(p)
            .map_err(|e| io::Error::other(format!("pid file {}: {e}", p.display())))?;
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let daemon = Daemon::new(flags, store);
    daemon.resume().await;
    eprintln!("dhcp daemon: serving");
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(daemon.clone(), stream));
                }
                Err(e) => {
                    eprintln!("dhcp daemon: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    if let Some(path) = created {
        let _ = std::fs::remove_file(path);
    }
    if let Some(p) = pid_file {
        let _ = std::fs::remove_file(p);
    }
    eprintln!("dhcp daemon: stopped; leases stay saved for the next start");
    Ok(())
}
