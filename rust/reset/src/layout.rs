//! Where MetalOS keeps reset and provisioning state, relative to a root
//! (`/` on the running system, `/sysroot` in metalinit). Everything lives on
//! the `state` subvolume (`/var/lib/metalos`), MetalOS's equivalent of
//! Flatcar's `/selective-os-reset` (root fs) and `/oem` (OEM partition).

/// The state subvolume's mount point.
pub const STATE: &str = "var/lib/metalos";
/// The staged keep regex (Flatcar: `/selective-os-reset`). Its presence
/// means "reset at the next boot".
pub const KEEP_FILE: &str = "var/lib/metalos/reset-keep";
/// The machine-id to restore after the reset (`--keep-machine-id`).
pub const MACHINE_ID_FILE: &str = "var/lib/metalos/reset-machine-id";
/// Reserved for a future `--backup` (Flatcar: `/flatcar-backup`); always kept.
pub const BACKUP_DIR: &str = "var/lib/metalos/reset-backup";
/// Staged provisioning sources (Flatcar: `/oem/config.ign`, `/oem/grub.cfg`); always kept.
pub const PROVISIONING_DIR: &str = "var/lib/metalos/provisioning";
/// The user Ignition config for the next provisioning (`--provisioning-file`).
pub const USER_CONFIG: &str = "var/lib/metalos/provisioning/user.ign";
/// The user config URL for the next provisioning (`--config-url`), one line.
pub const CONFIG_URL: &str = "var/lib/metalos/provisioning/config-url";
/// The `/etc` overlay's directory on the state subvolume.
pub const ETC_STATE: &str = "var/lib/metalos/etc";
/// The `/etc` overlay's upper directory: `upper/X` is `/etc/X`.
pub const ETC_UPPER: &str = "var/lib/metalos/etc/upper";
/// The ESP flag that makes metalos-bootloader request provisioning.
pub const FIRST_BOOT_FLAG: &str = metalos_contract::paths::EspPath::FIRST_BOOT_FLAG.as_str();
