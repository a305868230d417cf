//! `manifest.json` of a netboot bundle: the image and every file with its
//! sha256 and size. No timestamps: two builds of the same inputs are equal.
//! `metalos netboot build` writes it; `metalos netboot publish` and
//! metalimage (which checks a signed one against its command line) read it.

use serde::{Deserialize, Serialize};

/// Format version of [`NetbootManifest`].
pub const BUNDLE_VERSION: u32 = 1;
/// File name of the manifest in a bundle (and at the root of a served tree).
pub const MANIFEST_FILE: &str = "manifest.json";
/// The detached signature of [`MANIFEST_FILE`] in a signed bundle.
pub const SIGNATURE_FILE: &str = "manifest.json.sig";

/// The netboot bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NetbootManifest {
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

impl NetbootManifest {
    /// The manifest as written: pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(self).expect("manifest serialises");
        text.push('\n');
        text.into_bytes()
    }

    /// Parses and checks manifest `text` (version, relative file paths,
    /// the image blob listed); the error is what is wrong, for the caller
    /// to prefix with where the text came from.
    pub fn parse(text: &str) -> Result<Self, String> {
        let m: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if m.version != BUNDLE_VERSION {
            return Err(format!(
                "version: {} is not supported (expected {BUNDLE_VERSION})",
                m.version
            ));
        }
        for (i, f) in m.files.iter().enumerate() {
            if !is_safe_relative(&f.path) {
                return Err(format!(
                    "files[{i}].path: {:?} is not a relative path inside the bundle",
                    f.path
                ));
            }
        }
        if !m.files.iter().any(|f| f.path == m.image.blob) {
            return Err(format!(
                "image.blob: {:?} is not listed in files",
                m.image.blob
            ));
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

    /// The sha256 the manifest lists for `path`, if it lists it.
    pub fn sha256_of(&self, path: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.sha256.as_str())
    }
}

/// `true` for a `/`-separated relative path without empty, `.` or `..` parts.
pub fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\0'))
}
