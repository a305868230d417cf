//! [`PlatformError`]: every failure of this crate, naming the id, URL,
//! device, file or key at fault and why.

use std::path::PathBuf;

/// Why a platform id, a user config or metadata could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The platform id is not one MetalOS or Ignition knows.
    #[error("unknown platform id {id:?} (from {origin}); known platform ids: {known}")]
    UnknownId {
        /// The id as given.
        id: String,
        /// Where it came from, e.g. `kernel command line flatcar.oem.id=`.
        origin: String,
        /// The ids MetalOS accepts, with their aliases.
        known: String,
    },
    /// An Ignition platform MetalOS has no provider for yet.
    #[error(
        "platform id {id:?} (from {origin}) is an Ignition platform MetalOS does not support yet; \
         supported platform ids: {known}"
    )]
    NotSupported {
        /// The id as given.
        id: String,
        /// Where it came from.
        origin: String,
        /// The ids MetalOS accepts, with their aliases.
        known: String,
    },
    /// An HTTP request failed for good (after its retries).
    #[error("{method} {url}: {reason}")]
    Http {
        /// `GET` or `PUT`.
        method: &'static str,
        /// The URL asked for.
        url: String,
        /// What failed, e.g. `HTTP 401 Unauthorized (after 1 attempt)`.
        reason: String,
    },
    /// A config drive could not be read.
    #[error("config drive {device} (label {label:?}): {reason}")]
    ConfigDrive {
        /// The block device (or image file).
        device: PathBuf,
        /// Its filesystem label.
        label: String,
        /// What failed.
        reason: String,
    },
    /// A QEMU fw_cfg entry could not be read.
    #[error("QEMU fw_cfg {path}: {reason}")]
    FwCfg {
        /// The sysfs file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No config source answered before the deadline (OpenStack: neither a
    /// config drive nor the metadata service).
    #[error("{platform}: no config source answered in time: {reasons}")]
    NoSource {
        /// The platform id.
        platform: &'static str,
        /// What was tried and why each failed, `; `-separated.
        reasons: String,
    },
    /// Metadata that does not have the expected form.
    #[error("{origin}: {reason}")]
    BadMetadata {
        /// The URL or config drive file.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The platform has no metadata the agent can read.
    #[error(
        "platform {0:?} has no metadata service (the metadata agent supports aws, openstack and \
         openstack-metadata)"
    )]
    NoMetadata(String),
    /// Writing an output file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The SSH key fragment or `authorized_keys` could not be updated.
    #[error("ssh keys for user {user:?}: {source}")]
    SshKeys {
        /// The user.
        user: String,
        /// What failed.
        source: metalos_sshkeys::Error,
    },
}
