//! Update bundles: what a host needs to move to a new image version.
//!
//! A bundle is a directory (served as-is over HTTP, or read from disk):
//!
//! ```text
//! bundle.json      {"format":1,"version":"…","usr":{…},"bootloader":{…}}
//! usr.img          the /usr slot: squashfs (with the boot payload), its
//!                  dm-verity tree and slot descriptor (docs/verity.md)
//! bootloader.efi   the bootloader UKI for EFI/BOOT/BOOTX64.EFI (optional)
//! ```
//!
//! Every file is listed with its size and sha256; `metalos update stage`
//! verifies both before the slot table changes. The image build writes it
//! (`metalos_image`), the update code reads it (`metalos_update`).

use serde::{Deserialize, Serialize};

/// Format version of [`UpdateManifest`].
pub const BUNDLE_FORMAT: u32 = 1;
/// Name of the bundle's manifest.
pub const BUNDLE_MANIFEST: &str = "bundle.json";

/// `bundle.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateManifest {
    /// [`BUNDLE_FORMAT`].
    pub format: u32,
    /// Image version (VERSION_ID of the image's os-release).
    pub version: String,
    /// The /usr slot image.
    pub usr: BundleFile,
    /// The bootloader UKI, if the image has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootloader: Option<BundleFile>,
}

/// A file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// File name, relative to the bundle.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256, lower-case hex.
    pub sha256: String,
}

impl UpdateManifest {
    /// Parses and checks a `bundle.json`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let m: UpdateManifest =
            serde_json::from_str(text).map_err(|e| format!("bundle.json: {e}"))?;
        if m.format != BUNDLE_FORMAT {
            return Err(format!(
                "bundle.json: format {} is not supported (expected {BUNDLE_FORMAT})",
                m.format
            ));
        }
        for f in std::iter::once(&m.usr).chain(m.bootloader.as_ref()) {
            if !is_plain_file_name(&f.file) || !is_sha256_hex(&f.sha256) {
                return Err(format!("bundle.json: invalid entry for {:?}", f.file));
            }
        }
        Ok(m)
    }
}

/// `true` for a file name directly in the bundle: not empty, no `/`, no
/// leading `.` (so neither `.` nor `..`), no NUL.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\0']) && !name.starts_with('.')
}

pub use crate::is_sha256_hex;

/// VERSION_ID from os-release text.
pub fn os_release_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
        .map(|v| v.trim().trim_matches('"').to_string())
}

/// A bundle written into the inactive slot but not yet bootable
/// (`metalos update stage --no-activate`), recorded on the ESP
/// ([`crate::paths::EspPath::STAGED_UPDATE`]) until `metalos update
/// activate` makes it the next boot. Activation re-reads the slot against
/// `usr.sha256` first, so the record alone never makes anything bootable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagedUpdate {
    /// The bundle's version.
    pub version: String,
    /// Partition number of the slot that holds it.
    pub slot: u32,
    /// That partition's GUID (the record is void if the table changed).
    pub partition_guid: String,
    /// The `/usr` image written into the slot.
    pub usr: BundleFile,
    /// The bootloader UKI waiting as `EFI/BOOT/BOOTX64.NEW`, if the bundle
    /// carries a different one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootloader: Option<BundleFile>,
}

impl StagedUpdate {
    /// Parses a record (errors say what is wrong with it).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let r: StagedUpdate =
            serde_json::from_slice(bytes).map_err(|e| format!("staged update record: {e}"))?;
        for f in std::iter::once(&r.usr).chain(r.bootloader.as_ref()) {
            if !is_sha256_hex(&f.sha256) {
                return Err(format!("staged update record: bad sha256 for {:?}", f.file));
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(file: &str, sha256: &str) -> String {
        format!(
            r#"{{"format":1,"version":"1","usr":{{"file":"{file}","size":1,"sha256":"{sha256}"}}}}"#
        )
    }

    #[test]
    fn entries_are_plain_names_with_lower_case_hashes() {
        let hash = "0a".repeat(32);
        assert!(UpdateManifest::parse(&manifest("usr.img", &hash)).is_ok());
        for file in [
            "",
            ".",
            "..",
            "../usr.img",
            "/usr.img",
            "a/b",
            ".hidden",
            "a\\u0000b",
        ] {
            assert!(
                UpdateManifest::parse(&manifest(file, &hash)).is_err(),
                "{file:?}"
            );
        }
        for sha in [
            "0A".repeat(32),
            "0a".repeat(31),
            "0a".repeat(33),
            "zz".repeat(32),
        ] {
            assert!(
                UpdateManifest::parse(&manifest("usr.img", &sha)).is_err(),
                "{sha:?}"
            );
        }
    }
}
