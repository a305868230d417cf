//! `fat`: the ESP as PID 1 reads it (list, the HostConfig, the first-boot
//! flag) through `metalos_disk::esp` and lamfat.

use super::vdisk::VirtualDisk;
use metalos_disk::esp::{list_esp, read_esp_file};
use metalos_disk::esp_partition::{FIRST_BOOT_FLAG, HOST_CONFIG};
use metalos_disk::sparse::Region;

/// Files larger than this are listed but not read (PID 1 reads small files).
const READ_LIMIT: u64 = 64 << 10;
/// Files read per input.
const READ_COUNT: usize = 8;

/// Decodes an ESP in the extent format ([`VirtualDisk::from_extents`]):
/// lists it, reads the small files it lists and the paths PID 1 reads.
pub fn fat(data: &[u8]) {
    let disk = VirtualDisk::from_extents(data, u64::MAX);
    let region = || Region::new(&disk, 0, disk.len());
    if let Ok(list) = list_esp(region()) {
        assert!(list.windows(2).all(|w| w[0].path <= w[1].path));
        // lamfat resolves a path by its own rules (trimming, case), so a
        // corrupted directory's odd name may open a different entry: a
        // read is bounded by the largest listed file, not by its own entry.
        let largest = list.iter().map(|e| e.size).max().unwrap_or(0);
        for e in list
            .iter()
            .filter(|e| !e.is_dir && e.size <= READ_LIMIT)
            .take(READ_COUNT)
        {
            if let Ok(bytes) = read_esp_file(region(), &e.path, READ_LIMIT) {
                assert!(
                    bytes.len() as u64 <= largest,
                    "{} is longer than any file listed",
                    e.path
                );
            }
        }
    }
    for path in [HOST_CONFIG, FIRST_BOOT_FLAG] {
        if let Ok(bytes) = read_esp_file(region(), path, READ_LIMIT) {
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = metalos_config::hostconfig::HostConfig::from_json(text);
            }
        }
    }
}
