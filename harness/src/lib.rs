//! The conformance harness behind `cni-conformance`: the requirement catalogue, the case
//! tables, the sandboxed worlds plugins run in, the checks, the runner and the reports.
//!
//! Flow: [`catalogue`] and [`cases`] load the data in `conformance-cases/`; [`target`] reads
//! the plugin's base config (prelude, `x-conformance`, attachment patch); [`recorder`] (the
//! delegate recorder, a mode of the same program) is checked once; [`runner::probe`] asks the
//! plugin for its versions (a broken answer is a finding, not a setup error) and classifies it
//! (a base config whose ADD fails here is a setup error); [`runner::run_all`] ([`pool`]) runs
//! each case at each applicable version in its own [`world::World`] (node and container
//! namespaces, private state dir), where `step` executes its plugin calls and `action` its
//! actions on the world (a tampering action that finds nothing makes the case not
//! applicable), and records findings per requirement using [`checks`]; [`report`] turns them
//! into verdicts by level and prints them. [`fuzz`] (`cni-conformance fuzz`) reuses the
//! target, the worlds and the checks to judge generated requests one call at a time, and the
//! report to print what it found.

mod action;
pub mod capabilities;
pub mod cases;
pub mod catalogue;
pub mod checks;
pub mod concurrency;
pub mod coverage;
pub mod dhcp_fixture;
pub mod differential;
pub mod faults;
pub mod fuzz;
pub mod generated;
pub mod pool;
pub mod postlude;
pub mod recorder;
pub mod report;
pub mod robustness;
pub mod runner;
mod session;
mod step;
pub mod target;
pub mod world;
