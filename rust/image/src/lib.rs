//! Image assembly: an image spec plus an inputs manifest become
//! `disk.img` and `manifest.json`; and inspection of images and artifacts.

pub mod artifacts;
pub mod build;
pub mod bundle;
pub mod inspect;
pub mod layout;
pub mod manifest;
pub mod secureboot;
pub mod signing;
pub mod usrtree;
pub mod verity;

pub use build::{build, BuildError, BuildOptions};
pub use manifest::BuildManifest;
