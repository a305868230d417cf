//! The disk an update writes: the running system's boot disk or an image
//! file / device given with `--disk`, its booted slot, and reading a slot
//! back from the medium (shared by [`crate::stage`] and [`crate::activate`]).

use anyhow::{Context, Result};
use metalos_disk::blockdev;
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::slots;
use sha2::{Digest, Sha256};
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

/// sha256 of `size` bytes at `offset` of the disk at `path`, read from
/// the medium (not from cached pages).
pub fn hash_range(path: &Path, offset: u64, size: u64) -> Result<String> {
    let mut hasher = Sha256::new();
    metalos_disk::medium::read_from_medium(path, offset, size, |b| hasher.update(b))
        .with_context(|| format!("reading back {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}
