//! MetalOS netboot bundles.
//!
//! * [`build_bundle`] turns a `metalos build` output into a bundle directory:
//!   `boot.ipxe`, `imaging.efi` (the imaging UKI with the netboot command
//!   line embedded), the zstd-compressed disk image under
//!   `blobs/sha256/<hex>`, `hosts/<mac>.json` and `manifest.json`.
//!   Bit-reproducible.
//! * [`publish()`] copies a bundle into a served tree: content-addressed
//!   blobs, per-release directories, entry points switched atomically,
//!   old releases and unreferenced blobs collected.
//! * With a signing key, `manifest.json` is signed ([`SIGNATURE_FILE`],
//!   docs/signing.md); `publish` carries the signature along.
//! * [`serve`] is a small static HTTP/1.1 server for development and tests.
//! * [`channel`] publishes update bundles into release channels of the
//!   same served tree (`DEST/updates/NAME/graph.json`), whose blobs the
//!   netboot gc keeps.
//!
//! Formats and semantics: docs/netboot.md.
//!
//! Modules:
//!
//! * [`bundle`] — `metalos netboot build`;
//! * [`channel`] — Release channels: `metalos release publish|withdraw|list`;
//! * [`cmdline`] — Kernel command lines and the iPXE script of a bundle;
//! * [`error`] — Errors of bundle building, publishing and serving;
//! * [`fsutil`] — Small file helpers;
//! * [`manifest`] — `manifest.json` of a netboot bundle read from disk, and its files checked against it;
//! * [`mod@publish`] — `metalos netboot publish`;
//! * [`secureboot`] — The netboot `imaging.efi` under Secure Boot (docs/secure-boot.md);
//! * [`serve`] — A small static HTTP/1.1 file server (`metalos netboot serve`), for development and tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
pub mod channel;
pub mod cmdline;
pub mod error;
pub mod fsutil;
pub mod manifest;
pub mod publish;
pub mod secureboot;
pub mod serve;
#[cfg(test)]
mod testutil;

pub use bundle::{build_bundle, BundleOptions, HostArg, SIGNATURE_FILE};
pub use error::{NetbootError, Result};
pub use manifest::NetbootManifest;
pub use publish::{publish, verify_served, PublishOptions, PublishReport};
