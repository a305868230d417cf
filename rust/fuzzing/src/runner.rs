//! Runs the libFuzzer binaries of `fuzz/` side by side for `make fuzz`.

use crate::report::{parse_log, RunStats};
use crate::target::Target;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Where the binaries, corpora and logs are, and how long to fuzz.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// `fuzz/target/<triple>/release`.
    pub bin_dir: PathBuf,
    /// `fuzz/corpus` (one directory per target; grows with new inputs).
    pub corpus: PathBuf,
    /// `fuzz/artifacts` (crash/timeout/oom inputs, per target).
    pub artifacts: PathBuf,
    /// `fuzz/logs` (`<target>.log`).
    pub logs: PathBuf,
    /// `-max_total_time` per target.
    pub seconds: u64,
    /// Targets fuzzed at once.
    pub jobs: usize,
}

/// Fuzzes every target of `targets` for `plan.seconds`, `plan.jobs` at a
/// time, and returns each one's statistics (parsed from its log).
pub fn run_all(plan: &RunPlan, targets: &[Target]) -> Result<Vec<(Target, RunStats)>> {
    std::fs::create_dir_all(&plan.logs)
        .with_context(|| format!("creating {}", plan.logs.display()))?;
    let queue = Mutex::new(targets.to_vec());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..plan.jobs.max(1) {
            s.spawn(|| loop {
                let Some(t) = queue.lock().unwrap().pop() else {
                    break;
                };
                let r = run_one(plan, &t);
                results.lock().unwrap().push((t, r));
            });
        }
    });
    let mut out = vec![];
    for (t, r) in results.into_inner().unwrap() {
        out.push((t, r?));
    }
    out.sort_by_key(|(t, _)| targets.iter().position(|x| x.name == t.name));
    Ok(out)
}

fn run_one(plan: &RunPlan, t: &Target) -> Result<RunStats> {
    let corpus = plan.corpus.join(t.name);
    let artifacts = plan.artifacts.join(t.name);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let log_path = plan.logs.join(format!("{}.log", t.name));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let bin = plan.bin_dir.join(t.name);
    eprintln!(
        "fuzz: {} for {} s (max_len {})",
        t.name, plan.seconds, t.max_len
    );
    let status = Command::new(&bin)
        .arg(&corpus)
        .arg(format!("-max_total_time={}", plan.seconds))
        .arg(format!("-max_len={}", t.max_len))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("running {} (built by `cargo fuzz build`?)", bin.display()))?;
    let text = std::fs::read_to_string(&log_path)?;
    let mut stats = parse_log(&text);
    if !status.success() && stats.failure.is_none() {
        stats.failure = Some(format!("exited with {status}"));
    }
    eprintln!(
        "fuzz: {}: {} executions, cov {}, ft {}: {}",
        t.name,
        stats.execs,
        stats.cov,
        stats.features,
        stats.failure.as_deref().unwrap_or("clean")
    );
    Ok(stats)
}
