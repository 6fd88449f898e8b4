//! Certification from Rust: [`Certification`] names the plugin binary, its base config and the
//! options `cni-conformance certify` takes; [`Certification::prepare`] sets up what every run
//! needs (the target, the delegate recorder, the probe of the plugin's versions and kind) and
//! [`Prepared::run`] runs the cases into a [`Report`]. The `cni-conformance` CLI is a client of
//! this module; [`crate::testing`] builds one test per (case, version) on it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cni::version::SpecVersion;
use serde_json::Value;

use crate::cases::{Case, Kind};
use crate::data::CaseData;
use crate::report::{Report, Subject, Verdict};
use crate::runner::{CaseRun, Probe, Probed, Skipped};
use crate::target::{AttachmentPatch, SetupError, Target};

/// Why a certification could not run (the CLI's exit status 2): nothing was found out about
/// the plugin, so there is no report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalogue or the case tables could not be read.
    #[error("{0}")]
    Data(String),
    /// The plugin, its base config or the attachment patch is unusable, or the base config
    /// cannot ADD on this machine.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The harness's own delegate recorder does not work here.
    #[error("{0}")]
    Recorder(String),
    /// Fault injection was asked for and cannot run here.
    #[error("fault injection cannot run here: {0} (--no-faults certifies without it)")]
    Faults(String),
}

/// Where the base config comes from.
#[derive(Debug, Clone)]
enum ConfigSource {
    None,
    File(PathBuf),
    Json(Value),
}

/// Where the attachment patch comes from.
#[derive(Debug, Clone)]
enum PatchSource {
    Json(Value),
    Arg(String),
}

/// A certification to run: the plugin binary, its base config and the options of
/// `cni-conformance certify`, with the CLI's defaults (not strict, 30 s per plugin call, one
/// job per CPU, 8 generated variants, no fault injection or concurrency runs unless strict).
///
/// ```no_run
/// let report = harness::Certification::new("target/debug/my-plugin")
///     .config_file("tests/my-plugin.conflist")
///     .cni_path("/opt/cni/bin")
///     .run()
///     .expect("the harness can certify here");
/// report.assert_conformant();
/// ```
#[derive(Debug, Clone)]
pub struct Certification {
    plugin: PathBuf,
    config: ConfigSource,
    cni_path: Vec<PathBuf>,
    strict: bool,
    timeout: Duration,
    jobs: Option<usize>,
    filter: Option<String>,
    generated: usize,
    seed: u64,
    attachment_patch: Option<PatchSource>,
    faults: Option<bool>,
    faults_seed: u64,
    faults_points: Option<usize>,
    concurrency: Option<usize>,
    cases_dir: Option<PathBuf>,
}

/// The label of a base config given as a JSON value, in errors and reports.
const INLINE_CONFIG: &str = "<inline config>";

impl Certification {
    /// A certification of the plugin binary at `plugin`; give its base config with
    /// [`Certification::config_file`] or [`Certification::config_json`].
    pub fn new(plugin: impl Into<PathBuf>) -> Certification {
        Certification {
            plugin: plugin.into(),
            config: ConfigSource::None,
            cni_path: Vec::new(),
            strict: false,
            timeout: Duration::from_secs(30),
            jobs: None,
            filter: None,
            generated: 8,
            seed: 0x5eed,
            attachment_patch: None,
            faults: None,
            faults_seed: 0x5eed,
            faults_points: None,
            concurrency: None,
            cases_dir: None,
        }
    }

