//! A/B updates of a MetalOS disk (Flatcar's gptprio model) as a library:
//! the `metalos update` command and the update agent are thin front ends.
//!
//! * [`source`] — where a bundle comes from (a directory or an http(s) URL)
//!   and verified streaming of its files;
//! * [`trust`] — which key a bundle must be signed with — the target disk's
//!   own ([`trust::Trust::of_disk`]) — and checking `bundle.json.sig`;
//! * [`keys`] — finding that key in a `/usr` slot and in the bootloader UKI;
//! * [`mod@stage`] — verify, disable, write and read back the inactive slot,
//!   then one trial boot, or a record for later ([`stage::stage`]);
//! * [`mod@activate`] — a staged slot becomes the next boot
//!   ([`activate::activate`]);
//! * [`bootloader`] — replacing `EFI/BOOT/BOOTX64.EFI` without ever leaving
//!   the ESP without one;
//! * [`usrimage`] — the bundle's `/usr` image: read and hashed into memory
//!   (or verified as a file), written into the slot and read back;
//! * [`target`] — the disk being updated, its booted slot, read-back;
//! * [`status`] — slot status, mark-good and rollback on the running system;
//! * [`running`] — the running system's booted slot, and a read-only look
//!   into another slot;
//! * [`fault`] — fault points for the power-loss tests.
//!
//! The bundle's manifest format is `metalos_contract::update`; the gptprio
//! slot policy (shared with the bootloader) is `metalos_disk::slots`.

pub mod activate;
pub mod bootloader;
pub mod fault;
pub mod keys;
pub mod running;
pub mod source;
pub mod stage;
pub mod status;
pub mod target;
pub mod trust;
pub mod usrimage;

pub use activate::activate;
pub use source::BundleSource;
pub use stage::{stage, StageRequest, TrustChoice};
pub use trust::Trust;
