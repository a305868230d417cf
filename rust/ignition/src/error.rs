//! Errors and warnings, each tied to the JSON path of the field it is
//! about (`storage.files[1].path: path is not fully simplified`).

use std::fmt;

/// One finding about a config, at a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Dotted JSON path, e.g. `storage.files[1].path` (empty = the whole config).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Issue {
    /// An issue at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Issue {
        Issue {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Errors and warnings found in a config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Fatal findings.
    pub errors: Vec<Issue>,
    /// Non-fatal findings (unknown keys, ignored special mode bits, …).
    pub warnings: Vec<Issue>,
}

impl Report {
    /// Records an error.
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Issue::new(path, message));
    }

    /// Records a warning.
    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Issue::new(path, message));
    }

    /// Whether nothing fatal was found.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Moves `other`'s findings into `self`.
    pub fn absorb(&mut self, other: Report) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
}

/// Everything that can go wrong parsing, fetching or applying a config.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config (or a merged result) is invalid; the report lists why.
    #[error("{}", render_errors(.0))]
    Invalid(Report),
    /// A resource could not be fetched, decoded or verified.
    #[error("{path}: {message}")]
    Resource {
        /// JSON path of the resource (`storage.files[2].contents`).
        path: String,
        /// What failed.
        message: String,
    },
    /// The config cannot be applied to this root (a node exists, an owner
    /// name is unknown, a path escapes, …).
    #[error("{path}: {message}")]
    Apply {
        /// JSON path of the entry.
        path: String,
        /// What failed.
        message: String,
    },
    /// An I/O error while writing (the root was rolled back).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Apply`].
    pub fn apply(path: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Apply {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Resource`].
    pub fn resource(path: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Resource {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Io`].
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

fn render_errors(r: &Report) -> String {
    let lines: Vec<String> = r.errors.iter().map(|i| i.to_string()).collect();
    lines.join("\n")
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
