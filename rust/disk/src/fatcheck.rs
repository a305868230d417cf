//! Structural checks of a FAT32 volume before the FAT driver (lamfat)
//! opens it: every cluster number the driver will follow — the root
//! directory's, each directory entry's first cluster, each link of their
//! chains — must name a data cluster of the volume, and no cluster may be
//! reached twice (a loop or a cross-link).
//!
//! lamfat trusts these numbers: it multiplies them into 32-bit FAT
//! offsets (overflowing past 2^30) and subtracts 2 from them (underflowing
//! at 0 and 1), and it walks a looping chain without end. A corrupted ESP
//! must give an error naming what is wrong, never a panic or a hang in
//! PID 1.

use crate::readat::ReadAt;
use crate::sparse::Region;
use std::collections::HashMap;

/// Smallest cluster count of a FAT32 volume (fewer makes it FAT16).
const MIN_FAT32_CLUSTERS: u64 = 65_525;
/// Largest cluster count FAT32's 28-bit entries can address.
const MAX_FAT32_CLUSTERS: u64 = 0x0fff_fff5;
/// FAT entry values from this one up end a chain.
const END_OF_CHAIN: u32 = 0x0fff_fff8;
/// Bytes of one directory entry.
const DIR_ENTRY: usize = 32;
/// Bytes of the FAT read at once (and kept) while following chains.
const FAT_BLOCK: u64 = 64 << 10;

/// The layout of a FAT32 volume, from its boot sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fat32Layout {
    /// Bytes per sector.
    pub sector_size: u64,
    /// Bytes per cluster.
    pub cluster_size: u64,
    /// Byte offset of the first FAT.
    pub fat_offset: u64,
    /// Byte offset of cluster 2.
    pub data_offset: u64,
    /// Data clusters (numbered `2..cluster_count + 2`).
    pub cluster_count: u64,
    /// First cluster of the root directory.
    pub root_cluster: u32,
}

impl Fat32Layout {
    /// Whether `c` names a data cluster.
    fn is_data_cluster(&self, c: u32) -> bool {
        (2..self.cluster_count + 2).contains(&u64::from(c))
    }
}

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

/// Reads and checks the boot sector of the FAT32 volume in `region`.
pub fn fat32_layout<D: ReadAt + ?Sized>(region: &Region<'_, D>) -> Result<Fat32Layout, String> {
    let mut bs = [0u8; 512];
    region
        .pread_exact(&mut bs, 0)
        .map_err(|e| format!("boot sector: {e}"))?;
    let sector_size = le(&bs, 11, 2);
    let per_cluster = le(&bs, 13, 1);
    let reserved = le(&bs, 14, 2);
    let fats = le(&bs, 16, 1);
    let root_entries = le(&bs, 17, 2);
    let fat_sectors_16 = le(&bs, 22, 2);
    let total = match le(&bs, 19, 2) {
        0 => le(&bs, 32, 4),
        n => n,
    };
    let fat_sectors = le(&bs, 36, 4);
    if ![512, 1024, 2048, 4096].contains(&sector_size) {
        return Err(format!("boot sector: {sector_size} bytes per sector"));
    }
    if !per_cluster.is_power_of_two() || per_cluster > 128 {
        return Err(format!("boot sector: {per_cluster} sectors per cluster"));
    }
    if reserved == 0 || fats == 0 {
        return Err(format!(
            "boot sector: {reserved} reserved sectors, {fats} FATs"
        ));
    }
    if root_entries != 0 || fat_sectors_16 != 0 || fat_sectors == 0 {
        return Err("not a FAT32 volume (MetalOS ESPs are FAT32)".into());
    }
    let data_sector = reserved + fats * fat_sectors;
    let cluster_count = total.saturating_sub(data_sector) / per_cluster;
    if !(MIN_FAT32_CLUSTERS..=MAX_FAT32_CLUSTERS).contains(&cluster_count) {
        return Err(format!(
            "{cluster_count} data clusters: not a FAT32 volume (MetalOS ESPs are FAT32)"
        ));
    }
    if fat_sectors * sector_size / 4 < cluster_count + 2 {
        return Err(format!(
            "a FAT of {fat_sectors} sectors cannot map {cluster_count} clusters"
        ));
    }
    if total * sector_size > region.len() {
        return Err(format!(
            "the volume ({total} sectors) is larger than its partition ({} bytes)",
            region.len()
        ));
    }
    let layout = Fat32Layout {
        sector_size,
        cluster_size: per_cluster * sector_size,
        fat_offset: reserved * sector_size,
        data_offset: data_sector * sector_size,
        cluster_count,
        root_cluster: le(&bs, 44, 4) as u32,
    };
    if !layout.is_data_cluster(layout.root_cluster) {
        return Err(format!(
            "the root directory starts at cluster {}, outside 2..={}",
            layout.root_cluster,
            cluster_count + 1
        ));
    }
    Ok(layout)
}

