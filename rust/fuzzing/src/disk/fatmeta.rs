//! The metadata of a FAT32 volume (reserved sectors, FATs, directory
//! clusters, the first cluster of small files), for compact seeds.

use super::vdisk::nonzero_extents;
use metalos_disk::fatcheck::fat32_layout;
use metalos_disk::readat::ReadAt;
use metalos_disk::sparse::Region;

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0, |a, x| (a << 8) | u64::from(*x))
}

/// Non-zero runs of the volume at `start` (`len` bytes) that hold its
/// metadata, plus up to `small` bytes of each file's first cluster.
pub fn metadata<D: ReadAt + ?Sized>(
    disk: &D,
    start: u64,
    len: u64,
    small: u64,
) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let l = fat32_layout(&Region::new(disk, start, len)).map_err(anyhow::Error::msg)?;
    let (ss, cluster, data_start, root) = (
        l.sector_size,
        l.cluster_size,
        l.data_offset,
        u64::from(l.root_cluster),
    );
    let mut fat = vec![0u8; ((l.cluster_count + 2) * 4).next_multiple_of(ss) as usize];
    disk.pread_exact(&mut fat, start + l.fat_offset)?;
    let next = |c: u64| le(&fat, (c * 4) as usize, 4) & 0x0fff_ffff;
    // Reserved sectors, then the first FAT's sectors holding the chains
    // walked (the second copy and large files' chains are left out).
    let mut wanted: Vec<(u64, u64)> = vec![(0, l.fat_offset)];
    let fat_sector = |c: u64| l.fat_offset + c * 4 / ss * ss;
    wanted.push((fat_sector(0), ss));
    let mut dirs = vec![root];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(first) = dirs.pop() {
        let mut c = first;
        while (2..0x0fff_fff8).contains(&c) && seen.insert(c) {
            let off = data_start + (c - 2) * cluster;
            wanted.push((off, cluster));
            wanted.push((fat_sector(c), ss));
            let mut buf = vec![0u8; cluster as usize];
            disk.pread_exact(&mut buf, start + off)?;
            for e in buf.chunks(32) {
                if e[0] == 0 || e[0] == 0xe5 || e[11] == 0x0f || e[0] == b'.' {
                    continue;
                }
                let fc = (le(e, 20, 2) << 16) | le(e, 26, 2);
                if e[11] & 0x10 != 0 {
                    dirs.push(fc);
                } else if fc >= 2 && le(e, 28, 4) <= small {
                    wanted.push((data_start + (fc - 2) * cluster, cluster));
                    wanted.push((fat_sector(fc), ss));
                }
            }
            c = next(c);
        }
    }
    wanted.sort();
    wanted.dedup();
    let mut out = vec![];
    for (off, n) in wanted {
        for (o, bytes) in nonzero_extents(disk, start + off, n.min(len - off), 512) {
            out.push((off + o, bytes));
        }
    }
    Ok(out)
}
