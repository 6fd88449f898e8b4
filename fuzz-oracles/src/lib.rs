//! The oracles of the fuzz targets in `fuzz/`: for each target, one function from the raw
//! input bytes that panics when the input shows a bug (a panic in the code under test, or a
//! broken round trip or invariant). The fuzz targets are one line each, calling these; the
//! workspace test `tests/replay.rs` calls the same functions on every `seed-*` file of
//! `fuzz/corpus/<target>/`, so the seeds (and the minimized crashes kept as `seed-crash-*`)
//! are checked by `cargo test` on stable, without cargo-fuzz.
//!
//! [`TARGETS`] lists every target; `tests/replay.rs` checks it against `fuzz/Cargo.toml` and
//! the target files, so a target cannot be added on one side only.
//!
//! Inputs are decoded the way libfuzzer-sys decodes a typed `fuzz_target!` argument, so a
//! seed means the same thing in both places: `&str` targets take the longest valid UTF-8
//! prefix of the bytes ([`utf8_prefix`]), structured targets build their input with
//! `arbitrary`'s `arbitrary_take_rest` ([`structured`]).

mod cni_args;
mod config;
mod conflist;
mod dhcp_config;
mod dhcp_reply;
mod harness_cases;
mod harness_target;
mod host_local_config;
mod host_local_store;
mod plugin_config;
pub mod plugin_plan;
mod plugin_stdout;
mod portmap_config;
mod request;
mod result;
mod results;
mod tuning_config;
mod version_convert;
mod versions;

pub use cni_args::cni_args;
pub use config::config;
pub use conflist::conflist;
pub use dhcp_config::dhcp_config;
pub use dhcp_reply::dhcp_reply;
pub use harness_cases::harness_cases;
pub use harness_target::harness_target;
pub use host_local_config::host_local_config;
pub use host_local_store::host_local_store;
pub use plugin_config::plugin_config;
pub use plugin_plan::plugin_plan;
pub use plugin_stdout::plugin_stdout;
pub use portmap_config::portmap_config;
pub use result::result;
pub use tuning_config::tuning_config;
pub use version_convert::version_convert;
pub use versions::versions;

use std::sync::atomic::{AtomicBool, Ordering};

use arbitrary::{Arbitrary, Unstructured};

/// Set by [`check_every_input_fully`].
static EVERY_INPUT_FULLY: AtomicBool = AtomicBool::new(false);

/// Makes the sampling oracles ([`result`], [`version_convert`]) run all their checks on every
/// input. The seed replay calls it; a fuzz run does not, and then those oracles run their
/// costly checks (JSON round trips, conversion to every version, the parse through a
/// `serde_json::Value`) on one input in eight and a cheap subset on the others, which lets
/// libFuzzer try several times more inputs per second.
pub fn check_every_input_fully() {
    EVERY_INPUT_FULLY.store(true, Ordering::Relaxed);
}

/// Whether a sampling oracle runs all its checks on `data`: always after
/// [`check_every_input_fully`], else for one input in eight, picked by a hash of all its bytes
/// (so any mutation of an input can change the pick).
pub(crate) fn full_checks_for(data: &[u8]) -> bool {
    EVERY_INPUT_FULLY.load(Ordering::Relaxed) || input_hash(data).is_multiple_of(8)
}

/// FNV-1a of `data`: a cheap, stable pick for the sampling oracles.
pub(crate) fn input_hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One fuzz target: its name (the `[[bin]]` of `fuzz/Cargo.toml`, the file
/// `fuzz/fuzz_targets/<name>.rs` and the seed directory `fuzz/corpus/<name>/`) and its oracle.
pub struct Target {
    pub name: &'static str,
    pub oracle: fn(&[u8]),
}

/// Every fuzz target, in the order `scripts/fuzz.sh` and the README list them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "config",
        oracle: config,
    },
    Target {
        name: "conflist",
        oracle: conflist,
    },
    Target {
        name: "result",
        oracle: result,
    },
    Target {
        name: "version_convert",
        oracle: version_convert,
    },
    Target {
        name: "cni_args",
        oracle: cni_args,
    },
    Target {
        name: "versions",
        oracle: versions,
    },
    Target {
        name: "plugin_config",
        oracle: plugin_config,
    },
    Target {
        name: "host_local_config",
        oracle: host_local_config,
    },
    Target {
        name: "host_local_store",
        oracle: host_local_store,
    },
    Target {
        name: "tuning_config",
        oracle: tuning_config,
    },
    Target {
        name: "portmap_config",
        oracle: portmap_config,
    },
    Target {
        name: "dhcp_config",
        oracle: dhcp_config,
    },
    Target {
        name: "harness_cases",
        oracle: harness_cases,
    },
    Target {
        name: "harness_target",
        oracle: harness_target,
    },
    Target {
        name: "plugin_stdout",
        oracle: plugin_stdout,
    },
    Target {
        name: "dhcp_reply",
        oracle: dhcp_reply,
    },
    Target {
        name: "plugin_plan",
        oracle: plugin_plan,
    },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// What a `&str` fuzz target receives for `data`: its longest valid UTF-8 prefix (as
/// `arbitrary`'s `&str::arbitrary_take_rest`).
pub fn utf8_prefix(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).expect("valid prefix"),
    }
}

/// What a structured fuzz target receives for `data` (`None`: libfuzzer-sys would skip it).
pub fn structured<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    T::arbitrary_take_rest(Unstructured::new(data)).ok()
}
