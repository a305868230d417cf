//! Making a staged slot the next boot: at once (`metalos update stage`),
//! or later from the record a `--no-activate` stage left on the ESP
//! (`metalos update activate`, what the update agent does once its
//! strategy allows a reboot). Until then the slot stays disabled, so an
//! unrelated reboot boots the old slot.

use crate::fault::fault_point;
use crate::target::{hash_range, target_disk};
use anyhow::{bail, Context, Result};
use metalos_contract::paths::EspPath;
use metalos_contract::update::StagedUpdate;
use metalos_disk::esp_partition::EspHandle;
use metalos_disk::gpt::Gpt;
use metalos_disk::slots;
use std::path::Path;

const RECORD: &str = EspPath::STAGED_UPDATE.as_str();
/// A record is a few hundred bytes; anything larger is not ours.
const RECORD_MAX_LEN: u64 = 64 << 10;

/// Removes the record of an earlier staged update, if any.
pub(crate) fn forget(esp: &EspHandle) -> Result<()> {
    if esp.exists(RECORD) {
        esp.remove(RECORD)
            .with_context(|| format!("removing the old {RECORD}"))?;
    }
    Ok(())
}

/// Writes the record of a staged, disabled slot.
pub(crate) fn remember(esp: &EspHandle, record: &StagedUpdate) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(record)?;
    text.push(b'\n');
    esp.write(RECORD, &text)
        .with_context(|| format!("writing {RECORD} on the ESP"))
}

/// The staged update recorded on `esp`, if any.
pub fn staged(esp: &EspHandle) -> Result<Option<StagedUpdate>> {
    if !esp.exists(RECORD) {
        return Ok(None);
    }
    let bytes = esp
        .read(RECORD, RECORD_MAX_LEN)
        .with_context(|| format!("reading {RECORD} on the ESP"))?;
    StagedUpdate::parse(&bytes)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{RECORD} on the ESP: {e}"))
}

/// The staged update of the running system (or of `disk`), if any.
pub fn staged_on(disk: Option<&Path>) -> Result<Option<StagedUpdate>> {
    let (disk, gpt, _) = target_disk(disk)?;
    match EspHandle::find(&disk, &gpt) {
        Some(esp) => staged(&esp),
        None => Ok(None),
    }
}

/// `metalos update activate`: checks that the slot a `--no-activate`
/// stage wrote still holds exactly the verified bytes (read back from the
/// medium) and the staged bootloader is intact, then gives the slot one
/// trial boot and swaps the bootloader in.
pub fn activate(disk: Option<&Path>, progress: &mut dyn FnMut(&str)) -> Result<StagedUpdate> {
    let (disk, mut gpt, booted) = target_disk(disk)?;
    let esp = EspHandle::find(&disk, &gpt).context("the boot disk has no ESP")?;
    let record = staged(&esp)?.with_context(|| {
        format!(
            "nothing is staged on {}: run `metalos update stage --no-activate BUNDLE` first",
            disk.dev.display()
        )
    })?;
    let Some(target) = gpt
        .partitions
        .iter()
        .find(|p| p.number == record.slot && p.guid.to_string() == record.partition_guid)
        .cloned()
    else {
        bail!(
            "{RECORD} names slot {} ({}), which {} no longer has; stage again",
            record.slot,
            record.partition_guid,
            disk.dev.display()
        );
    };
    if target.number == booted.number {
        bail!(
            "slot {} ({}) is the booted one: version {} is already running",
            target.number,
            target.name,
            record.version
        );
    }
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)
        .with_context(|| format!("opening {}", disk.dev.display()))?;
    progress(&format!(
        "checking slot {} ({}) against version {}'s sha256",
        target.number, target.name, record.version
    ));
    let back = hash_range(
        &disk.dev,
        target.first_lba * gpt.sector_size,
        record.usr.size,
    )?;
    if back != record.usr.sha256 {
        bail!(
            "slot {} ({}) gives sha256 {back}, version {} was {}; it stays disabled: stage again",
            target.number,
            target.name,
            record.version,
            record.usr.sha256
        );
    }
    if let Some(bl) = &record.bootloader {
        crate::bootloader::check_staged(&esp, bl)?;
    }
    make_next_boot(&dev, &mut gpt, &esp, &record, progress)?;
    Ok(record)
}

/// One trial boot at the highest priority for the record's slot (backup
/// table, then primary), then the waiting bootloader; the record goes.
pub(crate) fn make_next_boot(
    dev: &std::fs::File,
    gpt: &mut Gpt,
    esp: &EspHandle,
    record: &StagedUpdate,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    fault_point("before-table");
    slots::stage_for_trial(gpt, record.slot);
    slots::write_synced_with(gpt, dev, || fault_point("between-headers"))
        .context("updating the slot table")?;
    progress(&format!(
        "slot {} (version {}) boots next, once: {}",
        record.slot,
        record.version,
        slots::describe(gpt)
    ));
    if record.bootloader.is_some() {
        crate::bootloader::swap_in_staged(esp)?;
        progress("bootloader updated (previous kept as EFI/BOOT/BOOTX64.PRV)");
    }
    forget(esp)
}
