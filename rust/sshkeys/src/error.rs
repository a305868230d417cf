//! Errors: [`KeyError`] for one unusable key line, [`Error`] for everything
//! that stops a run.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why one `authorized_keys` line is not a usable public key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The line is empty.
    #[error("empty line")]
    Empty,
    /// No supported key type where one was expected.
    #[error("unsupported key type {0:?}")]
    UnsupportedType(String),
    /// A quoted option value is not closed.
    #[error("unterminated quote in options")]
    UnterminatedQuote,
    /// The key type is not followed by base64 key data.
    #[error("missing key data")]
    MissingData,
    /// The key data is not valid base64.
    #[error("invalid base64 key data: {0}")]
    Base64(String),
    /// The type named in the line differs from the one in the key data.
    #[error("key type {declared:?} does not match the key data ({embedded:?})")]
    TypeMismatch {
        /// The type word of the line.
        declared: String,
        /// The type string inside the key data.
        embedded: String,
    },
    /// The key data ends in the middle of a field.
    #[error("key data is truncated")]
    Truncated,
    /// Bytes follow the last field of the key data.
    #[error("key data has {0} trailing bytes")]
    TrailingData(usize),
    /// A field of the key data has an impossible value.
    #[error("invalid key data: {0}")]
    Invalid(&'static str),
}

/// Errors of opening, changing and writing a user's keys.
#[derive(Debug, Error)]
pub enum Error {
    /// A set name that cannot be a fragment file name.
    #[error("invalid key set name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The user is not in the passwd database.
    #[error("failed to find user with name {0:?}")]
    UnknownUser(String),
    /// The passwd entry could not be read.
    #[error("invalid passwd entry for {name:?}: {reason}")]
    BadPasswd {
        /// The user name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `authorized_keys.d` exists but is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// `authorized_keys.d` holds a directory.
    #[error("{} is a directory (key sets are plain files)", .0.display())]
    NestedDirectory(PathBuf),
    /// `authorized_keys.d` holds something that is neither file nor directory.
    #[error("{} is not a regular file", .0.display())]
    NotAFile(PathBuf),
    /// A file name or file content that is not UTF-8.
    #[error("{} is not valid UTF-8", .0.display())]
    NotUtf8(PathBuf),
    /// There are no key sets at all: `authorized_keys` is left untouched.
    #[error("no keys found in {}", .0.display())]
    NoKeysFound(PathBuf),
    /// Switching the effective user or group failed.
    #[error("failed to switch to uid {uid} gid {gid}")]
    SwitchUser {
        /// Target uid.
        uid: u32,
        /// Target gid.
        gid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An I/O error, with what was being done.
    #[error("{context}")]
    Io {
        /// What was being done (`writing /home/core/.ssh/authorized_keys`).
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// An I/O error with context.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `map_err` helper: `.map_err(io_ctx(|| format!("reading {}", p.display())))`.
pub(crate) fn io_ctx<F: FnOnce() -> String>(f: F) -> impl FnOnce(io::Error) -> Error {
    move |e| Error::io(f(), e)
}
