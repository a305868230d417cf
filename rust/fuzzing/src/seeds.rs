//! Seed corpora from real artifacts (see `fuzz-seeds`).

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where seed material comes from.
#[derive(Debug, Clone)]
pub struct SeedSources {
    /// The repository root (images/, tests/ fixtures).
    pub repo: PathBuf,
    /// Output of `metalos build images/default.toml` (disk.img, ESP, initrds, UKIs, update/, netboot/ when present).
    pub build: PathBuf,
    /// The inputs manifest (`.cache/inputs/inputs.json`): Debian's systemd-stub, kernels.
    pub inputs: PathBuf,
}

/// One seed file: target name, file name, content.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Target the seed belongs to.
    pub target: &'static str,
    /// File name inside `fuzz/corpus/<target>/`.
    pub name: String,
    /// Bytes.
    pub data: Vec<u8>,
}

impl Seed {
    /// The first `max` bytes of `bytes` as one seed of each of `targets`
    /// (a decoder and its round-trip target share their seeds).
    pub fn head_for(targets: &[&'static str], name: &str, bytes: &[u8], max: usize) -> Vec<Seed> {
        targets
            .iter()
            .map(|&target| Seed {
                target,
                name: name.into(),
                data: bytes[..bytes.len().min(max)].to_vec(),
            })
            .collect()
    }
}

/// Every module's seeds plus the regression inputs, written to
/// `out/<target>/<name>`. Returns the number of seeds per target.
pub fn write_corpora(src: &SeedSources, out: &Path) -> Result<BTreeMap<String, usize>> {
    let mut seeds = vec![];
    seeds.extend(crate::disk::seeds(src).context("disk seeds")?);
    seeds.extend(crate::net::seeds(src).context("net seeds")?);
    seeds.extend(crate::formats::seeds(src).context("format seeds")?);
    seeds.extend(crate::config::seeds(src).context("config seeds")?);
    let mut counts = BTreeMap::new();
    for t in crate::targets() {
        counts.insert(t.name.to_string(), 0);
        let regressions = src.repo.join("tests/fuzz-regressions").join(t.name);
        if let Ok(dir) = std::fs::read_dir(&regressions) {
            for e in dir {
                let e = e?;
                seeds.push(Seed {
                    target: t.name,
                    name: format!("regression-{}", e.file_name().to_string_lossy()),
                    data: std::fs::read(e.path())
                        .with_context(|| format!("reading {}", e.path().display()))?,
                });
            }
        }
    }
    for s in seeds {
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
        std::fs::write(&path, &s.data).with_context(|| format!("writing {}", path.display()))?;
        *counts.entry(s.target.to_string()).or_insert(0) += 1;
    }
    Ok(counts)
}
