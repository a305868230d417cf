//! GUID Partition Table: in-memory model, serialisation (protective MBR,
//! primary and backup headers and entry arrays) and a validating reader
//! that falls back to the backup table when the primary is damaged.

use crate::guid::{from_gpt_bytes, to_gpt_bytes};
use crate::readat::{ReadAt, WriteAt};
use uuid::Uuid;

/// Size of one partition entry on disk.
pub const ENTRY_SIZE: u32 = 128;
/// Number of entries in the array (the UEFI minimum and everyone's default).
pub const ENTRY_COUNT: u32 = 128;
const HEADER_SIZE: u32 = 92;
const SIGNATURE: &[u8; 8] = b"EFI PART";
const REVISION: u32 = 0x0001_0000;
/// Largest entry array the reader accepts (entries × entry size): 4096
/// entries of 256 bytes. Bounds what a corrupt header makes PID 1 allocate.
const MAX_ENTRY_ARRAY: u64 = 1 << 20;
/// Longest partition label, in UTF-16 code units.
pub const MAX_LABEL_UNITS: usize = 36;

/// One partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based slot number (index in the entry array + 1).
    pub number: u32,
    /// Partition type GUID.
    pub type_guid: Uuid,
    /// Unique partition GUID.
    pub guid: Uuid,
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
    /// 64-bit attribute word (gptprio lives in bits 48–56).
    pub attributes: u64,
    /// Label (at most 36 UTF-16 code units).
    pub name: String,
}

impl Partition {
    /// Number of sectors.
    pub fn sectors(&self) -> u64 {
        self.last_lba + 1 - self.first_lba
    }
}

/// A whole partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    /// Logical sector size in bytes (512 or 4096).
    pub sector_size: u64,
    /// Sectors on the disk.
    pub total_sectors: u64,
    /// Disk GUID.
    pub disk_guid: Uuid,
    /// Used entries, sorted by number.
    pub partitions: Vec<Partition>,
}

/// Errors reading or validating a GPT.
#[derive(Debug, thiserror::Error)]
pub enum GptError {
    /// I/O failure.
    #[error("I/O error on the disk image: {0}")]
    Io(#[from] std::io::Error),
    /// Neither the primary nor the backup table is valid.
    #[error("no valid GPT found: primary: {primary}; backup: {backup}")]
    NoValidTable {
        /// Why the primary was rejected.
        primary: String,
        /// Why the backup was rejected.
        backup: String,
    },
    /// A table that cannot be written as given.
    #[error("invalid partition table: {0}")]
    Invalid(String),
}

/// Which copies of the table were valid when reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableHealth {
    /// `None` if valid, else why not.
    pub primary_error: Option<String>,
    /// `None` if valid, else why not.
    pub backup_error: Option<String>,
}

impl Gpt {
    /// Sectors taken by one entry array.
    pub fn entry_array_sectors(&self) -> u64 {
        (u64::from(ENTRY_COUNT * ENTRY_SIZE)).div_ceil(self.sector_size)
    }

    /// First sector partitions may use.
    pub fn first_usable_lba(&self) -> u64 {
        2 + self.entry_array_sectors()
    }

    /// Last sector partitions may use.
    pub fn last_usable_lba(&self) -> u64 {
        self.total_sectors - 2 - self.entry_array_sectors()
    }

