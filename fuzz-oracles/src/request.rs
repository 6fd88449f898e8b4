//! A plugin request from fuzz input bytes, for the targets over the reference plugins'
//! configuration decoders (`plugin_config`, `host_local_config`).
//!
//! Input format: `CNI_ARGS`, a NUL byte, then the request's stdin. A JSON text never contains
//! a raw NUL, so the split is unambiguous, and an input without one is all stdin with empty
//! `CNI_ARGS`: seeds are plain configuration files, or `MAC=...` / `IP=...`, NUL, file.

use cni::args::CniArgs;
use cni::{CmdArgs, Command, Error, SpecVersion};

/// A request as the decoders see it.
pub(crate) struct Request<'a> {
    pub stdin: &'a [u8],
    /// `CNI_ARGS` as parsed (empty when it does not parse: then skel refuses the request).
    pub cni_args: CniArgs,
    /// What skel would hand the plugin for ADD, or why skel refuses the request.
    pub built: Result<CmdArgs, Error>,
    /// The request's version: skel's when it accepts the request, else one picked by the
    /// input's length (the decoders still run: they must not panic on anything).
    pub version: SpecVersion,
}

impl<'a> Request<'a> {
    pub fn new(data: &'a [u8]) -> Request<'a> {
        let (raw_args, stdin) = match data.iter().position(|&b| b == 0) {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (&data[..0], data),
        };
        // The environment cannot hold a non-UTF-8 CNI_ARGS for skel: it reads as absent.
        let raw_args = std::str::from_utf8(raw_args).unwrap_or("");
        let built = CmdArgs::from_request(
            Command::Add,
            "fuzz-container",
            "eth0",
            raw_args,
            stdin.to_vec(),
            &SpecVersion::ALL,
        );
        if let Err(e) = &built {
            assert_code("skel", e, &[1, 4, 6, 7]);
        }
        let version = match &built {
            Ok(args) => args.version,
            Err(_) => SpecVersion::ALL[data.len() % SpecVersion::ALL.len()],
        };
        Request {
            stdin,
            cni_args: CniArgs::parse(raw_args).unwrap_or_default(),
            built,
            version,
        }
    }
}

/// A refusal carries one of `codes` and says why.
pub(crate) fn assert_code(what: &str, e: &Error, codes: &[u32]) {
    let code = e.code.code();
    assert!(
        codes.contains(&code),
        "{what}: error code {code} is not one of {codes:?}: {e}"
    );
    assert!(!e.msg.trim().is_empty(), "{what}: error without a message");
}
