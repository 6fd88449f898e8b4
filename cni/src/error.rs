//! The CNI error object (`{"cniVersion", "code", "msg", "details"}`) and its well-known codes.
//!
//! Every failure a plugin reports goes through [`Error`]: it always carries a code and a
//! message, and [`Error::to_json`] always writes `cniVersion` (falling back to the newest
//! version when the request's could not be read), so a plugin cannot forget a field.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::version::SpecVersion;

/// The code of a failure that is none of the spec's cases, a panic included. Upstream's Go
/// skel reports its untyped errors with the same code.
pub const INTERNAL_ERROR_CODE: u32 = 999;

/// Well-known error codes of the spec (section "Error"), plus the plugin-defined range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: the requested `cniVersion` is not supported.
    IncompatibleVersion,
    /// 2: a field of the network configuration is not supported by this plugin.
    UnsupportedField,
    /// 3: the container is unknown or does not exist.
    UnknownContainer,
    /// 4: an environment variable is missing or invalid.
    InvalidEnvironmentVariables,
    /// 5: an I/O failure, e.g. reading stdin.
    IoFailure,
    /// 6: the input could not be decoded.
    DecodingFailure,
    /// 7: the network configuration is invalid.
    InvalidNetworkConfig,
    /// 11: a transient failure; try again later.
    TryAgainLater,
    /// 50: STATUS: the plugin cannot serve ADD now.
    PluginNotAvailable,
    /// 51: STATUS: the plugin is not available and existing containers may have limited connectivity.
    PluginNotAvailableLimitedConnectivity,
    /// Any other code; 100 and above are for plugins to define.
    Other(u32),
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::IncompatibleVersion => 1,
            ErrorCode::UnsupportedField => 2,
            ErrorCode::UnknownContainer => 3,
            ErrorCode::InvalidEnvironmentVariables => 4,
            ErrorCode::IoFailure => 5,
            ErrorCode::DecodingFailure => 6,
            ErrorCode::InvalidNetworkConfig => 7,
            ErrorCode::TryAgainLater => 11,
            ErrorCode::PluginNotAvailable => 50,
            ErrorCode::PluginNotAvailableLimitedConnectivity => 51,
            ErrorCode::Other(c) => c,
        }
    }

    /// The code for a number; unknown numbers become [`ErrorCode::Other`].
    pub fn from_code(code: u32) -> ErrorCode {
        match code {
            1 => ErrorCode::IncompatibleVersion,
            2 => ErrorCode::UnsupportedField,
            3 => ErrorCode::UnknownContainer,
            4 => ErrorCode::InvalidEnvironmentVariables,
            5 => ErrorCode::IoFailure,
            6 => ErrorCode::DecodingFailure,
            7 => ErrorCode::InvalidNetworkConfig,
            11 => ErrorCode::TryAgainLater,
            50 => ErrorCode::PluginNotAvailable,
            51 => ErrorCode::PluginNotAvailableLimitedConnectivity,
            c => ErrorCode::Other(c),
        }
    }

    /// Codes 0-99 are reserved for the spec; 100 and above belong to plugins.
    pub fn is_reserved(self) -> bool {
        self.code() < 100
    }

    /// The spec's short description of the code, if it is a well-known one.
    pub fn description(self) -> Option<&'static str> {
        Some(match self {
            ErrorCode::IncompatibleVersion => "incompatible CNI version",
            ErrorCode::UnsupportedField => "unsupported field in network configuration",
            ErrorCode::UnknownContainer => "container unknown or does not exist",
            ErrorCode::InvalidEnvironmentVariables => "invalid necessary environment variables",
            ErrorCode::IoFailure => "I/O failure",
            ErrorCode::DecodingFailure => "failed to decode content",
            ErrorCode::InvalidNetworkConfig => "invalid network config",
            ErrorCode::TryAgainLater => "try again later",
            ErrorCode::PluginNotAvailable => "plugin not available",
            ErrorCode::PluginNotAvailableLimitedConnectivity => {
                "plugin not available, existing containers may have limited connectivity"
            }
            ErrorCode::Other(_) => return None,
        })
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::from_code(u32::deserialize(d)?))
    }
}

