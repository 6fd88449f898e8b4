//! The protocol between the `dhcp` plugin and its daemon, over the daemon's unix stream
//! socket. Pure types and framing; the plugin side is [`super::client`], the daemon side
//! [`super::daemon`].
//!
//! # Framing
//!
//! One exchange per connection: the plugin writes one request, the daemon answers with one
//! response and closes. Each message is one compact JSON object on one line, ended by `\n`,
//! at most [`MAX_MESSAGE`] bytes. Every message carries `"version"`, [`PROTOCOL_VERSION`];
//! a daemon that gets another version answers an error of code [`CODE_PROTOCOL`] naming both
//! versions, and the plugin refuses a response of another version the same way.
//!
//! # Requests (`"op"`)
//!
//! - `add`: `{attachment, netns, request, provide, priority, dhcpv4, dhcpv6}`: acquire (or
//!   return the held) DHCPv4 lease and/or DHCPv6 address for the attachment, answer `result`
//!   (a CNI 1.0.0 IPAM result).
//! - `del`: `{attachment}`: send DHCPRELEASE and forget the lease; `ok` when none is held.
//! - `check`: `{attachment, addresses, addresses6}`: `ok` when live leases are held whose
//!   addresses are among `addresses` / `addresses6` (or those are empty); no DHCP packet is
//!   sent.
//! - `status`: `ok` while the daemon serves.
//! - `gc`: `{network, valid}`: release the network's leases whose (container ID, ifname) is
//!   not in `valid`.
//!
//! An attachment is `{"containerId", "network", "ifname"}`.
//!
//! # Responses (`"status"`)
//!
//! `{"version":1,"status":"ok"}`, `{"version":1,"status":"result","result":{…}}` or
//! `{"version":1,"status":"error","error":{"code":…,"msg":…,"details":…}}` (a CNI error
//! object the plugin prints as is).
//!
//! Example: `{"version":1,"op":"check","attachment":{"containerId":"c1","network":"net",
//! "ifname":"eth0"},"addresses":["10.1.0.5"]}`.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest message either side accepts, newline included.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Error code of a protocol mismatch or a malformed message.
pub const CODE_PROTOCOL: u32 = 102;

/// Who holds a lease: the attachment, named as the client identifier names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AttachmentKey {
    #[serde(rename = "containerId")]
    pub container_id: String,
    pub network: String,
    pub ifname: String,
}

impl AttachmentKey {
    /// `<containerID>/<network>/<ifname>`, the text of the client identifier.
    pub fn client_id_text(&self) -> String {
        format!("{}/{}/{}", self.container_id, self.network, self.ifname)
    }
}

/// An option the configuration provides to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidedOption {
    pub code: u8,
    pub value: String,
}

/// What ADD asks of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddRequest {
    pub attachment: AttachmentKey,
    /// `CNI_NETNS` as the plugin saw it (the daemon adds its `-hostprefix`).
    pub netns: String,
    /// The parameter request list.
    pub request: Vec<u8>,
    pub provide: Vec<ProvidedOption>,
    pub priority: Option<u32>,
    /// Acquire a DHCPv4 lease (absent: yes).
    #[serde(default = "yes")]
    pub dhcpv4: bool,
    /// Acquire a DHCPv6 address (IA_NA) (absent: no).
    #[serde(default)]
    pub dhcpv6: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    Add(AddRequest),
    Del {
        attachment: AttachmentKey,
    },
    Check {
        attachment: AttachmentKey,
        addresses: Vec<Ipv4Addr>,
        #[serde(default)]
        addresses6: Vec<Ipv6Addr>,
    },
    Status,
    Gc {
        network: String,
        valid: Vec<cni::config::Attachment>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Response {
    Ok,
    Result { result: Value },
    Error { error: cni::Error },
}

#[derive(Serialize)]
struct Outgoing<'a, T> {
    version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("peer speaks dhcp socket protocol version {theirs}, this side speaks version {ours}")]
    Version { theirs: Value, ours: u32 },
    #[error("malformed dhcp socket message: {0}")]
    Malformed(String),
    #[error("dhcp socket message longer than {MAX_MESSAGE} bytes")]
    TooLong,
}

impl ProtocolError {
    pub fn to_cni(&self) -> cni::Error {
        cni::Error::plugin(CODE_PROTOCOL, self.to_string())
    }
}

/// One message as a line: compact JSON with the version, then `\n`.
pub fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(&Outgoing {
        version: PROTOCOL_VERSION,
        body,
    })
    .expect("protocol messages serialize");
    line.push(b'\n');
    line
}

/// Reads one message from a line (with or without its `\n`): the version first, then the body.
pub fn decode<T: for<'de> Deserialize<'de>>(line: &[u8]) -> Result<T, ProtocolError> {
    if line.len() > MAX_MESSAGE {
        return Err(ProtocolError::TooLong);
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut v: Value =
        serde_json::from_slice(line).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(ProtocolError::Malformed("not a JSON object".into()));
    };
    match obj.remove("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(PROTOCOL_VERSION)) => {}
        Some(theirs) => {
            return Err(ProtocolError::Version {
                theirs,
                ours: PROTOCOL_VERSION,
            })
        }
        None => {
            return Err(ProtocolError::Version {
                theirs: Value::String("none".into()),
                ours: PROTOCOL_VERSION,
            })
        }
    }
    T::deserialize(v).map_err(|e| ProtocolError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AttachmentKey {
        AttachmentKey {
            container_id: "c1".into(),
            network: "net".into(),
            ifname: "eth0".into(),
        }
    }

    #[test]
    fn round_trip_and_shape() {
        let req = Request::Check {
            attachment: key(),
            addresses: vec![Ipv4Addr::new(10, 1, 0, 5)],
            addresses6: vec![],
        };
        let line = encode(&req);
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"version\":1,\"op\":\"check\",\"attachment\":{\"containerId\":\"c1\",\
             \"network\":\"net\",\"ifname\":\"eth0\"},\"addresses\":[\"10.1.0.5\"],\
             \"addresses6\":[]}\n"
        );
        assert_eq!(decode::<Request>(&line).unwrap(), req);
        let resp = Response::Error {
            error: cni::Error::try_again("x"),
        };
        assert_eq!(decode::<Response>(&encode(&resp)).unwrap(), resp);
        assert_eq!(
            decode::<Response>(&encode(&Response::Ok)).unwrap(),
            Response::Ok
        );
    }

    #[test]
    fn other_versions_are_refused_clearly() {
        let e = decode::<Request>(br#"{"version":2,"op":"status"}"#).unwrap_err();
        assert!(matches!(e, ProtocolError::Version { .. }));
        assert!(e.to_string().contains("version 2"), "{e}");
        assert!(e.to_string().contains("version 1"), "{e}");
        assert!(matches!(
            decode::<Request>(br#"{"op":"status"}"#).unwrap_err(),
            ProtocolError::Version { .. }
        ));
        assert!(matches!(
            decode::<Request>(br#"{"version":1,"op":"fly"}"#).unwrap_err(),
            ProtocolError::Malformed(_)
        ));
        assert!(matches!(
            decode::<Request>(b"[1]").unwrap_err(),
            ProtocolError::Malformed(_)
        ));
        assert_eq!(
            decode::<Request>(&vec![b' '; MAX_MESSAGE + 1]).unwrap_err(),
            ProtocolError::TooLong
        );
    }
}
