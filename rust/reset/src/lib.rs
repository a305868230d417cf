//! MetalOS's selective reset, Flatcar's `flatcar-reset` for MetalOS
//! (user documentation: `docs/reset.md`).
//!
//! * [`keep::keep_regex`] builds the keep regex from `--keep-paths`
//!   entries exactly as flatcar-reset's `generate_regex` does;
//! * [`ere`] translates that POSIX ERE (GNU egrep dialect) to Rust `regex`
//!   syntax and matches whole paths;
//! * [`mod@stage`] runs on the live system: [`stage::stage`], [`stage::stop`],
//!   [`stage::preview`];
//! * [`execute::execute`] runs in metalinit at the next boot, before the
//!   `/etc` overlay is mounted, walking each subvolume ([`walk`]);
//! * [`layout`] names every file involved.
//!
//! Modules:
//!
//! * [`ere`] — POSIX extended regular expressions (GNU `find -regextype egrep` dialect) translated to Rust `regex` syntax, and a whole-path matcher;
//! * `error` — Errors of the reset library;
//! * [`mod@execute`] — Executing a staged reset in metalinit, with ROOT's subvolumes mounted below the sysroot and the `/etc` overlay not yet mounted;
//! * `fsutil` — Small filesystem helpers with [`ResetError`] context;
//! * [`keep`] — The keep regex;
//! * [`layout`] — Where MetalOS keeps reset and provisioning state, relative to a root (`/` on the running system, `/sysroot` in metalinit);
//! * [`mod@stage`] — Staging on the running system (`metalos reset`);
//! * [`walk`] — The reset walk.

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
