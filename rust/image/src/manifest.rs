//! `manifest.json`: what a build produced, with sha256 of every artifact
//! and partition. No timestamps or host paths, so it is reproducible too.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format version of [`BuildManifest`].
pub const MANIFEST_VERSION: u32 = 1;

/// The build manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildManifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// The spec's seed.
    pub seed: String,
    /// Timestamp used for every file.
    pub source_date_epoch: u64,
    /// The disk image.
    pub disk: DiskRecord,
    /// Partitions in slot order.
    pub partitions: Vec<PartitionRecord>,
    /// sha256 of each input the image used, by name.
    pub inputs: BTreeMap<String, String>,
    /// Initrds and UKIs built for the image, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactRecord>,
}

/// A built artifact under `DIR/artifacts/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArtifactRecord {
    /// Path relative to the output directory.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256.
    pub sha256: String,
}

/// The disk image file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DiskRecord {
    /// File name inside the output directory.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Logical sector size.
    pub sector_size: u64,
    /// Disk GUID.
    pub guid: String,
    /// sha256 of the whole file.
    pub sha256: String,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PartitionRecord {
    /// Slot (partition number).
    pub slot: u32,
    /// GPT label.
    pub label: String,
    /// Type name or GUID as given in the spec.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Type GUID.
    pub type_guid: String,
    /// Partition GUID.
    pub guid: String,
    /// First byte.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Attribute word, hex.
    pub attributes: String,
    /// What it holds (`esp`, `usr`, `empty`).
    pub content: String,
    /// Filesystem written into it, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filesystem: Option<FilesystemRecord>,
    /// sha256 of the whole partition.
    pub sha256: String,
}

/// A filesystem inside a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FilesystemRecord {
    /// `vfat` or `squashfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Volume id / UUID, if the filesystem has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// Bytes the filesystem content occupies.
    pub bytes_used: u64,
}
