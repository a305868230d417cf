//! `[disk]` and `[[partitions]]`: geometry, slots and what each partition holds.

use crate::size::ByteSize;
use serde::Deserialize;

/// `[disk]`
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiskSpec {
    /// Image size.
    pub size: ByteSize,
    /// Logical sector size: 512 or 4096.
    #[serde(default = "default_sector_size")]
    pub sector_size: u64,
    /// Seed (a UUID) from which partition GUIDs and filesystem ids derive.
    pub seed: String,
    /// Timestamp for every file (overridden by `SOURCE_DATE_EPOCH`). Default 0.
    #[serde(default)]
    pub source_date_epoch: u64,
}

fn default_sector_size() -> u64 {
    512
}

/// What a partition holds.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentKind {
    /// Nothing: the partition stays a hole.
    Empty,
    /// The FAT32 ESP built from `[esp]`.
    Esp,
    /// The `/usr` filesystem built from `[usr]`.
    Usr,
    /// The OEM partition (FAT32) built from `[oem]`: `oem-release` and
    /// `base/*.ign`.
    Oem,
}

/// Partition size: fixed, or the rest of the disk.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionSize {
    /// Exactly this many bytes.
    Fixed(ByteSize),
    /// Everything up to the end of the usable area.
    Fill,
}

impl<'de> Deserialize<'de> for PartitionSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(PartitionSize::Fixed(ByteSize(n))),
            Raw::Text(t) if t == "fill" => Ok(PartitionSize::Fill),
            Raw::Text(t) => ByteSize::parse(&t)
                .map(PartitionSize::Fixed)
                .map_err(|m| serde::de::Error::custom(format!("{m}, or \"fill\""))),
        }
    }
}

/// `[[partitions]]`
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PartitionSpec {
    /// Slot number (1–128): the partition's fixed number.
    pub slot: u32,
    /// GPT label.
    pub label: String,
    /// Type name (`esp`, `usr-x86-64`, `root-x86-64`, `linux-generic`, …) or a GUID.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Size, or `"fill"`.
    pub size: PartitionSize,
    /// Content kind.
    #[serde(default = "default_content")]
    pub content: ContentKind,
    /// gptprio attribute fields (for USR slots).
    #[serde(default)]
    pub gptprio: Option<GptPrioSpec>,
}

fn default_content() -> ContentKind {
    ContentKind::Empty
}

/// gptprio fields.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GptPrioSpec {
    /// 0–15.
    pub priority: u8,
    /// 0–15.
    #[serde(default)]
    pub tries: u8,
    /// Marked as booted successfully.
    #[serde(default)]
    pub successful: bool,
}
