//! The ESP of the boot disk, read (and, for the first-boot flag, written)
//! in place through the FAT code of `metalos-disk` — no vfat module or
//! mount needed in the initrd.

use crate::blockdev::{self, Disk};
use anyhow::{bail, Context, Result};
use metalos_config::hostconfig::{HostConfig, RootDisk};
use metalos_config::spec::type_guid;
use metalos_contract::paths::EspPath;
use metalos_disk::esp::{list_esp, read_esp_file, read_esp_file_if_present, remove_esp_file};
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::sparse::Region;
use std::fs::File;

/// Path of the HostConfig on the ESP.
pub const HOST_CONFIG: &str = EspPath::HOST_CONFIG.as_str();
/// Path of the first-boot flag on the ESP.
pub const FIRST_BOOT_FLAG: &str = EspPath::FIRST_BOOT_FLAG.as_str();
/// Largest HostConfig PID 1 reads (real ones are a few KiB; a corrupted
/// directory entry may claim gigabytes).
pub const HOST_CONFIG_MAX_LEN: u64 = 1 << 20;

/// An ESP partition on a disk.
#[derive(Debug, Clone)]
pub struct EspHandle {
    /// The disk.
    pub disk: Disk,
    /// Partition number.
    pub number: u32,
    offset: u64,
    len: u64,
}

impl EspHandle {
    /// The ESP `part` of `disk` (whose table is `gpt`).
    pub fn new(disk: Disk, gpt: &Gpt, part: Partition) -> Self {
        Self {
            disk,
            number: part.number,
            offset: part.first_lba * gpt.sector_size,
            len: part.sectors() * gpt.sector_size,
        }
    }

    /// The first ESP-type partition of `disk`, if any.
    pub fn find(disk: &Disk, gpt: &Gpt) -> Option<Self> {
        let esp = type_guid("esp")?;
        let part = gpt.partitions.iter().find(|p| p.type_guid == esp)?.clone();
        Some(Self::new(disk.clone(), gpt, part))
    }

    fn open(&self, write: bool) -> Result<File> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .open(&self.disk.dev)
            .with_context(|| format!("opening {}", self.disk.dev.display()))
    }

    /// Size of the ESP partition in bytes (no file on it can be larger).
    pub fn partition_len(&self) -> u64 {
        self.len
    }

    /// Reads a file of at most `max_len` bytes from the ESP.
    pub fn read(&self, path: &str, max_len: u64) -> Result<Vec<u8>> {
        let file = self.open(false)?;
        Ok(read_esp_file(
            Region::new(&file, self.offset, self.len),
            path,
            max_len,
        )?)
    }

    /// Whether `path` exists on the ESP.
    pub fn exists(&self, path: &str) -> bool {
        let Ok(file) = self.open(false) else {
            return false;
        };
        list_esp(Region::new(&file, self.offset, self.len))
            .map(|l| l.iter().any(|e| e.path.eq_ignore_ascii_case(path)))
            .unwrap_or(false)
    }

    /// Deletes `path` from the ESP and syncs the disk.
    pub fn remove(&self, path: &str) -> Result<()> {
        let file = self.open(true)?;
        remove_esp_file(Region::new(&file, self.offset, self.len), path)?;
        file.sync_all()?;
        Ok(())
    }

    /// Writes (creates or overwrites) a file on the ESP and syncs.
    pub fn write(&self, path: &str, content: &[u8]) -> Result<()> {
        let file = self.open(true)?;
        metalos_disk::esp::write_esp_file(
            Region::new(&file, self.offset, self.len),
            path,
            content,
        )?;
        file.sync_all()?;
        Ok(())
    }

    /// Renames a file within its directory and syncs.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let file = self.open(true)?;
        metalos_disk::esp::rename_esp_file(Region::new(&file, self.offset, self.len), from, to)?;
        file.sync_all()?;
        Ok(())
    }

    /// Atomically gives `target` the content of `staged` (and `staged` the
    /// old content of `target`); see [`metalos_disk::fatswap`].
    pub fn swap(&self, target: &str, staged: &str) -> Result<()> {
        let file = self.open(true)?;
        metalos_disk::fatswap::swap_contents(&file, self.offset, target, staged)?;
        Ok(())
    }

    /// The HostConfig on this ESP: `None` when absent, an error when present but invalid.
    pub fn read_host_config(&self) -> Result<Option<HostConfig>> {
        let file = self.open(false)?;
        let region = Region::new(&file, self.offset, self.len);
        let Some(bytes) = read_esp_file_if_present(region, HOST_CONFIG, HOST_CONFIG_MAX_LEN)
            .with_context(|| format!("reading {HOST_CONFIG} on {}", self.disk.dev.display()))?
        else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).context("HostConfig is not UTF-8")?;
        let config = HostConfig::from_json(&text).with_context(|| {
            format!(
                "invalid HostConfig {HOST_CONFIG} on {}",
                self.disk.dev.display()
            )
        })?;
        Ok(Some(config))
    }
}

/// Without LoaderDevicePartUUID: the disk named by a HostConfig root-disk
/// rule (serial or disk GUID) found on any disk's ESP.
pub fn by_host_config_rule() -> Result<(Disk, EspHandle)> {
    for disk in blockdev::disks() {
        let Ok((gpt, _)) = blockdev::read_gpt(&disk) else {
            continue;
        };
        let Some(esp) = EspHandle::find(&disk, &gpt) else {
            continue;
        };
        let Ok(Some(config)) = esp.read_host_config() else {
            continue;
        };
        let target = match &config.root_disk {
            RootDisk::BootDisk => continue,
            RootDisk::Serial(s) => blockdev::disks()
                .into_iter()
                .find(|d| blockdev::serial(d).as_deref() == Some(s.as_str())),
            RootDisk::DiskGuid(g) => blockdev::find_disk(g).map(|(d, _)| d),
        };
        let Some(target) = target else { continue };
        let (tgpt, _) = blockdev::read_gpt(&target)?;
        let tesp = EspHandle::find(&target, &tgpt)
            .with_context(|| format!("{} has no ESP", target.dev.display()))?;
        return Ok((target, tesp));
    }
    bail!("no ESP holds a HostConfig whose root-disk rule (serial or disk-guid) matches a disk")
}