/// Walks the FAT32 volume in `region` from its root: every directory and
/// file's clusters must be data clusters reached once. Returns the layout.
pub fn check_fat32<D: ReadAt + ?Sized>(region: &Region<'_, D>) -> Result<Fat32Layout, String> {
    let layout = fat32_layout(region)?;
    let mut walk = Walk {
        region,
        layout,
        seen: vec![0; (layout.cluster_count as usize + 2).div_ceil(64)],
        fat_blocks: HashMap::new(),
    };
    // (path, first cluster, parent's first cluster as ".." records it: 0 for the root)
    let mut dirs = vec![("/".to_string(), layout.root_cluster, 0)];
    while let Some((path, first, parent)) = dirs.pop() {
        // How "." and ".." entries record this directory (0 for the root).
        let this = if first == layout.root_cluster {
            0
        } else {
            first
        };
        for c in walk.chain(&path, first)? {
            let mut buf = vec![0u8; layout.cluster_size as usize];
            let at = layout.data_offset + (u64::from(c) - 2) * layout.cluster_size;
            region
                .pread_exact(&mut buf, at)
                .map_err(|e| format!("{path}: cluster {c}: {e}"))?;
            for e in buf.chunks_exact(DIR_ENTRY) {
                match e[0] {
                    0 => break,
                    0xe5 => continue,
                    _ => {}
                }
                let attr = e[11];
                if attr & 0x0f == 0x0f || attr & 0x08 != 0 {
                    continue; // long-name part, volume label
                }
                let cluster = ((le(e, 20, 2) << 16) | le(e, 26, 2)) as u32;
                // "." and "..": the driver may follow them; they must
                // name this directory and its parent (0 for the root).
                let dot = match &e[..11] {
                    b".          " => Some((".", this)),
                    b"..         " => Some(("..", parent)),
                    _ => None,
                };
                if let Some((name, want)) = dot {
                    if cluster != want {
                        return Err(format!(
                            "{path}: {name:?} points at cluster {cluster}, not {want}"
                        ));
                    }
                    continue;
                }
                let child = format!("{}/{}", path.trim_end_matches('/'), short_name(e));
                if cluster == 0 {
                    continue; // an empty file; a directory here is the root
                }
                if attr & 0x10 != 0 {
                    dirs.push((child, cluster, this));
                } else {
                    walk.chain(&child, cluster)?;
                }
            }
        }
    }
    Ok(layout)
}

