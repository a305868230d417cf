//! Config drives made by the tools clouds use (genisoimage as nova runs
//! it, mkfs.fat + mcopy), read back in place.

use super::*;
use std::path::Path;
use std::process::Command;

/// A user_data bigger than a FAT cluster and an ISO block.
pub(crate) fn user_data() -> Vec<u8> {
    let mut d = br#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/x","contents":{"source":"data:,"#.to_vec();
    d.extend(std::iter::repeat_n(b'a', 9000));
    d.extend(br#""}}]}}"#);
    d
}

/// A config drive tree in `dir/tree`: user_data (unless `with_user_data`
/// is false), meta_data.json, ec2 meta-data.json, and 80 more files so
/// that directories span several sectors and clusters.
pub(crate) fn tree(dir: &Path, with_user_data: bool) -> std::path::PathBuf {
    let root = dir.join("tree");
    let _ = std::fs::remove_dir_all(&root);
    let latest = root.join("openstack/latest");
    std::fs::create_dir_all(&latest).unwrap();
    std::fs::create_dir_all(root.join("ec2/latest")).unwrap();
    if with_user_data {
        std::fs::write(latest.join("user_data"), user_data()).unwrap();
    }
    std::fs::write(latest.join("meta_data.json"), r#"{"uuid":"u-1"}"#).unwrap();
    std::fs::write(
        root.join("ec2/latest/meta-data.json"),
        r#"{"instance-id":"i-1"}"#,
    )
    .unwrap();
    for i in 0..80 {
        std::fs::write(
            latest.join(format!("padding-file-with-a-long-name-{i:03}.txt")),
            "x",
        )
        .unwrap();
    }
    root
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/install-deps)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ISO 9660 image of `tree` labelled `label`, made with `flags`.
pub(crate) fn iso(tree: &Path, out: &Path, label: &str, flags: &[&str]) {
    run(Command::new("genisoimage")
        .args(["-quiet", "-o"])
        .arg(out)
        .args(["-V", label])
        .args(flags)
        .arg(tree));
}

/// nova's genisoimage flags (nova/virt/configdrive.py): Joliet and Rock
/// Ridge, lowercase and long names in the primary tree.
pub(crate) const NOVA_FLAGS: &[&str] = &[
    "-ldots",
    "-allow-lowercase",
    "-allow-multidot",
    "-l",
    "-J",
    "-r",
];

/// A FAT image (`bits` 12, 16 or 32) of `tree` labelled `label`.
pub(crate) fn fat(tree: &Path, out: &Path, label: &str, bits: u32) {
    let kib = match bits {
        12 => "2048",
        16 => "65536",
        _ => "300000",
    };
    let _ = std::fs::remove_file(out);
    run(Command::new("mkfs.fat").arg("-C").arg(out).arg(kib).args([
        "-F",
        &bits.to_string(),
        "-n",
        label,
    ]));
    let mut mcopy = Command::new("mcopy");
    mcopy.arg("-s").arg("-i").arg(out);
    for entry in std::fs::read_dir(tree).unwrap() {
        mcopy.arg(entry.unwrap().path());
    }
    run(mcopy.arg("::/"));
}

fn read(image: &Path, path: &str) -> Option<Vec<u8>> {
    let drive = ConfigDrive::open(image).expect("a config drive");
    drive.read(path, 1 << 20).unwrap()
}

#[test]
fn iso_images_as_nova_and_others_make_them() {
    let dir = tempfile::tempdir().unwrap();
    let tree = tree(dir.path(), true);
    let variants: [&[&str]; 4] = [NOVA_FLAGS, &["-r"], &["-J"], &["-l", "-allow-lowercase"]];
    for flags in variants {
        let image = dir.path().join("cd.iso");
        iso(&tree, &image, "config-2", flags);
        let drive = ConfigDrive::open(&image).unwrap_or_else(|| panic!("{flags:?}"));
        assert!(drive.is_iso9660());
        assert_eq!(drive.label, "config-2");
        assert_eq!(
            read(&image, "openstack/latest/user_data"),
            Some(user_data()),
            "{flags:?}"
        );
        assert_eq!(
            read(&image, "/openstack/latest/meta_data.json").unwrap(),
            br#"{"uuid":"u-1"}"#
        );
        assert_eq!(read(&image, "openstack/latest/vendor_data.json"), None);
        assert_eq!(read(&image, "openstack/missing/user_data"), None);
        assert_eq!(
            read(&image, "openstack/latest"),
            None,
            "a directory is not a file"
        );
    }
}

#[test]
fn iso_meta_data_with_a_dash_in_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let tree = tree(dir.path(), false);
    for flags in [NOVA_FLAGS, &["-J"][..], &["-r"]] {
        let image = dir.path().join("cd.iso");
        iso(&tree, &image, "CONFIG-2", flags);
        assert_eq!(ConfigDrive::open(&image).unwrap().label, "CONFIG-2");
        assert_eq!(
            read(&image, "ec2/latest/meta-data.json").unwrap(),
            br#"{"instance-id":"i-1"}"#
        );
        assert_eq!(read(&image, "openstack/latest/user_data"), None);
    }
}

#[test]
fn fat12_16_32_images() {
    let dir = tempfile::tempdir().unwrap();
    let tree = tree(dir.path(), true);
    for (bits, label) in [(12, "config-2"), (16, "CONFIG-2"), (32, "config-2")] {
        let image = dir.path().join("drive.img");
        fat(&tree, &image, label, bits);
        let drive = ConfigDrive::open(&image).unwrap_or_else(|| panic!("FAT{bits}"));
        assert!(!drive.is_iso9660());
        assert_eq!(drive.label, label);
        assert_eq!(
            read(&image, "openstack/latest/user_data"),
            Some(user_data()),
            "FAT{bits}"
        );
        assert_eq!(
            read(&image, "OPENSTACK/Latest/META_DATA.JSON").unwrap(),
            br#"{"uuid":"u-1"}"#
        );
        assert_eq!(
            read(&image, "ec2/latest/meta-data.json").unwrap(),
            br#"{"instance-id":"i-1"}"#
        );
        assert_eq!(
            read(
                &image,
                "openstack/latest/padding-file-with-a-long-name-079.txt"
            )
            .unwrap(),
            b"x"
        );
        assert_eq!(read(&image, "openstack/latest/nothing"), None);
    }
}

#[test]
fn other_labels_and_filesystems_are_not_config_drives() {
    let dir = tempfile::tempdir().unwrap();
    let tree = tree(dir.path(), true);
    let image = dir.path().join("other.iso");
    iso(&tree, &image, "cidata", NOVA_FLAGS);
    assert!(ConfigDrive::open(&image).is_none());
    fat(&tree, &image, "OEM", 16);
    assert!(ConfigDrive::open(&image).is_none());
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    assert!(ConfigDrive::open(&image).is_none());
    assert!(ConfigDrive::open(&dir.path().join("missing")).is_none());
}

#[test]
fn a_looping_fat_chain_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let tree = tree(dir.path(), true);
    let image = dir.path().join("drive.img");
    fat(&tree, &image, "config-2", 16);
    let bytes = std::fs::read(&image).unwrap();
    let v = fat::volume(&std::fs::File::open(&image).unwrap()).unwrap();
    assert_eq!(v.kind, fat::Kind::Fat16);
    // Point every FAT16 entry at cluster 2: every chain loops.
    let reserved = u64::from(u16::from_le_bytes([bytes[14], bytes[15]]));
    let fat_sectors = u64::from(u16::from_le_bytes([bytes[22], bytes[23]]));
    let mut broken = bytes.clone();
    let start = (reserved * 512) as usize;
    for c in 2..(fat_sectors * 512 / 2) as usize {
        broken[start + 2 * c..start + 2 * c + 2].copy_from_slice(&2u16.to_le_bytes());
    }
    std::fs::write(&image, &broken).unwrap();
    let drive = ConfigDrive::open(&image).unwrap();
    let e = drive
        .read("openstack/latest/user_data", 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "config drive {} (label \"config-2\"): ",
            image.display()
        )),
        "{e}"
    );
    assert!(e.contains("loops") || e.contains("outside"), "{e}");
}

