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
use std::time::Duration;

use clap::{Parser, Subcommand};

use harness::data::CaseData;
use harness::recorder;
use harness::{CaseRun, Certification, Report};

#[derive(Parser)]
#[command(
    name = "cni-conformance",
    version = cni::build_info::VERSION_AND_BUILD,
    about = "Certify a CNI plugin binary against the CNI spec"
)]
struct Cli {
    /// Directory holding requirements.toml and cases/ (default: the copy built into the program
    /// from this checkout's conformance-cases).
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

fn main() -> ExitCode {
    // Started under a delegate's name in the recorder's directory (or as `cni-recorder`), this
    // program is the delegate recorder (harness::recorder).
    if recorder::invoked_as_recorder() {
        return recorder::main();
    }
    let cli = Cli::parse();
    let data = match CaseData::from_dir_or_embedded(cli.cases.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cni-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Cmd::Requirements => {
            let uncovered = match &cli.cases {
                Some(root) => harness::coverage::print(&data.catalogue, &data.cases, root),
                None => harness::coverage::print_with_reasons(
                    &data.catalogue,
                    &data.cases,
                    &data.uncovered,
                ),
            };
            if uncovered > 0 {
                eprintln!("{uncovered} black-box requirement(s) neither covered nor explained");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Cmd::Fuzz(args) => harness::fuzz::cli::main(args, &data.catalogue),
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
            let mut certification = Certification::new(&plugin)
                .config_file(&config)
                .strict(strict)
                .timeout(Duration::from_secs_f64(timeout.max(0.1)))
                .generated(generated, seed)
                .faults((faults || strict) && !no_faults)
                .faults_plan(faults_seed, faults_points);
            if let Some(root) = &cli.cases {
                certification = certification.cases_dir(root);
            }
            for dir in cni_path {
                certification = certification.cni_path(dir);
            }
            if let Some(j) = jobs {
                certification = certification.jobs(j);
            }
            if let Some(f) = filter {
                certification = certification.filter(f);
            }
            if let Some(arg) = attachment_patch {
                certification = certification.attachment_patch_arg(arg);
            }
            if let Some(n) = concurrency {
                certification = certification.concurrency(n);
            }
            let prepared = match certification.prepare() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("cni-conformance: {e}");
                    return ExitCode::from(2);
                }
            };
            eprintln!(
                "certifying {} ({}; versions {}) with {} cases on {} jobs",
                plugin.display(),
                prepared.kind_name(),
                prepared.versions().join(", "),
                prepared.case_count(),
                prepared.jobs()
            );
            if let Some(from) = &prepared.probe().versions_from {
                eprintln!("versions: {from}");
            }
            if let Some(p) = prepared.attachment_patch() {
                eprintln!(
                    "attachment patch {} (from {}) for attachments other than \"a\"",
                    p.patch, p.source
                );
            }
            let progress = |done: usize, total: usize, run: &CaseRun| {
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
            let faults_seed = prepared.faults_seed();
            let report = prepared.run_with(&progress, &|| {
                if let Some(seed) = faults_seed {
                    eprintln!(
                        "fault injection: faults seed {seed} (replay with --faults-seed {seed})"
                    );
                }
            });
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