    /// Checks numbering, bounds, overlaps and labels.
    pub fn validate(&self) -> Result<(), GptError> {
        let bad = |m: String| Err(GptError::Invalid(m));
        if self.total_sectors < 2 * (2 + self.entry_array_sectors()) + 1 {
            return bad("disk is too small to hold a GPT".into());
        }
        let mut prev: Option<&Partition> = None;
        for p in &self.partitions {
            if p.number == 0 || p.number > ENTRY_COUNT {
                return bad(format!(
                    "partition number {} is outside 1..={ENTRY_COUNT}",
                    p.number
                ));
            }
            if p.first_lba < self.first_usable_lba()
                || p.last_lba > self.last_usable_lba()
                || p.first_lba > p.last_lba
            {
                return bad(format!(
                    "partition {} spans sectors {}..={}, outside the usable {}..={}",
                    p.number,
                    p.first_lba,
                    p.last_lba,
                    self.first_usable_lba(),
                    self.last_usable_lba()
                ));
            }
            if p.name.encode_utf16().count() > MAX_LABEL_UNITS {
                return bad(format!(
                    "partition {} label is longer than {MAX_LABEL_UNITS} UTF-16 units",
                    p.number
                ));
            }
            if let Some(q) = prev {
                if q.number >= p.number {
                    return bad("partitions must be sorted by number without duplicates".into());
                }
            }
            prev = Some(p);
        }
        for a in &self.partitions {
            for b in &self.partitions {
                if a.number < b.number && a.first_lba <= b.last_lba && b.first_lba <= a.last_lba {
                    return bad(format!("partitions {} and {} overlap", a.number, b.number));
                }
            }
        }
        Ok(())
    }

