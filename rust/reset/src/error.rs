//! Errors of the reset library.

use std::path::PathBuf;

/// What can go wrong building, staging or executing a reset.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// A `--keep-paths` entry is neither an absolute path nor a regex for one.
    #[error("keep path {0:?} must be an absolute path or a regex for an absolute path")]
    BadKeepPath(String),
    /// The keep regex is not a valid POSIX ERE (or uses a feature MetalOS rejects).
    #[error("invalid keep regex {pattern:?}: {reason}")]
    BadRegex {
        /// The ERE as given.
        pattern: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("writing", "reading", …).
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Creating or removing the first-boot flag failed.
    #[error("first-boot flag: {0}")]
    Flag(String),
    /// A precondition of staging failed (e.g. no machine-id to keep).
    #[error("{0}")]
    Invalid(String),
}

impl ResetError {
    /// An [`ResetError::Io`] for `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
