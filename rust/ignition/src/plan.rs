//! The write plan: every change a config makes to a root directory,
//! decided before the first byte is written. [`crate::apply`] builds it
//! (files, directories, links, units, passwd) and [`crate::journal`]
//! executes it with an undo log.
//!
//! Paths are absolute *inside* the root (`/etc/passwd`), already resolved
//! so that no component but possibly the last is a symlink.

use std::path::PathBuf;

/// Owner and permission bits of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    /// Permission bits (0..=0o7777).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// One change to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create or replace a regular file with exactly these bytes and
    /// attributes (written to a temp file in the same directory, then
    /// renamed over the old node).
    WriteFile {
        /// Path inside the root.
        path: PathBuf,
        /// Full contents.
        contents: Vec<u8>,
        /// Attributes.
        attrs: Attrs,
    },
    /// Create a directory (the parent exists or was created by an earlier
    /// op), or set the attributes of an existing one.
    Directory {
        /// Path inside the root.
        path: PathBuf,
        /// Attributes.
        attrs: Attrs,
    },
    /// Create or replace a symbolic link (owner set with `lchown`).
    Symlink {
        /// Path inside the root.
        path: PathBuf,
        /// Link target, verbatim.
        target: PathBuf,
        /// Owner uid.
        uid: u32,
        /// Owner gid.
        gid: u32,
    },
    /// Create or replace a hard link to `target` (a path inside the root).
    HardLink {
        /// Path inside the root.
        path: PathBuf,
        /// Existing node inside the root.
        target: PathBuf,
    },
    /// Remove a node; a directory is removed with everything below it.
    Remove {
        /// Path inside the root.
        path: PathBuf,
    },
}

impl Op {
    /// The path the op changes.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Op::WriteFile { path, .. }
            | Op::Directory { path, .. }
            | Op::Symlink { path, .. }
            | Op::HardLink { path, .. }
            | Op::Remove { path } => path,
        }
    }
}
