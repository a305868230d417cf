//! Checks of `[disk]` and `[[partitions]]`: sector size, sizes, the seed,
//! slots, labels, types, gptprio fields and content kinds.

use super::disk::{ContentKind, DiskSpec, GptPrioSpec, PartitionSize, PartitionSpec};
use super::partition_types::{type_guid, PARTITION_TYPES};
use crate::error::FieldError;
use crate::size::ByteSize;
use std::collections::BTreeSet;
use uuid::Uuid;

/// Checks the sector size, the disk size and the seed.
pub(super) fn check_disk(disk: &DiskSpec) -> Result<(), FieldError> {
    if disk.sector_size != 512 && disk.sector_size != 4096 {
        return Err(FieldError::new(
            "disk.sector-size",
            format!("{} is not supported (use 512 or 4096)", disk.sector_size),
        ));
    }
    if disk.size.0 == 0 || !disk.size.0.is_multiple_of(disk.sector_size) {
        return Err(FieldError::new(
            "disk.size",
            format!(
                "{} is not a positive multiple of the {}-byte sector size",
                disk.size, disk.sector_size
            ),
        ));
    }
    Uuid::parse_str(&disk.seed)
        .map_err(|_| FieldError::new("disk.seed", format!("{:?} is not a UUID", disk.seed)))?;
    Ok(())
}

/// Checks each partition in order, then that at most one fills the disk.
pub(super) fn check_partitions(
    partitions: &[PartitionSpec],
    sector_size: u64,
) -> Result<(), FieldError> {
    if partitions.is_empty() {
        return Err(FieldError::new(
            "partitions",
            "at least one partition is required",
        ));
    }
    let mut slots = BTreeSet::new();
    let mut labels = BTreeSet::new();
    for (i, p) in partitions.iter().enumerate() {
        let f = |name: &str| format!("partitions[{i}].{name}");
        check_slot(p.slot, &mut slots).map_err(|m| FieldError::new(f("slot"), m))?;
        check_label(&p.label, &mut labels).map_err(|m| FieldError::new(f("label"), m))?;
        check_type(&p.type_name).map_err(|m| FieldError::new(f("type"), m))?;
        check_size(p.size, sector_size).map_err(|m| FieldError::new(f("size"), m))?;
        if let Some(g) = p.gptprio {
            check_gptprio(g).map_err(|(name, m)| FieldError::new(f(name), m))?;
        }
    }
    let fills = partitions
        .iter()
        .filter(|p| p.size == PartitionSize::Fill)
        .count();
    if fills > 1 {
        return Err(FieldError::new(
            "partitions",
            "only one partition may have size = \"fill\"",
        ));
    }
    Ok(())
}

/// At most one partition holds the ESP, one `/usr` and one the OEM data.
pub(super) fn check_content_kinds(partitions: &[PartitionSpec]) -> Result<(), FieldError> {
    for (kind, name) in [
        (ContentKind::Esp, "esp"),
        (ContentKind::Usr, "usr"),
        (ContentKind::Oem, "oem"),
    ] {
        if partitions.iter().filter(|p| p.content == kind).count() > 1 {
            return Err(FieldError::new(
                "partitions",
                format!("only one partition may have content = \"{name}\""),
            ));
        }
    }
    Ok(())
}

fn check_slot(slot: u32, seen: &mut BTreeSet<u32>) -> Result<(), String> {
    if !(1..=128).contains(&slot) {
        return Err(format!("{slot} is outside 1..=128"));
    }
    if !seen.insert(slot) {
        return Err(format!("slot {slot} is used twice"));
    }
    Ok(())
}

fn check_label<'a>(label: &'a str, seen: &mut BTreeSet<&'a str>) -> Result<(), String> {
    if label.is_empty() || label.encode_utf16().count() > 36 {
        return Err("must be 1 to 36 characters".into());
    }
    if !seen.insert(label) {
        return Err(format!("{label:?} is used twice"));
    }
    Ok(())
}

fn check_type(type_name: &str) -> Result<(), String> {
    if type_guid(type_name).is_some() {
        return Ok(());
    }
    let known = PARTITION_TYPES
        .iter()
        .map(|t| t.0)
        .collect::<Vec<_>>()
        .join(", ");
    Err(format!(
        "{type_name:?} is neither a known type name ({known}) nor a GUID"
    ))
}

fn check_size(size: PartitionSize, sector_size: u64) -> Result<(), String> {
    match size {
        PartitionSize::Fixed(ByteSize(0)) => Err("must be larger than 0".into()),
        PartitionSize::Fixed(s) if s.0 % sector_size != 0 => Err(format!(
            "{s} is not a multiple of the {sector_size}-byte sector size"
        )),
        PartitionSize::Fixed(_) | PartitionSize::Fill => Ok(()),
    }
}

/// On error, the field (below the partition) and the message.
fn check_gptprio(g: GptPrioSpec) -> Result<(), (&'static str, String)> {
    if g.priority > 15 {
        return Err((
            "gptprio.priority",
            format!("{} is outside 0..=15", g.priority),
        ));
    }
    if g.tries > 15 {
        return Err(("gptprio.tries", format!("{} is outside 0..=15", g.tries)));
    }
    Ok(())
}
