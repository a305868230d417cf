//! `metalos-bootloader`, PID 1 of the bootloader UKI's initrd, stage by
//! stage. Finds the disk it was booted from ([`bootdisk`]), picks the
//! `/usr` slot by gptprio (counting the attempt down first), verifies it
//! (descriptor signature, then the payload read through dm-verity and its
//! sha256; a failed slot is marked unbootable and the next one is tried)
//! and kexecs the slot's
//! kernel + setup initrd ([`crate::slotboot`]), telling it the platform id
//! (`metalos.oem.id=`, from the HostConfig or the OEM partition:
//! [`crate::oemid`]).
//!
//! * [`bootdisk`]: which disk (and ESP) the firmware booted.

pub mod bootdisk;

use crate::emergency::Policy;
use crate::slotboot::{self, SlotRejected};
use crate::{modules, sys};
use anyhow::{bail, Context, Result};
use metalos_config::HostConfig;
use metalos_disk::blockdev::{self, Disk};
use metalos_disk::esp_partition::FIRST_BOOT_FLAG;
use metalos_disk::gpt::Gpt;
use metalos_disk::slots;
use std::fs::File;
use std::time::Duration;

/// The program name on the console.
pub const PROG: &str = "metalos-bootloader";

/// What booting a slot of the boot disk needs besides the table.
struct BootDisk<'a> {
    disk: Disk,
    /// The disk, open for reading and writing the table.
    file: File,
    host_config: Option<HostConfig>,
    first_boot: bool,
    cmdline: &'a str,
}

/// metalos-bootloader's `run` for [`crate::emergency::pid1_main`]: returns
/// only on failure (success is a kexec).
pub fn run(cmdline: &str, policy: &mut Policy) -> Result<()> {
    start()?;
    let (disk, esp) = bootdisk::boot_disk(PROG).context("finding the boot disk")?;
    sys::say(
        PROG,
        &format!(
            "boot disk {} (ESP partition {})",
            disk.dev.display(),
            esp.number
        ),
    );
    let host_config = esp.read_host_config()?;
    if let Some(h) = &host_config {
        policy.apply_host_config(h);
    }
    let first_boot = esp.exists(FIRST_BOOT_FLAG);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)
        .with_context(|| format!("opening {}", disk.dev.display()))?;
    let (gpt, repair) = read_table(&disk, &file)?;
    let boot = BootDisk {
        disk,
        file,
        host_config,
        first_boot,
        cmdline,
    };
    boot_first_good_slot(&boot, gpt, repair)
}

/// The API filesystems, the initrd's modules, efivarfs (for
/// LoaderDevicePartUUID) and at least one disk.
fn start() -> Result<()> {
    sys::mount_api_filesystems().context("mounting /proc, /sys, /dev, /run")?;
    sys::say(PROG, "started");
    modules::load_all().context("loading the initrd's kernel modules")?;
    if let Err(e) = sys::mount_efivarfs() {
        sys::say(
            PROG,
            &format!("efivarfs unavailable ({e}); LoaderDevicePartUUID cannot be read"),
        );
    }
    if blockdev::wait_for_disks(Duration::from_secs(10)).is_empty() {
        bail!("no disks found after loading the storage drivers");
    }
    Ok(())
}

/// The boot disk's GPT, and whether a damaged copy must be rewritten
/// (which the first table write does).
fn read_table(disk: &Disk, file: &File) -> Result<(Gpt, bool)> {
    let size = metalos_disk::device::size(file)?;
    let (gpt, health) = Gpt::read(file, size)
        .with_context(|| format!("reading the GPT of {}", disk.dev.display()))?;
    if let Some(e) = &health.primary_error {
        sys::say(
            PROG,
            &format!("primary GPT damaged ({e}); using the backup"),
        );
    }
    let repair = health.primary_error.is_some() || health.backup_error.is_some();
    Ok((gpt, repair))
}

/// Boots the slot gptprio chooses (its try counted down on disk first).
/// Slots failing verification are marked unbootable and the next one by
/// gptprio is tried; returns only when none is left or on another error.
fn boot_first_good_slot(boot: &BootDisk, mut gpt: Gpt, mut repair: bool) -> Result<()> {
    let mut rejected: Vec<String> = vec![];
    loop {
        let (slot, changed) = match slots::choose_slot(&mut gpt) {
            Ok(x) => x,
            Err(e) if !rejected.is_empty() => {
                bail!("no good /usr slot left ({}); {e}", rejected.join("; "))
            }
            Err(e) => return Err(e.into()),
        };
        if changed || repair {
            slots::write_synced(&gpt, &boot.file).context("recording the boot attempt")?;
            repair = false;
        }
        sys::say(
            PROG,
            &format!(
                "booting /usr slot {} ({}) — {}",
                slot.number,
                slot.name,
                slots::describe(&gpt)
            ),
        );
        let err = match slotboot::boot_slot(
            PROG,
            &boot.disk,
            &gpt,
            &slot,
            boot.host_config.as_ref(),
            boot.first_boot,
            boot.cmdline,
        ) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let Some(r) = err.downcast_ref::<SlotRejected>() else {
            return Err(err);
        };
        sys::say(
            PROG,
            &format!(
                "NOT BOOTING /usr slot {} ({}): {}; marking it unbootable (priority 0)",
                slot.number, slot.name, r.reason
            ),
        );
        rejected.push(r.to_string());
        slots::disable(&mut gpt, slot.number);
        slots::write_synced(&gpt, &boot.file).context("marking the slot unbootable")?;
    }
}
