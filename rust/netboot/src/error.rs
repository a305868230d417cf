//! Errors of bundle building, publishing and serving.

use std::path::PathBuf;

/// Everything that can go wrong; each variant names the file, field or URL.
#[derive(Debug, thiserror::Error)]
pub enum NetbootError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `--base-url` is not an absolute http(s) URL usable in a kernel command line.
    #[error("--base-url {url:?}: {reason}")]
    BaseUrl {
        /// The URL given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// A `--host MAC=HOSTCONFIG` argument is malformed.
    #[error("--host {arg:?}: {reason}")]
    HostArg {
        /// The argument given.
        arg: String,
        /// Why it is refused.
        reason: String,
    },
    /// A HostConfig file is invalid (the message names the field).
    #[error("HostConfig {} (--host {mac}): {message}", path.display())]
    HostConfig {
        /// The MAC it was given for.
        mac: String,
        /// The file.
        path: PathBuf,
        /// The parser's message (`field: problem`).
        message: String,
    },
    /// The image directory is not a usable `metalos build` output.
    #[error("image directory {}: {reason}", dir.display())]
    Image {
        /// The directory.
        dir: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// A JSON file (manifest, index) is invalid.
    #[error("{}: {reason}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A file's sha256 or size is not what a manifest says.
    #[error("{}: {what} is {actual}, the manifest says {expected}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// `sha256` or `size`.
        what: &'static str,
        /// From the manifest.
        expected: String,
        /// Measured.
        actual: String,
    },
    /// The UKI could not be rewritten.
    #[error("{}: {source}", path.display())]
    Uki {
        /// The UKI file.
        path: PathBuf,
        /// The UKI error.
        source: metalos_uki::UkiError,
    },
    /// The imaging UKI's Secure Boot signature cannot be redone.
    #[error("{}: {message}", path.display())]
    SecureBoot {
        /// The UKI file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A bundle or publish destination is inconsistent.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = NetbootError> = std::result::Result<T, E>;

/// Maps an I/O error to [`NetbootError::Io`] naming `path`.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NetbootError {
    let path = path.into();
    move |source| NetbootError::Io { path, source }
}
