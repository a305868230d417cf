//! The OEM partition (GPT name `OEM`), read in place through the FAT code
//! of [`crate::esp`] like the ESP: `oem-release` (the platform id),
//! `base/*.ign` (base Ignition configs) and `config.ign` (a user config).
//! The image build writes it ([`crate::esp::write_esp`]); metalos-bootloader,
//! metalinit and `metalos inspect` read it with [`read_release`],
//! [`read_contents`] or an [`OemPartition`] on a disk.
//!
//! An OEM partition without a FAT filesystem (a blank one, as an image
//! without `[oem]` may carry) holds nothing: readers get `None`, not an
//! error. A FAT volume that is damaged, or an `oem-release` that does not
//! parse, is an error.

use crate::blockdev::Disk;
use crate::esp::{list_esp, read_esp_file_if_present, EspError};
use crate::gpt::{Gpt, Partition};
use crate::readat::WriteAt;
use crate::sparse::Region;
use metalos_contract::oem::{OemRelease, OemReleaseError, MAX_RELEASE_LEN, OEM_PARTITION_LABEL};
use metalos_contract::paths::OemPath;
use std::fs::File;
use std::path::PathBuf;

/// Why the contents of an OEM partition cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OemError {
    /// The FAT filesystem (or a file on it) cannot be read.
    #[error("{path}: {message}")]
    Fat {
        /// Path on the partition (`/` for the volume).
        path: String,
        /// What failed.
        message: String,
    },
    /// `oem-release` does not parse (the message includes the reason, so
    /// it is not also a `source`).
    #[error("oem-release: {0}")]
    Release(OemReleaseError),
}

impl From<OemReleaseError> for OemError {
    fn from(e: OemReleaseError) -> Self {
        Self::Release(e)
    }
}

impl From<EspError> for OemError {
    fn from(e: EspError) -> Self {
        match e {
            EspError::Fat { path, message } => Self::Fat { path, message },
            other => Self::Fat {
                path: "/".into(),
                message: other.to_string(),
            },
        }
    }
}

/// A file read from the OEM partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OemFile {
    /// Path on the partition (`base/10-x.ign`).
    pub path: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Everything MetalOS reads from an OEM partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OemContents {
    /// `oem-release`, when present.
    pub release: Option<OemRelease>,
    /// `base/*.ign`, in file-name order.
    pub base_configs: Vec<OemFile>,
    /// `config.ign`, when present.
    pub user_config: Option<OemFile>,
}

/// Whether `region` starts with a FAT boot sector (signature and type).
pub fn is_fat<D: WriteAt + ?Sized>(region: &Region<'_, D>) -> bool {
    let mut head = [0u8; 512];
    region.pread_exact(&mut head, 0).is_ok()
        && head[510] == 0x55
        && head[511] == 0xaa
        && (&head[82..87] == b"FAT32" || &head[54..57] == b"FAT")
}

/// `oem-release` of the OEM filesystem in `region`: `None` when the
/// partition has no FAT filesystem or no such file.
pub fn read_release<D: WriteAt + ?Sized>(
    region: Region<'_, D>,
) -> Result<Option<OemRelease>, OemError> {
    if !is_fat(&region) {
        return Ok(None);
    }
    let Some(bytes) = read_esp_file_if_present(region, OemPath::RELEASE.as_str(), MAX_RELEASE_LEN)?
    else {
        return Ok(None);
    };
    Ok(Some(OemRelease::parse(&bytes)?))
}

/// The paths of `base/*.ign` (any case of `.ign`), sorted by name.
pub fn base_config_paths<D: WriteAt + ?Sized>(
    region: Region<'_, D>,
) -> Result<Vec<String>, OemError> {
    let prefix = format!("{}/", OemPath::BASE_DIR);
    Ok(list_esp(region)?
        .into_iter()
        .filter(|e| !e.is_dir)
        .filter_map(|e| {
            let name = e.path.strip_prefix(&prefix)?;
            (!name.contains('/') && name.to_ascii_lowercase().ends_with(".ign")).then_some(e.path)
        })
        .collect())
}

/// Everything on the OEM filesystem of `file[offset..offset + len]`:
/// `None` when it holds no FAT filesystem. Files may be as large as the
/// partition.
pub fn read_contents<D: WriteAt + ?Sized>(
    file: &D,
    offset: u64,
    len: u64,
) -> Result<Option<OemContents>, OemError> {
    let region = || Region::new(file, offset, len);
    if !is_fat(&region()) {
        return Ok(None);
    }
    let release = read_release(region())?;
    let mut base_configs = vec![];
    for path in base_config_paths(region())? {
        let bytes = read_esp_file_if_present(region(), &path, len)?.unwrap_or_default();
        base_configs.push(OemFile { path, bytes });
    }
    let user = OemPath::USER_CONFIG.as_str();
    let user_config = read_esp_file_if_present(region(), user, len)?.map(|bytes| OemFile {
        path: user.to_string(),
        bytes,
    });
    Ok(Some(OemContents {
        release,
        base_configs,
        user_config,
    }))
}

/// An [`OemError`] located on a disk: the partition and the problem (one
/// message, no `source` chain).
#[derive(Debug, thiserror::Error)]
#[error("OEM partition {number} on {}: {problem}", dev.display())]
pub struct OemPartitionError {
    /// The disk's device node (or image file).
    pub dev: PathBuf,
    /// Partition number.
    pub number: u32,
    /// What is wrong.
    pub problem: OemError,
}

/// The OEM partition of a disk.
#[derive(Debug, Clone)]
pub struct OemPartition {
    /// The disk.
    pub disk: Disk,
    /// Partition number.
    pub number: u32,
    offset: u64,
    len: u64,
}

impl OemPartition {
    /// The partition `part` of `disk` (whose table is `gpt`).
    pub fn new(disk: Disk, gpt: &Gpt, part: &Partition) -> Self {
        Self {
            disk,
            number: part.number,
            offset: part.first_lba * gpt.sector_size,
            len: part.sectors() * gpt.sector_size,
        }
    }

    /// The first partition of `disk` named [`OEM_PARTITION_LABEL`], if any.
    pub fn find(disk: &Disk, gpt: &Gpt) -> Option<Self> {
        let part = gpt
            .partitions
            .iter()
            .find(|p| p.name == OEM_PARTITION_LABEL)?;
        Some(Self::new(disk.clone(), gpt, part))
    }

    fn located(&self, problem: OemError) -> OemPartitionError {
        OemPartitionError {
            dev: self.disk.dev.clone(),
            number: self.number,
            problem,
        }
    }

    fn open(&self) -> Result<File, OemPartitionError> {
        File::open(&self.disk.dev).map_err(|e| {
            self.located(OemError::Fat {
                path: "/".into(),
                message: format!("cannot open {}: {e}", self.disk.dev.display()),
            })
        })
    }

    /// `oem-release` ([`read_release`]).
    pub fn read_release(&self) -> Result<Option<OemRelease>, OemPartitionError> {
        let file = self.open()?;
        read_release(Region::new(&file, self.offset, self.len)).map_err(|e| self.located(e))
    }

    /// Everything on it ([`read_contents`]).
    pub fn read_contents(&self) -> Result<Option<OemContents>, OemPartitionError> {
        let file = self.open()?;
        read_contents(&file, self.offset, self.len).map_err(|e| self.located(e))
    }
}

#[cfg(test)]
#[path = "oem_tests.rs"]
mod tests;
