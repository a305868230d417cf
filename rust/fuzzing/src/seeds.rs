//! Seed material: where it comes from ([`SeedSources`]) and one seed
//! file ([`Seed`]). Every target group builds its seeds from these; the
//! corpus writer ([`crate::corpus`]) gathers them.

use std::path::PathBuf;

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

impl SeedSources {
    /// Debian's systemd-stub, from the inputs manifest (`inputs.systemd-stub.path`).
    pub fn stub_path(&self) -> Option<PathBuf> {
        let text = std::fs::read_to_string(&self.inputs).ok()?;
        let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(doc["inputs"]["systemd-stub"]["path"].as_str()?.into())
    }
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
