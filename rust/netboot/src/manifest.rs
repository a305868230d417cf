//! `manifest.json` of a netboot bundle: the image and every file with its
//! sha256 and size. No timestamps: two builds of the same inputs are equal.

use crate::error::{io, NetbootError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format version of [`BundleManifest`].
pub const BUNDLE_VERSION: u32 = 1;
/// File name of the manifest in a bundle (and at the root of a served tree).
pub const MANIFEST_FILE: &str = "manifest.json";

/// The bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BundleManifest {
    /// [`BUNDLE_VERSION`].
    pub version: u32,
    /// The base URL the bundle's URLs start with (where it must be served).
    pub base_url: String,
    /// The disk image.
    pub image: ImageRecord,
    /// Every file of the bundle except the manifest, sorted by path.
    pub files: Vec<FileRecord>,
}

/// The disk image: where its compressed blob is, and the raw image's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ImageRecord {
    /// `blobs/sha256/<sha256 of the compressed bytes>`.
    pub blob: String,
    /// Compression of the blob (`zstd`).
    pub compression: String,
    /// sha256 of the uncompressed disk image.
    pub sha256: String,
    /// Size of the uncompressed disk image.
    pub size: u64,
    /// Size of the blob.
    pub compressed_size: u64,
    /// Logical sector size of the image.
    pub sector_size: u64,
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Path relative to the bundle root (`/`-separated).
    pub path: String,
    /// sha256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl BundleManifest {
    /// The manifest as written: pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(self).expect("manifest serialises");
        text.push('\n');
        text.into_bytes()
    }

    /// Reads and checks `path` (version, relative file paths).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        Self::parse(&text, path)
    }

    /// Parses and checks manifest `text` (errors name `path`).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |reason: String| NetbootError::Json {
            path: path.to_owned(),
            reason,
        };
        let m: Self = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if m.version != BUNDLE_VERSION {
            return Err(bad(format!(
                "version: {} is not supported (expected {BUNDLE_VERSION})",
                m.version
            )));
        }
        for (i, f) in m.files.iter().enumerate() {
            if !is_safe_relative(&f.path) {
                return Err(bad(format!(
                    "files[{i}].path: {:?} is not a relative path inside the bundle",
                    f.path
                )));
            }
        }
        if !m.files.iter().any(|f| f.path == m.image.blob) {
            return Err(bad(format!(
                "image.blob: {:?} is not listed in files",
                m.image.blob
            )));
        }
        Ok(m)
    }

    /// The blobs (`blobs/…`) the bundle references.
    pub fn blobs(&self) -> impl Iterator<Item = &FileRecord> {
        self.files.iter().filter(|f| f.path.starts_with("blobs/"))
    }

    /// The files that are not blobs (boot.ipxe, imaging.efi, hosts/…).
    pub fn entry_files(&self) -> impl Iterator<Item = &FileRecord> {
        self.files.iter().filter(|f| !f.path.starts_with("blobs/"))
    }
}

/// `true` for a `/`-separated relative path without empty, `.` or `..` parts.
pub fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\0'))
}

/// Checks every file of `m` under `root` against its sha256 and size.
pub fn verify_files(root: &Path, m: &BundleManifest) -> Result<()> {
    for f in &m.files {
        let path = root.join(&f.path);
        let (sha, size) = crate::fsutil::file_sha256(&path)?;
        if size != f.size {
            return Err(NetbootError::Mismatch {
                path,
                what: "size",
                expected: f.size.to_string(),
                actual: size.to_string(),
            });
        }
        if sha != f.sha256 {
            return Err(NetbootError::Mismatch {
                path,
                what: "sha256",
                expected: f.sha256.clone(),
                actual: sha,
            });
        }
    }
    Ok(())
}
