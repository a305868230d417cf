//! Writing the disk image: the GPT first, then each placed partition's
//! content on its own thread (the FAT32 ESP and OEM partition, the
//! squashfs `/usr` and its dm-verity seal), while [`crate::disk_hash`]
//! hashes the whole disk as its pieces become final; the partitions are
//! hashed last.

use crate::contents::Contents;
use crate::disk_hash::{partition_digests, Ready, WholeDisk};
use crate::error::{output_error, BuildError};
use crate::layout::{self, Placement};
use crate::manifest::{FilesystemRecord, PartitionRecord};
use metalos_config::spec::{type_guid, ContentKind, ImageSpec, PartitionSpec};
use metalos_disk::esp::{write_esp, EspFile, EspOptions};
use metalos_disk::gpt::Partition;
use metalos_disk::gptprio::GptPrio;
use metalos_disk::guid::{filesystem_uuid, partition_guid, SENTINEL_DISK_GUID};
use metalos_disk::sparse::Region;
use metalos_disk::usrfs::{write_squashfs, SquashfsOptions};
use metalos_signing::SigningKey;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::thread::Scope;
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

/// What the partition-writing threads share (the progress callback stays
/// on the calling thread).
struct PartWriter<'a> {
    spec: &'a ImageSpec,
    disk: &'a File,
    contents: &'a Contents,
    epoch: u64,
    key: Option<&'a SigningKey>,
}

impl DiskWriter<'_> {
    /// Writes the GPT and every partition, hashing them meanwhile. Once
    /// all partitions are written, `then` runs with their records (not
    /// hashed yet) while the hashing and the sync finish.
    pub(crate) fn write<T>(
        &self,
        placements: &[Placement],
        then: impl FnOnce(&[PartitionRecord]) -> Result<T, BuildError>,
    ) -> Result<(WrittenDisk, T), BuildError> {
        let entries = self.gpt_entries(placements);
        (self.progress)("writing the GPT (protective MBR, primary and backup)");
        let mut gpt = layout::empty_gpt(self.spec, SENTINEL_DISK_GUID);
        gpt.partitions = entries.clone();
        // First: the bytes outside the partitions are final from here on.
        gpt.write(self.disk)?;
        std::thread::scope(|s| self.write_and_hash(s, placements, &entries, then))
    }

    /// The GPT entry of each placed partition (GUIDs from the seed).
    fn gpt_entries(&self, placements: &[Placement]) -> Vec<Partition> {
        let seed = self.spec.seed();
        let mut per_type: BTreeMap<Uuid, u64> = BTreeMap::new();
        placements
            .iter()
            .map(|place| {
                let p = &self.spec.partitions[place.index];
                let type_guid = type_guid(&p.type_name).expect("validated");
                let nth = per_type.entry(type_guid).or_default();
                let guid = partition_guid(&seed, &type_guid, *nth);
                *nth += 1;
                gpt_entry(p, place, self.spec.disk.sector_size, type_guid, guid)
            })
            .collect()
    }

    fn write_and_hash<'s, T>(
        &'s self,
        s: &'s Scope<'s, '_>,
        placements: &[Placement],
        entries: &[Partition],
        then: impl FnOnce(&[PartitionRecord]) -> Result<T, BuildError>,
    ) -> Result<(WrittenDisk, T), BuildError> {
        let empty: Vec<bool> = placements
            .iter()
            .map(|place| self.spec.partitions[place.index].content == ContentKind::Empty)
            .collect();
        let whole = WholeDisk::start(s, self.disk, self.spec.disk.size.0, placements);
        let filesystems = self.write_contents(placements, entries, &whole.ready())?;
        let mut records: Vec<PartitionRecord> = placements
            .iter()
            .zip(entries)
            .zip(filesystems)
            .map(|((place, entry), fs)| {
                partition_record(&self.spec.partitions[place.index], place, entry, fs)
            })
            .collect();
        (self.progress)("hashing the image and its partitions");
        let sync = s.spawn(|| self.disk.sync_all());
        // While the whole disk is being hashed on its thread.
        let out = then(&records)?;
        let hashes =
            partition_digests(self.disk, placements, &empty).map_err(output_error(self.path))?;
        let sha256 = whole.finish().map_err(output_error(self.path))?;
        sync.join()
            .expect("sync thread")
            .map_err(output_error(self.path))?;
        for (record, hash) in records.iter_mut().zip(hashes) {
            record.sha256 = hash;
        }
        let written = WrittenDisk {
            sha256,
            partitions: records,
        };
        Ok((written, out))
    }

    /// Writes every partition with content, each on its own thread, and
    /// reports each to `ready` once written (the empty ones at once).
    /// The first error in placement order wins.
    fn write_contents(
        &self,
        placements: &[Placement],
        entries: &[Partition],
        ready: &Ready,
    ) -> Result<Vec<Option<FilesystemRecord>>, BuildError> {
        let writer = PartWriter {
            spec: self.spec,
            disk: self.disk,
            contents: self.contents,
            epoch: self.epoch,
            key: self.key,
        };
        let writer = &writer;
        std::thread::scope(|s| {
            let mut threads = vec![];
            for (i, (place, entry)) in placements.iter().zip(entries).enumerate() {
                let p = &self.spec.partitions[place.index];
                let Some(what) = content_step(p) else {
                    ready.partition(i);
                    threads.push(None);
                    continue;
                };
                (self.progress)(&what);
                let ready = ready.clone();
                threads.push(Some(s.spawn(move || {
                    let fs = writer.write(p, place, &entry.guid)?;
                    ready.partition(i);
                    Ok(fs)
                })));
            }
            threads
                .into_iter()
                .map(|t| match t {
                    Some(t) => t.join().expect("partition writer").map(Some),
                    None => Ok(None),
                })
                .collect()
        })
    }
}

/// The progress line for writing a partition's content; `None` for an
/// empty partition.
fn content_step(p: &PartitionSpec) -> Option<String> {
    let what = match p.content {
        ContentKind::Empty => return None,
        ContentKind::Esp => "the FAT32 ESP",
        ContentKind::Oem => "the FAT32 OEM partition",
        ContentKind::Usr => "the squashfs /usr",
    };
    let seal = if p.content == ContentKind::Usr {
        " and sealing it (dm-verity tree)"
    } else {
        ""
    };
    Some(format!(
        "writing {what} into partition {} ({}){seal}",
        p.slot, p.label
    ))
}

impl PartWriter<'_> {
    /// Writes the content of partition `p` (not empty).
    fn write(
        &self,
        p: &PartitionSpec,
        place: &Placement,
        guid: &Uuid,
    ) -> Result<FilesystemRecord, BuildError> {
        match p.content {
            ContentKind::Esp => self.write_fat(p, place, guid, &self.contents.esp),
            ContentKind::Oem => self.write_fat(p, place, guid, &self.contents.oem),
            ContentKind::Usr => self.write_usr(p, place, &self.spec.seed()),
            ContentKind::Empty => unreachable!("empty partitions are not written"),
        }
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
        let sq = SquashfsOptions {
            zstd_level: self.spec.usr.compression_level,
            mtime: u32::try_from(self.epoch).unwrap_or(u32::MAX),
        };
        let region = Region::new(self.disk, place.offset, place.size);
        let info = write_squashfs(region, &self.contents.usr, sq)
            .map_err(|e| partition_error(p, e.to_string()))?;
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