/// The 8.3 name of a directory entry, for messages.
fn short_name(e: &[u8]) -> String {
    let part = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
    let (base, ext) = (part(&e[..8]), part(&e[8..11]));
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

struct Walk<'r, 'a, D: ?Sized> {
    region: &'r Region<'a, D>,
    layout: Fat32Layout,
    /// One bit per cluster number: reached already.
    seen: Vec<u64>,
    /// Blocks of the FAT read so far, by index.
    fat_blocks: HashMap<u64, Vec<u8>>,
}

impl<D: ReadAt + ?Sized> Walk<'_, '_, D> {
    /// The clusters of the chain starting at `first` (of `path`).
    fn chain(&mut self, path: &str, first: u32) -> Result<Vec<u32>, String> {
        let max = self.layout.cluster_count + 1;
        let mut out = vec![];
        let mut c = first;
        loop {
            if !self.layout.is_data_cluster(c) {
                return Err(format!(
                    "{path}: cluster chain reaches cluster {c}, outside 2..={max}"
                ));
            }
            let (word, bit) = (c as usize / 64, 1u64 << (c % 64));
            if self.seen[word] & bit != 0 {
                return Err(format!(
                    "{path}: cluster {c} is reached twice (a loop or a cross-link)"
                ));
            }
            self.seen[word] |= bit;
            out.push(c);
            let next = self
                .fat_entry(c)
                .map_err(|e| format!("{path}: FAT entry of cluster {c}: {e}"))?;
            if next >= END_OF_CHAIN {
                return Ok(out);
            }
            c = next;
        }
    }

    /// The FAT entry of data cluster `c` (28 bits).
    fn fat_entry(&mut self, c: u32) -> std::io::Result<u32> {
        let at = u64::from(c) * 4;
        let index = at / FAT_BLOCK;
        if !self.fat_blocks.contains_key(&index) {
            let fat_len = (self.layout.cluster_count + 2) * 4;
            let len = FAT_BLOCK.min(fat_len - index * FAT_BLOCK);
            let mut block = vec![0u8; len as usize];
            self.region
                .pread_exact(&mut block, self.layout.fat_offset + index * FAT_BLOCK)?;
            self.fat_blocks.insert(index, block);
        }
        let block = &self.fat_blocks[&index];
        let i = (at % FAT_BLOCK) as usize;
        let entry = u32::from_le_bytes(block[i..i + 4].try_into().expect("four bytes"));
        Ok(entry & 0x0fff_ffff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::{list_esp, write_esp, EspFile, EspOptions};
    use crate::readat::WriteAt;
    use metalos_config::Resolved;

    const SIZE: u64 = 40 << 20;

    /// An ESP with `EFI/BOOT/BOOTX64.EFI` (three clusters or more) in memory.
    fn esp() -> Vec<u8> {
        let f = tempfile::tempfile().unwrap();
        f.set_len(SIZE).unwrap();
        let files = [EspFile {
            path: "EFI/BOOT/BOOTX64.EFI".into(),
            content: Resolved::Bytes(vec![7; 10_000]),
        }];
        let opts = EspOptions {
            sector_size: 512,
            volume_id: 1,
            label: "ESP".into(),
            mtime: 0,
        };
        write_esp(Region::new(&f, 0, SIZE), &opts, &files).unwrap();
        let mut out = vec![0u8; SIZE as usize];
        f.pread_exact(&mut out, 0).unwrap();
        out
    }

    fn as_file(img: &[u8]) -> std::fs::File {
        let f = tempfile::tempfile().unwrap();
        f.pwrite_all(img, 0).unwrap();
        f
    }

    fn check(img: &[u8]) -> Result<Fat32Layout, String> {
        check_fat32(&Region::new(img, 0, img.len() as u64))
    }

    fn set_fat(img: &mut [u8], l: &Fat32Layout, c: u32, v: u32) {
        let at = (l.fat_offset + u64::from(c) * 4) as usize;
        img[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Offset of the directory entry called `name` (8.3, padded).
    fn entry(img: &[u8], name: &[u8; 11]) -> usize {
        img.windows(11).position(|w| w == name).unwrap()
    }

    #[test]
    fn a_volume_metalos_wrote_passes() {
        let img = esp();
        let l = check(&img).unwrap();
        assert_eq!(l.sector_size, 512);
        assert!(l.cluster_count >= MIN_FAT32_CLUSTERS);
        assert!(list_esp(Region::new(&as_file(&img), 0, SIZE)).is_ok());
    }

    #[test]
    fn a_root_cluster_outside_the_volume_is_rejected() {
        let mut img = esp();
        img[44..48].copy_from_slice(&1u32.to_le_bytes());
        assert!(check(&img)
            .unwrap_err()
            .contains("root directory starts at cluster 1"));
    }

    #[test]
    fn a_looping_chain_is_rejected() {
        let mut img = esp();
        let l = check(&img).unwrap();
        set_fat(&mut img, &l, l.root_cluster, l.root_cluster);
        let e = check(&img).unwrap_err();
        assert!(e.contains("is reached twice"), "{e}");
        let e = list_esp(Region::new(&as_file(&img), 0, SIZE)).unwrap_err();
        assert!(e.to_string().contains("is reached twice"), "{e}");
    }

    #[test]
    fn a_directory_entry_past_the_fat_is_rejected() {
        // Fuzzing finding (`fat`): lamfat computed cluster * 4 in 32 bits.
        let mut img = esp();
        let at = entry(&img, b"BOOTX64 EFI");
        img[at + 20..at + 22].copy_from_slice(&0xffffu16.to_le_bytes());
        let e = check(&img).unwrap_err();
        assert!(
            e.contains("/EFI/BOOT/BOOTX64.EFI: cluster chain reaches cluster"),
            "{e}"
        );
    }

    #[test]
    fn a_file_chain_through_a_free_cluster_is_rejected() {
        let mut img = esp();
        let l = check(&img).unwrap();
        let at = entry(&img, b"BOOTX64 EFI");
        let first = (u32::from(u16::from_le_bytes([img[at + 20], img[at + 21]])) << 16)
            | u32::from(u16::from_le_bytes([img[at + 26], img[at + 27]]));
        set_fat(&mut img, &l, first, 1);
        let e = check(&img).unwrap_err();
        assert!(e.contains("reaches cluster 1, outside"), "{e}");
    }
}
