//! The disk an update writes: the running system's boot disk or an image
//! file / device given with `--disk`, its booted slot, and reading a slot
//! back from the medium (shared by [`crate::stage`] and [`crate::activate`]).

use anyhow::{Context, Result};
use metalos_disk::blockdev;
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::slots;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The disk to update and its booted slot: the running system's (from the
/// kernel command line), or with `--disk` an image file or device whose
/// next-boot slot counts as booted (offline servicing).
pub fn target_disk(disk: Option<&Path>) -> Result<(blockdev::Disk, Gpt, Partition)> {
    let Some(path) = disk else {
        return crate::running::booted_slot();
    };
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = metalos_disk::device::size(&file)?;
    let (gpt, _) =
        Gpt::read(&file, size).with_context(|| format!("reading the GPT of {}", path.display()))?;
    // choose_slot counts a try down: work on a copy.
    let (booted, _) = slots::choose_slot(&mut gpt.clone()).context("no bootable slot to keep")?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    Ok((
        blockdev::Disk {
            name,
            dev: path.to_path_buf(),
        },
        gpt,
        booted,
    ))
}

/// sha256 of `size` bytes at `offset` of `dev`, read from the medium
/// (cached pages are dropped first).
pub fn hash_range(dev: &std::fs::File, offset: u64, size: u64) -> Result<String> {
    // The read must come from the medium, not the page cache.
    metalos_disk::device::sync_and_drop_cache(dev)
        .context("dropping cached pages before the read-back")?;
    let mut f = dev;
    f.seek(SeekFrom::Start(offset))?;
    let mut hasher = Sha256::new();
    let mut r = f.take(size);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
