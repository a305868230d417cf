//! Fuzz targets: TODO.

use crate::Target;

/// The targets of this module.
pub const TARGETS: &[Target] = &[];

/// Seeds for this module's targets.
pub fn seeds(_src: &crate::seeds::SeedSources) -> anyhow::Result<Vec<crate::seeds::Seed>> {
    Ok(vec![])
}
