//! The seed corpora (`metalos-fuzz-tool seeds`): every target group's
//! seeds plus the regression inputs, written to `out/<target>/seed-<name>`.

use crate::seeds::{Seed, SeedSources};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Every group's seeds plus the regression inputs, written to
/// `out/<target>/<name>`. Returns the number of seeds per target.
pub fn write_corpora(src: &SeedSources, out: &Path) -> Result<BTreeMap<String, usize>> {
    let mut seeds = group_seeds(src)?;
    let mut counts = BTreeMap::new();
    for t in crate::targets() {
        counts.insert(t.name.to_string(), 0);
        seeds.extend(regression_seeds(src, t.name)?);
    }
    for s in seeds {
        write_seed(out, &s)?;
        *counts.entry(s.target.to_string()).or_insert(0) += 1;
    }
    Ok(counts)
}

/// The seeds every target group builds, in the order of [`crate::targets`].
fn group_seeds(src: &SeedSources) -> Result<Vec<Seed>> {
    let mut seeds = vec![];
    seeds.extend(crate::disk::seeds(src).context("disk seeds")?);
    seeds.extend(crate::net::seeds(src).context("net seeds")?);
    seeds.extend(crate::formats::seeds(src).context("format seeds")?);
    seeds.extend(crate::config::seeds(src).context("config seeds")?);
    Ok(seeds)
}

/// Every file of `tests/fuzz-regressions/<target>/` as a seed of `target`
/// (none when the directory is absent).
fn regression_seeds(src: &SeedSources, target: &'static str) -> Result<Vec<Seed>> {
    let regressions = src.repo.join("tests/fuzz-regressions").join(target);
    let Ok(dir) = std::fs::read_dir(&regressions) else {
        return Ok(vec![]);
    };
    let mut seeds = vec![];
    for e in dir {
        let e = e?;
        seeds.push(Seed {
            target,
            name: format!("regression-{}", e.file_name().to_string_lossy()),
            data: std::fs::read(e.path())
                .with_context(|| format!("reading {}", e.path().display()))?,
        });
    }
    Ok(seeds)
}

/// Writes `s` to `out/<target>/seed-<name>`, the name reduced to
/// `[A-Za-z0-9._-]`.
fn write_seed(out: &Path, s: &Seed) -> Result<()> {
    let dir = out.join(s.target);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name: String = s
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("seed-{name}"));
    std::fs::write(&path, &s.data).with_context(|| format!("writing {}", path.display()))
}
