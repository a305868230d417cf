//! `metalos-bootloader`: PID 1 of the bootloader UKI's initrd. Finds the
//! disk it was booted from, picks the `/usr` slot by gptprio (counting the
//! attempt down first), verifies it (descriptor signature, dm-verity tree,
//! payload sha256; a failed slot is marked unbootable and the next one is
//! tried) and kexecs the slot's kernel + setup initrd.

use anyhow::{bail, Context, Result};
use metalos_boot::blockdev::{self, Disk};
use metalos_boot::emergency::{pid1_main, Policy};
use metalos_boot::esp::EspHandle;
use metalos_boot::slotboot::SlotRejected;
use metalos_boot::{efivar, modules, slots, sys};
use std::time::Duration;

const PROG: &str = "metalos-bootloader";

fn main() {
    pid1_main(PROG, run);
}

fn run(cmdline: &str, policy: &mut Policy) -> Result<()> {
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
    let (disk, esp) = boot_disk().context("finding the boot disk")?;
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
    let first_boot = esp.exists(metalos_contract::paths::EspPath::FIRST_BOOT_FLAG.as_str());

    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)
        .with_context(|| format!("opening {}", disk.dev.display()))?;
    let size = blockdev::device_size(&file)?;
    let (mut gpt, health) = metalos_disk::gpt::Gpt::read(&file, size)
        .with_context(|| format!("reading the GPT of {}", disk.dev.display()))?;
    if let Some(e) = &health.primary_error {
        sys::say(
            PROG,
            &format!("primary GPT damaged ({e}); using the backup"),
        );
    }
    // A damaged table copy is rewritten with the first table write.
    let mut repair = health.primary_error.is_some() || health.backup_error.is_some();
    // Slots failing verification are marked unbootable; the next by gptprio is tried.
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
            slots::write_synced(&gpt, &file).context("recording the boot attempt")?;
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
        let err = match metalos_boot::slotboot::boot_slot(
            PROG,
            &disk,
            &gpt,
            &slot,
            host_config.as_ref(),
            first_boot,
            cmdline,
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
        slots::write_synced(&gpt, &file).context("marking the slot unbootable")?;
    }
}

/// The disk we booted from: the ESP systemd-stub reported, else the
/// HostConfig root-disk rule found on some ESP. Never "the first disk".
fn boot_disk() -> Result<(Disk, EspHandle)> {
    match efivar::loader_device_part_uuid() {
        Ok(guid) => {
            // Identical images on several disks share partition GUIDs: the
            // firmware's boot option (its PCI path) tells them apart.
            let hint = efivar::boot_current_pci_chain().ok().and_then(|chain| {
                let disks = blockdev::disk_for_pci_chain(&chain);
                (disks.len() == 1)
                    .then(|| blockdev::pci_path(&disks[0]))
                    .flatten()
            });
            let (disk, gpt, part) = blockdev::find_partition_on(&guid, hint.as_deref())
                .map_err(|e| anyhow::anyhow!("the firmware booted from ESP {guid}: {e}"))?;
            return Ok((disk.clone(), EspHandle::new(disk, &gpt, part)));
        }
        Err(e) => sys::say(
            PROG,
            &format!(
                "LoaderDevicePartUUID is not available ({e}); using the HostConfig root-disk rule"
            ),
        ),
    }
    metalos_boot::esp::by_host_config_rule()
        .context("no LoaderDevicePartUUID and no HostConfig root-disk rule matched")
}
