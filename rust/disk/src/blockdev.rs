//! Disks and partitions as the kernel sees them (`/sys/class/block`), and
//! their partition tables: what PID-1 programs and the host's update and
//! reset code look up on the running machine.

use crate::device;
use crate::gpt::{Gpt, GptError, Partition, TableHealth};
use metalos_contract::cmdline;
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

/// Reads the GPT of `disk` (primary, or the backup when the primary is damaged).
pub fn read_gpt(disk: &Disk) -> Result<(Gpt, TableHealth), GptError> {
    let file = File::open(&disk.dev)?;
    let size = device::size(&file)?;
    Gpt::read(&file, size)
}

/// Every disk holding a partition with GUID `guid` (several when identical
/// images sit on several disks), with that partition.
pub fn find_partitions(guid: &Uuid) -> Vec<(Disk, Gpt, Partition)> {
    disks()
        .into_iter()
        .filter_map(|d| {
            let (gpt, _) = read_gpt(&d).ok()?;
            let part = gpt.partitions.iter().find(|p| p.guid == *guid)?.clone();
            Some((d, gpt, part))
        })
        .collect()
}

/// The one disk holding partition `guid`. When several disks carry it, the
/// PCI path `hint` (see [`pci_path`]) picks one; without a unique answer
/// this is an error rather than a guess.
pub fn find_partition_on(
    guid: &Uuid,
    hint: Option<&str>,
) -> Result<(Disk, Gpt, Partition), String> {
    let mut found = find_partitions(guid);
    if found.len() > 1 {
        if let Some(h) = hint {
            found.retain(|(d, _, _)| pci_path(d).as_deref() == Some(h));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(not_found(guid, hint, &unreadable_tables())),
        n => Err(format!(
            "{n} disks carry partition {guid} and nothing tells which one booted"
        )),
    }
}

/// Disks whose partition table cannot be read, with why ([`find_partitions`]
/// skips them): a missing partition is often on one of these.
fn unreadable_tables() -> Vec<(String, String)> {
    disks()
        .into_iter()
        .filter_map(|d| {
            let e = read_gpt(&d).err()?;
            Some((d.dev.display().to_string(), e.to_string()))
        })
        .collect()
}

/// "No disk has partition `guid`", naming the disks whose table was
/// unreadable and why — a malformed GPT must not read as "not found".
fn not_found(guid: &Uuid, hint: Option<&str>, unreadable: &[(String, String)]) -> String {
    let mut m = format!(
        "no disk has partition {guid}{}",
        hint.map(|h| format!(" at {h}")).unwrap_or_default()
    );
    for (dev, e) in unreadable {
        m.push_str(&format!("; {dev}: {e}"));
    }
    m
}

/// The running system's boot disk and booted `/usr` slot, from the kernel
/// command line metalos-bootloader wrote (`metalos.usr=PARTUUID=…`,
/// `metalos.boot_disk=…`).
pub fn booted_slot(cmdline: &str) -> Result<(Disk, Gpt, Partition), String> {
    let usr = cmdline::value(cmdline, "metalos.usr").ok_or(
        "metalos.usr= is not on the kernel command line: not booted by metalos-bootloader",
    )?;
    let guid = Uuid::parse_str(usr.trim_start_matches("PARTUUID="))
        .map_err(|e| format!("metalos.usr={usr}: {e}"))?;
    find_partition_on(&guid, cmdline::value(cmdline, "metalos.boot_disk"))
}

/// The disk holding a partition with GUID `guid` (the first of several).
pub fn find_partition(guid: &Uuid) -> Option<(Disk, Gpt, Partition)> {
    find_partitions(guid).into_iter().next()
}

/// The PCI location of a disk's controller, e.g. `0000:00:03.0` or
/// `0000:00:1c.0/0000:01:00.0` behind a bridge: stable across kexec and
/// independent of probe order.
pub fn pci_path(disk: &Disk) -> Option<String> {
    let real = std::fs::canonicalize(Path::new(SYS_BLOCK).join(&disk.name)).ok()?;
    let parts: Vec<String> = real
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|c| is_pci_address(c))
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// `dddd:bb:ss.f`
fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s.chars().filter(|c| c.is_ascii_hexdigit()).count() == 9
}

/// The disk whose PCI path ends with the (device, function) chain of a
/// UEFI device path (as `metalos_boot::efivar::boot_current_pci_chain` reads it).
pub fn disk_for_pci_chain(chain: &[(u8, u8)]) -> Vec<Disk> {
    disks()
        .into_iter()
        .filter(|d| {
            let Some(path) = pci_path(d) else {
                return false;
            };
            let ours: Vec<(u8, u8)> = path
                .split('/')
                .filter_map(|a| {
                    let (dev, func) = a.get(8..)?.split_once('.')?;
                    Some((
                        u8::from_str_radix(dev, 16).ok()?,
                        u8::from_str_radix(func, 16).ok()?,
                    ))
                })
                .collect();
            ours == chain
        })
        .collect()
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

/// The device node of partition `number`, waiting up to 5 s for it to
/// appear (after a table re-read the kernel adds partitions asynchronously).
pub fn wait_for_partition(disk: &Disk, number: u32) -> std::io::Result<PathBuf> {
    for _ in 0..100 {
        if let Some(p) = partition_dev(disk, number).filter(|p| p.exists()) {
            return Ok(p);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!(
            "partition {number} of {} did not appear",
            disk.dev.display()
        ),
    ))
}

/// Asks the kernel to re-read the partition table (`BLKRRPART`).
pub fn reread_partitions(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    const BLKRRPART: libc::c_ulong = 0x125f;
    // SAFETY: ioctl without argument on an owned descriptor.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKRRPART as _) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(e.kind(), format!("BLKRRPART: {e}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_unreadable_tables() {
        let guid = Uuid::from_u128(1);
        assert_eq!(
            not_found(&guid, None, &[]),
            "no disk has partition 00000000-0000-0000-0000-000000000001"
        );
        let unreadable = [(
            "/dev/vda".to_string(),
            "no valid GPT found: primary: partitions 2 (USR-A) and 3 (USR-B) overlap".to_string(),
        )];
        assert_eq!(
            not_found(&guid, Some("0000:00:03.0"), &unreadable),
            "no disk has partition 00000000-0000-0000-0000-000000000001 at 0000:00:03.0; \
             /dev/vda: no valid GPT found: primary: partitions 2 (USR-A) and 3 (USR-B) overlap"
        );
    }
}
