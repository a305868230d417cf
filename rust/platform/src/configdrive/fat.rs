//! A read-only FAT12/16/32 reader for config drives (nova writes vfat
//! drives with mkfs.vfat, usually FAT16): the volume label and one file by
//! path, long (VFAT) names or 8.3 names, compared without case. Every
//! cluster number is checked against the volume and a chain that comes
//! back to a cluster is an error, so a crafted image cannot loop or read
//! out of bounds. (`metalos_disk`'s FAT code reads FAT32 ESPs only.)

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Largest directory read.
const MAX_DIR: u64 = 1 << 20;

/// The FAT width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Fat12,
    Fat16,
    Fat32,
}

/// The layout of a FAT volume, from its boot sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    pub kind: Kind,
    /// The boot sector's label, trailing spaces removed (may be `NO NAME`).
    pub boot_label: String,
    cluster: u64,
    fat_offset: u64,
    root_offset: u64,
    root_len: u64,
    root_cluster: u32,
    data_offset: u64,
    clusters: u32,
}

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

/// Reads the boot sector; `None` when `file` holds no FAT volume.
pub(crate) fn volume(file: &File) -> Option<Volume> {
    let mut bs = [0u8; 512];
    file.read_exact_at(&mut bs, 0).ok()?;
    if bs[510..512] != [0x55, 0xaa] {
        return None;
    }
    let sector = le(&bs, 11, 2);
    let per_cluster = le(&bs, 13, 1);
    let reserved = le(&bs, 14, 2);
    let fats = le(&bs, 16, 1);
    let root_entries = le(&bs, 17, 2);
    let total = match le(&bs, 19, 2) {
        0 => le(&bs, 32, 4),
        n => n,
    };
    let fat_sectors = match le(&bs, 22, 2) {
        0 => le(&bs, 36, 4),
        n => n,
    };
    let sane = [512, 1024, 2048, 4096].contains(&sector)
        && per_cluster.is_power_of_two()
        && per_cluster <= 128
        && reserved > 0
        && (1..=4).contains(&fats)
        && fat_sectors > 0;
    if !sane {
        return None;
    }
    let root_sectors = (root_entries * 32).div_ceil(sector);
    let data_sector = reserved + fats * fat_sectors + root_sectors;
    let clusters = total.checked_sub(data_sector)? / per_cluster;
    let kind = match clusters {
        0..4085 => Kind::Fat12,
        4085..65525 => Kind::Fat16,
        _ => Kind::Fat32,
    };
    let (label_at, sig_at) = if kind == Kind::Fat32 {
        (71, 66)
    } else {
        (43, 38)
    };
    let boot_label = if bs[sig_at] == 0x29 {
        String::from_utf8_lossy(&bs[label_at..label_at + 11])
            .trim_end()
            .to_string()
    } else {
        String::new()
    };
    Some(Volume {
        kind,
        boot_label,
        cluster: per_cluster * sector,
        fat_offset: reserved * sector,
        root_offset: (reserved + fats * fat_sectors) * sector,
        root_len: root_sectors * sector,
        root_cluster: le(&bs, 44, 4) as u32,
        data_offset: data_sector * sector,
        clusters: u32::try_from(clusters.min(0x0fff_fff5)).ok()?,
    })
}

/// One directory entry.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    attr: u8,
    first: u32,
    size: u32,
}

/// Where a directory's entries are.
#[derive(Debug, Clone, Copy)]
enum Dir {
    /// The fixed FAT12/16 root directory.
    FixedRoot,
    /// A cluster chain.
    Chain(u32),
}

impl Volume {
    /// The volume label: the root directory's label entry (what blkid
    /// reports), else the boot sector's.
    pub(crate) fn label(&self, file: &File) -> String {
        let root = self.root();
        self.entries(file, root)
            .ok()
            .and_then(|es| {
                es.into_iter()
                    .find(|e| e.attr & 0x08 != 0 && e.attr != 0x0f)
            })
            .map(|e| e.name)
            .unwrap_or_else(|| self.boot_label.clone())
    }

    fn root(&self) -> Dir {
        match self.kind {
            Kind::Fat32 => Dir::Chain(self.root_cluster),
            _ => Dir::FixedRoot,
        }
    }

    /// Reads the file at `path` of at most `limit` bytes; `Ok(None)` when
    /// it does not exist.
    pub(crate) fn read(
        &self,
        file: &File,
        path: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, String> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut dir = self.root();
        for (i, part) in parts.iter().enumerate() {
            let entries = self.entries(file, dir)?;
            let Some(e) = entries
                .into_iter()
                .find(|e| e.attr & 0x08 == 0 && e.name.eq_ignore_ascii_case(part))
            else {
                return Ok(None);
            };
            let is_dir = e.attr & 0x10 != 0;
            if i + 1 < parts.len() {
                if !is_dir {
                    return Ok(None);
                }
                dir = Dir::Chain(e.first);
                continue;
            }
            if is_dir {
                return Ok(None);
            }
            if u64::from(e.size) > limit {
                return Err(format!(
                    "{path}: {} bytes, more than the limit of {limit}",
                    e.size
                ));
            }
            let mut data = self.read_chain(file, e.first, u64::from(e.size), path)?;
            data.truncate(e.size as usize);
            return Ok(Some(data));
        }
        Ok(None)
    }

