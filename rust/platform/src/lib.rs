//! MetalOS platforms: which platform a machine runs on, where its user
//! config comes from there, and the metadata agent (docs/platforms.md).
//!
//! ```no_run
//! # fn main() -> Result<(), metalos_platform::PlatformError> {
//! use metalos_platform::{dmi_from_sysfs, needs_network, platform_id, user_config, FetchContext};
//! let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
//! let id = platform_id(&cmdline, None, &dmi_from_sysfs)?;
//! if needs_network(id.platform) { /* bring the network up */ }
//! let config = user_config(id.platform, &FetchContext::new()?)?;
//! # Ok(()) }
//! ```
//!
//! Modules:
//!
//! * [`id`] — the platform id from the kernel command line, the image's OEM id or DMI;
//! * [`fetch`] — [`FetchContext`] and the Ignition and afterburn retry policies;
//! * [`providers`] — the user config of each platform (metal, qemu, openstack, aws);
//! * [`configdrive`] — OpenStack config drives (ISO 9660 or FAT) read in place;
//! * [`metadata`] — the metadata agent: afterburn attributes, SSH keys, host name;
//! * `error` — [`PlatformError`].

#![warn(missing_docs)]

pub mod configdrive;
mod error;
pub mod fetch;
pub mod id;
pub mod metadata;
pub mod providers;

pub use error::PlatformError;
pub use fetch::{FetchContext, Log, Retry};
pub use id::{dmi_from_sysfs, platform_id, IdSource, Platform, PlatformId};
pub use providers::{needs_network, user_config, UserConfig};
