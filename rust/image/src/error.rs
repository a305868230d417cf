//! [`BuildError`]: why `metalos build` failed.

use metalos_config::FieldError;
use std::path::{Path, PathBuf};

/// Why a build failed. Nothing is left in the output directory.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The spec (or a source it names) is wrong.
    #[error(transparent)]
    Spec(#[from] FieldError),
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// File or directory.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Building a partition's content failed.
    #[error("partition {slot} ({label}): {message}")]
    Partition {
        /// Slot.
        slot: u32,
        /// Label.
        label: String,
        /// What failed.
        message: String,
    },
    /// Writing the partition table failed.
    #[error(transparent)]
    Gpt(#[from] metalos_disk::gpt::GptError),
}

/// Maps an I/O error on `path` to [`BuildError::Output`] (for `map_err`).
pub(crate) fn output_error(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_owned();
    move |source| BuildError::Output { path, source }
}
