//! Errors of channel publishing, withdrawing and listing.

use crate::error::NetbootError;
use std::path::PathBuf;

/// Everything that can go wrong with a channel; each variant names the
/// file, option or version at fault.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Reading or writing the served tree failed.
    #[error(transparent)]
    Fs(#[from] NetbootError),
    /// The bundle is not a usable update bundle (missing or invalid
    /// `bundle.json`, a bad version, a missing file).
    #[error("{}: {reason}", path.display())]
    Bundle {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bundle file's sha256 or size is not what `bundle.json` says.
    #[error("{}: {what} is {actual}, bundle.json says {expected}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// `sha256` or `size`.
        what: &'static str,
        /// From `bundle.json`.
        expected: String,
        /// Measured.
        actual: String,
    },
    /// A command-line value is refused (`--channel`, `--rollout-*`, `--barrier`, `--keys`).
    #[error("{option}: {reason}")]
    Option {
        /// The option, e.g. `--rollout-start-value`.
        option: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The channel's `graph.json` is unreadable or invalid.
    #[error("{}: {reason}", path.display())]
    Graph {
        /// The graph file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The channel has no graph yet (withdraw, list).
    #[error("channel {channel:?}: {} does not exist (nothing was published to it)", path.display())]
    UnknownChannel {
        /// The channel name.
        channel: String,
        /// Its `graph.json`.
        path: PathBuf,
    },
    /// The version is not a release of the channel.
    #[error("{}: version {version:?} is not a release of this channel", path.display())]
    NotInGraph {
        /// The version asked for.
        version: String,
        /// The channel's `graph.json`.
        path: PathBuf,
    },
    /// The version is published with another `bundle.json`.
    #[error(
        "{}: version {version:?} is already published with bundle.json sha256 {published}; \
         this bundle.json has {given} (versions are immutable: build a new version)",
        path.display()
    )]
    Immutable {
        /// The version.
        version: String,
        /// The channel's `graph.json`.
        path: PathBuf,
        /// sha256 recorded in the graph.
        published: String,
        /// sha256 of the bundle given.
        given: String,
    },
    /// A signature is needed, does not verify, or cannot be made.
    #[error("{}: {reason}", path.display())]
    Signature {
        /// The signed (or unsigned) file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias for channel operations.
pub type Result<T, E = ChannelError> = std::result::Result<T, E>;
