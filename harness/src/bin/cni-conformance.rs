//! `cni-conformance`: certify a CNI plugin binary against the requirement catalogue.
//!
//! ```text
//! cni-conformance certify --plugin <PATH> --config <FILE> [--cni-path <DIR>]...
//!                         [--strict] [--json <FILE>] [--junit <FILE>] [--html <FILE>]
//!                         [--timeout <SECS>] [--jobs <N>]
//!                         [--attachment-patch <FILE|JSON>] [--faults | --no-faults]
//!                         [--faults-seed <N>] [--faults-points <N>] [--concurrency <N>]
//! cni-conformance requirements
//! cni-conformance fuzz --plugin <PATH> --config <FILE> [--duration <SECS>] [--calls <N>]
//!                      [--seed <N>] [--out <DIR>] [--json <FILE>] [--junit <FILE>] [--jobs <N>]
//! ```
//! Exit status: 0 when every applicable MUST (and, with `--strict`, SHOULD) passed, 1 when one
//! failed (a broken VERSION answer included; the reports are written), 2 when the harness
//! cannot certify here: a usage or setup error, its own delegate recorder not working, or a
//! base config whose ADD the plugin refuses on this machine (its error is printed).
//!
//! Invoked as `cni-recorder`, or under any name from a directory called `cni-recorder-bin`,
//! the program is the delegate recorder instead (`harness::recorder`): the harness needs no
//! other binary beside it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use harness::catalogue::Catalogue;
use harness::recorder;
use harness::report::{Report, Subject};
use harness::runner::{self, Probed};
use harness::target::{AttachmentPatch, SetupError, Target};