/// A CNI error as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    #[serde(
        rename = "cniVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `cniVersion`: the version of the request (absent when none could be read).
    pub cni_version: Option<String>,
    /// `code`: what kind of failure.
    pub code: ErrorCode,
    #[serde(default)]
    /// `msg`: a short message for a person.
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    /// `details`: a longer description (omitted when empty).
    pub details: String,
}

impl Error {
    /// An error with this code and message, no version and no details.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Error {
        Error {
            cni_version: None,
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// The same error with `details` set.
    pub fn with_details(mut self, details: impl fmt::Display) -> Error {
        self.details = details.to_string();
        self
    }

    /// The same error with `cniVersion` set.
    pub fn with_version(mut self, version: impl Into<String>) -> Error {
        self.cni_version = Some(version.into());
        self
    }

    /// Sets the version only if none is set yet.
    pub fn or_version(mut self, version: &str) -> Error {
        if self.cni_version.is_none() {
            self.cni_version = Some(version.to_string());
        }
        self
    }

    /// A plugin-defined error (code 100 or above is expected, not enforced).
    pub fn plugin(code: u32, msg: impl Into<String>) -> Error {
        Error::new(ErrorCode::Other(code), msg)
    }

    /// A failure that is none of the spec's cases (the kernel refused, a file could not be
    /// written, a delegate misbehaved): code [`INTERNAL_ERROR_CODE`].
    pub fn internal(msg: impl Into<String>) -> Error {
        Error::plugin(INTERNAL_ERROR_CODE, msg)
    }

    /// Code 1: the request's version is not supported.
    pub fn incompatible_version(msg: impl Into<String>) -> Error {
        Error::new(ErrorCode::IncompatibleVersion, msg)
    }
    /// Code 4: an environment variable is missing or invalid.
    pub fn invalid_env(msg: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidEnvironmentVariables, msg)
    }
    /// Code 5: an I/O failure (reading stdin, for one).
    pub fn io(msg: impl Into<String>) -> Error {
        Error::new(ErrorCode::IoFailure, msg)
    }
    /// Code 6: the configuration could not be decoded.
    pub fn decode(msg: impl Into<String>) -> Error {
        Error::new(ErrorCode::DecodingFailure, msg)
    }
    /// Code 7: the configuration is invalid.
    pub fn invalid_config(msg: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidNetworkConfig, msg)
    }
    /// Code 11: a transient failure; the runtime may retry.
    pub fn try_again(msg: impl Into<String>) -> Error {
        Error::new(ErrorCode::TryAgainLater, msg)
    }
    /// Code 3: the container is unknown or does not exist.
    pub fn unknown_container(msg: impl Into<String>) -> Error {
        Error::new(ErrorCode::UnknownContainer, msg)
    }

    /// The JSON object for stdout; `cniVersion` is always present.
    pub fn to_json(&self) -> String {
        let mut e = self.clone();
        if e.cni_version.is_none() {
            e.cni_version = Some(SpecVersion::LATEST.as_str().to_string());
        }
        serde_json::to_string(&e).expect("error object serializes")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CNI error {}: {}", self.code.code(), self.msg)?;
        if !self.details.is_empty() {
            write!(f, "; {}", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in [1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 999] {
            assert_eq!(ErrorCode::from_code(c).code(), c);
        }
        assert!(ErrorCode::from_code(7).is_reserved());
        assert!(!ErrorCode::from_code(100).is_reserved());
    }

    #[test]
    fn json_always_has_version_code_msg() {
        let j: serde_json::Value =
            serde_json::from_str(&Error::decode("bad json").to_json()).unwrap();
        assert_eq!(j["cniVersion"], "1.1.0");
        assert_eq!(j["code"], 6);
        assert_eq!(j["msg"], "bad json");
        assert!(j.get("details").is_none());
        let e = Error::invalid_config("x")
            .with_details("y")
            .with_version("0.4.0");
        let back: Error = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(back, e);
    }
}
