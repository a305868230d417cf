//! Configuration types shared by the MetalOS build host and the initrds:
//! the image spec, the inputs manifest, content sources and sizes.
//!
//! Modules:
//!
//! * [`error`] — Errors that name the offending field;
//! * [`hostconfig`] — The HostConfig;
//! * [`inputs`] — The inputs manifest;
//! * [`size`] — Human-friendly byte sizes (`"512MiB"`, `"1G"`, `4096`);
//! * [`source`] — Where a file's content comes from;
//! * [`spec`] — The image spec (`images/*.toml`);
//! * [`tree`] — Exclude patterns of `[[usr.trees]]` (`exclude = ["share/doc", "share/locale/*"]`).

pub mod error;
pub mod hostconfig;
pub mod inputs;
pub mod size;
pub mod source;
pub mod spec;
pub mod tree;

pub use error::FieldError;
pub use hostconfig::{HostConfig, MacAddr};
pub use inputs::{InputEntry, InputKind, InputsManifest};
pub use size::ByteSize;
pub use source::{Resolved, Resolver, Source};
