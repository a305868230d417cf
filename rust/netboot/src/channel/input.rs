//! The update bundle `metalos release publish` is given (the `update/`
//! directory `metalos build` writes), read and checked completely before
//! anything is written; and the names a channel accepts as path components.

use super::error::{ChannelError, Result};
use crate::error::io;
use crate::fsutil;
use metalos_contract::graph::{GRAPH_FILE, GRAPH_SIGNATURE_FILE};
use metalos_contract::update::{BundleFile, UpdateManifest, BUNDLE_MANIFEST};
use std::path::{Path, PathBuf};

/// `bundle.json`'s detached signature.
pub const BUNDLE_SIGNATURE: &str = "bundle.json.sig";
/// The served graph's directory in a channel: `current -> graphs/<id>`.
pub const CURRENT: &str = "current";
/// Directory of the graph versions in a channel.
pub const GRAPHS_DIR: &str = "graphs";
/// Names in a channel directory that are not releases.
pub const RESERVED: [&str; 4] = [GRAPH_FILE, GRAPH_SIGNATURE_FILE, CURRENT, GRAPHS_DIR];
/// Longest channel name or version.
pub const MAX_NAME: usize = 128;

/// Checks that `name` can be one path component of a served tree (and of
/// a URL): 1–128 of `A-Z a-z 0-9 . _ - + ~`, starting with a letter or a
/// digit (so never `.`, `..` or hidden). The error says why not.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-+~".contains(c);
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("must have 1 to {MAX_NAME} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or a digit".into());
    }
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "{c:?} is not allowed (letters, digits, '.', '_', '-', '+', '~')"
        ));
    }
    Ok(())
}

/// A checked update bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Its directory.
    pub dir: PathBuf,
    /// `bundle.json`, parsed.
    pub manifest: UpdateManifest,
    /// `bundle.json`'s exact bytes.
    pub bytes: Vec<u8>,
    /// sha256 of [`Self::bytes`].
    pub sha256: String,
    /// `bundle.json.sig`'s bytes, when the bundle is signed.
    pub signature: Option<Vec<u8>>,
}

impl Bundle {
    /// The files `bundle.json` lists (`usr`, then `bootloader`).
    pub fn files(&self) -> impl Iterator<Item = &BundleFile> {
        std::iter::once(&self.manifest.usr).chain(self.manifest.bootloader.as_ref())
    }

    /// The version, which names the release's directory.
    pub fn version(&self) -> &str {
        &self.manifest.version
    }
}

/// Reads the bundle at `path` (its directory, or its `bundle.json`) and
/// checks it: `bundle.json` parses, its version is a [`check_name`] name
/// that is not [`RESERVED`], and every file it lists is there with its
/// size and sha256.
pub fn load_bundle(path: &Path) -> Result<Bundle> {
    let dir = match path.file_name() {
        Some(n) if n == BUNDLE_MANIFEST => path.parent().unwrap_or(Path::new(".")),
        _ => path,
    };
    let manifest_path = dir.join(BUNDLE_MANIFEST);
    let bad = |path: &Path, reason: String| ChannelError::Bundle {
        path: path.to_owned(),
        reason,
    };
    let bytes = match std::fs::read(&manifest_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(
                &manifest_path,
                "missing: BUNDLE must be an update bundle (the update/ directory of a \
                 `metalos build` output)"
                    .into(),
            ))
        }
        Err(e) => return Err(io(&manifest_path)(e).into()),
    };
    let text = String::from_utf8_lossy(&bytes);
    let manifest = UpdateManifest::parse(&text).map_err(|e| bad(&manifest_path, e))?;
    check_name(&manifest.version)
        .and_then(|()| match RESERVED.contains(&manifest.version.as_str()) {
            true => Err("is a reserved name in a channel directory".into()),
            false => Ok(()),
        })
        .map_err(|e| {
            bad(
                &manifest_path,
                format!("version {:?}: {e}", manifest.version),
            )
        })?;
    let bundle = Bundle {
        dir: dir.to_owned(),
        sha256: fsutil::sha256_hex(&bytes),
        signature: read_signature(&dir.join(BUNDLE_SIGNATURE))?,
        manifest,
        bytes,
    };
    check_files(&bundle, &manifest_path)?;
    Ok(bundle)
}

fn read_signature(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e).into()),
    }
}

/// Every listed file: a distinct name that is not `bundle.json(.sig)`,
/// present, with the size and sha256 `bundle.json` gives.
fn check_files(bundle: &Bundle, manifest_path: &Path) -> Result<()> {
    let mut seen = Vec::new();
    for f in bundle.files() {
        if f.file == BUNDLE_MANIFEST || f.file == BUNDLE_SIGNATURE || seen.contains(&&f.file) {
            return Err(ChannelError::Bundle {
                path: manifest_path.to_owned(),
                reason: format!("file {:?} is listed twice or is reserved", f.file),
            });
        }
        seen.push(&f.file);
        let path = bundle.dir.join(&f.file);
        if !path.is_file() {
            return Err(ChannelError::Bundle {
                path,
                reason: "missing (bundle.json lists it)".into(),
            });
        }
        let (sha256, size) = fsutil::file_sha256(&path)?;
        let mismatch = |what, expected: String, actual: String| ChannelError::Mismatch {
            path: path.clone(),
            what,
            expected,
            actual,
        };
        if size != f.size {
            return Err(mismatch("size", f.size.to_string(), size.to_string()));
        }
        if sha256 != f.sha256 {
            return Err(mismatch("sha256", f.sha256.clone(), sha256));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_safe_components() {
        for ok in ["1.0", "2026.12.07", "v1.2.3-rc.1+build~2", "stable", "A_b"] {
            assert_eq!(check_name(ok), Ok(()), "{ok:?}");
        }
        let long = "a".repeat(MAX_NAME + 1);
        for bad in [
            "", ".", "..", ".hidden", "-x", "a/b", "../x", "a b", "a\0", "é", &long,
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
