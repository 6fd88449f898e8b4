//! The Container Network Interface specification (0.1.0 to 1.1.0) as a Rust library.
//!
//! - Spec types, pure and free of I/O: [`version`], [`config`], [`result`], [`error`],
//!   [`args`] (`CNI_ARGS`), [`conventions`] (`runtimeConfig` and `args.cni`), [`env`](mod@env)
//!   (verbs and identifier rules).
//! - The plugin side: [`skel`] (the entry point every plugin's `main` calls) and
//!   [`invoke::delegate`] (calling an IPAM plugin).
//! - The runtime side: [`invoke`] (exec a plugin) and [`runtime`] (run a conflist, cache
//!   results, load configuration directories), used by the `cnitool` crate's binary.

#![deny(missing_docs)]

pub mod args;
pub mod build_info;
pub mod config;
pub mod conventions;
pub mod env;
pub mod error;
pub mod invoke;
mod json_text;
pub mod result;
pub mod runtime;
pub mod skel;
pub mod version;

pub use config::{NetConf, NetConfList};
pub use env::Command;
pub use error::{Error, ErrorCode};
pub use result::CniResult;
pub use skel::{CmdArgs, Plugin};
pub use version::SpecVersion;
