//! TODO: signature targets.

use crate::seeds::{Seed, SeedSources};

/// TODO.
pub fn signature(_data: &[u8]) {}

/// Seeds for these targets.
pub fn seeds(_src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    Ok(vec![])
}
