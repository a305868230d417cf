//! Small filesystem helpers with [`ResetError`] context.

use crate::ResetError;
use std::io::Write;
use std::path::Path;

/// Writes `content` to `path` through a synced temporary file and a rename.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), ResetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ResetError::io("creating", dir, e))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| ResetError::io("writing", &tmp, e))?;
    f.write_all(content)
        .and_then(|()| f.sync_all())
        .map_err(|e| ResetError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ResetError::io("writing", path, e))
}

/// Removes a file; returns whether it existed.
pub fn remove_if_exists(path: &Path) -> Result<bool, ResetError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ResetError::io("removing", path, e)),
    }
}

/// Reads a file; `None` when it does not exist.
pub fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, ResetError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ResetError::io("reading", path, e)),
    }
}
