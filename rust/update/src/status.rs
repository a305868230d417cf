//! The slots of the running system: their status, marking the booted one
//! good (after an optional health check), rolling back to the other one.

use crate::running::{booted_slot, with_slot_mounted};
use anyhow::{bail, Context, Result};
use metalos_contract::paths::UsrPath;
use metalos_contract::update::os_release_version;
use metalos_disk::blockdev;
use metalos_disk::esp_partition::EspHandle;
use metalos_disk::gptprio::{choose, GptPrio};
use metalos_disk::slots;

/// VERSION_ID of a slot: the running /usr for the booted one, a temporary
/// read-only mount for the other.
fn slot_version(disk: &blockdev::Disk, number: u32, is_booted: bool) -> Option<String> {
    if is_booted {
        return os_release_version(&std::fs::read_to_string(UsrPath::OS_RELEASE.on_host()).ok()?);
    }
    let dev = blockdev::partition_dev(disk, number)?;
    let at = format!("/run/metalos/peek-{number}");
    with_slot_mounted(&dev, &at, |root| {
        std::fs::read_to_string(root.join(UsrPath::OS_RELEASE.in_slot()))
            .ok()
            .and_then(|t| os_release_version(&t))
    })?
}

/// Writes the changed slot table to the disk (backup, then primary, synced).
fn write_table(disk: &blockdev::Disk, gpt: &metalos_disk::gpt::Gpt) -> Result<()> {
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)?;
    slots::write_synced(gpt, &dev)
        .with_context(|| format!("writing the slot table of {}", disk.dev.display()))
}

/// One `/usr` slot as `metalos update status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotStatus {
    /// Partition number.
    pub slot: u32,
    /// Partition label (`USR-A`).
    pub label: String,
    /// Partition GUID.
    pub guid: String,
    /// VERSION_ID of the slot's os-release, when readable.
    pub version: Option<String>,
    /// gptprio priority.
    pub priority: u8,
    /// gptprio tries left.
    pub tries: u8,
    /// gptprio successful.
    pub successful: bool,
    /// The running system booted from it.
    pub booted: bool,
    /// The bootloader picks it next.
    pub next: bool,
}

/// The boot disk's `/usr` slots (device, then each slot).
pub fn status() -> Result<(std::path::PathBuf, Vec<SlotStatus>)> {
    let (disk, gpt, booted) = booted_slot()?;
    let usr = slots::usr_slots(&gpt);
    let prios: Vec<(u32, GptPrio)> = usr
        .iter()
        .map(|p| (p.number, GptPrio::from_attributes(p.attributes)))
        .collect();
    let next = choose(&prios).map(|i| prios[i].0);
    let rows = usr
        .iter()
        .map(|p| {
            let g = GptPrio::from_attributes(p.attributes);
            SlotStatus {
                slot: p.number,
                label: p.name.clone(),
                guid: p.guid.to_string(),
                version: slot_version(&disk, p.number, p.number == booted.number),
                priority: g.priority,
                tries: g.tries,
                successful: g.successful,
                booted: p.number == booted.number,
                next: Some(p.number) == next,
            }
        })
        .collect();
    Ok((disk.dev, rows))
}

/// Marks the booted slot successful, only when `check` (a shell command)
/// exits 0; with `auto`, the HostConfig's `update.mark-good-delay-seconds`
/// and `update.health-check` apply. Returns what happened, for the console.
pub fn mark_good(check: Option<String>, auto: bool) -> Result<String> {
    let (disk, mut gpt, booted) = booted_slot()?;
    let mut check = check;
    if auto {
        let esp = EspHandle::find(&disk, &gpt).context("the boot disk has no ESP")?;
        if let Some(h) = esp.read_host_config()? {
            std::thread::sleep(std::time::Duration::from_secs(
                h.update.mark_good_delay_seconds.into(),
            ));
            check = h.update.health_check.clone();
        }
        // The table may have changed while we waited.
        (_, gpt, _) = booted_slot()?;
    }
    if let Some(cmd) = &check {
        let status = std::process::Command::new("/bin/sh")
            .args(["-c", cmd])
            .status()
            .with_context(|| format!("running {cmd:?}"))?;
        if !status.success() {
            bail!(
                "health check {cmd:?} failed ({status}); slot {} ({}) is not marked good",
                booted.number,
                booted.name
            );
        }
    }
    let before = GptPrio::from_attributes(booted.attributes);
    if before.successful && before.tries == 0 {
        return Ok(format!(
            "slot {} ({}) is already marked good",
            booted.number, booted.name
        ));
    }
    slots::mark_successful(&mut gpt, booted.number);
    write_table(&disk, &gpt)?;
    Ok(format!(
        "slot {} ({}) marked good: {}",
        booted.number,
        booted.name,
        slots::describe(&gpt)
    ))
}

/// Makes the other slot boot next, if it ever booted successfully.
/// Returns what happened, for the console.
pub fn rollback() -> Result<String> {
    let (disk, mut gpt, booted) = booted_slot()?;
    let other = slots::usr_slots(&gpt)
        .into_iter()
        .find(|p| p.number != booted.number)
        .cloned()
        .context("there is no other /usr slot")?;
    let g = GptPrio::from_attributes(other.attributes);
    if !g.successful {
        bail!(
            "slot {} ({}) has never booted successfully; refusing to roll back to it ({})",
            other.number,
            other.name,
            slots::describe(&gpt)
        );
    }
    slots::prioritize(&mut gpt, other.number);
    write_table(&disk, &gpt)?;
    Ok(format!(
        "slot {} ({}) boots next: {}",
        other.number,
        other.name,
        slots::describe(&gpt)
    ))
}

/// When the booted slot is on its one trial boot (not successful, no
/// tries left) and the other slot is successful: what a reboot does (the
/// bootloader skips the booted slot and boots the other: a rollback).
/// `None` otherwise — rebooting would not change the slot.
pub fn failed_trial() -> Result<Option<String>> {
    let (_, gpt, booted) = booted_slot()?;
    let g = GptPrio::from_attributes(booted.attributes);
    if g.successful || g.tries > 0 {
        return Ok(None);
    }
    let other = slots::usr_slots(&gpt)
        .into_iter()
        .find(|p| p.number != booted.number && GptPrio::from_attributes(p.attributes).successful)
        .cloned();
    Ok(other.map(|o| {
        format!(
            "the trial boot of slot {} ({}) failed; slot {} ({}) boots next",
            booted.number, booted.name, o.number, o.name
        )
    }))
}

/// Reboots: through systemd when it runs the system, else `reboot`.
pub fn reboot() -> Result<()> {
    let systemd = std::path::Path::new("/run/systemd/system").is_dir();
    let (cmd, args): (&str, &[&str]) = if systemd {
        ("systemctl", &["reboot"])
    } else {
        ("reboot", &[])
    };
    let status = std::process::Command::new(cmd)
        .args(args)
        .status()
        .with_context(|| format!("running {cmd}"))?;
    if !status.success() {
        bail!("{cmd} {}: {status}", args.join(" "));
    }
    Ok(())
}

/// Whether `slot` is marked successful (gptprio).
pub fn is_successful(slot: &metalos_disk::gpt::Partition) -> bool {
    GptPrio::from_attributes(slot.attributes).successful
}
