//! Which disk metalos-bootloader was booted from: the ESP systemd-stub
//! reported (LoaderDevicePartUUID, told apart by the firmware's boot option
//! when several disks carry identical images), else the HostConfig
//! root-disk rule found on some ESP. Never "the first disk".

use crate::{efivar, sys};
use anyhow::{bail, Context, Result};
use metalos_config::hostconfig::RootDisk;
use metalos_disk::blockdev::{self, Disk};
use metalos_disk::esp_partition::EspHandle;

/// The boot disk and its ESP; `prog` names the program on the console.
pub fn boot_disk(prog: &str) -> Result<(Disk, EspHandle)> {
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
            prog,
            &format!(
                "LoaderDevicePartUUID is not available ({e}); using the HostConfig root-disk rule"
            ),
        ),
    }
    by_host_config_rule()
        .context("no LoaderDevicePartUUID and no HostConfig root-disk rule matched")
}

/// Without LoaderDevicePartUUID: the disk named by a HostConfig root-disk
/// rule (serial or disk GUID) found on any disk's ESP.
pub fn by_host_config_rule() -> Result<(Disk, EspHandle)> {
    for disk in blockdev::disks() {
        let Ok((gpt, _)) = blockdev::read_gpt(&disk) else {
            continue;
        };
        let Some(esp) = EspHandle::find(&disk, &gpt) else {
            continue;
        };
        let Ok(Some(config)) = esp.read_host_config() else {
            continue;
        };
        let target = match &config.root_disk {
            RootDisk::BootDisk => continue,
            RootDisk::Serial(s) => blockdev::disks()
                .into_iter()
                .find(|d| blockdev::serial(d).as_deref() == Some(s.as_str())),
            RootDisk::DiskGuid(g) => blockdev::find_disk(g).map(|(d, _)| d),
        };
        let Some(target) = target else { continue };
        let (tgpt, _) = blockdev::read_gpt(&target)?;
        let tesp = EspHandle::find(&target, &tgpt)
            .with_context(|| format!("{} has no ESP", target.dev.display()))?;
        return Ok((target, tesp));
    }
    bail!("no ESP holds a HostConfig whose root-disk rule (serial or disk-guid) matches a disk")
}
