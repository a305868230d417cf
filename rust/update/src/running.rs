//! The running system, as the update sees it: its boot disk and booted
//! `/usr` slot (from the kernel command line metalos-bootloader wrote),
//! and a read-only look into another slot.

use anyhow::Result;
use metalos_disk::blockdev::{self, Disk};
use metalos_disk::gpt::{Gpt, Partition};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::Path;

/// The running system's boot disk, its table and the booted `/usr` slot.
pub fn booted_slot() -> Result<(Disk, Gpt, Partition)> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    blockdev::booted_slot(&cmdline).map_err(anyhow::Error::msg)
}

/// Runs `f` on the squashfs `dev` mounted read-only at `at` (created if
/// missing), unmounted again afterwards; `None` when it cannot be mounted.
pub fn with_slot_mounted<T>(dev: &Path, at: &str, f: impl FnOnce(&Path) -> T) -> Option<T> {
    std::fs::create_dir_all(at).ok()?;
    mount(
        Some(dev),
        at,
        Some("squashfs"),
        MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .ok()?;
    let out = f(Path::new(at));
    let _ = umount2(at, MntFlags::MNT_DETACH);
    Some(out)
}