#[test]
fn the_size_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let tree = tree(dir.path(), true);
    let image = dir.path().join("cd.iso");
    iso(&tree, &image, "config-2", NOVA_FLAGS);
    let e = ConfigDrive::open(&image)
        .unwrap()
        .read("openstack/latest/user_data", 100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than the limit of 100"), "{e}");
}

/// A fake sysfs/dev pair holding `images` as block devices `name`.
pub(crate) fn fake_machine(dir: &Path, images: &[(&str, &Path)]) -> (PathBuf, PathBuf) {
    let (sysfs, dev) = (dir.join("sys"), dir.join("dev"));
    std::fs::create_dir_all(sysfs.join("class/block")).unwrap();
    std::fs::create_dir_all(&dev).unwrap();
    for (name, image) in images {
        add_device(&sysfs, &dev, name, image);
    }
    (sysfs, dev)
}

/// Adds `image` as block device `name` (a sysfs dir with `uevent`).
pub(crate) fn add_device(sysfs: &Path, dev: &Path, name: &str, image: &Path) {
    // The device node whole first, then its sysfs entry (a device appears
    // whole; a scan must never see half an image).
    let tmp = dev.join(format!(".{name}.tmp"));
    std::fs::copy(image, &tmp).unwrap();
    std::fs::rename(&tmp, dev.join(name)).unwrap();
    let node = sysfs.join("class/block").join(name);
    std::fs::create_dir_all(&node).unwrap();
    std::fs::write(
        node.join("uevent"),
        format!("MAJOR=11\nMINOR=0\nDEVNAME={name}\nDEVTYPE=disk\n"),
    )
    .unwrap();
}

#[test]
fn find_scans_block_devices_by_label() {
    let dir = tempfile::tempdir().unwrap();
    let tree = tree(dir.path(), true);
    let (other, drive) = (dir.path().join("other.iso"), dir.path().join("drive.img"));
    iso(&tree, &other, "cidata", NOVA_FLAGS);
    fat(&tree, &drive, "config-2", 16);
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let (sysfs, dev) = fake_machine(
        dir.path(),
        &[("sr0", &other), ("vda", &empty), ("vdb", &drive)],
    );
    let found = find(&sysfs, &dev).unwrap();
    assert_eq!(found.device, dev.join("vdb"));
    assert_eq!(found.label, "config-2");
    assert!(find(&dir.path().join("nothing"), &dev).is_none());
}
