//! `manifest.json` of a netboot bundle read from disk, and its files
//! checked against it. The format is [`metalos_contract::netboot`].

use crate::error::{io, NetbootError, Result};
use std::path::Path;

pub use metalos_contract::netboot::{
    is_safe_relative, FileRecord, ImageRecord, NetbootManifest, BUNDLE_VERSION, MANIFEST_FILE,
};

/// Reads and checks `path` (version, relative file paths).
pub fn load(path: &Path) -> Result<NetbootManifest> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    parse(&text, path)
}

/// Parses and checks manifest `text` (errors name `path`).
pub fn parse(text: &str, path: &Path) -> Result<NetbootManifest> {
    NetbootManifest::parse(text).map_err(|reason| NetbootError::Json {
        path: path.to_owned(),
        reason,
    })
}

/// Checks every file of `m` under `root` against its sha256 and size.
pub fn verify_files(root: &Path, m: &NetbootManifest) -> Result<()> {
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
