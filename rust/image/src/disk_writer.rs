//! Writing the disk image: each placed partition's content (the FAT32 ESP
//! and OEM partition, the squashfs `/usr` and its dm-verity seal), the GPT,
//! and the hashes that the manifest records.

use crate::contents::Contents;
use crate::error::{output_error, BuildError};
use crate::layout::{self, Placement};
use crate::manifest::{FilesystemRecord, PartitionRecord};
use metalos_config::spec::{type_guid, ContentKind, ImageSpec, PartitionSpec};
use metalos_disk::esp::{write_esp, EspFile, EspOptions};
use metalos_disk::gpt::Partition;
use metalos_disk::gptprio::GptPrio;
use metalos_disk::guid::{filesystem_uuid, partition_guid, SENTINEL_DISK_GUID};
use metalos_disk::sparse::{sha256_range, Region};
use metalos_disk::usrfs::{write_squashfs, SquashfsOptions};
use metalos_signing::SigningKey;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use uuid::Uuid;

/// Everything needed to write the partitions into a sized, empty disk file.
pub(crate) struct DiskWriter<'a> {
    /// The (validated) spec.
    pub spec: &'a ImageSpec,
    /// The disk file, already `spec.disk.size` long.
    pub disk: &'a File,
    /// Its path, for error messages.
    pub path: &'a Path,
    /// What goes on the ESP and into `/usr`.
    pub contents: &'a Contents,
    /// Timestamp of every file.
    pub epoch: u64,
    /// Signs the `/usr` slot descriptor, when signing.
    pub key: Option<&'a SigningKey>,
    /// Progress reporting.
    pub progress: &'a dyn Fn(&str),
}

/// The written disk: its sha256 and one record per partition (hashed).
pub(crate) struct WrittenDisk {
    /// sha256 of the whole image.
    pub sha256: String,
    /// One record per placed partition, in placement order.
    pub partitions: Vec<PartitionRecord>,
}

impl DiskWriter<'_> {
    /// Writes every partition and the GPT, syncs, and hashes the result.
    pub(crate) fn write(&self, placements: &[Placement]) -> Result<WrittenDisk, BuildError> {
        let mut records = self.write_partitions(placements)?;
        (self.progress)("hashing the image and its partitions");
        let (sha256, hashes) = hash_all(self.disk, placements, self.spec.disk.size.0)
            .map_err(output_error(self.path))?;
        for (record, hash) in records.iter_mut().zip(hashes) {
            record.sha256 = hash;
        }
        Ok(WrittenDisk {
            sha256,
            partitions: records,
        })
    }

    /// Writes each partition's content, then the GPT listing them all.
    fn write_partitions(
        &self,
        placements: &[Placement],
    ) -> Result<Vec<PartitionRecord>, BuildError> {
        let seed = self.spec.seed();
        let mut gpt = layout::empty_gpt(self.spec, SENTINEL_DISK_GUID);
        let mut records = vec![];
        let mut per_type: BTreeMap<Uuid, u64> = BTreeMap::new();
        for place in placements {
            let p = &self.spec.partitions[place.index];
            let type_guid = type_guid(&p.type_name).expect("validated");
            let nth = per_type.entry(type_guid).or_default();
            let guid = partition_guid(&seed, &type_guid, *nth);
            *nth += 1;
            let filesystem = match p.content {
                ContentKind::Empty => None,
                ContentKind::Esp => Some(self.write_fat(p, place, &guid, &self.contents.esp)?),
                ContentKind::Oem => Some(self.write_fat(p, place, &guid, &self.contents.oem)?),
                ContentKind::Usr => Some(self.write_usr(p, place, &seed)?),
            };
            let entry = gpt_entry(p, place, self.spec.disk.sector_size, type_guid, guid);
            records.push(partition_record(p, place, &entry, filesystem));
            gpt.partitions.push(entry);
        }
        (self.progress)("writing the GPT (protective MBR, primary and backup)");
        gpt.write(self.disk)?;
        self.disk.sync_all().map_err(output_error(self.path))?;
        Ok(records)
    }

    /// Formats a FAT32 partition (the ESP or the OEM partition) holding
    /// `files`; its volume id derives from the partition GUID.
    fn write_fat(
        &self,
        p: &PartitionSpec,
        place: &Placement,
        guid: &Uuid,
        files: &[EspFile],
    ) -> Result<FilesystemRecord, BuildError> {
        let what = if p.content == ContentKind::Oem {
            "OEM partition"
        } else {
            "ESP"
        };
        (self.progress)(&format!(
            "writing the FAT32 {what} into partition {} ({})",
            p.slot, p.label
        ));
        let fs_uuid = filesystem_uuid(guid);
        let volume_id = u32::from_le_bytes(fs_uuid.as_bytes()[..4].try_into().unwrap());
        let esp_options = EspOptions {
            sector_size: self.spec.disk.sector_size,
            volume_id,
            label: p
                .label
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(11)
                .collect(),
            mtime: self.epoch,
        };
        let region = Region::new(self.disk, place.offset, place.size);
        write_esp(region, &esp_options, files).map_err(|e| partition_error(p, e.to_string()))?;
        Ok(FilesystemRecord {
            kind: "vfat".into(),
            id: Some(format!(
                "{:04X}-{:04X}",
                volume_id >> 16,
                volume_id & 0xffff
            )),
            bytes_used: place.size,
        })
    }

    /// Writes the squashfs `/usr`, then seals the slot (dm-verity tree and
    /// slot descriptor).
    fn write_usr(
        &self,
        p: &PartitionSpec,
        place: &Placement,
        seed: &Uuid,
    ) -> Result<FilesystemRecord, BuildError> {
        (self.progress)(&format!(
            "writing the squashfs /usr into partition {} ({})",
            p.slot, p.label
        ));
        let sq = SquashfsOptions {
            zstd_level: self.spec.usr.compression_level,
            mtime: u32::try_from(self.epoch).unwrap_or(u32::MAX),
        };
        let region = Region::new(self.disk, place.offset, place.size);
        let info = write_squashfs(region, &self.contents.usr, sq)
            .map_err(|e| partition_error(p, e.to_string()))?;
        (self.progress)(&format!("sealing /usr slot {} (dm-verity tree)", p.slot));
        crate::verity::seal_usr_slot(
            self.disk,
            place.offset,
            place.size,
            info.bytes_used,
            seed,
            &self.contents.usr,
            self.key,
        )
        .map_err(|m| partition_error(p, m))?;
        Ok(FilesystemRecord {
            kind: info.kind.into(),
            id: None,
            bytes_used: info.bytes_used,
        })
    }
}

