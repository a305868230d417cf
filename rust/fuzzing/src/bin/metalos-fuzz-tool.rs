//! `metalos-fuzz-tool`: the Rust side of `make fuzz` (scripts/fuzz).
//!
//! * `list [--pid1]` — target names, one per line;
//! * `seeds --out DIR --build DIR --inputs FILE [--repo DIR]` — writes the
//!   seed corpora `DIR/<target>/…` from real artifacts plus every
//!   regression input under `tests/fuzz-regressions/`;
//! * `run FILE…` `--target NAME` — runs inputs through a target without
//!   libFuzzer (reproducing a finding);
//! * `report LOGDIR` — reads the libFuzzer logs `LOGDIR/<target>.log` and
//!   prints the Markdown table for the README (target, executions,
//!   coverage, features, findings).

use anyhow::{bail, Context, Result};
use metalos_fuzzing::report::{parse_log, table};
use metalos_fuzzing::seeds::{write_corpora, SeedSources};
use std::path::PathBuf;

const USAGE: &str = "usage: metalos-fuzz-tool list [--pid1]
       metalos-fuzz-tool seeds --out DIR --build DIR --inputs FILE [--repo DIR]
       metalos-fuzz-tool run --target NAME FILE...
       metalos-fuzz-tool report LOGDIR";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
        Some("report") => {
            let dir = PathBuf::from(args.get(1).context(USAGE)?);
            let mut rows = vec![];
            for t in metalos_fuzzing::targets() {
                let log = dir.join(format!("{}.log", t.name));
                if let Ok(text) = std::fs::read_to_string(&log) {
                    rows.push((t, parse_log(&text)));
                }
            }
            print!("{}", table(&rows));
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

fn flag(args: &[String], name: &str) -> Option<PathBuf> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
}
