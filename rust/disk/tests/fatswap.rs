//! The FAT entry swap replaces a file's content atomically and leaves a
//! volume that fsck.fat accepts.

use metalos_config::Resolved;
use metalos_disk::esp::{read_esp_file, write_esp, EspFile, EspOptions};
use metalos_disk::fatswap::swap_contents;
use metalos_disk::sparse::Region;

#[test]
fn swap_exchanges_contents_and_fsck_agrees() {
    let f = tempfile::NamedTempFile::new().unwrap();
    let file = f.as_file();
    file.set_len(40 << 20).unwrap();
    let old: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let new: Vec<u8> = (0..500_000u32).map(|i| (i % 241) as u8 ^ 0x5a).collect();
    let files = vec![
        EspFile {
            path: "EFI/BOOT/BOOTX64.EFI".into(),
            content: Resolved::Bytes(old.clone()),
        },
        EspFile {
            path: "EFI/BOOT/BOOTX64.NEW".into(),
            content: Resolved::Bytes(new.clone()),
        },
    ];
    let opts = EspOptions {
        sector_size: 512,
        volume_id: 1,
        label: "ESP".into(),
        mtime: 0,
    };
    write_esp(Region::new(file, 0, 40 << 20), &opts, &files).unwrap();
    swap_contents(file, 0, "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/BOOTX64.NEW").unwrap();
    let region = || Region::new(file, 0, 40 << 20);
    assert_eq!(
        read_esp_file(region(), "EFI/BOOT/BOOTX64.EFI", u64::MAX).unwrap(),
        new
    );
    assert_eq!(
        read_esp_file(region(), "EFI/BOOT/BOOTX64.NEW", u64::MAX).unwrap(),
        old
    );
    let out = std::process::Command::new("fsck.fat")
        .arg("-n")
        .arg(f.path())
        .output()
        .expect("fsck.fat (dosfstools)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
