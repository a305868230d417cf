//! MetalOS's selective reset, Flatcar's `flatcar-reset` for MetalOS
//! (user documentation: `docs/reset.md`).
//!
//! * [`keep::keep_regex`] builds the keep regex from `--keep-paths`
//!   entries exactly as flatcar-reset's `generate_regex` does;
//! * [`ere`] translates that POSIX ERE (GNU egrep dialect) to Rust `regex`
//!   syntax and matches whole paths;
//! * [`stage`] runs on the live system: [`stage::stage`], [`stage::stop`],
//!   [`stage::preview`];
//! * [`execute::execute`] runs in metalinit at the next boot, before the
//!   `/etc` overlay is mounted, walking each subvolume ([`walk`]);
//! * [`layout`] names every file involved.

pub mod ere;
mod error;
pub mod execute;
mod fsutil;
pub mod keep;
pub mod layout;
pub mod stage;
pub mod walk;

pub use error::ResetError;
pub use execute::{execute, Summary};
pub use keep::keep_regex;
pub use stage::{preview, stage, stop, DirFlag, Fate, FirstBootFlag, Provisioning, StageOptions};
