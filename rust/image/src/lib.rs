//! Image assembly: an image spec plus an inputs manifest become
//! `disk.img` and `manifest.json`; and inspection of images and artifacts.
//!
//! Modules:
//! - `build`: [`build()`], the steps of `metalos build` and its commit point;
//! - `error`: [`BuildError`];
//! - `artifacts`: initrds and UKIs built before the disk;
//! - `contents` (crate-private): the ESP and `/usr` contents resolved from the spec;
//! - `disk_writer` (crate-private): partitions, GPT and hashes written into the image;
//! - `disk_hash` (crate-private): the image's and partitions' sha256 (the
//!   whole disk on its own thread while the partitions are written);
//! - `bundle_writer` (crate-private): the update bundle written next to the image
//!   (its format is `metalos_contract::update`);
//! - `layout`: partition placement;
//! - `manifest`: `manifest.json`;
//! - `inspect`: reading images and artifacts back;
//! - `signing`, `secureboot`: build keys, Secure Boot signing;
//! - `usrtree`: `[[usr.trees]]` walked and merged;
//! - `verity`: sealing a `/usr` slot.

pub mod artifacts;
pub mod build;
mod bundle_writer;
mod contents;
mod disk_hash;
mod disk_writer;
pub mod error;
pub mod inspect;
pub mod layout;
pub mod manifest;
pub mod secureboot;
pub mod signing;
pub mod usrtree;
pub mod verity;

pub use build::{build, BuildOptions};
pub use error::BuildError;
pub use manifest::BuildManifest;
