//! Configuration types shared by the MetalOS build host and the initrds:
//! the image spec, the inputs manifest, content sources and sizes.

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
