//! First-boot disk work: give the disk and ROOT their own GUIDs (replacing
//! the image's sentinel), and grow ROOT to the end of the disk, moving the
//! backup GPT there.

use metalos_config::spec::type_guid;
use metalos_disk::gpt::{Gpt, GptError};
use metalos_disk::guid::SENTINEL_DISK_GUID;
use metalos_disk::slots::write_synced;
use std::fs::File;
use uuid::Uuid;

/// 1 MiB, the alignment ROOT's end is rounded down to.
const ALIGN: u64 = 1 << 20;

/// A random (v4) GUID. Uses `GRND_INSECURE`: this runs in early boot, where
/// a blocking `getrandom` could wait for the entropy pool for a long time,
/// and GUIDs need uniqueness, not secrecy.
pub fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    const GRND_INSECURE: libc::c_uint = 0x0004;
    // SAFETY: writes at most 16 bytes into our buffer.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), GRND_INSECURE) };
    if n != 16 {
        // Kernels before 5.6: fall back to the (possibly blocking) default.
        return Uuid::new_v4();
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// What [`prepare_disk`] changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirstBootChanges {
    /// New disk GUID, when the sentinel was replaced.
    pub disk_guid: Option<Uuid>,
    /// New ROOT partition GUID.
    pub root_guid: Option<Uuid>,
    /// ROOT's new last sector, when it grew.
    pub root_last_lba: Option<u64>,
}

/// Applies the first-boot changes to `gpt` (in memory) for a disk of
/// `disk_bytes`: random GUIDs when the disk GUID is the sentinel, and ROOT
/// (the last partition on disk, of type root-x86-64) grown to the end.
pub fn plan(gpt: &mut Gpt, disk_bytes: u64) -> Result<FirstBootChanges, GptError> {
    let mut changes = FirstBootChanges::default();
    let root_type = type_guid("root-x86-64").expect("known type");
    if gpt.disk_guid == SENTINEL_DISK_GUID {
        gpt.disk_guid = random_uuid();
        changes.disk_guid = Some(gpt.disk_guid);
        if let Some(root) = gpt.partitions.iter_mut().find(|p| p.type_guid == root_type) {
            root.guid = random_uuid();
            changes.root_guid = Some(root.guid);
        }
    }
    gpt.total_sectors = disk_bytes / gpt.sector_size;
    let last_usable = gpt.last_usable_lba();
    let align = ALIGN / gpt.sector_size;
    let end = ((last_usable + 1) / align * align)
        .saturating_sub(1)
        .max(last_usable.min(align));
    let max_last = gpt.partitions.iter().map(|p| p.last_lba).max().unwrap_or(0);
    if let Some(root) = gpt.partitions.iter_mut().find(|p| p.type_guid == root_type) {
        if root.last_lba == max_last && end > root.last_lba {
            root.last_lba = end;
            changes.root_last_lba = Some(end);
        }
    }
    gpt.validate()?;
    Ok(changes)
}

/// Plans and writes the first-boot changes to the disk (backup table first,
/// at the new end of the disk, then primary), returning what changed.
pub fn prepare_disk(
    disk: &File,
    gpt: &mut Gpt,
    disk_bytes: u64,
) -> Result<FirstBootChanges, GptError> {
    let changes = plan(gpt, disk_bytes)?;
    if changes != FirstBootChanges::default() {
        write_synced(gpt, disk)?;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use metalos_disk::gpt::Partition;

    fn image() -> Gpt {
        let part = |n: u32, t: &str, first: u64, last: u64| Partition {
            number: n,
            type_guid: type_guid(t).unwrap(),
            guid: Uuid::from_u128(n as u128 + 100),
            first_lba: first,
            last_lba: last,
            attributes: 0,
            name: format!("p{n}"),
        };
        Gpt {
            sector_size: 512,
            total_sectors: 2 << 20, // 1 GiB
            disk_guid: SENTINEL_DISK_GUID,
            partitions: vec![
                part(1, "esp", 2048, 264191),
                part(5, "root-x86-64", 264192, 2095103),
            ],
        }
    }

    #[test]
    fn randomizes_and_grows() {
        let mut gpt = image();
        let c = plan(&mut gpt, 3 << 30).unwrap();
        assert_ne!(gpt.disk_guid, SENTINEL_DISK_GUID);
        assert_eq!(c.disk_guid, Some(gpt.disk_guid));
        assert_eq!(gpt.partitions[1].guid, c.root_guid.unwrap());
        assert_eq!(
            gpt.partitions[0].guid,
            Uuid::from_u128(101),
            "ESP keeps its GUID"
        );
        let last = gpt.partitions[1].last_lba;
        assert_eq!((last + 1) % 2048, 0);
        assert!(gpt.last_usable_lba() - last < 2048);
        // A second run changes nothing.
        assert_eq!(
            plan(&mut gpt, 3 << 30).unwrap(),
            FirstBootChanges::default()
        );
    }
}