    /// The base config from a file: a single-plugin config, or a conflist containing the
    /// plugin (the plugins before it form a prelude, those after it a postlude).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Certification {
        self.config = ConfigSource::File(path.into());
        self
    }

    /// The base config as a JSON value, as [`Certification::config_file`] reads it.
    pub fn config_json(mut self, config: Value) -> Certification {
        self.config = ConfigSource::Json(config);
        self
    }

    /// Adds a directory where delegated plugins (IPAM, chained) are found; without any, the
    /// plugin's own directory.
    pub fn cni_path(mut self, dir: impl Into<PathBuf>) -> Certification {
        self.cni_path.push(dir.into());
        self
    }

    /// Fail on SHOULD-level violations too; also turns on fault injection (unless
    /// [`Certification::faults`] says otherwise) and 32-way concurrency runs (unless
    /// [`Certification::concurrency`] says otherwise).
    pub fn strict(mut self, strict: bool) -> Certification {
        self.strict = strict;
        self
    }

    /// How long a plugin call may take before it is killed and its case fails (at least
    /// 100 ms).
    pub fn timeout(mut self, timeout: Duration) -> Certification {
        self.timeout = timeout.max(Duration::from_millis(100));
        self
    }

    /// Cases run in parallel (default: the number of CPUs).
    pub fn jobs(mut self, jobs: usize) -> Certification {
        self.jobs = Some(jobs.max(1));
        self
    }

    /// Only run cases (and robustness runs) whose ID contains `text`.
    pub fn filter(mut self, text: impl Into<String>) -> Certification {
        self.filter = Some(text.into());
        self
    }

    /// Property-based variants of the base config and environment: how many, and the seed
    /// (the same seed gives the same variants).
    pub fn generated(mut self, count: usize, seed: u64) -> Certification {
        self.generated = count;
        self.seed = seed;
        self
    }

    /// A JSON merge patch applied to the tested plugin's config for every attachment of a
    /// case but its main one, for plugins whose kernel object is unique per config (e.g.
    /// `{"vlanId": 101}` for vlan). A config may carry it as `"x-conformance":
    /// {"attachmentPatch": ...}` instead; giving both is a setup error.
    pub fn attachment_patch(mut self, patch: Value) -> Certification {
        self.attachment_patch = Some(PatchSource::Json(patch));
        self
    }

    /// The attachment patch as the CLI's `--attachment-patch` takes it: a file, or inline
    /// JSON starting with `{`.
    #[doc(hidden)]
    pub fn attachment_patch_arg(mut self, arg: impl Into<String>) -> Certification {
        self.attachment_patch = Some(PatchSource::Arg(arg.into()));
        self
    }

    /// Crash consistency runs: kill the plugin inside ADD, DEL and GC and check that the
    /// runtime's next steps leave nothing behind (default: on when strict).
    pub fn faults(mut self, on: bool) -> Certification {
        self.faults = Some(on);
        self
    }

    /// The seed of the fault plan, and at most this many kill points per verb (`None`: after
    /// every observed state-changing system call).
    pub fn faults_plan(mut self, seed: u64, max_points: Option<usize>) -> Certification {
        self.faults_seed = seed;
        self.faults_points = max_points;
        self
    }

    /// Concurrency runs with this many parallel ADDs and DELs (0: none; default 32 when
    /// strict, else 0).
    pub fn concurrency(mut self, n: usize) -> Certification {
        self.concurrency = Some(n);
        self
    }

    /// Reads the catalogue and case tables from a directory of `conformance-cases/`'s layout
    /// instead of the copies embedded in the library.
    pub fn cases_dir(mut self, dir: impl Into<PathBuf>) -> Certification {
        self.cases_dir = Some(dir.into());
        self
    }

    /// The catalogue and case tables this certification runs on.
    pub(crate) fn data(&self) -> Result<CaseData, Error> {
        CaseData::from_dir_or_embedded(self.cases_dir.as_deref()).map_err(Error::Data)
    }

    /// The base config's label in reports: its path, or `<inline config>`.
    fn config_label(&self) -> PathBuf {
        match &self.config {
            ConfigSource::File(p) => p.clone(),
            ConfigSource::None | ConfigSource::Json(_) => PathBuf::from(INLINE_CONFIG),
        }
    }

    /// The target without recorder: the plugin, its base config and the attachment patch.
    /// Reads no plugin output and needs no privileges.
    pub(crate) fn target(&self) -> Result<Target, Error> {
        let label = self.config_label();
        let text = match &self.config {
            ConfigSource::File(p) => {
                std::fs::read(p).map_err(|e| SetupError::Read(p.clone(), e))?
            }
            ConfigSource::Json(v) => serde_json::to_vec(v).expect("a JSON value serializes"),
            ConfigSource::None => {
                return Err(SetupError::Config {
                    path: label,
                    reason: "no base config given".into(),
                }
                .into())
            }
        };
        let target = Target::from_text(
            &self.plugin,
            &text,
            &label,
            self.cni_path.clone(),
            self.timeout,
        )?;
        Ok(match &self.attachment_patch {
            None => target,
            Some(source) => {
                let patch = match source {
                    PatchSource::Json(v) => AttachmentPatch::new(v.clone(), "the API"),
                    PatchSource::Arg(a) => AttachmentPatch::from_arg(a),
                }
                .map_err(SetupError::AttachmentPatch)?;
                target.with_attachment_patch(patch)?
            }
        })
    }

    /// How many generated variants run.
    pub(crate) fn generated_count(&self) -> usize {
        self.generated
    }

    /// The seed of the generated variants.
    pub(crate) fn generated_seed(&self) -> u64 {
        self.seed
    }

    /// Whether fault injection runs.
    fn faults_on(&self) -> bool {
        self.faults.unwrap_or(self.strict)
    }

    /// Sets up a certification: reads the case data, the plugin and its base config, checks
    /// the harness's delegate recorder (the running executable, see [`crate::recorder`]) and
    /// fault injection when it is on, then probes the plugin (VERSION, one ADD/DEL to tell its
    /// kind). Needs root: every plugin call runs in its own network namespaces.
    pub fn prepare(self) -> Result<Prepared, Error> {
        let data = self.data()?;
        self.prepare_with(Arc::new(data))
    }

    /// [`Certification::prepare`] with the case data already read.
    pub(crate) fn prepare_with(self, data: Arc<CaseData>) -> Result<Prepared, Error> {
        let target = self.target()?;
        netns_sandbox::sweep();
        let start = Instant::now();
        // The harness's own parts before any plugin call: a recorder that does not work is a
        // setup error, never a finding against the plugin.
        let recorder = crate::recorder::program()
            .map_err(|e| format!("cannot find the harness's own executable: {e}"))
            .and_then(|p| crate::recorder::self_test(&p, target.timeout).map(|()| p))
            .map_err(Error::Recorder)?;
        let target = Target {
            recorder: Some(recorder),
            ..target
        };
        if self.faults_on()
            && self
                .filter
                .as_deref()
                .is_none_or(|f| f.starts_with("fault") || "fault-".starts_with(f))
        {
            crate::faults::self_test().map_err(Error::Faults)?;
        }
        let Probed {
            versions,
            kind,
            probe,
        } = crate::runner::probe(&target)?;
        let cases: Vec<Case> = data
            .cases
            .iter()
            .cloned()
            .chain(crate::generated::cases(
                self.generated,
                self.seed,
                &versions,
                &target,
            ))
            .filter(|c| self.filter.as_deref().is_none_or(|f| c.id.contains(f)))
            .collect();
        let jobs = self.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        Ok(Prepared {
            options: self,
            data,
            target,
            versions,
            kind,
            probe,
            cases,
            jobs,
            start,
        })
    }

    /// [`Certification::prepare`], then [`Prepared::run`] without progress output.
    pub fn run(self) -> Result<Report, Error> {
        Ok(self.prepare()?.run(&|_, _, _| {}))
    }
}