fn partition_error(p: &PartitionSpec, message: String) -> BuildError {
    BuildError::Partition {
        slot: p.slot,
        label: p.label.clone(),
        message,
    }
}

/// The GPT entry of a placed partition.
fn gpt_entry(
    p: &PartitionSpec,
    place: &Placement,
    sector_size: u64,
    type_guid: Uuid,
    guid: Uuid,
) -> Partition {
    let first_lba = place.offset / sector_size;
    Partition {
        number: p.slot,
        type_guid,
        guid,
        first_lba,
        last_lba: first_lba + place.size / sector_size - 1,
        attributes: gptprio_attributes(p),
        name: p.label.clone(),
    }
}

/// The GPT attribute bits: the gptprio fields, if any.
fn gptprio_attributes(p: &PartitionSpec) -> u64 {
    p.gptprio
        .map(|g| {
            GptPrio {
                priority: g.priority,
                tries: g.tries,
                successful: g.successful,
            }
            .apply(0)
        })
        .unwrap_or(0)
}

/// The manifest record of a partition (hashed later).
fn partition_record(
    p: &PartitionSpec,
    place: &Placement,
    entry: &Partition,
    filesystem: Option<FilesystemRecord>,
) -> PartitionRecord {
    PartitionRecord {
        slot: p.slot,
        label: p.label.clone(),
        type_name: p.type_name.clone(),
        type_guid: entry.type_guid.to_string(),
        guid: entry.guid.to_string(),
        offset: place.offset,
        size: place.size,
        attributes: format!("{:#018x}", entry.attributes),
        content: format!("{:?}", p.content).to_lowercase(),
        filesystem,
        sha256: String::new(),
    }
}

/// sha256 of the whole disk and of each placed partition, computed on two
/// threads (whole disk | partitions) since the machine has few cores.
fn hash_all(
    disk: &File,
    placements: &[Placement],
    size: u64,
) -> std::io::Result<(String, Vec<String>)> {
    std::thread::scope(|s| {
        let whole = s.spawn(|| sha256_range(disk, 0, size));
        let parts: std::io::Result<Vec<String>> = placements
            .iter()
            .map(|p| sha256_range(disk, p.offset, p.size))
            .collect();
        Ok((whole.join().expect("hash thread")?, parts?))
    })
}