    /// Every entry of `dir`, long names resolved.
    fn entries(&self, file: &File, dir: Dir) -> Result<Vec<Entry>, String> {
        let raw = match dir {
            Dir::FixedRoot => {
                let mut raw = vec![0; self.root_len.min(MAX_DIR) as usize];
                file.read_exact_at(&mut raw, self.root_offset)
                    .map_err(|e| format!("reading the root directory: {e}"))?;
                raw
            }
            Dir::Chain(first) => self.read_chain(file, first, MAX_DIR, "a directory")?,
        };
        Ok(parse_entries(&raw))
    }

    /// Reads up to `max` bytes of the chain starting at `first`.
    fn read_chain(&self, file: &File, first: u32, max: u64, what: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        let mut c = first;
        let mut seen = std::collections::HashSet::new();
        loop {
            if !(2..self.clusters + 2).contains(&c) {
                return Err(format!("{what}: cluster {c} is outside the volume"));
            }
            if !seen.insert(c) {
                return Err(format!("{what}: the cluster chain loops at cluster {c}"));
            }
            let mut buf = vec![0; self.cluster as usize];
            let at = self.data_offset + u64::from(c - 2) * self.cluster;
            file.read_exact_at(&mut buf, at)
                .map_err(|e| format!("{what}: reading cluster {c}: {e}"))?;
            out.extend_from_slice(&buf);
            if out.len() as u64 >= max {
                return Ok(out);
            }
            c = self
                .next(file, c)
                .map_err(|e| format!("{what}: reading the FAT: {e}"))?;
            if self.is_end(c) {
                return Ok(out);
            }
        }
    }

    fn is_end(&self, c: u32) -> bool {
        match self.kind {
            Kind::Fat12 => c >= 0xff8,
            Kind::Fat16 => c >= 0xfff8,
            Kind::Fat32 => c >= 0x0fff_fff8,
        }
    }

    /// The FAT entry of cluster `c`.
    fn next(&self, file: &File, c: u32) -> std::io::Result<u32> {
        let c64 = u64::from(c);
        let mut b = [0u8; 4];
        Ok(match self.kind {
            Kind::Fat12 => {
                file.read_exact_at(&mut b[..2], self.fat_offset + c64 * 3 / 2)?;
                let v = u32::from(u16::from_le_bytes([b[0], b[1]]));
                if c.is_multiple_of(2) {
                    v & 0xfff
                } else {
                    v >> 4
                }
            }
            Kind::Fat16 => {
                file.read_exact_at(&mut b[..2], self.fat_offset + c64 * 2)?;
                u32::from(u16::from_le_bytes([b[0], b[1]]))
            }
            Kind::Fat32 => {
                file.read_exact_at(&mut b, self.fat_offset + c64 * 4)?;
                u32::from_le_bytes(b) & 0x0fff_ffff
            }
        })
    }
}

/// The entries of raw directory bytes: long-name runs joined to the short
/// entry they precede (when their checksum matches), deleted entries and
/// `.`/`..` skipped, stopping at the end marker.
fn parse_entries(raw: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut long: Vec<(u8, String)> = Vec::new();
    let mut long_sum = None;
    for e in raw.chunks_exact(32) {
        match e[0] {
            0x00 => break,
            0xe5 => {
                long.clear();
                continue;
            }
            _ => {}
        }
        let attr = e[11];
        if attr == 0x0f {
            if e[0] & 0x40 != 0 {
                long.clear();
            }
            long_sum = Some(e[13]);
            long.push((e[0] & 0x1f, long_part(e)));
            continue;
        }
        let short = short_name(e, attr & 0x08 != 0);
        let name = if !long.is_empty() && long_sum == Some(checksum(e)) {
            long.sort_by_key(|(n, _)| *n);
            long.iter().map(|(_, s)| s.as_str()).collect()
        } else {
            short
        };
        long.clear();
        if name == "." || name == ".." {
            continue;
        }
        out.push(Entry {
            name,
            attr,
            first: (le(e, 20, 2) << 16 | le(e, 26, 2)) as u32,
            size: le(e, 28, 4) as u32,
        });
    }
    out
}

/// The 13 UCS-2 characters of a long-name entry, up to the terminator.
fn long_part(e: &[u8]) -> String {
    let units: Vec<u16> = [1..11, 14..26, 28..32]
        .into_iter()
        .flat_map(|r| {
            e[r].chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>()
        })
        .take_while(|&u| u != 0 && u != 0xffff)
        .collect();
    String::from_utf16_lossy(&units)
}

/// `NAME.EXT` of a short entry (a volume label keeps its 11 characters).
fn short_name(e: &[u8], label: bool) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
    if label {
        return text(&e[..11]);
    }
    let mut base = e[..8].to_vec();
    if base[0] == 0x05 {
        base[0] = 0xe5;
    }
    let (base, ext) = (text(&base), text(&e[8..11]));
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// The checksum of a short name that its long-name entries carry.
fn checksum(e: &[u8]) -> u8 {
    e[..11]
        .iter()
        .fold(0u8, |sum, &b| (sum >> 1 | (sum & 1) << 7).wrapping_add(b))
}
