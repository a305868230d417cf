//! Argument parsing shared by the `metalos-vm` subcommands.

use anyhow::{bail, Context, Result};
use metalos_config::{ByteSize, InputsManifest};
use metalos_vmtest::paths;
use std::path::Path;

/// `512`, `512MiB`, `2GiB` → MiB.
pub(crate) fn memory_mib(text: &str) -> Result<u32> {
    let t = text.trim();
    let mib = if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        t.parse::<u64>().context("memory size is too large")?
    } else {
        ByteSize::parse(t).map_err(anyhow::Error::msg)?.0 >> 20
    };
    if mib < 64 {
        bail!("--memory {text}: at least 64 MiB are needed");
    }
    u32::try_from(mib).context("memory size is too large")
}

/// The `--inputs` manifest (an error if it cannot be read), else the
/// default one if there is one (see [`paths::load_inputs`]).
pub(crate) fn inputs_manifest(inputs: Option<&Path>) -> Result<Option<InputsManifest>> {
    Ok(match inputs {
        Some(p) => Some(paths::load_inputs_from(p)?),
        None => paths::load_inputs().ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(memory_mib("512").unwrap(), 512);
        assert_eq!(memory_mib("2GiB").unwrap(), 2048);
        assert_eq!(memory_mib("768M").unwrap(), 768);
        assert!(memory_mib("1MiB").is_err());
        assert!(memory_mib("lots").is_err());
    }
}
