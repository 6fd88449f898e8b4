//! The timing driver shared by the benchmark scripts (`scripts/bench-startup.sh`,
//! `scripts/bench-interface-plugins.sh`; run those, they prepare what this needs). Each bench
//! target is a one-line `main` that calls [`main`] with its own name.
//!
//! ```text
//! NAME [--runs N] [--warmup N] [--netns PATH] [--counts] [--rss N] VARIANT...
//! VARIANT: [--cni-path DIR] [--start-in PATH] --variant NAME BIN CONF   one ADD then one DEL of BIN
//!        | [--cni-path DIR] [--start-in PATH] --starts NAME K BIN CONF  K starts of BIN: ADD, DEL, ...
//!        | --batch NAME PER EVERY PROGRAM               one run of PROGRAM, divided by PER
//! ```
//!
//! A sample of `--variant` is an ADD then a DEL: two processes of `BIN`, each started
//! directly (no shell) with `CNI_COMMAND` set, the rest of the `CNI_*` environment inherited
//! (`CNI_PATH` replaced by the last `--cni-path` given before the variant, if any), stdin from
//! `CONF` and stdout/stderr discarded; the sample is the wall time from the first spawn to the
//! last exit. `--starts` is the same with `K` starts (verbs alternating from ADD). A sample of
//! `--batch` is one run of `PROGRAM` (no arguments, stdin from /dev/null, output discarded),
//! its wall and CPU time divided by `PER` (the number of operations it does), taken only
//! every `EVERY` rounds: for a batch that does the work of many samples at once.
//!
//! Variants are interleaved round-robin (the order rotates every round), so a change in the
//! machine's load during the run hits all of them alike. Alongside wall time it records the
//! CPU time the processes used (user + system, from `getrusage(RUSAGE_CHILDREN)`), which time
//! spent waiting for a CPU does not inflate. With `--netns`, the driver enters that network
//! namespace once before starting anything, so every process starts in it as a runtime would
//! start them (no `ip netns exec` in the measured time). `--start-in PATH` (for the variants
//! after it, like `--cni-path`) makes their processes start in that network namespace instead:
//! the child joins it with one `setns` between fork and exec, for variants whose state must
//! not meet another's (upstream's and our firewall rules, say).
//!
//! With `--rss N` nothing is timed: each `--variant` runs N ADDs and N DELs with every process
//! it starts traced, and each process's own peak resident size (`VmHWM` at its exit; GNU
//! time's `%M`, `ru_maxrss`, would also count the children a process waited for) is printed,
//! one line per process: `name verb run index comm kib`, index 0 being the plugin.
//!
//! Otherwise prints one line per variant on stdout:
//! `name median_ms p10_ms p90_ms min_ms cpu_median_ms`, and with `--counts` the number of
//! samples as a seventh column.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Instant;

enum Kind {
    /// `starts` processes of `bin`, verbs alternating from ADD.
    Plugin {
        bin: String,
        conf: String,
        cni_path: Option<String>,
        /// A network namespace the processes join before exec (`--start-in`).
        start_in: Option<std::sync::Arc<File>>,
        starts: usize,
    },
    /// One run of `program`, accounted as `per` operations.
    Batch { program: String, per: f64 },
}

struct Variant {
    name: String,
    kind: Kind,
    /// Sampled in rounds that are a multiple of this.
    every: usize,
    samples: Vec<f64>,
    cpu: Vec<f64>,
}

/// CPU time (user + system, ms) used so far by all waited-for children.
fn children_cpu_ms() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut r) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(r.ru_utime) + ms(r.ru_stime)
}

fn run(name: &str, mut cmd: Command, what: &str) -> Result<(), String> {
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{name}: cannot start {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name}: {what} failed with {status}"))
    }
}