#[derive(Parser)]
#[command(
    name = "cni-conformance",
    version = cni::build_info::VERSION_AND_BUILD,
    about = "Certify a CNI plugin binary against the CNI spec"
)]
struct Cli {
    /// Directory holding requirements.toml and cases/ (default: this checkout's conformance-cases).
    #[arg(long, global = true, env = "CNI_CONFORMANCE_CASES")]
    cases: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

// Parsed once per process: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Run the scenarios against a plugin and report per requirement.
    Certify {
        /// The plugin binary to execute.
        #[arg(long)]
        plugin: PathBuf,
        /// A working network config for it: a single-plugin config or a conflist containing it.
        #[arg(long)]
        config: PathBuf,
        /// Directories where delegated plugins (IPAM, chained) are found.
        #[arg(long = "cni-path")]
        cni_path: Vec<PathBuf>,
        /// Fail on SHOULD-level violations too.
        #[arg(long)]
        strict: bool,
        /// Write the JSON report here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write the report as one self-contained HTML page here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Seconds a plugin call may take before it is killed and the case fails.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// Scenarios run in parallel (default: number of CPUs).
        #[arg(long)]
        jobs: Option<usize>,
        /// Only run cases whose id contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Property-based variants of the base config and environment to run.
        #[arg(long, default_value_t = 8)]
        generated: usize,
        /// Seed of the generated variants (the same seed gives the same variants).
        #[arg(long, default_value_t = 0x5eed)]
        seed: u64,
        /// A JSON merge patch (a file, or inline JSON starting with `{`) applied to the tested
        /// plugin's config for every attachment of a case but its main one ("a"): for plugins
        /// whose kernel object is unique per config, e.g. '{"vlanId": 101}' for vlan. The
        /// config may carry it instead as "x-conformance": {"attachmentPatch": ...}. Reports
        /// name it and the case runs that used it.
        #[arg(long, value_name = "FILE|JSON")]
        attachment_patch: Option<String>,
        /// Crash consistency: kill the plugin inside ADD, DEL and GC and check that the
        /// runtime's next steps leave nothing behind; on by default with --strict.
        #[arg(long)]
        faults: bool,
        /// Skip the crash-consistency trials even with --strict.
        #[arg(long, conflicts_with = "faults")]
        no_faults: bool,
        /// Seed of the fault plan (kill points); a reported seed replays the same points.
        #[arg(long, default_value_t = 0x5eed)]
        faults_seed: u64,
        /// At most this many kill points per verb after observed system calls (a sample
        /// drawn with the faults seed); default: after every one.
        #[arg(long, value_name = "N")]
        faults_points: Option<usize>,
        /// Concurrency: this many parallel ADDs and DELs of different containers on one
        /// network, and interleaved calls for one attachment; on by default (32) with
        /// --strict, 0 turns it off.
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// List every black-box-testable requirement with the cases that cover it.
    Requirements,
    /// Fuzz the plugin binary with generated requests and environments; findings are
    /// minimized and written as reproducers.
    Fuzz(harness::fuzz::cli::FuzzArgs),
}

fn cases_root(cli: &Option<PathBuf>) -> PathBuf {
    cli.clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance-cases"))
}

fn load(root: &std::path::Path) -> Result<(Catalogue, Vec<harness::cases::Case>), String> {
    let catalogue = Catalogue::load(root.join("requirements.toml")).map_err(|e| e.to_string())?;
    let cases = harness::cases::load_dir(&root.join("cases"), &|id| catalogue.get(id).is_some())
        .map_err(|e| e.to_string())?;
    Ok((catalogue, cases))
}

fn main() -> ExitCode {
    // Started under a delegate's name in the recorder's directory (or as `cni-recorder`), this
    // program is the delegate recorder (harness::recorder).
    if recorder::invoked_as_recorder() {
        return recorder::main();
    }
    let cli = Cli::parse();
    let root = cases_root(&cli.cases);
    let (catalogue, cases) = match load(&root) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cni-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Cmd::Requirements => {
            let uncovered = harness::coverage::print(&catalogue, &cases, &root);
            if uncovered > 0 {
                eprintln!("{uncovered} black-box requirement(s) neither covered nor explained");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Cmd::Fuzz(args) => harness::fuzz::cli::main(args, &catalogue),
        Cmd::Certify {
            plugin,
            config,
            cni_path,
            strict,
            json,
            junit,
            html,
            timeout,
            jobs,
            filter,
            generated,
            seed,
            attachment_patch,
            faults,
            no_faults,
            faults_seed,
            faults_points,
            concurrency,
        } => {
            netns_sandbox::sweep();
            let start = Instant::now();
            let target = match Target::from_config(
                &plugin,
                &config,
                cni_path,
                Duration::from_secs_f64(timeout.max(0.1)),
            ) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("cni-conformance: {e}");
                    return ExitCode::from(2);
                }
            };
            let target = match attachment_patch {
                None => target,
                Some(arg) => match AttachmentPatch::from_arg(&arg)
                    .map_err(SetupError::AttachmentPatch)
                    .and_then(|p| target.with_attachment_patch(p))
                {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("cni-conformance: {e}");
                        return ExitCode::from(2);
                    }
                },
            };
            // The harness's own parts before any plugin call: a recorder that does not work is
            // a setup error, never a finding against the plugin.
            let target = match recorder::program()
                .map_err(|e| format!("cannot find the harness's own executable: {e}"))
                .and_then(|p| recorder::self_test(&p, target.timeout).map(|()| p))
            {
                Ok(p) => Target {
                    recorder: Some(p),
                    ..target
                },
                Err(e) => {
                    eprintln!("cni-conformance: {e}");
                    return ExitCode::from(2);
                }
            };
            let faults_on = (faults || strict) && !no_faults;
            if faults_on
                && filter
                    .as_deref()
                    .is_none_or(|f| f.starts_with("fault") || "fault-".starts_with(f))
            {
                if let Err(e) = harness::faults::self_test() {
                    eprintln!(
                        "cni-conformance: fault injection cannot run here: {e} (--no-faults \
                         certifies without it)"
                    );
                    return ExitCode::from(2);
                }
            }
            let Probed {
                versions,
                kind,
                probe,
            } = match runner::probe(&target) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("cni-conformance: {e}");
                    return ExitCode::from(2);
                }
            };
            let cases: Vec<_> = cases
                .into_iter()
                .chain(harness::generated::cases(
                    generated, seed, &versions, &target,
                ))
                .filter(|c| filter.as_deref().is_none_or(|f| c.id.contains(f)))
                .collect();
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            });
            eprintln!(
                "certifying {} ({kind:?}; versions {}) with {} cases on {jobs} jobs",
                plugin.display(),
                versions
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                cases.len()
            );
            if let Some(from) = &probe.versions_from {
                eprintln!("versions: {from}");
            }
            if let Some(p) = &target.attachment_patch {
                eprintln!(
                    "attachment patch {} (from {}) for attachments other than \"a\"",
                    p.patch, p.source
                );
            }
            let progress = |done: usize, total: usize, run: &runner::CaseRun| {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "[{done:>3}/{total}] {:<6} {}@{} ({} ms)",
                    if run.not_applicable.is_some() {
                        "n/a"
                    } else if run.passed {
                        "ok"
                    } else {
                        "FAILED"
                    },
                    run.case,
                    run.version,
                    run.millis
                );
            };
            let (mut runs, mut skipped) =
                runner::run_all(&target, &cases, &versions, kind, jobs, &progress);
            let robustness = harness::robustness::Robustness {
                faults: faults_on,
                faults_seed,
                faults_max_points: faults_points,
                concurrency: concurrency.unwrap_or(if strict { 32 } else { 0 }),
                filter: filter.clone(),
            };
            if robustness.faults {
                eprintln!("fault injection: faults seed {faults_seed} (replay with --faults-seed {faults_seed})");
            }
            let (more_runs, more_skipped) =
                robustness.run(&target, &versions, kind, jobs, &progress);
            runs.extend(more_runs);
            skipped.extend(more_skipped);
            let subject = Subject {
                plugin: plugin.display().to_string(),
                config: config.display().to_string(),
                strict,
                probe,
                attachment_patch: target.attachment_patch.clone(),
            };
            let report = Report::build(
                &catalogue,
                subject,
                runs,
                skipped,
                start.elapsed().as_millis(),
            );
            print!("{}", report.terminal());
            for (path, render) in [
                (json, Report::json as fn(&Report) -> String),
                (junit, Report::junit),
                (html, Report::html),
            ] {
                if let Some(p) = path {
                    if let Err(e) = std::fs::write(&p, render(&report)) {
                        eprintln!("cni-conformance: cannot write {}: {e}", p.display());
                        return ExitCode::from(2);
                    }
                }
            }
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
