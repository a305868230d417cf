//! Which disk metalimage images: the HostConfig's root-disk rule (serial,
//! disk GUID), or with none the single non-removable disk.

use anyhow::{bail, Result};
use metalos_config::hostconfig::RootDisk;
use metalos_disk::blockdev::{self, Disk};
use std::path::Path;

/// A disk as the target choice sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The disk.
    pub disk: Disk,
    /// `/sys/block/X/removable` is 1.
    pub removable: bool,
    /// Serial number, if the device reports one.
    pub serial: Option<String>,
    /// GPT disk GUID, if the disk has a valid table.
    pub disk_guid: Option<uuid::Uuid>,
}

impl Candidate {
    fn describe(&self) -> String {
        let mut s = self.disk.dev.display().to_string();
        if let Some(serial) = &self.serial {
            s += &format!(" (serial {serial})");
        }
        if self.removable {
            s += " (removable)";
        }
        s
    }
}

/// The disks of this machine with what the rule can match on.
pub fn candidates() -> Vec<Candidate> {
    blockdev::disks()
        .into_iter()
        .map(|disk| {
            let sys = Path::new("/sys/class/block").join(&disk.name);
            let removable = std::fs::read_to_string(sys.join("removable"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false);
            let serial = blockdev::serial(&disk);
            let disk_guid = blockdev::read_gpt(&disk).ok().map(|(g, _)| g.disk_guid);
            Candidate {
                disk,
                removable,
                serial,
                disk_guid,
            }
        })
        .collect()
}

/// The disk to image: the HostConfig's root-disk rule (serial, disk GUID),
/// or with none the single non-removable disk.
pub fn choose_target(rule: &RootDisk, candidates: &[Candidate]) -> Result<Disk> {
    let list = || {
        candidates
            .iter()
            .map(Candidate::describe)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found: Vec<&Candidate> = match rule {
        RootDisk::Serial(s) => candidates
            .iter()
            .filter(|c| c.serial.as_deref() == Some(s))
            .collect(),
        RootDisk::DiskGuid(g) => candidates
            .iter()
            .filter(|c| c.disk_guid == Some(*g))
            .collect(),
        RootDisk::BootDisk => candidates.iter().filter(|c| !c.removable).collect(),
    };
    match (rule, found.as_slice()) {
        (_, [one]) => Ok(one.disk.clone()),
        (RootDisk::BootDisk, []) => bail!("no non-removable disk to image (found: {})", list()),
        (RootDisk::BootDisk, _) => bail!(
            "several disks could be imaged: {}; name one with the HostConfig's root-disk rule \
             (serial or disk-guid)",
            list()
        ),
        (RootDisk::Serial(s), []) => {
            bail!("root-disk: no disk has serial {s:?} (found: {})", list())
        }
        (RootDisk::DiskGuid(g), []) => bail!(
            "root-disk: no disk has GPT disk GUID {g} (found: {})",
            list()
        ),
        (_, _) => bail!("root-disk: several disks match the rule: {}", list()),
    }
}
