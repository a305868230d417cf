//! OpenStack config drives read in place, without mounting: the drive is
//! the block device whose ISO 9660 or FAT label is `config-2` or
//! `CONFIG-2` (what Ignition finds under `/dev/disk/by-label/`), found by
//! reading the label of every device in `/sys/class/block`.
//!
//! * `iso9660` — the ISO 9660 reader (Joliet, Rock Ridge, plain names);
//! * `fat` — the FAT12/16/32 reader (long names).

mod fat;
mod iso9660;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::PlatformError;

/// The labels of a config drive.
pub const LABELS: [&str; 2] = ["config-2", "CONFIG-2"];

/// The filesystem of a config drive.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fs {
    Iso(iso9660::Volume),
    Fat(fat::Volume),
}

/// A config drive found on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDrive {
    /// The device node (or image file).
    pub device: PathBuf,
    /// Its label ([`LABELS`]).
    pub label: String,
    fs: Fs,
}

impl ConfigDrive {
    /// Opens `device` and reads its label; `None` unless it is an ISO 9660
    /// or FAT filesystem labelled as in [`LABELS`].
    pub fn open(device: &Path) -> Option<ConfigDrive> {
        let file = File::open(device).ok()?;
        let (label, fs) = if let Some(v) = iso9660::volume(&file) {
            let label = [Some(v.label.clone()), v.joliet_label.clone()]
                .into_iter()
                .flatten()
                .find(|l| LABELS.contains(&l.as_str()))?;
            (label, Fs::Iso(v))
        } else {
            let v = fat::volume(&file)?;
            let label = [v.label(&file), v.boot_label.clone()]
                .into_iter()
                .find(|l| LABELS.contains(&l.as_str()))?;
            (label, Fs::Fat(v))
        };
        Some(ConfigDrive {
            device: device.to_path_buf(),
            label,
            fs,
        })
    }

    /// Whether the filesystem is ISO 9660 (else FAT).
    pub fn is_iso9660(&self) -> bool {
        matches!(self.fs, Fs::Iso(_))
    }

    /// Reads `path` (e.g. `openstack/latest/user_data`) of at most `limit`
    /// bytes; `Ok(None)` when the drive has no such file.
    pub fn read(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, PlatformError> {
        let file = File::open(&self.device).map_err(|e| self.error(format!("opening: {e}")))?;
        let result = match &self.fs {
            Fs::Iso(v) => v.read(&file, path, limit),
            Fs::Fat(v) => v.read(&file, path, limit),
        };
        result.map_err(|reason| self.error(reason))
    }

    fn error(&self, reason: String) -> PlatformError {
        PlatformError::ConfigDrive {
            device: self.device.clone(),
            label: self.label.clone(),
            reason,
        }
    }
}

/// Looks for a config drive among the block devices of
/// `sysfs/class/block` (device nodes under `dev`, named by each device's
/// `uevent` `DEVNAME=`, else by its sysfs name), in name order.
pub fn find(sysfs: &Path, dev: &Path) -> Option<ConfigDrive> {
    let mut names: Vec<String> = fs::read_dir(sysfs.join("class/block"))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let uevent = sysfs.join("class/block").join(&name).join("uevent");
        let devname = fs::read_to_string(uevent)
            .ok()
            .and_then(|u| {
                u.lines()
                    .find_map(|l| l.strip_prefix("DEVNAME=").map(str::to_string))
            })
            .unwrap_or(name);
        ConfigDrive::open(&dev.join(devname))
    })
}

#[cfg(test)]
pub(crate) mod tests;
