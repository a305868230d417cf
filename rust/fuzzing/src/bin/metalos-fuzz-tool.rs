//! `metalos-fuzz-tool`: the Rust side of `make fuzz` (scripts/fuzz).
//!
//! * `list [--pid1]` — target names, one per line;
//! * `seeds --out DIR --build DIR --inputs FILE [--repo DIR]` — writes the
//!   seed corpora `DIR/<target>/…` from real artifacts plus every
//!   regression input under `tests/fuzz-regressions/`;
//! * `run FILE…` `--target NAME` — runs inputs through a target without
//!   libFuzzer (reproducing a finding);
//! * `fuzz --seconds N [--jobs J] [TARGET…]` — runs the libFuzzer
//!   binaries of `fuzz/` (built by `cargo fuzz build`) on `fuzz/corpus/`,
//!   logs to `fuzz/logs/`, writes `fuzz/logs/report.md`; fails on a finding;
//! * `report LOGDIR` — reads the libFuzzer logs `LOGDIR/<target>.log` and
//!   prints the Markdown table for the README (target, executions,
//!   coverage, features, findings).

use anyhow::{bail, Context, Result};
use metalos_fuzzing::corpus::write_corpora;
use metalos_fuzzing::report::{fixed_findings, parse_log, table};
use metalos_fuzzing::runner::{run_all, RunPlan};
use metalos_fuzzing::seeds::SeedSources;
use std::path::PathBuf;

const USAGE: &str = "usage: metalos-fuzz-tool list [--pid1]
       metalos-fuzz-tool seeds --out DIR --build DIR --inputs FILE [--repo DIR]
       metalos-fuzz-tool run --target NAME FILE...
       metalos-fuzz-tool fuzz --seconds N [--jobs J] [TARGET...]
       metalos-fuzz-tool report LOGDIR";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    match args.first().map(String::as_str) {
        Some("list") => {
            let pid1_only = args.iter().any(|a| a == "--pid1");
            for t in metalos_fuzzing::targets() {
                if t.pid1 || !pid1_only {
                    println!("{}", t.name);
                }
            }
            Ok(())
        }
        Some("seeds") => {
            let repo = flag(&args, "--repo").unwrap_or_else(|| ".".into());
            let src = SeedSources {
                build: flag(&args, "--build").context("seeds: --build DIR is required")?,
                inputs: flag(&args, "--inputs").context("seeds: --inputs FILE is required")?,
                repo,
            };
            let out = flag(&args, "--out").context("seeds: --out DIR is required")?;
            let counts = write_corpora(&src, &out)?;
            for (target, n) in counts {
                eprintln!("{target}: {n} seeds");
            }
            Ok(())
        }
        Some("run") => {
            let name = flag(&args, "--target").context("run: --target NAME is required")?;
            let name = name.to_string_lossy();
            let target = metalos_fuzzing::find(&name)
                .with_context(|| format!("no fuzz target called {name} (see `list`)"))?;
            let mut files = vec![];
            let mut skip = false;
            for a in &args[1..] {
                if std::mem::take(&mut skip) {
                    continue;
                }
                if a == "--target" {
                    skip = true;
                } else {
                    files.push(PathBuf::from(a));
                }
            }
            for f in files {
                let data = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
                (target.run)(&data);
                eprintln!("{}: ok", f.display());
            }
            Ok(())
        }
        Some("fuzz") => fuzz(&args),
        Some("report") => {
            let dir = PathBuf::from(args.get(1).context(USAGE)?);
            let mut rows = vec![];
            for t in metalos_fuzzing::targets() {
                let log = dir.join(format!("{}.log", t.name));
                if let Ok(text) = std::fs::read_to_string(&log) {
                    rows.push((t, parse_log(&text)));
                }
            }
            let fixed = fixed_findings(std::path::Path::new("tests/fuzz-regressions"));
            print!("{}", table(&rows, &fixed));
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

fn fuzz(args: &[String]) -> Result<()> {
    let number = |name: &str, default: u64| -> Result<u64> {
        match flag(args, name) {
            Some(v) => v
                .to_string_lossy()
                .parse()
                .with_context(|| format!("{name} {}: not a number", v.display())),
            None => Ok(default),
        }
    };
    let seconds = number("--seconds", 10)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let jobs = number("--jobs", cores)? as usize;
    let mut names = vec![];
    let mut skip = false;
    for a in &args[1..] {
        if std::mem::take(&mut skip) {
            continue;
        }
        if a.starts_with("--") {
            if a != "--seconds" && a != "--jobs" {
                bail!("fuzz: unknown option {a}\n{USAGE}");
            }
            skip = true;
        } else {
            names.push(a.as_str());
        }
    }
    let targets = if names.is_empty() {
        metalos_fuzzing::targets()
    } else {
        names
            .iter()
            .map(|n| metalos_fuzzing::find(n).with_context(|| format!("no fuzz target called {n}")))
            .collect::<Result<Vec<_>>>()?
    };
    let plan = RunPlan {
        bin_dir: "fuzz/target/x86_64-unknown-linux-gnu/release".into(),
        corpus: "fuzz/corpus".into(),
        artifacts: "fuzz/artifacts".into(),
        logs: "fuzz/logs".into(),
        seconds,
        jobs,
    };
    let rows = run_all(&plan, &targets)?;
    let report = table(
        &rows,
        &fixed_findings(std::path::Path::new("tests/fuzz-regressions")),
    );
    print!("{report}");
    std::fs::write(plan.logs.join("report.md"), &report)?;
    let failed: Vec<_> = rows
        .iter()
        .filter(|(_, s)| s.failure.is_some())
        .map(|(t, _)| t.name)
        .collect();
    if !failed.is_empty() {
        bail!(
            "findings in {}: inputs under fuzz/artifacts/<target>/, logs under fuzz/logs/",
            failed.join(", ")
        );
    }
    Ok(())
}

fn flag(args: &[String], name: &str) -> Option<PathBuf> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
}
