//! The plugin's side of the daemon socket: one synchronous exchange per call, with timeouts.
//! See [`super::protocol`] for the messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use cni::Error;

use super::protocol::{self, Request, Response, MAX_MESSAGE};

/// Why no answer came from the daemon.
#[derive(Debug)]
pub enum CallError {
    /// Nothing listens at the path (absent, refused): the daemon is not running.
    Unreachable(std::io::Error),
    /// The path exists and is not a socket.
    NotASocket,
    /// Connected, but the exchange failed (timeout, closed early, garbage, other version).
    Exchange(Error),
}

impl CallError {
    /// The CNI error for a verb that needs an answer.
    pub fn into_error(self, socket: &Path) -> Error {
        match self {
            CallError::Unreachable(e) => Error::try_again(format!(
                "dhcp daemon is not reachable at {}: is `dhcp daemon` running?",
                socket.display()
            ))
            .with_details(e),
            CallError::NotASocket => Error::invalid_config(format!(
                "dhcp: daemonSocketPath {} exists but is not a unix socket",
                socket.display()
            )),
            CallError::Exchange(e) => e,
        }
    }
}

/// Sends `req` to the daemon at `socket` and reads its response, waiting at most `timeout`
/// for it.
pub fn call(socket: &Path, req: &Request, timeout: Duration) -> Result<Response, CallError> {
    if let Ok(meta) = std::fs::metadata(socket) {
        if !meta.file_type().is_socket() {
            return Err(CallError::NotASocket);
        }
    }
    let mut stream = UnixStream::connect(socket).map_err(CallError::Unreachable)?;
    let io = |what: &str, e: std::io::Error| {
        CallError::Exchange(Error::io(format!(
            "dhcp daemon at {}: {what}: {e}",
            socket.display()
        )))
    };
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .and_then(|_| stream.set_read_timeout(Some(timeout)))
        .map_err(|e| io("setting timeouts", e))?;
    stream
        .write_all(&protocol::encode(req))
        .map_err(|e| io("sending the request", e))?;
    let mut line = Vec::new();
    BufReader::new(stream.take(MAX_MESSAGE as u64 + 1))
        .read_until(b'\n', &mut line)
        .map_err(|e| io("reading the response", e))?;
    if line.is_empty() {
        return Err(CallError::Exchange(Error::io(format!(
            "dhcp daemon at {} closed the connection without answering",
            socket.display()
        ))));
    }
    protocol::decode::<Response>(&line).map_err(|e| CallError::Exchange(e.to_cni()))
}
