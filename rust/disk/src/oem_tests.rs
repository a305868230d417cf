//! The OEM partition read back from a real FAT volume in a disk image.

use super::*;
use crate::esp::{write_esp, EspFile, EspOptions};
use metalos_config::Resolved;
use uuid::Uuid;

const MIB: u64 = 1 << 20;
const OEM_LEN: u64 = 40 * MIB;

/// A 48 MiB disk image with partition 3 named `OEM` at 1 MiB, holding
/// `files` (none: left blank).
fn disk(files: &[(&str, &[u8])]) -> (tempfile::NamedTempFile, Disk, Gpt) {
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().set_len(48 * MIB).unwrap();
    let gpt = Gpt {
        sector_size: 512,
        total_sectors: 48 * MIB / 512,
        disk_guid: Uuid::from_u128(1),
        partitions: vec![Partition {
            number: 3,
            type_guid: Uuid::from_u128(0x0fc63daf_8483_4772_8e79_3d69d8477de4),
            guid: Uuid::from_u128(2),
            first_lba: MIB / 512,
            last_lba: (MIB + OEM_LEN) / 512 - 1,
            attributes: 0,
            name: OEM_PARTITION_LABEL.into(),
        }],
    };
    gpt.write(f.as_file()).unwrap();
    if !files.is_empty() {
        let files: Vec<EspFile> = files
            .iter()
            .map(|(path, bytes)| EspFile {
                path: path.to_string(),
                content: Resolved::Bytes(bytes.to_vec()),
            })
            .collect();
        let opts = EspOptions {
            sector_size: 512,
            volume_id: 7,
            label: "OEM".into(),
            mtime: 0,
        };
        write_esp(Region::new(f.as_file(), MIB, OEM_LEN), &opts, &files).unwrap();
    }
    let d = Disk {
        name: "test".into(),
        dev: f.path().to_owned(),
    };
    (f, d, gpt)
}

#[test]
fn reads_release_base_configs_in_name_order_and_user_config() {
    let (_f, d, gpt) = disk(&[
        (
            "oem-release",
            b"ID=qemu\nVERSION_ID=1.0\nNAME=\"MetalOS OEM qemu\"\n",
        ),
        ("base/20-b.ign", b"{\"b\":1}"),
        ("base/10-a.ign", b"{\"a\":1}"),
        ("base/README", b"not a config"),
        ("config.ign", b"{\"user\":1}"),
    ]);
    let oem = OemPartition::find(&d, &gpt).expect("found by label");
    assert_eq!(oem.number, 3);
    assert_eq!(oem.read_release().unwrap().unwrap().id, "qemu");
    let c = oem.read_contents().unwrap().unwrap();
    let release = c.release.unwrap();
    assert_eq!(release.version_id.as_deref(), Some("1.0"));
    let paths: Vec<_> = c.base_configs.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["base/10-a.ign", "base/20-b.ign"]);
    assert_eq!(c.base_configs[0].bytes, b"{\"a\":1}");
    assert_eq!(c.user_config.unwrap().bytes, b"{\"user\":1}");
}

#[test]
fn blank_partition_and_missing_files_are_not_errors() {
    let (_f, d, gpt) = disk(&[]);
    let oem = OemPartition::find(&d, &gpt).unwrap();
    assert_eq!(oem.read_release().unwrap(), None);
    assert_eq!(oem.read_contents().unwrap(), None);
    let (_f, d, gpt) = disk(&[("base/x.ign", b"{}")]);
    let oem = OemPartition::find(&d, &gpt).unwrap();
    assert_eq!(oem.read_release().unwrap(), None);
    let c = oem.read_contents().unwrap().unwrap();
    assert_eq!(
        (c.release, c.base_configs.len(), c.user_config),
        (None, 1, None)
    );
    let mut other = gpt.clone();
    other.partitions[0].name = "DATA".into();
    assert!(OemPartition::find(&d, &other).is_none());
}

#[test]
fn problems_name_the_partition() {
    let (f, d, gpt) = disk(&[("oem-release", b"VERSION_ID=1\n")]);
    let oem = OemPartition::find(&d, &gpt).unwrap();
    let e = oem.read_release().unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "OEM partition 3 on {}: oem-release: no ID= line",
            f.path().display()
        )
    );
    assert!(oem.read_contents().is_err());
    // A damaged volume (root directory cluster 0) is an error, not a panic.
    let (f, d, gpt) = disk(&[("oem-release", b"ID=qemu\n")]);
    use std::os::unix::fs::FileExt;
    f.as_file().write_all_at(&[0, 0, 0, 0], MIB + 44).unwrap();
    let e = OemPartition::find(&d, &gpt)
        .unwrap()
        .read_release()
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("OEM partition 3 on "), "{e}");
}
