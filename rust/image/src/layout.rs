//! Placing the spec's partitions on the disk: slot order, 1 MiB alignment,
//! one optional `fill` partition taking what is left.

use metalos_config::spec::{ImageSpec, PartitionSize};
use metalos_config::FieldError;
use metalos_disk::gpt::{Gpt, ENTRY_COUNT, ENTRY_SIZE};

/// Partition alignment.
pub const ALIGN: u64 = 1 << 20;

/// Where one spec partition lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Index into `spec.partitions`.
    pub index: usize,
    /// First byte on the disk.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Computes placements in slot order. Errors name the partition that does
/// not fit.
pub fn place(spec: &ImageSpec) -> Result<Vec<Placement>, FieldError> {
    let ss = spec.disk.sector_size;
    let total = spec.disk.size.0;
    let array = u64::from(ENTRY_COUNT * ENTRY_SIZE).div_ceil(ss) * ss;
    // Usable bytes: after LBA 0, 1 and the primary array; before the backup.
    let usable_end = total
        .checked_sub(ss + array)
        .filter(|e| *e > ALIGN)
        .ok_or_else(|| {
            FieldError::new(
                "disk.size",
                format!(
                    "{} bytes cannot hold a GPT and 1 MiB-aligned partitions",
                    total
                ),
            )
        })?;
    let usable_end = usable_end / ss * ss;
    let mut order: Vec<usize> = (0..spec.partitions.len()).collect();
    order.sort_by_key(|i| spec.partitions[*i].slot);

    let fixed: u64 = spec
        .partitions
        .iter()
        .filter_map(|p| match p.size {
            PartitionSize::Fixed(s) => Some(s.0.div_ceil(ALIGN) * ALIGN),
            PartitionSize::Fill => None,
        })
        .sum();
    let mut out = vec![];
    let mut offset = ALIGN;
    for i in order {
        let p = &spec.partitions[i];
        let size = match p.size {
            PartitionSize::Fixed(s) => s.0,
            PartitionSize::Fill => {
                let rest = usable_end.saturating_sub(ALIGN + fixed) / ALIGN * ALIGN;
                if rest == 0 {
                    return Err(FieldError::new(format!("partitions[{i}].size"), format!(
                        "\"fill\" leaves no room: the other partitions take {} MiB of the {} MiB usable",
                        fixed >> 20, (usable_end - ALIGN) >> 20
                    )));
                }
                rest
            }
        };
        if offset + size > usable_end {
            return Err(FieldError::new(format!("partitions[{i}].size"), format!(
                "partition {} ({:?}) does not fit: it would end at byte {} but the disk's usable area ends at {} (disk.size = {})",
                p.slot, p.label, offset + size, usable_end, spec.disk.size
            )));
        }
        out.push(Placement {
            index: i,
            offset,
            size,
        });
        offset = (offset + size).div_ceil(ALIGN) * ALIGN;
    }
    Ok(out)
}

/// An empty GPT model of the right geometry (partitions added by the caller).
pub fn empty_gpt(spec: &ImageSpec, disk_guid: uuid::Uuid) -> Gpt {
    Gpt {
        sector_size: spec.disk.sector_size,
        total_sectors: spec.disk.size.0 / spec.disk.sector_size,
        disk_guid,
        partitions: vec![],
    }
}
