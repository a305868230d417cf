//! The inputs manifest: named build inputs (kernel, systemd-stub, busybox,
//! OVMF…) with their location and sha256. `metalos inputs fetch` writes it
//! on a Debian host; Nix writes the same document from store paths. Nothing
//! in a build depends on *where* an input lives, only on its name and bytes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Current manifest format version.
pub const INPUTS_VERSION: u32 = 1;

/// Whether an input is a single file or a directory tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// A regular file; `sha256` is the file's digest.
    File,
    /// A directory; `sha256` is [`crate::inputs::tree_digest`] of its contents.
    Dir,
}

/// One named input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputEntry {
    /// Absolute path (or relative to the manifest's directory).
    pub path: PathBuf,
    /// File or directory.
    pub kind: InputKind,
    /// Lower-case hex sha256 (see [`InputKind`]).
    pub sha256: String,
    /// Where it came from, for humans (e.g. `linux-image-6.1.0-28-cloud-amd64_6.1.119-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// The manifest document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsManifest {
    /// Format version ([`INPUTS_VERSION`]).
    pub version: u32,
    /// Inputs by name (`kernel`, `kernel-modules`, `systemd-stub`, …).
    pub inputs: BTreeMap<String, InputEntry>,
}

/// Failure to load an inputs manifest.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// The manifest file could not be read.
    #[error("cannot read inputs manifest {path}: {source}")]
    Read {
        /// Manifest path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The manifest is not valid JSON of the expected shape.
    #[error("inputs manifest {path} is invalid: {message}")]
    Invalid {
        /// Manifest path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl InputsManifest {
    /// An empty manifest.
    pub fn new() -> Self {
        Self {
            version: INPUTS_VERSION,
            inputs: BTreeMap::new(),
        }
    }

    /// Loads a manifest; relative input paths are made relative to the
    /// manifest's own directory.
    pub fn load(path: &Path) -> Result<Self, InputsError> {
        let text = std::fs::read_to_string(path).map_err(|source| InputsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| InputsError::Invalid {
            path: path.to_owned(),
            message,
        };
        let mut manifest: InputsManifest =
            serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if manifest.version != INPUTS_VERSION {
            return Err(invalid(format!(
                "version: {} is not supported (expected {INPUTS_VERSION})",
                manifest.version
            )));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for entry in manifest.inputs.values_mut() {
            if entry.path.is_relative() {
                entry.path = base.join(&entry.path);
            }
        }
        Ok(manifest)
    }

    /// Adds every input of `other`; a name present in both is an error
    /// (returned as that name).
    pub fn merge(&mut self, other: InputsManifest) -> Result<(), String> {
        for (name, entry) in other.inputs {
            if self.inputs.contains_key(&name) {
                return Err(name);
            }
            self.inputs.insert(name, entry);
        }
        Ok(())
    }

    /// An entry for the file or directory at `path`, digested now.
    pub fn describe(path: &Path) -> std::io::Result<InputEntry> {
        let meta = std::fs::metadata(path)?;
        let (kind, sha256) = if meta.is_dir() {
            (InputKind::Dir, tree_digest(path)?)
        } else {
            (InputKind::File, file_digest(path)?)
        };
        Ok(InputEntry {
            path: path.canonicalize()?,
            kind,
            sha256,
            origin: None,
        })
    }

    /// Path of the input called `name`, if present.
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.inputs.get(name).map(|e| e.path.as_path())
    }
}

impl Default for InputsManifest {
    fn default() -> Self {
        Self::new()
    }
}

/// sha256 of a file, lower-case hex.
pub fn file_digest(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hash_reader(&mut hasher, std::fs::File::open(path)?)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Feeds everything `reader` yields into `hasher`.
pub fn hash_reader(
    hasher: &mut sha2::Sha256,
    mut reader: impl std::io::Read,
) -> std::io::Result<u64> {
    use sha2::Digest;
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

/// Deterministic digest of a directory tree: for every entry in sorted
/// path order, its relative path, type and content (file bytes or link
/// target) are hashed. Modes and times are ignored on purpose: unpacking
/// the same package twice gives the same digest.
pub fn tree_digest(root: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    fn walk(dir: &Path, rel: &str, hasher: &mut Sha256) -> std::io::Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel = format!("{rel}/{}", name.to_string_lossy());
            let meta = std::fs::symlink_metadata(&path)?;
            hasher.update(rel.as_bytes());
            hasher.update([0]);
            if meta.file_type().is_symlink() {
                hasher.update(b"L");
                hasher.update(std::fs::read_link(&path)?.to_string_lossy().as_bytes());
            } else if meta.is_dir() {
                hasher.update(b"D");
                walk(&path, &rel, hasher)?;
            } else {
                hasher.update(b"F");
                hasher.update(meta.len().to_le_bytes());
                hash_reader(hasher, std::fs::File::open(&path)?)?;
            }
            hasher.update([0]);
        }
        Ok(())
    }
    let mut hasher = Sha256::new();
    walk(root, "", &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}
