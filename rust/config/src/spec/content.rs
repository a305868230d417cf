//! `[esp]`, `[usr]`, `[host-config]` and `[oem]`: the files, directories,
//! links and trees placed on the ESP, in `/usr` and on the OEM partition.

use crate::source::Source;
use serde::Deserialize;

/// `[esp]`
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspSpec {
    /// Files on the ESP.
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

/// A file in the ESP or `/usr`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Destination path, relative (e.g. `EFI/BOOT/BOOTX64.EFI`, `bin/busybox`).
    pub path: String,
    /// Where the bytes come from.
    pub source: Source,
    /// Permission bits as an octal string (`"0755"`); default `0644`. Ignored on the ESP.
    #[serde(default)]
    pub mode: Option<String>,
}

/// A directory in `/usr`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    /// Path.
    pub path: String,
    /// Octal mode; default `0755`.
    #[serde(default)]
    pub mode: Option<String>,
}

/// A symlink in `/usr`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Path of the link.
    pub path: String,
    /// Target, stored verbatim.
    pub target: String,
}

/// `[usr]`
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UsrSpec {
    /// Filesystem: only `squashfs`.
    #[serde(default = "default_usr_fs")]
    pub filesystem: String,
    /// zstd level, 1–22 (default 3).
    #[serde(default = "default_level")]
    pub compression_level: u32,
    /// Files.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Directories.
    #[serde(default)]
    pub directories: Vec<DirSpec>,
    /// Symlinks.
    #[serde(default)]
    pub symlinks: Vec<LinkSpec>,
    /// Directory trees imported whole (owners, modes, links kept).
    #[serde(default)]
    pub trees: Vec<TreeSpec>,
}

/// `[[usr.trees]]`: a host directory tree copied into `/usr` under `path`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeSpec {
    /// The directory (usually `{ input = NAME, path = "sub/dir" }`).
    pub source: Source,
    /// Destination inside `/usr`; `""` is `/usr` itself.
    #[serde(default)]
    pub path: String,
    /// Paths relative to the source to leave out (see [`crate::tree::exclude_matches`]).
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Default for UsrSpec {
    fn default() -> Self {
        Self {
            filesystem: default_usr_fs(),
            compression_level: default_level(),
            files: vec![],
            directories: vec![],
            symlinks: vec![],
            trees: vec![],
        }
    }
}

fn default_usr_fs() -> String {
    "squashfs".into()
}
fn default_level() -> u32 {
    3
}

/// `[host-config]`: the HostConfig stored on the ESP as `metalos/host-config.json`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfigSpec {
    /// The default HostConfig document (JSON).
    pub default: Source,
}

/// `[oem]`: the OEM partition's platform id and base Ignition configs
/// (written to the partition with `content = "oem"`).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OemSpec {
    /// Platform id written as `ID=` to `oem-release`
    /// ([`metalos_contract::oem::check_id`]).
    pub id: String,
    /// Ignition configs, relative to the image spec, written as
    /// `base/<file stem>.ign`.
    #[serde(default, alias = "base_configs")]
    pub base_configs: Vec<String>,
}
