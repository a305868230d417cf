//! The image spec (`images/*.toml`): what `metalos build` writes. See
//! `docs/image-spec.md` for the documented format. Parsing is strict
//! (unknown fields are errors) and [`ImageSpec::validate`] reports the
//! first problem with its field path, e.g. `partitions[1].size: …`.
//!
//! Modules:
//! - `image`: [`ImageSpec`], the whole spec, and loading it from TOML;
//! - `disk`: `[disk]` and `[[partitions]]`;
//! - `content`: `[esp]`, `[usr]`, `[host-config]` and `[oem]`;
//! - `artifacts`: `[signing]`, `[[initrds]]` and `[[ukis]]`;
//! - `partition_types`: partition type names and their GUIDs;
//! - `mode`: octal mode strings;
//! - `validate`: [`ImageSpec::validate`], with `validate_partitions` (disk
//!   and partitions), `validate_trees` (ESP and `/usr`) and `validate_oem`
//!   (`[oem]` and its partition) as its steps.

mod artifacts;
mod content;
mod disk;
mod image;
mod mode;
mod partition_types;
mod validate;
mod validate_oem;
mod validate_partitions;
mod validate_trees;

pub use artifacts::{InitrdArtifact, SigningSpec, UkiArtifact};
pub use content::{
    DirSpec, EspSpec, FileSpec, HostConfigSpec, LinkSpec, OemSpec, TreeSpec, UsrSpec,
};
pub use disk::{ContentKind, DiskSpec, GptPrioSpec, PartitionSize, PartitionSpec};
pub use image::ImageSpec;
pub use mode::parse_mode;
pub use partition_types::{type_guid, type_name, PARTITION_TYPES};