/// A certification set up and its plugin probed, ready to run its cases.
#[derive(Debug)]
pub struct Prepared {
    options: Certification,
    data: Arc<CaseData>,
    target: Target,
    versions: Vec<SpecVersion>,
    kind: Kind,
    probe: Probe,
    cases: Vec<Case>,
    jobs: usize,
    start: Instant,
}

impl Prepared {
    /// The spec versions the cases run at (from the plugin's VERSION answer), oldest first.
    pub fn versions(&self) -> Vec<String> {
        self.versions
            .iter()
            .map(|v| v.as_str().to_string())
            .collect()
    }

    /// What the probe found: the advertised versions, the plugin's kind, findings on its
    /// VERSION answer.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// How many cases (table and generated, after the filter) are run.
    pub fn case_count(&self) -> usize {
        self.cases.len()
    }

    /// Cases run in parallel.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// The plugin's kind as the probe's ADD showed it (`Debug` form, e.g. `Interface`).
    #[doc(hidden)]
    pub fn kind_name(&self) -> String {
        format!("{:?}", self.kind)
    }

    /// The attachment patch in force and where it comes from.
    pub fn attachment_patch(&self) -> Option<&AttachmentPatch> {
        self.target.attachment_patch.as_ref()
    }

    /// The fault plan's seed when fault injection runs.
    pub fn faults_seed(&self) -> Option<u64> {
        self.options.faults_on().then_some(self.options.faults_seed)
    }

    /// Runs every applicable (case, version), then the robustness runs switched on, and
    /// builds the report; `progress` is called after each run with (done, total, run).
    pub fn run(self, progress: &(dyn Fn(usize, usize, &CaseRun) + Sync)) -> Report {
        self.run_with(progress, &|| {})
    }

    /// [`Prepared::run`], calling `between` after the case tables' runs and before the
    /// robustness runs (where the CLI prints the fault plan's seed).
    #[doc(hidden)]
    pub fn run_with(
        self,
        progress: &(dyn Fn(usize, usize, &CaseRun) + Sync),
        between: &dyn Fn(),
    ) -> Report {
        let (mut runs, mut skipped) = crate::pool::run_all(
            &self.target,
            &self.cases,
            &self.versions,
            self.kind,
            self.jobs,
            progress,
        );
        let o = &self.options;
        let robustness = crate::robustness::Robustness {
            faults: o.faults_on(),
            faults_seed: o.faults_seed,
            faults_max_points: o.faults_points,
            concurrency: o.concurrency.unwrap_or(if o.strict { 32 } else { 0 }),
            filter: o.filter.clone(),
        };
        between();
        let (more_runs, more_skipped) =
            robustness.run(&self.target, &self.versions, self.kind, self.jobs, progress);
        runs.extend(more_runs);
        skipped.extend(more_skipped);
        let millis = self.start.elapsed().as_millis();
        self.report(runs, skipped, millis)
    }

