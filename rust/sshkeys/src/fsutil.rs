//! Durable file replacement: temp file in the same directory, fsync,
//! rename, fsync of the directory.

use std::fs::{DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::error::{io_ctx, Error};

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), Error> {
    match DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) => Err(Error::io(format!("creating {}", dir.display()), e)),
    }
}

/// Writes `contents` to `dir/name` through a temp file (mode 0600) in
/// `dir`: write, fsync, rename. The caller fsyncs `dir` afterwards.
pub(crate) fn replace_file(dir: &Path, name: &str, contents: &[u8]) -> Result<(), Error> {
    let path = dir.join(name);
    let ctx = || format!("writing {}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".ssh-keys-")
        .tempfile_in(dir)
        .map_err(io_ctx(ctx))?;
    tmp.write_all(contents).map_err(io_ctx(ctx))?;
    tmp.as_file().sync_all().map_err(io_ctx(ctx))?;
    tmp.persist(&path).map_err(|e| Error::io(ctx(), e.error))?;
    Ok(())
}

/// Removes `dir/name`; a missing file is fine.
pub(crate) fn remove_file(dir: &Path, name: &str) -> Result<(), Error> {
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(Error::io(format!("removing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// fsyncs a directory, making renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    let ctx = || format!("syncing {}", dir.display());
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_ctx(ctx))
}
