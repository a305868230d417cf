//! Replacing the bootloader UKI on the ESP without ever leaving the ESP
//! without a bootable `EFI/BOOT/BOOTX64.EFI`.

use crate::fault::fault_point;
use crate::source::BundleSource;
use anyhow::{Context, Result};
use metalos_contract::paths::EspPath;
use metalos_contract::update::BundleFile;
use metalos_disk::blockdev::Disk;
use metalos_disk::esp_partition::EspHandle;
use metalos_disk::gpt::Gpt;
use sha2::{Digest, Sha256};

const BOOTLOADER: &str = EspPath::BOOTLOADER.as_str();
const STAGED: &str = EspPath::BOOTLOADER_STAGED.as_str();
const PREVIOUS: &str = EspPath::BOOTLOADER_PREVIOUS.as_str();

/// Installs the bundle's bootloader when it differs from the current one:
/// write it as BOOTX64.NEW (synced), swap the two directory entries (one
/// sector write makes BOOTX64.EFI the new file), then keep the old one as
/// BOOTX64.PRV. Returns whether anything changed.
pub fn update_bootloader(
    disk: &Disk,
    gpt: &Gpt,
    src: &BundleSource,
    file: &BundleFile,
) -> Result<bool> {
    let esp = EspHandle::find(disk, gpt).context("the boot disk has no ESP")?;
    let current = esp
        .read(BOOTLOADER, esp.partition_len())
        .context("reading the current bootloader")?;
    if hex::encode(Sha256::digest(&current)) == file.sha256 {
        return Ok(false);
    }
    // bundle.json's size is not trusted yet: a file larger than the ESP
    // cannot be installed, and must not size an allocation.
    anyhow::ensure!(
        file.size <= esp.partition_len(),
        "{}: {} bytes do not fit the {}-byte ESP",
        file.file,
        file.size,
        esp.partition_len()
    );
    let mut new = Vec::with_capacity(file.size as usize);
    src.copy_verified(file, &mut new, |_| {})?;
    for stale in [STAGED, PREVIOUS] {
        if esp.exists(stale) {
            esp.remove(stale)?;
        }
    }
    esp.write(STAGED, &new)
        .context("writing the new bootloader")?;
    fault_point("bootloader-staged");
    esp.swap(BOOTLOADER, STAGED)
        .context("switching to the new bootloader")?;
    esp.rename(STAGED, PREVIOUS)
        .context("keeping the previous bootloader")?;
    Ok(true)
}
