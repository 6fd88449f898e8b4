//! Replays the seeds of every fuzz target through the target's own oracle (the function the
//! fuzz target calls), on stable, without cargo-fuzz: every `fuzz/corpus/<target>/seed-*`
//! file, the minimized crashes (`seed-crash-*`) included. A seed that makes its oracle panic
//! fails the test, which names the target, the file and the panic message.
//!
//! With `FUZZ_REPLAY_ARTIFACTS=1` the crash inputs cargo-fuzz left in
//! `fuzz/artifacts/<target>/` (not tracked in git) are replayed too: a quick way to reproduce a
//! crash with a normal debug build and a backtrace (`RUST_BACKTRACE=1`).
//!
//! Also checked: [`fuzz_oracles::TARGETS`] matches the `[[bin]]` targets of `fuzz/Cargo.toml`,
//! each target file calls its oracle, and every target has seeds.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fuzz_oracles::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir` whose names start with `prefix` (all with `""`), sorted; none when the
/// directory does not exist.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

fn seeds(target: &str) -> Vec<PathBuf> {
    files(&fuzz_dir().join("corpus").join(target), "seed-")
}

/// One input that failed its oracle.
#[derive(Debug)]
struct Failure {
    file: PathBuf,
    message: String,
}

/// Runs `oracle` on each file; returns the files whose run panicked, with the message.
fn replay(oracle: fn(&[u8]), files: &[PathBuf]) -> Vec<Failure> {
    // Every check on every seed, not the sample a fuzz run takes.
    fuzz_oracles::check_every_input_fully();
    let mut failures = Vec::new();
    for file in files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| oracle(&data))) {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            failures.push(Failure {
                file: file.clone(),
                message,
            });
        }
    }
    failures
}

fn report(failures: &[(&str, Failure)]) -> String {
    let mut out = format!("{} input(s) fail their oracle:\n", failures.len());
    for (target, f) in failures {
        out.push_str(&format!(
            "  [{target}] {}: {}\n",
            f.file.display(),
            f.message.lines().next().unwrap_or("")
        ));
    }
    out
}

#[test]
fn every_seed_passes_its_targets_oracle() {
    let artifacts = std::env::var_os("FUZZ_REPLAY_ARTIFACTS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    for t in TARGETS {
        let mut inputs = seeds(t.name);
        if artifacts {
            inputs.extend(files(&fuzz_dir().join("artifacts").join(t.name), ""));
        }
        count += inputs.len();
        failures.extend(replay(t.oracle, &inputs).into_iter().map(|f| (t.name, f)));
    }
    assert!(failures.is_empty(), "{}", report(&failures));
    eprintln!("replayed {count} inputs of {} targets", TARGETS.len());
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`.
fn fuzz_bins() -> BTreeSet<String> {
    let text = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let mut names = BTreeSet::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let Some(v) = line.strip_prefix("name") {
            if in_bin {
                let v = v.trim_start().trim_start_matches('=').trim();
                names.insert(v.trim_matches('"').to_string());
            }
        }
    }
    names
}

#[test]
fn every_fuzz_target_has_its_oracle_and_seeds() {
    let listed: BTreeSet<String> = TARGETS.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        fuzz_bins(),
        listed,
        "fuzz/Cargo.toml vs fuzz_oracles::TARGETS"
    );
    for t in TARGETS {
        let file = fuzz_dir()
            .join("fuzz_targets")
            .join(format!("{}.rs", t.name));
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            src.contains(&format!("fuzz_oracles::{}(data)", t.name)),
            "{} does not call fuzz_oracles::{}(data)",
            file.display(),
            t.name
        );
        assert!(!seeds(t.name).is_empty(), "no seeds for {}", t.name);
    }
}

/// The replay itself can fail: an input its oracle rejects is reported, with its file.
#[test]
fn a_seed_that_breaks_the_oracle_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("seed-good");
    let bad = dir.path().join("seed-bad");
    std::fs::write(&good, b"fine").unwrap();
    std::fs::write(&bad, b"bad").unwrap();
    fn oracle(data: &[u8]) {
        assert_ne!(data, b"bad", "the invariant");
    }
    let failures = replay(oracle, &files(dir.path(), "seed-"));
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].file, bad);
    assert!(failures[0].message.contains("the invariant"));
}