    /// The entry array as stored on disk.
    pub fn entry_array(&self) -> Vec<u8> {
        let mut out = vec![0u8; (ENTRY_COUNT * ENTRY_SIZE) as usize];
        for p in &self.partitions {
            let e = &mut out[((p.number - 1) * ENTRY_SIZE) as usize..][..ENTRY_SIZE as usize];
            e[0..16].copy_from_slice(&to_gpt_bytes(&p.type_guid));
            e[16..32].copy_from_slice(&to_gpt_bytes(&p.guid));
            e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
            e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
            e[48..56].copy_from_slice(&p.attributes.to_le_bytes());
            for (i, unit) in p.name.encode_utf16().take(MAX_LABEL_UNITS).enumerate() {
                e[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
            }
        }
        out
    }

    /// One header sector (primary when `primary`, else backup).
    pub fn header(&self, primary: bool, entries_crc: u32) -> Vec<u8> {
        let last = self.total_sectors - 1;
        let (my_lba, alt_lba, entries_lba) = if primary {
            (1, last, 2)
        } else {
            (last, 1, last - self.entry_array_sectors())
        };
        let mut h = vec![0u8; self.sector_size as usize];
        h[0..8].copy_from_slice(SIGNATURE);
        h[8..12].copy_from_slice(&REVISION.to_le_bytes());
        h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        h[24..32].copy_from_slice(&my_lba.to_le_bytes());
        h[32..40].copy_from_slice(&alt_lba.to_le_bytes());
        h[40..48].copy_from_slice(&self.first_usable_lba().to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable_lba().to_le_bytes());
        h[56..72].copy_from_slice(&to_gpt_bytes(&self.disk_guid));
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&ENTRY_COUNT.to_le_bytes());
        h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..HEADER_SIZE as usize]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Protective MBR sector: one 0xEE partition covering the disk.
    pub fn protective_mbr(&self) -> Vec<u8> {
        let mut m = vec![0u8; self.sector_size as usize];
        let e = &mut m[446..462];
        e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
        e[4] = 0xee;
        e[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
        e[8..12].copy_from_slice(&1u32.to_le_bytes());
        let size = u32::try_from(self.total_sectors - 1).unwrap_or(u32::MAX);
        e[12..16].copy_from_slice(&size.to_le_bytes());
        m[510] = 0x55;
        m[511] = 0xaa;
        m
    }

    /// Writes the backup entry array and header (end of the disk).
    pub fn write_backup<D: WriteAt + ?Sized>(&self, disk: &D) -> Result<(), GptError> {
        let entries = self.entry_array();
        let crc = crc32fast::hash(&entries);
        let last = self.total_sectors - 1;
        disk.pwrite_all(
            &entries,
            (last - self.entry_array_sectors()) * self.sector_size,
        )?;
        disk.pwrite_all(&self.header(false, crc), last * self.sector_size)?;
        Ok(())
    }

    /// Writes the protective MBR, primary header and primary entry array.
    pub fn write_primary<D: WriteAt + ?Sized>(&self, disk: &D) -> Result<(), GptError> {
        let entries = self.entry_array();
        let crc = crc32fast::hash(&entries);
        disk.pwrite_all(&self.protective_mbr(), 0)?;
        disk.pwrite_all(&self.header(true, crc), self.sector_size)?;
        disk.pwrite_all(&entries, 2 * self.sector_size)?;
        Ok(())
    }

    /// Validates, then writes both copies: backup first, then primary, so
    /// an interruption leaves at least one consistent table.
    pub fn write<D: WriteAt + ?Sized>(&self, disk: &D) -> Result<(), GptError> {
        self.validate()?;
        self.write_backup(disk)?;
        self.write_primary(disk)
    }

    /// Reads the table of `disk` (`len` bytes long). The logical sector
    /// size is detected (512 or 4096). The primary is preferred; when it is
    /// damaged the backup is used and the returned health says why.
    pub fn read<D: ReadAt + ?Sized>(disk: &D, len: u64) -> Result<(Gpt, TableHealth), GptError> {
        let mut primary_errors = vec![];
        for ss in [512u64, 4096] {
            match read_copy(disk, len, ss, 1) {
                Ok(gpt) => {
                    let backup_error = read_copy(disk, len, ss, len / ss - 1)
                        .and_then(|b| same_table(&gpt, &b))
                        .err();
                    return Ok((
                        gpt,
                        TableHealth {
                            primary_error: None,
                            backup_error,
                        },
                    ));
                }
                Err(e) => primary_errors.push(format!("{ss}-byte sectors: {e}")),
            }
        }
        let mut backup_errors = vec![];
        for ss in [512u64, 4096] {
            if len < ss {
                continue;
            }
            match read_copy(disk, len, ss, len / ss - 1) {
                Ok(gpt) => {
                    let primary_error = Some(primary_errors.join("; "));
                    return Ok((
                        gpt,
                        TableHealth {
                            primary_error,
                            backup_error: None,
                        },
                    ));
                }
                Err(e) => backup_errors.push(format!("{ss}-byte sectors: {e}")),
            }
        }
        Err(GptError::NoValidTable {
            primary: primary_errors.join("; "),
            backup: backup_errors.join("; "),
        })
    }
}

fn same_table(a: &Gpt, b: &Gpt) -> Result<(), String> {
    if a == b {
        Ok(())
    } else {
        Err("backup table differs from the primary".into())
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// Reads and validates the header at `lba` with sector size `ss`.
fn read_copy<D: ReadAt + ?Sized>(disk: &D, len: u64, ss: u64, lba: u64) -> Result<Gpt, String> {
    if len < ss * 4 || !len.is_multiple_of(ss) {
        return Err("image size is not a multiple of the sector size".into());
    }
    let h = read_header(disk, ss, lba)?;
    let array = EntryArray::of_header(&h)?;
    let entries = array.read(disk, &h, len, ss, lba)?;
    let total_sectors = len / ss;
    let partitions = parse_entries(&entries, array.entry_size, total_sectors, lba)?;
    check_entries(&partitions, u64_at(&h, 40), u64_at(&h, 48))
        .map_err(|e| format!("{e} (header at sector {lba})"))?;
    Ok(Gpt {
        sector_size: ss,
        total_sectors,
        disk_guid: from_gpt_bytes(h[56..72].try_into().unwrap()),
        partitions,
    })
}

/// The header sector at `lba`: signature, size, CRC and own LBA checked.
fn read_header<D: ReadAt + ?Sized>(disk: &D, ss: u64, lba: u64) -> Result<Vec<u8>, String> {
    let mut h = vec![0u8; ss as usize];
    disk.pread_exact(&mut h, lba * ss)
        .map_err(|e| e.to_string())?;
    if &h[0..8] != SIGNATURE {
        return Err(format!("no GPT signature at sector {lba}"));
    }
    let hsize = u32_at(&h, 12) as usize;
    if !(HEADER_SIZE as usize..=ss as usize).contains(&hsize) {
        return Err(format!("header size {hsize} is invalid"));
    }
    let stored_crc = u32_at(&h, 16);
    let mut check = h[..hsize].to_vec();
    check[16..20].fill(0);
    if crc32fast::hash(&check) != stored_crc {
        return Err(format!("header CRC mismatch at sector {lba}"));
    }
    if u64_at(&h, 24) != lba {
        return Err(format!(
            "header at sector {lba} claims to be at {}",
            u64_at(&h, 24)
        ));
    }
    Ok(h)
}

/// The entry array a header describes.
struct EntryArray {
    entry_size: u32,
    len: u64,
}

impl EntryArray {
    /// The header's entry count and size, if this reader supports them.
    fn of_header(h: &[u8]) -> Result<Self, String> {
        let count = u32_at(h, 80);
        let esize = u32_at(h, 84);
        let array_len = u64::from(count) * u64::from(esize);
        if esize < ENTRY_SIZE
            || !esize.is_multiple_of(8)
            || count == 0
            || count > 4096
            || array_len > MAX_ENTRY_ARRAY
        {
            return Err(format!(
                "unsupported entry array ({count} entries of {esize} bytes)"
            ));
        }
        Ok(EntryArray {
            entry_size: esize,
            len: array_len,
        })
    }

    /// Reads the array the header `h` (at `lba`) points at and checks its CRC.
    fn read<D: ReadAt + ?Sized>(
        &self,
        disk: &D,
        h: &[u8],
        len: u64,
        ss: u64,
        lba: u64,
    ) -> Result<Vec<u8>, String> {
        let entries_lba = u64_at(h, 72);
        let array_start = entries_lba
            .checked_mul(ss)
            .filter(|start| start.checked_add(self.len).is_some_and(|end| end <= len))
            .ok_or_else(|| {
                format!(
                    "entry array LBA {entries_lba} (header at sector {lba}) is outside the disk"
                )
            })?;
        let mut entries = vec![0u8; self.len as usize];
        disk.pread_exact(&mut entries, array_start)
            .map_err(|e| format!("cannot read the entry array: {e}"))?;
        if crc32fast::hash(&entries) != u32_at(h, 88) {
            return Err(format!("entry array CRC mismatch (header at sector {lba})"));
        }
        Ok(entries)
    }
}

/// The used entries of an entry array; each must lie on the disk.
fn parse_entries(
    entries: &[u8],
    esize: u32,
    total_sectors: u64,
    lba: u64,
) -> Result<Vec<Partition>, String> {
    let mut partitions = vec![];
    for (i, e) in entries.chunks(esize as usize).enumerate() {
        let type_guid = from_gpt_bytes(e[0..16].try_into().unwrap());
        if type_guid.is_nil() {
            continue;
        }
        let units: Vec<u16> = e[56..128]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|u| *u != 0)
            .collect();
        let (first_lba, last_lba) = (u64_at(e, 32), u64_at(e, 40));
        if first_lba > last_lba || last_lba >= total_sectors {
            return Err(format!(
                "partition {} spans sectors {first_lba}..={last_lba}, outside the disk's 0..={} (header at sector {lba})",
                i + 1,
                total_sectors - 1
            ));
        }
        partitions.push(Partition {
            number: i as u32 + 1,
            type_guid,
            guid: from_gpt_bytes(e[16..32].try_into().unwrap()),
            first_lba,
            last_lba,
            attributes: u64_at(e, 48),
            name: String::from_utf16_lossy(&units),
        });
    }
    Ok(partitions)
}

/// What the UEFI spec requires of the entries a header describes: each
/// inside the header's usable range `first_usable..=last_usable`, none
/// overlapping another. A table breaking this (even with valid CRCs) is
/// not used: writing one partition would overwrite another, or the table.
fn check_entries(parts: &[Partition], first_usable: u64, last_usable: u64) -> Result<(), String> {
    let label = |p: &Partition| p.name.escape_debug().to_string();
    for p in parts {
        if p.first_lba < first_usable || p.last_lba > last_usable {
            return Err(format!(
                "partition {} ({}) spans sectors {}..={}, outside the usable {first_usable}..={last_usable}",
                p.number,
                label(p),
                p.first_lba,
                p.last_lba
            ));
        }
    }
    // Sorted by start, any overlap shows between neighbours.
    let mut sorted: Vec<&Partition> = parts.iter().collect();
    sorted.sort_by_key(|p| p.first_lba);
    for w in sorted.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.first_lba <= a.last_lba {
            return Err(format!(
                "partitions {} ({}, sectors {}..={}) and {} ({}, sectors {}..={}) overlap",
                a.number,
                label(a),
                a.first_lba,
                a.last_lba,
                b.number,
                label(b),
                b.first_lba,
                b.last_lba
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: u64 = 8 << 20;

    fn part(number: u32, first_lba: u64, last_lba: u64, name: &str) -> Partition {
        Partition {
            number,
            type_guid: Uuid::from_u128(number.into()),
            guid: Uuid::from_u128(100 + u128::from(number)),
            first_lba,
            last_lba,
            attributes: 0,
            name: name.into(),
        }
    }

    fn table() -> Gpt {
        Gpt {
            sector_size: 512,
            total_sectors: SIZE / 512,
            disk_guid: Uuid::from_u128(7),
            partitions: vec![part(1, 2048, 6143, "ESP"), part(2, 6144, 10239, "USR-A")],
        }
    }

    /// Writes both copies of `gpt` as given (valid CRCs, no `validate`).
    fn written(gpt: &Gpt) -> std::fs::File {
        let f = tempfile::tempfile().unwrap();
        f.set_len(SIZE).unwrap();
        gpt.write_backup(&f).unwrap();
        gpt.write_primary(&f).unwrap();
        f
    }

    #[test]
    fn a_valid_table_reads_back() {
        let (gpt, health) = Gpt::read(&written(&table()), SIZE).unwrap();
        assert_eq!(gpt, table());
        assert_eq!((health.primary_error, health.backup_error), (None, None));
    }

    #[test]
    fn overlapping_entries_in_both_copies_are_rejected() {
        let mut gpt = table();
        gpt.partitions[0].last_lba = 6144;
        let err = Gpt::read(&written(&gpt), SIZE).unwrap_err().to_string();
        assert!(
            err.contains(
                "partitions 1 (ESP, sectors 2048..=6144) and 2 (USR-A, sectors 6144..=10239) overlap (header at sector 1)"
            ),
            "{err}"
        );
        assert!(err.contains("overlap (header at sector 16383)"), "{err}");
    }

    #[test]
    fn an_entry_beyond_the_last_usable_sector_is_rejected() {
        let mut gpt = table();
        // Inside the disk, but over the backup entry array.
        gpt.partitions[1].last_lba = gpt.total_sectors - 2;
        let last_usable = gpt.last_usable_lba();
        let err = Gpt::read(&written(&gpt), SIZE).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "partition 2 (USR-A) spans sectors 6144..=16382, outside the usable 34..={last_usable} (header at sector 1)"
            )),
            "{err}"
        );
    }

    #[test]
    fn an_entry_before_the_first_usable_sector_is_rejected() {
        let mut gpt = table();
        // Over the primary entry array.
        gpt.partitions[0].first_lba = 2;
        let err = Gpt::read(&written(&gpt), SIZE).unwrap_err().to_string();
        assert!(
            err.contains("partition 1 (ESP) spans sectors 2..=6143"),
            "{err}"
        );
    }
}
