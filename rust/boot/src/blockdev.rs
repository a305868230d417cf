//! Disks and partitions as the kernel sees them (`/sys/class/block`), and
//! their partition tables.

use metalos_disk::gpt::{Gpt, GptError, Partition, TableHealth};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A whole disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name, e.g. `vda`.
    pub name: String,
    /// Device node, e.g. `/dev/vda`.
    pub dev: PathBuf,
}

const SYS_BLOCK: &str = "/sys/class/block";

/// Whole disks (not partitions, loop, ram or optical devices), sorted by name.
pub fn disks() -> Vec<Disk> {
    let mut out: Vec<Disk> = std::fs::read_dir(SYS_BLOCK)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let sys = e.path();
            let skip = ["loop", "ram", "zram", "sr", "fd", "dm-"]
                .iter()
                .any(|p| name.starts_with(p));
            (!skip && !sys.join("partition").exists()).then(|| Disk {
                dev: Path::new("/dev").join(&name),
                name,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Waits until at least one disk is visible (drivers probe asynchronously).
pub fn wait_for_disks(timeout: Duration) -> Vec<Disk> {
    let start = Instant::now();
    loop {
        let found = disks();
        if !found.is_empty() || start.elapsed() > timeout {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Device node of partition `number` of `disk`.
pub fn partition_dev(disk: &Disk, number: u32) -> Option<PathBuf> {
    let dir = Path::new(SYS_BLOCK).join(&disk.name);
    std::fs::read_dir(&dir).ok()?.flatten().find_map(|e| {
        let n = std::fs::read_to_string(e.path().join("partition")).ok()?;
        (n.trim().parse::<u32>().ok()? == number).then(|| Path::new("/dev").join(e.file_name()))
    })
}

/// Size of a file or block device in bytes.
pub fn device_size(file: &File) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::End(0))
}

/// Reads the GPT of `disk` (primary, or the backup when the primary is damaged).
pub fn read_gpt(disk: &Disk) -> Result<(Gpt, TableHealth), GptError> {
    let file = File::open(&disk.dev)?;
    let size = device_size(&file)?;
    Gpt::read(&file, size)
}

/// The disk holding a partition with GUID `guid`, and that partition.
pub fn find_partition(guid: &Uuid) -> Option<(Disk, Gpt, Partition)> {
    disks().into_iter().find_map(|d| {
        let (gpt, _) = read_gpt(&d).ok()?;
        let part = gpt.partitions.iter().find(|p| p.guid == *guid)?.clone();
        Some((d, gpt, part))
    })
}

/// The disk whose GPT disk GUID is `guid`.
pub fn find_disk(guid: &Uuid) -> Option<(Disk, Gpt)> {
    disks().into_iter().find_map(|d| {
        let (gpt, _) = read_gpt(&d).ok()?;
        (gpt.disk_guid == *guid).then_some((d, gpt))
    })
}

/// Serial number the kernel reports for `disk` (virtio: `serial`, SCSI/NVMe: `device/serial`).
pub fn serial(disk: &Disk) -> Option<String> {
    let sys = Path::new(SYS_BLOCK).join(&disk.name);
    ["serial", "device/serial", "device/vpd_pg80"]
        .iter()
        .find_map(|f| std::fs::read_to_string(sys.join(f)).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Asks the kernel to re-read the partition table (`BLKRRPART`).
pub fn reread_partitions(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    const BLKRRPART: libc::c_ulong = 0x125f;
    // SAFETY: ioctl without argument on an owned descriptor.
    if unsafe { libc::ioctl(file.as_raw_fd(), BLKRRPART as _) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
