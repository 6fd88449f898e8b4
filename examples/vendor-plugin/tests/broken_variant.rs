//! Certification catches a broken plugin precisely: this program, started again with
//! `VENDOR_IPAM_BROKEN_CHILD` set, is the per-case test binary of `vendor-ipam-broken` (whose
//! second DEL of an attachment fails). Its one test runs that child and requires: the case
//! written for DEL-6 ("repeated DELs all succeed") fails at every version; every failed test
//! is one of a case that checks DEL-6 and fails on DEL-6 alone; every other test passes or is
//! ignored as not applicable.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Failed, Trial};

/// Set in the child: run the broken variant's per-case tests.
const CHILD: &str = "VENDOR_IPAM_BROKEN_CHILD";

/// The requirement the broken variant breaks.
const BROKEN_REQUIREMENT: &str = "DEL-6";

/// The case of the tables written for that requirement (run at every version).
const DEDICATED_CASE: &str = "del-idempotent";

fn main() -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        return harness::testing::main(common::certification(env!(
            "CARGO_BIN_EXE_vendor-ipam-broken"
        )));
    }
    let args = Arguments::from_args();
    let trial = Trial::test(
        "broken_del_fails_exactly_the_tests_of_del_6",
        broken_del_fails_exactly_the_tests_of_del_6,
    );
    libtest_mimic::run(&args, vec![trial]).exit_code()
}

/// Runs the child with `args`; its stdout.
fn child(args: &[&str]) -> Result<(String, Option<i32>), Failed> {
    let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .env(CHILD, "1")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run the per-case tests: {e}"))?;
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    ))
}

fn broken_del_fails_exactly_the_tests_of_del_6() -> Result<(), Failed> {
    let (list, _) = child(&["--list"])?;
    let listed: Vec<String> = list
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect();
    let citing = harness::testing::cases_citing(BROKEN_REQUIREMENT).map_err(|e| e.to_string())?;
    let (run, code) = child(&[])?;
    let case_of = |name: &str| name.split('@').next().unwrap_or(name).to_string();
    // libtest's lines: "test <name, padded> ... ok|FAILED|ignored[, reason]".
    let outcomes: Vec<(&str, &str)> = run
        .lines()
        .filter_map(|l| l.strip_prefix("test "))
        .filter_map(|l| l.split_once(" ... "))
        .map(|(name, outcome)| (name.trim_end(), outcome))
        .collect();
    let mut failed = BTreeSet::new();
    for name in &listed {
        match outcomes.iter().find(|(n, _)| n == name).map(|(_, o)| *o) {
            None => return Err(format!("no outcome for {name} in:\n{run}").into()),
            Some("FAILED") => {
                failed.insert(name.clone());
            }
            Some(_) => {}
        }
    }
    // The case written for the requirement fails at every version it runs at.
    let dedicated: BTreeSet<String> = listed
        .iter()
        .filter(|n| case_of(n) == DEDICATED_CASE)
        .cloned()
        .collect();
    if dedicated.is_empty() || !dedicated.is_subset(&failed) {
        return Err(format!(
            "{DEDICATED_CASE} did not fail at every version: failed {failed:?}\n{run}"
        )
        .into());
    }
    // Every failed test belongs to a case checking the requirement, and names it alone.
    for name in &failed {
        if !citing.contains(&case_of(name)) {
            return Err(
                format!("{name} failed but does not check {BROKEN_REQUIREMENT}\n{run}").into(),
            );
        }
        let named = failed_requirements(&run, name);
        if named != [BROKEN_REQUIREMENT] {
            return Err(format!(
                "{name} failed on {named:?}, not on {BROKEN_REQUIREMENT} alone\n{run}"
            )
            .into());
        }
    }
    if code != Some(101) {
        return Err(format!("the per-case tests exited {code:?}, not 101").into());
    }
    eprintln!(
        "{} of {} tests failed, each on {BROKEN_REQUIREMENT} alone: {failed:?}",
        failed.len(),
        listed.len(),
    );
    Ok(())
}

/// The requirement IDs the failure message of test `name` lists (libtest prints it under
/// "---- <name> ----"; the harness's lines read "  <ID> (<LEVEL>): <reason>").
fn failed_requirements(run: &str, name: &str) -> Vec<String> {
    let header = format!("---- {name} ----");
    run.lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with("---- ") && *l != "failures:")
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_once(" (").map(|(id, _)| id.to_string()))
        .filter(|id| !id.contains(' '))
        .collect()
}
