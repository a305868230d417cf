//! An ESP partition on a block device (or image file), read and written
//! in place through the FAT code of [`crate::esp`] and [`crate::fatswap`]
//! — no vfat module or mount needed in an initrd.

use crate::blockdev::Disk;
use crate::esp::{
    list_esp, read_esp_file, read_esp_file_if_present, remove_esp_file, rename_esp_file,
    with_esp_file, write_esp_file, EspError, ReadSeek,
};
use crate::fatswap::{swap_contents, SwapError};
use crate::gpt::{Gpt, Partition};
use crate::readcache::CachedReads;
use crate::sparse::Region;
use metalos_config::hostconfig::HostConfig;
use metalos_config::spec::type_guid;
use metalos_config::FieldError;
use metalos_contract::paths::EspPath;
use std::fs::File;
use std::path::PathBuf;
use std::string::FromUtf8Error;

/// Path of the HostConfig on the ESP.
pub const HOST_CONFIG: &str = EspPath::HOST_CONFIG.as_str();
/// Path of the first-boot flag on the ESP.
pub const FIRST_BOOT_FLAG: &str = EspPath::FIRST_BOOT_FLAG.as_str();
/// Largest HostConfig PID 1 reads (real ones are a few KiB; a corrupted
/// directory entry may claim gigabytes).
pub const HOST_CONFIG_MAX_LEN: u64 = 1 << 20;

/// Why an ESP partition could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum EspPartitionError {
    /// The device holding the ESP cannot be opened.
    #[error("opening {}", dev.display())]
    Open {
        /// The device node (or image file).
        dev: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The FAT filesystem refused the read or write.
    #[error(transparent)]
    Fat(#[from] EspError),
    /// Swapping two directory entries failed.
    #[error(transparent)]
    Swap(#[from] SwapError),
    /// Syncing the device failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The HostConfig is present but cannot be read.
    #[error("reading {HOST_CONFIG} on {}", dev.display())]
    ReadHostConfig {
        /// The device node.
        dev: PathBuf,
        /// Why.
        source: EspError,
    },
    /// The HostConfig is not UTF-8.
    #[error("HostConfig is not UTF-8")]
    HostConfigNotUtf8(#[source] FromUtf8Error),
    /// The HostConfig does not parse or validate.
    #[error("invalid HostConfig {HOST_CONFIG} on {}", dev.display())]
    InvalidHostConfig {
        /// The device node.
        dev: PathBuf,
        /// Why.
        source: FieldError,
    },
}

type Result<T> = std::result::Result<T, EspPartitionError>;

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
            .map_err(|source| EspPartitionError::Open {
                dev: self.disk.dev.clone(),
                source,
            })
    }

    /// Size of the ESP partition in bytes (no file on it can be larger).
    pub fn partition_len(&self) -> u64 {
        self.len
    }

    /// The partition read through a [`CachedReads`] (reads only).
    fn cached<'a>(&self, file: &'a File) -> CachedReads<'a, File> {
        CachedReads::new(file, self.offset + self.len)
    }

    /// Reads a file of at most `max_len` bytes from the ESP.
    pub fn read(&self, path: &str, max_len: u64) -> Result<Vec<u8>> {
        let file = self.open(false)?;
        let cache = self.cached(&file);
        Ok(read_esp_file(
            Region::new(&cache, self.offset, self.len),
            path,
            max_len,
        )?)
    }

    /// Opens `path` on the ESP and hands `f` a reader over it and its
    /// length; `None` when there is no such file.
    pub fn with_file<R>(
        &self,
        path: &str,
        f: impl FnOnce(&mut dyn ReadSeek, u64) -> std::io::Result<R>,
    ) -> Result<Option<R>> {
        let file = self.open(false)?;
        let cache = self.cached(&file);
        Ok(with_esp_file(
            Region::new(&cache, self.offset, self.len),
            path,
            f,
        )?)
    }

    /// Whether `path` exists on the ESP.
    pub fn exists(&self, path: &str) -> bool {
        let Ok(file) = self.open(false) else {
            return false;
        };
        let cache = self.cached(&file);
        list_esp(Region::new(&cache, self.offset, self.len))
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
        write_esp_file(Region::new(&file, self.offset, self.len), path, content)?;
        file.sync_all()?;
        Ok(())
    }

    /// Renames a file within its directory and syncs.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let file = self.open(true)?;
        rename_esp_file(Region::new(&file, self.offset, self.len), from, to)?;
        file.sync_all()?;
        Ok(())
    }

    /// Atomically gives `target` the content of `staged` (and `staged` the
    /// old content of `target`); see [`crate::fatswap`].
    pub fn swap(&self, target: &str, staged: &str) -> Result<()> {
        let file = self.open(true)?;
        swap_contents(&file, self.offset, target, staged)?;
        Ok(())
    }

    /// The HostConfig on this ESP: `None` when absent, an error when present but invalid.
    pub fn read_host_config(&self) -> Result<Option<HostConfig>> {
        let file = self.open(false)?;
        let cache = self.cached(&file);
        let region = Region::new(&cache, self.offset, self.len);
        let dev = || self.disk.dev.clone();
        let Some(bytes) = read_esp_file_if_present(region, HOST_CONFIG, HOST_CONFIG_MAX_LEN)
            .map_err(|source| EspPartitionError::ReadHostConfig { dev: dev(), source })?
        else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(EspPartitionError::HostConfigNotUtf8)?;
        let config = HostConfig::from_json(&text)
            .map_err(|source| EspPartitionError::InvalidHostConfig { dev: dev(), source })?;
        Ok(Some(config))
    }
}
