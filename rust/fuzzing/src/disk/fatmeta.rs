//! The metadata of a FAT32 volume (reserved sectors, FATs, directory
//! clusters, the first cluster of small files), for compact seeds.

use metalos_disk::readat::ReadAt;

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
    let mut bs = vec![0u8; 512];
    disk.pread_exact(&mut bs, start)?;
    let ss = le(&bs, 11, 2);
    let spc = le(&bs, 13, 1);
    let reserved = le(&bs, 14, 2);
    let fats = le(&bs, 16, 1);
    let fat_sectors = le(&bs, 36, 4);
    let root = le(&bs, 44, 4);
    let cluster = ss * spc;
    let data_start = (reserved + fats * fat_sectors) * ss;
    let mut fat = vec![0u8; (fat_sectors * ss) as usize];
    disk.pread_exact(&mut fat, start + reserved * ss)?;
    let next = |c: u64| le(&fat, (c * 4) as usize, 4) & 0x0fff_ffff;
    // Reserved sectors, then the first FAT's sectors holding the chains
    // walked (the second copy and large files' chains are left out).
    let mut wanted: Vec<(u64, u64)> = vec![(0, reserved * ss)];
    let fat_sector = |c: u64| (reserved + c * 4 / ss) * ss;
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
        for (o, bytes) in super::seeds::nonzero_extents(disk, start + off, n.min(len - off), 512) {
            out.push((off + o, bytes));
        }
    }
    Ok(out)
}
