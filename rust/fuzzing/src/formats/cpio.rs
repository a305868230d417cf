//! TODO: cpio targets.

use crate::seeds::{Seed, SeedSources};

/// TODO.
pub fn cpio(_data: &[u8]) {}

/// TODO.
pub fn cpio_roundtrip(_data: &[u8]) {}

/// Seeds for these targets.
pub fn seeds(_src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    Ok(vec![])
}