/// Makes `cmd`'s process join the network namespace `ns` between fork and exec.
fn start_in(cmd: &mut Command, ns: Option<&std::sync::Arc<File>>) {
    use std::os::unix::process::CommandExt;
    if let Some(ns) = ns {
        let fd = ns.as_raw_fd();
        // SAFETY: setns is async-signal-safe; the descriptor outlives the child's start.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

fn run_plugin(
    name: &str,
    bin: &str,
    conf: &str,
    cni_path: Option<&str>,
    ns: Option<&std::sync::Arc<File>>,
    verb: &str,
) -> Result<(), String> {
    let stdin = File::open(conf).map_err(|e| format!("{name}: open {conf}: {e}"))?;
    let mut cmd = Command::new(bin);
    cmd.env("CNI_COMMAND", verb).stdin(stdin);
    if let Some(path) = cni_path {
        cmd.env("CNI_PATH", path);
    }
    start_in(&mut cmd, ns);
    run(name, cmd, &format!("{bin} {verb}"))
}

/// (wall ms, CPU ms) of one sample.
fn sample(v: &Variant) -> Result<(f64, f64), String> {
    let cpu = children_cpu_ms();
    let start = Instant::now();
    let per = match &v.kind {
        Kind::Plugin {
            bin,
            conf,
            cni_path,
            start_in,
            starts,
        } => {
            for i in 0..*starts {
                let verb = if i % 2 == 0 { "ADD" } else { "DEL" };
                run_plugin(
                    &v.name,
                    bin,
                    conf,
                    cni_path.as_deref(),
                    start_in.as_ref(),
                    verb,
                )?;
            }
            1.0
        }
        Kind::Batch { program, per } => {
            let mut cmd = Command::new(program);
            cmd.stdin(Stdio::null());
            run(&v.name, cmd, program)?;
            *per
        }
    };
    let wall = start.elapsed().as_secs_f64() * 1000.0;
    Ok((wall / per, (children_cpu_ms() - cpu) / per))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Enters the network namespace at `path` for the rest of the process (single-threaded here).
fn enter_netns(path: &str) -> Result<(), String> {
    let f = File::open(path).map_err(|e| format!("open {path}: {e}"))?;
    // SAFETY: setns on a descriptor we own; the driver has no other threads.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// One process of a traced call: its name (`comm`) and peak resident size (`VmHWM`, KiB)
/// when it exited.
struct Peak {
    comm: String,
    kib: u64,
}

/// `Name`, `Tgid` and `VmHWM` of `/proc/<tid>/status`.
fn proc_status(tid: i32) -> Option<(String, i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_end_matches(" kB").to_string())
    };
    Some((
        field("Name:")?,
        field("Tgid:")?.parse().ok()?,
        field("VmHWM:")?.parse().ok()?,
    ))
}

/// Runs one `verb` of `bin` with every process it starts traced (ptrace: forks, vforks, clones
/// and execs followed), and returns each process's peak resident size, read from
/// `/proc/<pid>/status` when it exits (`VmHWM`: that process's own memory, unlike the
/// `ru_maxrss` of `wait4`, which also counts the children it waited for). The plugin is the
/// entry whose pid is the first; the others come in the order they exited.
fn traced_peaks(
    name: &str,
    bin: &str,
    conf: &str,
    cni_path: Option<&str>,
    ns: Option<&std::sync::Arc<File>>,
    verb: &str,
) -> Result<Vec<Peak>, String> {
    use std::collections::{HashMap, HashSet};
    use std::os::unix::process::CommandExt;
    let stdin = File::open(conf).map_err(|e| format!("{name}: open {conf}: {e}"))?;
    let mut cmd = Command::new(bin);
    cmd.env("CNI_COMMAND", verb)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(path) = cni_path {
        cmd.env("CNI_PATH", path);
    }
    start_in(&mut cmd, ns);
    // SAFETY: only an async-signal-safe system call between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let root = cmd
        .spawn()
        .map_err(|e| format!("{name}: cannot start {bin}: {e}"))?
        .id() as i32;
    let options = libc::PTRACE_O_TRACEEXIT
        | libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEEXEC
        | libc::PTRACE_O_EXITKILL;
    let mut known: HashSet<i32> = HashSet::from([root]);
    let mut peaks: HashMap<i32, Peak> = HashMap::new();
    let mut order = Vec::new();
    let mut root_status = None;
    let mut first_stop = true;
    loop {
        let mut status = 0;
        // SAFETY: plain system calls on our own tracees.
        let tid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        if tid < 0 {
            break; // ECHILD: every tracee is gone
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            if tid == root {
                root_status = Some(status);
            }
            continue;
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        let sig = libc::WSTOPSIG(status);
        let event = status >> 16;
        let mut inject = 0;
        if tid == root && first_stop {
            // The stop at the exec after PTRACE_TRACEME: from here on, follow everything.
            first_stop = false;
            unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, root, 0, options) };
        } else if sig == libc::SIGTRAP && event != 0 {
            if event == libc::PTRACE_EVENT_EXIT {
                if let Some((comm, tgid, kib)) = proc_status(tid) {
                    let peak = peaks.entry(tgid).or_insert_with(|| {
                        order.push(tgid);
                        Peak {
                            comm: comm.clone(),
                            kib,
                        }
                    });
                    peak.kib = peak.kib.max(kib);
                    peak.comm = comm;
                }
            }
        } else if sig == libc::SIGSTOP && known.insert(tid) {
            // A new tracee's first stop, not a signal to deliver.
        } else {
            inject = sig;
        }
        known.insert(tid);
        unsafe { libc::ptrace(libc::PTRACE_CONT, tid, 0, inject) };
    }
    match root_status {
        Some(s) if libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0 => {}
        other => {
            return Err(format!(
                "{name}: traced {verb} failed (wait status {other:?})"
            ))
        }
    }
    // The plugin first, then the others in exit order.
    order.sort_by_key(|&p| p != root);
    Ok(order.into_iter().filter_map(|p| peaks.remove(&p)).collect())
}

/// `--rss N`: N traced ADDs and DELs of each `--variant`, one line per process:
/// `name verb run index comm kib` (index 0 is the plugin itself).
fn rss_mode(prog: &str, variants: &[Variant], n: usize) {
    for v in variants {
        let Kind::Plugin {
            bin,
            conf,
            cni_path,
            start_in,
            starts: 2,
        } = &v.kind
        else {
            continue;
        };
        for run in 0..n {
            for verb in ["ADD", "DEL"] {
                let peaks = traced_peaks(
                    &v.name,
                    bin,
                    conf,
                    cni_path.as_deref(),
                    start_in.as_ref(),
                    verb,
                )
                .unwrap_or_else(|e| {
                    eprintln!("{prog}: {e}");
                    std::process::exit(1)
                });
                for (i, p) in peaks.iter().enumerate() {
                    println!("{} {verb} {run} {i} {} {}", v.name, p.comm, p.kib);
                }
            }
        }
    }
}

fn usage(prog: &str, why: &str) -> ! {
    eprintln!(
        "{prog}: {why}\nusage: {prog} [--runs N] [--warmup N] [--netns PATH] [--counts] [--rss N] \
         ([--cni-path DIR] [--start-in PATH] --variant NAME BIN CONF \
         | [--cni-path DIR] [--start-in PATH] --starts NAME K BIN CONF \
         | --batch NAME PER EVERY PROGRAM)..."
    );
    std::process::exit(2)
}

fn variant(name: String, kind: Kind, every: usize) -> Variant {
    Variant {
        name,
        kind,
        every,
        samples: Vec::new(),
        cpu: Vec::new(),
    }
}

/// Parses the command line, runs the rounds and prints the table; `prog` names the bench in
/// messages.
pub fn main(prog: &str) {
    let mut runs = 300usize;
    let mut warmup = 30usize;
    let mut netns = None;
    let mut counts = false;
    let mut rss = None;
    let mut cni_path: Option<String> = None;
    let mut start_in_ns: Option<std::sync::Arc<File>> = None;
    let mut variants = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut next = || {
            args.next()
                .unwrap_or_else(|| usage(prog, &format!("{a} needs a value")))
        };
        // A count: positive, except that there may be no warm-up.
        let number = |s: String, what: &str| -> usize {
            s.parse()
                .ok()
                .filter(|&n| n > 0 || what == "--warmup")
                .unwrap_or_else(|| usage(prog, &format!("bad {what}")))
        };
        match a.as_str() {
            "--runs" => runs = number(next(), "--runs"),
            "--warmup" => warmup = number(next(), "--warmup"),
            "--netns" => netns = Some(next()),
            "--counts" => counts = true,
            "--rss" => rss = Some(number(next(), "--rss")),
            "--cni-path" => cni_path = Some(next()),
            "--start-in" => {
                let path = next();
                let f = File::open(&path).unwrap_or_else(|e| usage(prog, &format!("{path}: {e}")));
                start_in_ns = Some(std::sync::Arc::new(f));
            }
            "--variant" | "--starts" => {
                let name = next();
                let starts = if a == "--starts" {
                    number(next(), "K")
                } else {
                    2
                };
                let (bin, conf) = (next(), next());
                let kind = Kind::Plugin {
                    bin,
                    conf,
                    cni_path: cni_path.clone(),
                    start_in: start_in_ns.clone(),
                    starts,
                };
                variants.push(variant(name, kind, 1));
            }
            "--batch" => {
                let name = next();
                let per = number(next(), "PER") as f64;
                let every = number(next(), "EVERY");
                let program = next();
                variants.push(variant(name, Kind::Batch { program, per }, every));
            }
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            other => usage(prog, &format!("unknown argument {other}")),
        }
    }
    if variants.is_empty() {
        usage(prog, "no variants");
    }
    if let Some(path) = &netns {
        enter_netns(path).unwrap_or_else(|e| {
            eprintln!("{prog}: {e}");
            std::process::exit(1)
        });
    }
    if let Some(n) = rss {
        rss_mode(prog, &variants, n);
        return;
    }
    let n = variants.len();
    for round in 0..warmup + runs {
        for k in 0..n {
            let v = &mut variants[(round + k) % n];
            if round % v.every != 0 {
                continue;
            }
            let (ms, cpu) = sample(v).unwrap_or_else(|e| {
                eprintln!("{prog}: {e}");
                std::process::exit(1)
            });
            if round >= warmup {
                v.samples.push(ms);
                v.cpu.push(cpu);
            }
        }
    }
    for v in &mut variants {
        if v.samples.is_empty() {
            eprintln!(
                "{prog}: {}: no samples (--runs {runs} is less than its EVERY {})",
                v.name, v.every
            );
            std::process::exit(1)
        }
        v.samples.sort_by(f64::total_cmp);
        v.cpu.sort_by(f64::total_cmp);
        let s = &v.samples;
        let count = if counts {
            format!(" {}", s.len())
        } else {
            String::new()
        };
        println!(
            "{} {:.3} {:.3} {:.3} {:.3} {:.3}{count}",
            v.name,
            percentile(s, 0.5),
            percentile(s, 0.1),
            percentile(s, 0.9),
            s[0],
            percentile(&v.cpu, 0.5)
        );
    }
}
