//! cpio "newc" (`070701`) archives, the format of Linux initramfs images.
//!
//! [`Archive`] collects entries and writes them deterministically:
//!
//! * Paths are stored **relative, without a leading `/` and without a `.`
//!   entry** for the root (`init`, `usr/bin/x`). The kernel unpacks relative
//!   to the rootfs root, which already exists; a `.` entry is optional
//!   (GNU `find . | cpio` emits one) and is left out. Leading `/`, empty and
//!   `.` components are stripped on insertion; `..` is rejected.
//! * Entries are written in byte-wise sorted path order. A path sorts before
//!   every path it is a prefix of, so each directory precedes its contents.
//!   Missing parent directories are created with mode `0755`.
//! * Inode numbers are assigned from 1 upwards in that order; the members of a
//!   hardlink group share the number of the group's first (sorted) member.
//! * Hardlinks use the newc convention (as GNU cpio writes them): every
//!   member carries the group's `nlink` and a size of 0, except the **last**
//!   member in archive order, which carries the data. The kernel links later
//!   members to the first one it saw and writes the data when it arrives;
//!   GNU cpio defers size-0 members until the data member appears.
//! * uid/gid are 0, every mtime is the caller's value (`SOURCE_DATE_EPOCH` or
//!   0), the check field is 0, headers/names and data are padded to 4 bytes,
//!   and the archive ends with `TRAILER!!!` (padded to 4 bytes, no 512-byte
//!   blocking).
//!
//! [`read_archives`] lists entries of one or more concatenated archives,
//! each plain or zstd-compressed (gzip is not supported: `flate2` is not a
//! dependency of the workspace).

mod encode;
mod reader;
mod writer;

pub use reader::{read_archives, read_archives_limited, Entry, MAX_UNPACKED};
pub use writer::{normalize, Archive, DeviceKind, DEFAULT_DIR_MODE};

use std::path::PathBuf;

/// File type bits (`S_IFMT`).
pub const S_IFMT: u32 = 0o170000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// Name of the end-of-archive marker entry.
pub const TRAILER: &str = "TRAILER!!!";

/// Errors while building, writing or reading an archive.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    /// A path is empty, contains `..` or is otherwise unusable.
    #[error("invalid archive path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A parent of `path` already exists and is not a directory.
    #[error("cannot add {path}: parent {parent} is not a directory")]
    NotADirectory {
        /// Path being added.
        path: String,
        /// The offending parent.
        parent: String,
    },
    /// `path` was already added with different content.
    #[error("{path} is added twice with different content")]
    Duplicate {
        /// Archive path.
        path: String,
    },
    /// A hardlink's target is not a regular file in the archive.
    #[error("hardlink {path}: target {target} is not a regular file added before")]
    HardlinkTarget {
        /// The link.
        path: String,
        /// Its target.
        target: String,
    },
    /// Permission bits beyond `0o7777`.
    #[error("{path}: mode {mode:#o} has bits outside 0o7777")]
    InvalidMode {
        /// Archive path.
        path: String,
        /// The mode given.
        mode: u32,
    },
    /// A value does not fit newc's 32-bit fields.
    #[error("{what} = {value} does not fit a 32-bit newc field")]
    TooLarge {
        /// What overflowed (e.g. the archive path of a file).
        what: String,
        /// The value.
        value: u64,
    },
    /// A host file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Host path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A host file is not a regular file or changed size while written.
    #[error("{path}: {reason}")]
    HostFile {
        /// Host path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Writing the archive failed.
    #[error("cannot write archive: {0}")]
    Write(#[source] std::io::Error),
    /// The input is not a valid archive stream.
    #[error("malformed archive at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset (within the decompressed stream for compressed parts).
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
