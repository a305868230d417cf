//! Ignition configs for MetalOS: the provisioning model of Flatcar
//! Container Linux, implemented natively.
//!
//! * [`parse`]: exact versions 3.0.0–3.5.0 (older 3.x read into the 3.5
//!   model), 2.x translated; errors and warnings carry JSON paths.
//! * [`validate`]: every rule Ignition enforces, plus MetalOS's own
//!   (unimplemented sections, unsupported URL schemes, paths under `/usr`).
//! * [`merge`]: Ignition's merge of keyed lists and set fields.
//! * [`resource`]: `data:`, `http(s)`, gzip, sha256/sha512 verification.
//! * [`render`]: the `ignition.config` merge/replace chain.
//! * [`apply`]: two-phase application to a root directory — everything is
//!   fetched, verified and planned before the first write, and writes are
//!   journalled so that a failure restores the root exactly.

pub mod config;
pub mod error;
pub mod merge;
pub mod parse;
pub mod schema;
pub mod translate2;
pub mod validate;
pub mod version;

pub use config::Config;
pub use error::{Error, Issue, Report, Result};
pub mod apply;
pub mod journal;
pub mod nodes;
pub mod passwd;
pub mod plan;
pub mod planner;
pub mod render;
pub mod resource;
pub mod units;
