//! TODO: pe targets.

use crate::seeds::{Seed, SeedSources};

/// TODO.
pub fn pe(_data: &[u8]) {}

/// TODO.
pub fn uki_roundtrip(_data: &[u8]) {}

/// Seeds for these targets.
pub fn seeds(_src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    Ok(vec![])
}
