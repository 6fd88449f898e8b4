//! The `fuzz` subcommand's arguments and its run: set up the target as certify does, fuzz,
//! print a summary, write the reports. Exit status 0 when nothing was found, 1 with findings
//! (reports and reproducers written), 2 when the harness cannot fuzz here (usage or setup).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::catalogue::Catalogue;
use crate::target::Target;

use super::generate::Body;
use super::{Options, Summary};

/// `cni-conformance fuzz`.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// The plugin binary to execute.
    #[arg(long)]
    pub plugin: PathBuf,
    /// A working network config for it: a single-plugin config or a conflist containing it.
    #[arg(long)]
    pub config: PathBuf,
    /// Directories where delegated plugins (IPAM, chained) are found.
    #[arg(long = "cni-path")]
    pub cni_path: Vec<PathBuf>,
    /// Seconds to generate calls for.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many generated calls (with a fixed seed: the same calls every run).
    #[arg(long)]
    pub calls: Option<u64>,
    /// Seed of the generated calls (decimal, or hexadecimal with 0x as reports print it).
    #[arg(long, default_value = "0x5eed", value_parser = parse_seed)]
    pub seed: u64,
    /// Directory for reproducers (one directory per finding, with run.sh).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the JSON report here (certify's format).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Seconds a call may take before it is killed (a hang finding).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Parallel workers, each with its own world (default: twice the number of CPUs; a
    /// worker mostly waits for a plugin process or the kernel).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Calls the minimizer may spend per finding.
    #[arg(long, default_value_t = 150)]
    pub minimize_budget: usize,
    /// Fail on findings against SHOULD-level rules too (exit 1 on any MUST or SHOULD).
    #[arg(long)]
    pub strict: bool,
}

/// A seed in decimal or `0x` hexadecimal.
fn parse_seed(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("{s:?} is no seed: {e}"))
}

/// An environment edit in a few words.
pub fn env_edit(e: &super::generate::EnvEdit) -> String {
    use super::generate::{short, EnvValue};
    match &e.value {
        EnvValue::Unset => format!("{} unset", e.key),
        EnvValue::Text(t) => format!("{}={}", e.key, short(t)),
        EnvValue::NetnsFile => format!("{}=<a plain file>", e.key),
        EnvValue::NetnsDir => format!("{}=<a directory>", e.key),
        EnvValue::NetnsMissing => format!("{}=<a missing path>", e.key),
    }
}

fn print_summary(s: &Summary) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "fuzzed {} with seed {:#x} at {}: {} generated calls ({} plugin calls) in {:.1} s on {} \
         workers: {:.1} calls/s; minimizing took {:.1} s",
        s.plugin,
        s.seed,
        s.version,
        s.generated,
        s.plugin_calls,
        s.seconds,
        s.jobs,
        s.calls_per_second,
        s.minimize_seconds
    );
    for (n, f) in s.findings.iter().enumerate() {
        let stdin = match &f.minimized.body {
            Body::Json(v) => v.to_string(),
            Body::Raw(t) => format!("(raw) {t:?}"),
        };
        let stdin = crate::checks::excerpt(&stdin);
        let _ = writeln!(
            err,
            "finding {}: [{}] {} ({} calls, first #{}): {}\n  minimized ({} calls): {} stdin {stdin}{}{}",
            n + 1,
            f.violation.requirement,
            f.violation.kind,
            f.count,
            f.index,
            crate::checks::excerpt(&f.violation.detail),
            f.minimize_calls,
            f.minimized.verb,
            f.minimized
                .env
                .iter()
                .map(|e| format!(" {}", env_edit(e)))
                .collect::<String>(),
            f.reproducer
                .as_ref()
                .map(|p| format!("\n  reproducer: {}", p.display()))
                .unwrap_or_default()
        );
    }
}

/// Runs the subcommand.
pub fn main(args: FuzzArgs, catalogue: &Catalogue) -> ExitCode {
    netns_sandbox::sweep();
    let timeout = Duration::from_secs_f64(args.timeout.max(0.1));
    let target = match Target::from_config(&args.plugin, &args.config, args.cni_path, timeout) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cni-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let abs = |p: Option<PathBuf>| p.map(|p| std::path::absolute(&p).unwrap_or(p));
    let (json, junit) = (abs(args.json), abs(args.junit));
    let opts = Options {
        seed: args.seed,
        duration: Duration::from_secs_f64(args.duration.max(0.0)),
        calls: args.calls,
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| 2 * n.get())
                .unwrap_or(4)
        }),
        out: args.out,
        minimize_budget: args.minimize_budget,
    };
    let summary = match super::run(&target, &opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cni-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    print_summary(&summary);
    let report = super::report(
        catalogue,
        &summary,
        &args.config.display().to_string(),
        args.strict,
    );
    print!("{}", report.terminal());
    let mut json_text = serde_json::to_value(&report).expect("report serializes");
    json_text["fuzz"] = serde_json::to_value(&summary).expect("summary serializes");
    for (path, text) in [
        (
            json,
            serde_json::to_string_pretty(&json_text).expect("serializes"),
        ),
        (junit, report.junit()),
    ] {
        if let Some(p) = path {
            if let Err(e) = std::fs::write(&p, text) {
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
