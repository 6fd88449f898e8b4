//! Timing driver of `scripts/bench-issue3.sh` (run that; it prepares what this needs).
//!
//! `issue3 [--runs N] [--warmup N] --variant NAME BIN CONF...`
//!
//! One sample of a variant is an ADD then a DEL: two processes of `BIN`, each started
//! directly (no shell) with `CNI_COMMAND` set, the rest of the `CNI_*` environment inherited,
//! stdin from `CONF` and stdout/stderr discarded; the sample is the wall time from the first
//! spawn to the second exit. Variants are interleaved round-robin (the order rotates every
//! round), so a change in the machine's load during the run hits all of them alike.
//! Alongside wall time it records the CPU time the two processes used (user + system, from
//! `getrusage(RUSAGE_CHILDREN)`), which time spent waiting for a CPU does not inflate.
//! Prints one line per variant on stdout: `name median_ms p10_ms p90_ms min_ms cpu_median_ms`.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::Instant;

struct Variant {
    name: String,
    bin: String,
    conf: String,
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

fn run_once(v: &Variant, verb: &str) -> Result<(), String> {
    let stdin = File::open(&v.conf).map_err(|e| format!("{}: open {}: {e}", v.name, v.conf))?;
    let status = Command::new(&v.bin)
        .env("CNI_COMMAND", verb)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{}: cannot start {}: {e}", v.name, v.bin))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{}: {verb} failed with {status}", v.name))
    }
}

/// (wall ms, CPU ms) of one ADD+DEL.
fn sample(v: &Variant) -> Result<(f64, f64), String> {
    let cpu = children_cpu_ms();
    let start = Instant::now();
    run_once(v, "ADD")?;
    run_once(v, "DEL")?;
    let wall = start.elapsed().as_secs_f64() * 1000.0;
    Ok((wall, children_cpu_ms() - cpu))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let mut runs = 300usize;
    let mut warmup = 30usize;
    let mut variants = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut next = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--runs" => runs = next().parse().unwrap_or_else(|_| usage("bad --runs")),
            "--warmup" => warmup = next().parse().unwrap_or_else(|_| usage("bad --warmup")),
            "--variant" => {
                let (name, bin, conf) = (next(), next(), next());
                variants.push(Variant {
                    name,
                    bin,
                    conf,
                    samples: Vec::with_capacity(runs),
                    cpu: Vec::with_capacity(runs),
                });
            }
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if variants.is_empty() || runs == 0 {
        usage("no variants");
    }
    let n = variants.len();
    for round in 0..warmup + runs {
        for k in 0..n {
            let v = &mut variants[(round + k) % n];
            let (ms, cpu) = sample(v).unwrap_or_else(|e| {
                eprintln!("issue3: {e}");
                std::process::exit(1)
            });
            if round >= warmup {
                v.samples.push(ms);
                v.cpu.push(cpu);
            }
        }
    }
    for v in &mut variants {
        v.samples.sort_by(f64::total_cmp);
        v.cpu.sort_by(f64::total_cmp);
        let s = &v.samples;
        println!(
            "{} {:.3} {:.3} {:.3} {:.3} {:.3}",
            v.name,
            percentile(s, 0.5),
            percentile(s, 0.1),
            percentile(s, 0.9),
            s[0],
            percentile(&v.cpu, 0.5)
        );
    }
}

fn usage(why: &str) -> ! {
    eprintln!("issue3: {why}\nusage: issue3 [--runs N] [--warmup N] --variant NAME BIN CONF...");
    std::process::exit(2)
}
