//! Booting a `/usr` slot: check its descriptor ([`crate::slotverify`]),
//! copy its boot payload (`lib/metalos/boot/{vmlinuz,initrd.img,cmdline}`)
//! out through dm-verity ([`crate::slotread`]) and kexec the slot's kernel
//! with the arguments metalinit needs. Shared by metalos-bootloader (disk
//! boot) and metalimage (after imaging), so both hand over alike. A
//! rejected slot comes back as a [`SlotRejected`] error for the caller to
//! fall back.

use crate::slotverify::verify_descriptor;
pub use crate::slotverify::SlotRejected;
use crate::{kexec, slotread, sys};
use anyhow::{Context, Result};
use metalos_config::HostConfig;
use metalos_disk::blockdev::{self, Disk};
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::guid::SENTINEL_DISK_GUID;

/// The kernel command line for the slot's kernel: the slot's own
/// `cmdline`, the HostConfig's extra arguments, then what metalinit reads
/// (`metalos.usr`, `metalos.root_disk`, `metalos.boot_disk`,
/// `metalos.first_boot`, `metalos.randomize_guid`, `metalos.emergency`;
/// [`boot_slot`] adds `metalos.verity` and `metalos.oem.id`, see
/// [`crate::oemid`]),
/// and `systemd.machine_id=` from the HostConfig (systemd takes the id from
/// there on the provisioning boot, when `/etc/machine-id` is
/// `uninitialized` so that it applies presets; see metalinit).
pub fn slot_cmdline(
    slot_cmdline: &str,
    host_config: Option<&HostConfig>,
    slot: &Partition,
    gpt: &Gpt,
    boot_disk_path: Option<&str>,
    first_boot: bool,
    current_cmdline: &str,
) -> String {
    let mut args = vec![slot_cmdline.trim().to_string()];
    if let Some(extra) = host_config
        .map(|h| h.kernel_cmdline_extra())
        .filter(|e| !e.is_empty())
    {
        args.push(extra);
    }
    args.push(format!("metalos.usr=PARTUUID={}", slot.guid));
    args.push(format!("metalos.root_disk={}", gpt.disk_guid));
    if let Some(path) = boot_disk_path {
        args.push(format!("metalos.boot_disk={path}"));
    }
    if first_boot {
        args.push("metalos.first_boot=detected".into());
    }
    if gpt.disk_guid == SENTINEL_DISK_GUID {
        args.push(format!("metalos.randomize_guid={SENTINEL_DISK_GUID}"));
    }
    if let Some(h) = host_config {
        args.push(format!("systemd.machine_id={}", h.identity.machine_id));
    }
    if let Some(a) = sys::cmdline_value(current_cmdline, "metalos.emergency") {
        args.push(format!("metalos.emergency={a}"));
    }
    args.retain(|a| !a.is_empty());
    args.join(" ")
}

/// Reads the platform id ([`crate::oemid`]; a damaged OEM partition is an
/// error), verifies `slot` of `disk` while copying its payload out and
/// kexecs it. Returns only on failure; a failed verification is a
/// [`SlotRejected`] (`anyhow::Error::downcast_ref`).
pub fn boot_slot(
    prog: &str,
    disk: &Disk,
    gpt: &Gpt,
    slot: &Partition,
    host_config: Option<&HostConfig>,
    first_boot: bool,
    current_cmdline: &str,
) -> Result<()> {
    let oem_id = crate::oemid::slot_oem_id(prog, disk, gpt, host_config)?;
    let part_dev = blockdev::wait_for_partition(disk, slot.number)?;
    let verity = verify_descriptor(prog, &part_dev, slot.number)?;
    let payload = slotread::read_payload(prog, &part_dev, slot.number, verity.as_ref())?;
    let pci = blockdev::pci_path(disk);
    let cmdline = slot_cmdline(
        &payload.cmdline,
        host_config,
        slot,
        gpt,
        pci.as_deref(),
        first_boot,
        current_cmdline,
    );
    let cmdline = match &verity {
        Some(d) => format!("{cmdline} metalos.verity={}", d.cmdline_value()),
        None => cmdline,
    };
    let cmdline = crate::oemid::with_oem_id(cmdline, oem_id.as_deref());
    let kernel = payload.kernel();
    sys::say(prog, &format!("kexec {} with: {cmdline}", kernel.display()));
    Err(kexec::kexec(&kernel, &payload.initrd(), &cmdline)).context("kexec into the slot's kernel")
}
