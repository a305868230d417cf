//! [`ImageSpec`], the whole spec, and how it is read from TOML.

use super::artifacts::{InitrdArtifact, SigningSpec, UkiArtifact};
use super::content::{EspSpec, HostConfigSpec, OemSpec, UsrSpec};
use super::disk::{DiskSpec, PartitionSpec};
use crate::error::FieldError;
use serde::Deserialize;
use std::path::Path;
use uuid::Uuid;

/// The whole image spec.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageSpec {
    /// Disk geometry and identity.
    pub disk: DiskSpec,
    /// Partitions, each in a fixed slot.
    pub partitions: Vec<PartitionSpec>,
    /// Files on the ESP.
    #[serde(default)]
    pub esp: EspSpec,
    /// The `/usr` tree.
    #[serde(default)]
    pub usr: UsrSpec,
    /// The HostConfig placed on the ESP.
    #[serde(default)]
    pub host_config: Option<HostConfigSpec>,
    /// Initrds built (in order) before the disk; usable as `{ artifact = NAME }`.
    #[serde(default)]
    pub initrds: Vec<InitrdArtifact>,
    /// UKIs built (in order) after the initrds; usable as `{ artifact = NAME }`.
    #[serde(default)]
    pub ukis: Vec<UkiArtifact>,
    /// `[signing]`: the operator's key directory (docs/signing.md).
    #[serde(default)]
    pub signing: Option<SigningSpec>,
    /// `[oem]`: the OEM partition's platform id and base configs.
    #[serde(default)]
    pub oem: Option<OemSpec>,
}

impl ImageSpec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Self, FieldError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            FieldError::new(path.display().to_string(), format!("cannot read: {e}"))
        })?;
        Self::parse(&text)
    }

    /// Parses and validates spec text.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let spec: ImageSpec = crate::error::parse_toml(text)?;
        spec.validate()?;
        Ok(spec)
    }

    /// The seed as a UUID (validated by [`Self::validate`]).
    pub fn seed(&self) -> Uuid {
        Uuid::parse_str(&self.disk.seed).unwrap_or_default()
    }
}
