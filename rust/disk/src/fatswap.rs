//! Atomic replacement of a file on a FAT32 volume: the new content is first
//! written as a sibling file; then the two directory entries exchange
//! their first cluster and size. The target's entry is rewritten with one
//! write inside one sector, so at every moment the target names a complete
//! file — the old one before that write, the new one after it.

use crate::fatcheck::{check_fat32, Fat32Layout};
use crate::sparse::Region;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Errors swapping directory entries.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// I/O on the device or image.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The volume or a path is not what was expected.
    #[error("{0}")]
    Layout(String),
}

struct Fat32 {
    base: u64,
    layout: Fat32Layout,
}

impl Fat32 {
    /// Opens the volume at `base` after [`check_fat32`]: every chain the
    /// swap follows is then known to end, inside the volume.
    fn open(dev: &File, base: u64) -> Result<Self, SwapError> {
        let layout =
            check_fat32(&Region::new(dev, base, u64::MAX - base)).map_err(SwapError::Layout)?;
        Ok(Self { base, layout })
    }

    fn cluster_offset(&self, c: u32) -> u64 {
        self.base + self.layout.data_offset + (u64::from(c) - 2) * self.layout.cluster_size
    }

    fn next(&self, dev: &File, c: u32) -> Result<Option<u32>, SwapError> {
        let mut e = [0u8; 4];
        dev.read_exact_at(
            &mut e,
            self.base + self.layout.fat_offset + u64::from(c) * 4,
        )?;
        let n = u32::from_le_bytes(e) & 0x0fff_ffff;
        Ok((2..0x0fff_fff8).contains(&n).then_some(n))
    }

    /// Byte offset of the short entry called `sfn` in directory `dir`.
    fn find(&self, dev: &File, dir: u32, sfn: &[u8; 11]) -> Result<Option<u64>, SwapError> {
        let size = self.layout.cluster_size as usize;
        let mut cluster = Some(dir);
        let mut hops = 0;
        while let Some(c) = cluster {
            let mut buf = vec![0u8; size];
            let off = self.cluster_offset(c);
            dev.read_exact_at(&mut buf, off)?;
            for (i, e) in buf.chunks(32).enumerate() {
                if e[0] == 0 {
                    return Ok(None);
                }
                if e[0] != 0xe5 && e[11] != 0x0f && e[..11].eq_ignore_ascii_case(sfn) {
                    return Ok(Some(off + (i * 32) as u64));
                }
            }
            cluster = self.next(dev, c)?;
            hops += 1;
            if hops > 1 << 16 {
                return Err(SwapError::Layout("directory cluster chain loops".into()));
            }
        }
        Ok(None)
    }
}

/// The 8.3 directory name of `name` (`BOOTX64.EFI` → `BOOTX64 EFI`).
fn short_name(name: &str) -> Result<[u8; 11], SwapError> {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    if stem.is_empty() || stem.len() > 8 || ext.len() > 3 || !name.is_ascii() {
        return Err(SwapError::Layout(format!("{name:?} is not an 8.3 name")));
    }
    let mut out = [b' '; 11];
    out[..stem.len()].copy_from_slice(stem.to_ascii_uppercase().as_bytes());
    out[8..8 + ext.len()].copy_from_slice(ext.to_ascii_uppercase().as_bytes());
    Ok(out)
}

fn entry_offset(fs: &Fat32, dev: &File, path: &str) -> Result<u64, SwapError> {
    let parts: Vec<&str> = path.split('/').collect();
    let mut dir = fs.layout.root_cluster;
    for (i, part) in parts.iter().enumerate() {
        let off = fs
            .find(dev, dir, &short_name(part)?)?
            .ok_or_else(|| SwapError::Layout(format!("{path}: {part} not found")))?;
        if i + 1 == parts.len() {
            return Ok(off);
        }
        let mut e = [0u8; 32];
        dev.read_exact_at(&mut e, off)?;
        dir = (u16::from_le_bytes([e[20], e[21]]) as u32) << 16
            | u16::from_le_bytes([e[26], e[27]]) as u32;
    }
    Err(SwapError::Layout("empty path".into()))
}

/// Exchanges the contents (first cluster + size) of `target` and `staged`
/// on the FAT32 volume starting at byte `base` of `dev`; both must be 8.3
/// names. The target's entry is written first, in a single write.
pub fn swap_contents(dev: &File, base: u64, target: &str, staged: &str) -> Result<(), SwapError> {
    let fs = Fat32::open(dev, base)?;
    let (t, s) = (
        entry_offset(&fs, dev, target)?,
        entry_offset(&fs, dev, staged)?,
    );
    let (mut te, mut se) = ([0u8; 32], [0u8; 32]);
    dev.read_exact_at(&mut te, t)?;
    dev.read_exact_at(&mut se, s)?;
    for range in [20..22, 26..28, 28..32] {
        let tmp = te[range.clone()].to_vec();
        te[range.clone()].copy_from_slice(&se[range.clone()]);
        se[range].copy_from_slice(&tmp);
    }
    dev.write_all_at(&te, t)?;
    dev.sync_all()?;
    dev.write_all_at(&se, s)?;
    dev.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_names() {
        assert_eq!(&super::short_name("BOOTX64.EFI").unwrap(), b"BOOTX64 EFI");
        assert_eq!(&super::short_name("boot").unwrap(), b"BOOT       ");
        assert!(super::short_name("a long name.txt").is_err());
    }
}
