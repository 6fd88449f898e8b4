//! Certify a CNI plugin binary against the CNI spec, from Rust or with `cni-conformance`.
//!
//! The public API is small: [`Certification`] names the plugin binary, its base config and the
//! options (strict, timeouts, jobs, CNI path, attachment patch), runs the requirement
//! catalogue's cases against it and returns a [`Report`] (the verdict, one
//! [`RequirementResult`] per requirement, one [`CaseRun`] per (case, version)) with
//! [`Report::assert_conformant`] and the JSON and JUnit writers; [`testing`] makes every
//! (case, version) its own test in a `cargo test` run. The catalogue and the case tables are
//! embedded in the library, so a certification needs nothing but the plugin binary and its
//! config. Certification needs root: each case runs in network namespaces of its own.
//!
//! ```ignore
//! // tests/conformance.rs of a crate whose binary is `my-plugin`
//! #[test]
//! fn my_plugin_is_conformant() {
//!     harness::Certification::new(env!("CARGO_BIN_EXE_my-plugin"))
//!         .config_json(serde_json::json!({
//!             "cniVersion": "1.0.0",
//!             "name": "my-net",
//!             "type": "my-plugin"
//!         }))
//!         .run()
//!         .expect("the harness can certify here")
//!         .assert_conformant();
//! }
//! ```
//!
//! Any executable linking this library can act as the harness's delegate recorder (a program
//! the harness links under an IPAM delegate's name, recognised by the name it is started
//! under before `main` runs); vendors need not do anything for it.
//!
//! # Internals
//!
//! Besides [`testing`] and [`report`] (the report types and formats), the modules are the
//! machinery of `cni-conformance` and its tests, hidden from the documentation and not a
//! stable API. Flow: `catalogue` and `cases` read the data in
//! `conformance-cases/` (embedded by `data`); `target` reads the plugin's base config
//! (prelude, `x-conformance`, attachment patch); `recorder` (the delegate recorder, a mode of
//! the same program) is checked once; `runner::probe` asks the plugin for its versions (a
//! broken answer is a finding, not a setup error) and classifies it (a base config whose ADD
//! fails here is a setup error); `runner::run_all` (`pool`) runs each case at each applicable
//! version in its own `world::World` (node and container namespaces, private state dir), where
//! `step` executes its plugin calls and `action` its actions on the world (a tampering action
//! that finds nothing makes the case not applicable), and records findings per requirement
//! using `checks`; `report` turns them into verdicts by level and prints them, and `html`
//! renders one as a self-contained page. `fuzz`
//! (`cni-conformance fuzz`) reuses the target, the worlds and the checks to judge generated
//! requests one call at a time, and the report to print what it found.

#![deny(missing_docs)]

mod action;
mod certification;
mod recorder_entry;
mod session;
mod step;
pub mod testing;

pub use certification::{Certification, Error, Prepared};
pub use report::{Report, RequirementResult, Verdict};
pub use runner::{CallLog, CaseRun, Finding, Probe, Skipped};
pub use target::AttachmentPatch;

#[doc(hidden)]
pub mod capabilities;
#[doc(hidden)]
pub mod cases;
#[doc(hidden)]
pub mod catalogue;
#[doc(hidden)]
pub mod checks;
#[doc(hidden)]
pub mod concurrency;
#[doc(hidden)]
pub mod coverage;
#[doc(hidden)]
pub mod data;
#[doc(hidden)]
pub mod dhcp_fixture;
#[doc(hidden)]
pub mod differential;
#[doc(hidden)]
pub mod faults;
#[doc(hidden)]
pub mod fuzz;
#[doc(hidden)]
pub mod generated;
#[doc(hidden)]
pub mod html;
#[doc(hidden)]
pub mod pool;
#[doc(hidden)]
pub mod postlude;
#[doc(hidden)]
pub mod recorder;
/// The report types (re-exported at the crate root) and their formats.
pub mod report;
#[doc(hidden)]
pub mod robustness;
#[doc(hidden)]
pub mod runner;
#[doc(hidden)]
pub mod target;
#[doc(hidden)]
pub mod world;
