//! `scripts/fuzz-campaign.sh -s` sums the sanitizer runs of the ledger per target: runs
//! without the sanitizer do not count, a run that crashed is counted apart, the last exec/s
//! is kept, and a target is "reached" only at the goal.

use std::path::Path;
use std::process::Command;

/// What `fuzz-campaign.sh ARGS` prints with `ledger` as its ledger.
fn campaign(ledger: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaign.tsv");
    std::fs::write(&path, ledger).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/fuzz-campaign.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .env("FUZZ_LEDGER", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn standing(ledger: &str, goal: u64, targets: &[&str]) -> String {
    let goal = goal.to_string();
    let mut args = vec!["-s", "-g", &goal];
    args.extend(targets);
    campaign(ledger, &args)
}

const HEADER: &str = "date\tcommit\tsanitizer\ttarget\tseconds\truns\texec_per_s\tcrashes\n";

#[test]
fn sanitizer_runs_are_summed_per_target_against_the_goal() {
    let ledger = format!(
        "{HEADER}\
         2026-12-02T16:00:00Z\tabc\taddress\tconfig\t600\t600000\t1000\t0\n\
         2026-12-02T16:10:00Z\tdef\taddress\tconfig\t600\t500000\t900\t0\n\
         2026-12-02T16:10:00Z\tdef\tnone\tconfig\t600\t9000000\t15000\t0\n\
         2026-12-02T16:20:00Z\tdef\taddress\tresult\t600\t300\t2\t1\n"
    );
    let out = standing(&ledger, 1_000_000, &["config", "result", "versions"]);
    assert!(
        out.contains("| `config` | 1100000 | 900 | reached | 0 |"),
        "{out}"
    );
    assert!(out.contains("| `result` | 300 | 2 | 0 % | 1 |"), "{out}");
    assert!(out.contains("| `versions` | 0 | 0 | 0 % | 0 |"), "{out}");
    assert!(
        out.contains("1 of 3 targets at 1000000 runs; 1100300 runs across the suite."),
        "{out}"
    );
}

#[test]
fn a_missing_ledger_is_an_empty_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/fuzz-campaign.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(["-s", "config"])
        .env("FUZZ_LEDGER", dir.path().join("none.tsv"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(text.contains("| `config` | 0 | 0 | 0 % | 0 |"), "{text}");
    assert!(text.contains("0 of 1 targets at 10000000 runs"), "{text}");
}

fn plan(ledger: &str, args: &[&str]) -> Vec<String> {
    let args: Vec<&str> = ["-p"].iter().chain(args).copied().collect();
    campaign(ledger, &args)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A round: every target below the goal with the time its last rate says it needs and a
/// twentieth more (30 s to one chunk), within jobs x the time left (targets never run, then
/// those that need the least, get in first), listed longest run first.
#[test]
fn a_round_gives_each_target_below_the_goal_its_own_time() {
    let ledger = format!(
        "{HEADER}\
         2026-12-02T16:00:00Z\tabc\taddress\tconfig\t600\t900000\t1000\t0\n\
         2026-12-02T16:00:00Z\tabc\taddress\tresult\t600\t500000\t100\t0\n\
         2026-12-02T16:00:00Z\tabc\taddress\tconflist\t600\t999990\t1000\t0\n\
         2026-12-02T16:00:00Z\tabc\taddress\tcni_args\t600\t1000000\t1000\t0\n"
    );
    let targets = ["config", "result", "conflist", "cni_args", "versions"];
    let round = |t: &str| {
        let mut args = vec!["-g", "1000000", "-c", "600", "-j", "2", "-T", t];
        args.extend(targets);
        plan(&ledger, &args)
    };
    assert_eq!(
        round("700"),
        ["versions:600", "result:600", "config:106", "conflist:30"]
    );
    assert_eq!(
        round("600"),
        ["versions:600", "result:464", "config:106", "conflist:30"]
    );
    assert_eq!(round("300"), ["versions:600"]);
    assert_eq!(round("10"), Vec::<String>::new());
}
