//! Replacing the bootloader UKI on the ESP without ever leaving the ESP
//! without a bootable `EFI/BOOT/BOOTX64.EFI`: the new one is written as
//! `BOOTX64.NEW` (at staging), then swapped in (at activation).

use crate::fault::fault_point;
use crate::source::BundleSource;
use anyhow::{Context, Result};
use metalos_contract::paths::EspPath;
use metalos_contract::update::BundleFile;
use metalos_disk::esp_partition::EspHandle;
use sha2::{Digest, Sha256};
use std::thread::JoinHandle;

const BOOTLOADER: &str = EspPath::BOOTLOADER.as_str();
const STAGED: &str = EspPath::BOOTLOADER_STAGED.as_str();
const PREVIOUS: &str = EspPath::BOOTLOADER_PREVIOUS.as_str();

/// Whether the bootloader on an ESP is already a given one, found out in
/// another thread ([`SameBootloader::spawn`]).
pub struct SameBootloader(JoinHandle<Result<Option<bool>>>);

impl SameBootloader {
    /// Starts comparing the bootloader on `esp` with `file`: its size,
    /// then (only when that matches) its sha256, streaming it. Nothing may
    /// write the ESP until [`Self::wait`].
    pub fn spawn(esp: EspHandle, file: BundleFile) -> Self {
        Self(std::thread::spawn(move || {
            let same = esp.with_file(BOOTLOADER, |current, len| {
                if len != file.size {
                    return Ok(false);
                }
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 256 << 10];
                loop {
                    match current.read(&mut buf)? {
                        0 => return Ok(hex::encode(hasher.finalize()) == file.sha256),
                        n => hasher.update(&buf[..n]),
                    }
                }
            })?;
            Ok(same)
        }))
    }

    /// Whether it is the same; `None`: the ESP has no bootloader.
    pub fn wait(self) -> Result<Option<bool>> {
        self.0
            .join()
            .expect("comparing does not panic")
            .context("reading the current bootloader")
    }
}

/// Writes the bundle's bootloader as BOOTX64.NEW (verified, synced) unless
/// the current one is already `file` (`same`, from [`SameBootloader`];
/// `None`: the ESP has none, an error); the firmware never starts that
/// name. Returns whether one is now waiting there.
pub fn stage_bootloader(
    esp: &EspHandle,
    src: &BundleSource,
    file: &BundleFile,
    same: Option<bool>,
) -> Result<bool> {
    let same = same
        .with_context(|| format!("reading the current bootloader: the ESP has no {BOOTLOADER}"))?;
    if same {
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
    Ok(true)
}

/// Checks that BOOTX64.NEW still holds `file`'s bytes.
pub fn check_staged(esp: &EspHandle, file: &BundleFile) -> Result<()> {
    let staged = esp
        .read(STAGED, esp.partition_len())
        .with_context(|| format!("reading the staged bootloader {STAGED}"))?;
    let sha = hex::encode(Sha256::digest(&staged));
    anyhow::ensure!(
        sha == file.sha256,
        "{STAGED} has sha256 {sha}, the staged update expects {}; stage again",
        file.sha256
    );
    Ok(())
}

/// Swaps BOOTX64.NEW in (one sector write makes BOOTX64.EFI the new
/// file) and keeps the old one as BOOTX64.PRV.
pub fn swap_in_staged(esp: &EspHandle) -> Result<()> {
    if esp.exists(PREVIOUS) {
        esp.remove(PREVIOUS)?;
    }
    esp.swap(BOOTLOADER, STAGED)
        .context("switching to the new bootloader")?;
    esp.rename(STAGED, PREVIOUS)
        .context("keeping the previous bootloader")
}
