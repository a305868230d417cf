//! Ignition configs for MetalOS: the provisioning model of Flatcar
//! Container Linux, implemented natively.
//!
//! * [`parse`] — exact versions 3.0.0–3.5.0 (older 3.x read into the 3.5
//!   model), 2.x translated; errors and warnings carry JSON paths.
//! * [`validate`] — every rule Ignition enforces, plus MetalOS's own
//!   (unimplemented sections, unsupported URL schemes, paths under `/usr`).
//! * [`merge`] — Ignition's merge of keyed lists and set fields.
//! * [`resource`] — `data:`, `http(s)`, gzip, sha256/sha512 verification.
//! * [`render`] — the `ignition.config` merge/replace chain.
//! * [`apply`] — two-phase application to a root directory — everything is
//!   fetched, verified and planned before the first write, and writes are
//!   journalled so that a failure restores the root exactly.
//!
//! Modules:
//!
//! * [`config`] — The Ignition config model;
//! * [`error`] — Errors and warnings, each tied to the JSON path of the field it is about;
//! * [`merge`] — Ignition's config merge (`config/merge` upstream);
//! * [`parse`] — Bytes → [`Config`];
//! * [`schema`] — The keys each spec version knows, used to prune a parsed JSON document before it is read into [`crate::config::Config`];
//! * [`translate2`] — Spec 2.x (2.0.0–2.4.0) → 3.1.0, for configs whose storage targets the root filesystem (the shape Flatcar's own examples use);
//! * [`validate`] — Semantic checks, Ignition's and MetalOS's own;
//! * [`version`] — Which spec a config was written for;
//! * [`apply`] — Applying configs to a root directory, in three steps that each can fail without touching the root;
//! * [`journal`] — Executes a write plan with an undo log, so that a failure part-way leaves the root exactly as it was;
//! * [`nodes`] — Planning `storage.files`, `directories` and `links` with Ignition's semantics;
//! * [`passwd`] — `passwd.users[]` and `passwd.groups[]` applied natively, with the semantics Ignition gets from shadow-utils (`groupadd`/`groupmod`/ `groupdel`, `useradd`/`usermod`/`userdel --remove`, all `--root ROOT`), as Debian's shadow-utils 4.13 implements them;
//! * [`plan`] — The write plan;
//! * [`planner`] — Shared state while planning;
//! * [`render`] — The `ignition.config` chain;
//! * [`resource`] — Resources;
//! * [`units`] — Planning `systemd.units`.

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
