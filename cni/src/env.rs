//! The invocation parameters (`CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`,
//! `CNI_ARGS`, `CNI_PATH`): the verbs, which variables each verb needs, and the identifier rules.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::config::is_valid_identifier;
use crate::error::{Error, ErrorCode};

/// The verb to run (`ADD`, `CHECK`, `DEL`, `STATUS`, `GC`, `VERSION`).
pub const CNI_COMMAND: &str = "CNI_COMMAND";
/// The container's unique ID.
pub const CNI_CONTAINERID: &str = "CNI_CONTAINERID";
/// Path of the container's network namespace.
pub const CNI_NETNS: &str = "CNI_NETNS";
/// The interface name to create inside the container.
pub const CNI_IFNAME: &str = "CNI_IFNAME";
/// Extra `K=V;K2=V2` arguments from the runtime (deprecated).
pub const CNI_ARGS: &str = "CNI_ARGS";
/// The directories to search for plugin executables, `:`-separated.
pub const CNI_PATH: &str = "CNI_PATH";

/// A CNI verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `ADD`: attach the container to the network.
    Add,
    /// `CHECK`: verify an attachment (0.4.0 and later).
    Check,
    /// `DEL`: remove an attachment.
    Del,
    /// `STATUS`: may the plugin serve ADD now (1.1.0 and later)?
    Status,
    /// `GC`: remove what no valid attachment uses (1.1.0 and later).
    Gc,
    /// `VERSION`: report the supported spec versions.
    Version,
}

impl Command {
    /// Every verb, in the spec's order.
    pub const ALL: [Command; 6] = [
        Command::Add,
        Command::Check,
        Command::Del,
        Command::Status,
        Command::Gc,
        Command::Version,
    ];

    /// The verb as `CNI_COMMAND` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Check => "CHECK",
            Command::Del => "DEL",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }

    /// The variables the spec requires for this verb besides `CNI_COMMAND` (ADD-10, DEL-10).
    /// `CNI_PATH` is optional for the spec; a plugin that delegates fails when it needs it.
    pub fn required_vars(self) -> &'static [&'static str] {
        match self {
            Command::Add | Command::Check => &[CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME],
            Command::Del => &[CNI_CONTAINERID, CNI_IFNAME],
            Command::Status | Command::Gc | Command::Version => &[],
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Command {
    type Err = Error;
    /// Exact, upper-case match; anything else is code 4 (ENV-2).
    fn from_str(s: &str) -> Result<Command, Error> {
        Command::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::invalid_env(format!("unknown CNI_COMMAND: {s:?}")))
    }
}

/// Container ID rule (ENV-3): empty is code 3 ("unknown container"), bad characters code 4.
pub fn validate_container_id(id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::new(
            ErrorCode::UnknownContainer,
            "missing containerID",
        ));
    }
    if !is_valid_identifier(id) {
        return Err(Error::invalid_env("invalid characters in containerID").with_details(id));
    }
    Ok(())
}

/// Interface name rule (ENV-5, ENV-6): 1 to 15 bytes, not `.` or `..`, no `/`, `:`, `%` or
/// whitespace. Violations are code 4. `%` is refused beyond the Go rule because the kernel
/// reads a link name holding `%d` as a template and picks another name (`eth%d` becomes
/// `eth0`), so the interface would not get the name asked for (ENV-5).
pub fn validate_ifname(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        "interface name is empty"
    } else if name.len() > 15 {
        "interface name is longer than 15 bytes"
    } else if name == "." || name == ".." {
        "interface name is . or .."
    } else if name.contains(['/', ':', '%', '\0']) || name.chars().any(char::is_whitespace) {
        "interface name contains '/', ':', '%', NUL or whitespace"
    } else {
        return Ok(());
    };
    Err(Error::invalid_env(reason).with_details(name))
}

/// Splits a `CNI_PATH` value on `:` (ENV-9), dropping empty entries.
pub fn split_path(value: &str) -> Vec<PathBuf> {
    value
        .split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_edges() {
        assert!(validate_ifname("a23456789012345").is_ok());
        assert!(validate_ifname("a234567890123456").is_err());
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "eth%d"] {
            let e = validate_ifname(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidEnvironmentVariables, "{bad:?}");
        }
        // multibyte characters count in bytes: 8 x 2 bytes = 16
        assert!(validate_ifname(&"é".repeat(8)).is_err());
    }

    #[test]
    fn container_ids() {
        assert!(validate_container_id("abc-1.2_3").is_ok());
        assert_eq!(
            validate_container_id("").unwrap_err().code,
            ErrorCode::UnknownContainer
        );
        for bad in ["../x", "a/b", "-a", "a b", "a\n"] {
            assert!(validate_container_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commands() {
        assert_eq!("ADD".parse::<Command>().unwrap(), Command::Add);
        assert_eq!(
            "add".parse::<Command>().unwrap_err().code,
            ErrorCode::InvalidEnvironmentVariables
        );
        assert_eq!(
            split_path("/a::/b:"),
            vec![PathBuf::from("/a"), "/b".into()]
        );
    }
}