    /// The report of these runs.
    fn report(&self, runs: Vec<CaseRun>, skipped: Vec<Skipped>, millis: u128) -> Report {
        let subject = Subject {
            plugin: self.options.plugin.display().to_string(),
            config: self.options.config_label().display().to_string(),
            strict: self.options.strict,
            probe: self.probe.clone(),
            attachment_patch: self.target.attachment_patch.clone(),
        };
        Report::build(&self.data.catalogue, subject, runs, skipped, millis)
    }

    /// Runs one (case, version), as [`Prepared::run`] would, and judges it alone: the report
    /// of that one run (without the probe's findings), or why the case does not apply to this
    /// plugin at that version (kind, config, versions, or found while running).
    pub(crate) fn run_one(&self, case: &Case, version: SpecVersion) -> CaseOutcome {
        let not_here = crate::capabilities::not_applicable(case, &self.target)
            .or_else(|| crate::postlude::not_applicable(case, &self.target));
        let applies = match not_here {
            Some(reason) => Err(reason),
            None => crate::pool::expand(
                case,
                &self.versions,
                self.kind,
                self.target.ipam_type().is_some(),
            ),
        };
        match applies {
            Err(reason) => return CaseOutcome::NotApplicable(reason),
            Ok(vs) if !vs.contains(&version) => {
                return CaseOutcome::NotApplicable(format!(
                    "not run at {version} for this plugin (runs at {})",
                    vs.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }
            Ok(_) => {}
        }
        let start = Instant::now();
        // Worlds of one process need distinct labels: trials run on several threads.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let label = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let run = crate::runner::run_case(&self.target, case, version, self.kind, &label);
        if let Some(reason) = &run.not_applicable {
            return CaseOutcome::NotApplicable(reason.clone());
        }
        let probe = Probe {
            findings: Vec::new(),
            ..self.probe.clone()
        };
        let subject = Subject {
            plugin: self.options.plugin.display().to_string(),
            config: self.options.config_label().display().to_string(),
            strict: self.options.strict,
            probe,
            attachment_patch: self.target.attachment_patch.clone(),
        };
        CaseOutcome::Ran(Box::new(Report::build(
            &self.data.catalogue,
            subject,
            vec![run],
            Vec::new(),
            start.elapsed().as_millis(),
        )))
    }

    /// The probe's own findings (the VERSION answer) judged alone.
    pub(crate) fn probe_report(&self) -> Report {
        self.report(Vec::new(), Vec::new(), 0)
    }
}

/// What running one (case, version) alone ended with.
pub(crate) enum CaseOutcome {
    /// The case does not apply to this plugin: why.
    NotApplicable(String),
    /// The report of the one run.
    Ran(Box<Report>),
}

impl Report {
    /// The requirements whose verdict fails the certification.
    pub fn failed_requirements(&self) -> Vec<&crate::report::RequirementResult> {
        self.requirements
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .collect()
    }

    /// What failed, one line each: every failed requirement with its level and first
    /// failure (`case@version: message`), then every setup failure. Empty when the report
    /// passed.
    pub fn failure_summary(&self) -> String {
        let mut s = String::new();
        for r in self.failed_requirements() {
            s.push_str(&format!("  {} ({}): {}\n", r.id, r.level, r.reason));
        }
        for f in &self.setup_failures {
            s.push_str(&format!("  setup: {f}\n"));
        }
        s
    }

    /// Panics unless the plugin certified: the message names the plugin and lists each
    /// failed requirement with its level and reason, and any setup failure.
    #[track_caller]
    pub fn assert_conformant(&self) {
        if !self.passed {
            panic!(
                "{} is not conformant ({} failed requirement(s), {} setup failure(s)):\n{}",
                self.plugin,
                self.failed_requirements().len(),
                self.setup_failures.len(),
                self.failure_summary()
            );
        }
    }

    /// Writes [`Report::json`] to `path`.
    pub fn write_json(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.json())
    }

    /// Writes [`Report::junit`] to `path`.
    pub fn write_junit(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.junit())
    }
}
