//! The robustness part of a certification, run after the case tables: crash consistency
//! ([`crate::faults`]) and concurrency ([`crate::concurrency`]), each as case runs that the
//! report counts like the tables' (their IDs in their findings, kill points and seeds in their
//! messages). `--filter` selects among their run IDs (`fault-…`, `concurrency-…`) as among
//! cases.

use cni::version::SpecVersion;

use crate::cases::Kind;
use crate::faults::FaultOptions;
use crate::runner::{CaseRun, Skipped};
use crate::target::Target;

/// Which robustness runs a certification makes.
#[derive(Debug, Clone)]
pub struct Robustness {
    pub faults: bool,
    pub faults_seed: u64,
    /// At most this many kill points after observed system calls per verb (all: `None`).
    pub faults_max_points: Option<usize>,
    /// Parallel ADDs and DELs in the concurrency run; 0: no concurrency runs.
    pub concurrency: usize,
    /// Only runs whose ID contains this.
    pub filter: Option<String>,
}

impl Robustness {
    /// Runs what is switched on; `progress` as in [`crate::pool::run_all`].
    pub fn run(
        &self,
        target: &Target,
        versions: &[SpecVersion],
        kind: Kind,
        jobs: usize,
        progress: &(dyn Fn(usize, usize, &CaseRun) + Sync),
    ) -> (Vec<CaseRun>, Vec<Skipped>) {
        let mut runs = Vec::new();
        let mut skipped = Vec::new();
        let filter = self.filter.as_deref();
        let wanted =
            |prefix: &str| filter.is_none_or(|f| f.starts_with(prefix) || prefix.starts_with(f));
        if self.faults && wanted("fault-") {
            let opts = FaultOptions {
                seed: self.faults_seed,
                max_points: self.faults_max_points.unwrap_or(usize::MAX),
                ..FaultOptions::default()
            };
            let (r, s) = crate::faults::run(target, versions, kind, &opts, jobs, filter, progress);
            runs.extend(r);
            skipped.extend(s);
        }
        if self.concurrency > 0 && wanted("concurrency-") {
            runs.extend(crate::concurrency::run(
                target,
                versions,
                kind,
                self.concurrency,
                filter,
                progress,
            ));
        }
        (runs, skipped)
    }
}
