//! The platform id for the slot kernel: HostConfig override, the OEM
//! partition's `oem-release` read from a real FAT volume, and the
//! argument on the slot's command line.

use super::*;
use metalos_config::Resolved;
use metalos_contract::cmdline::value;
use metalos_disk::esp::{write_esp, EspFile, EspOptions};
use metalos_disk::gpt::Partition;
use metalos_disk::sparse::Region;
use uuid::Uuid;

const MIB: u64 = 1 << 20;

fn host(extra: &str) -> HostConfig {
    HostConfig::from_json(&format!(
        r#"{{"version": 1, "identity": {{"hostname": "n", "machine-id": "0123456789abcdef0123456789abcdef"}}{extra}}}"#
    ))
    .unwrap()
}

/// A disk image whose partition 6, named `OEM`, holds `oem-release` =
/// `release` (`None`: a blank partition).
fn disk(release: Option<&[u8]>) -> (tempfile::NamedTempFile, Disk, Gpt) {
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().set_len(48 * MIB).unwrap();
    let gpt = Gpt {
        sector_size: 512,
        total_sectors: 48 * MIB / 512,
        disk_guid: Uuid::from_u128(1),
        partitions: vec![Partition {
            number: 6,
            type_guid: Uuid::from_u128(0x0fc63daf_8483_4772_8e79_3d69d8477de4),
            guid: Uuid::from_u128(2),
            first_lba: MIB / 512,
            last_lba: 41 * MIB / 512 - 1,
            attributes: 0,
            name: "OEM".into(),
        }],
    };
    gpt.write(f.as_file()).unwrap();
    if let Some(text) = release {
        let files = [EspFile {
            path: "oem-release".into(),
            content: Resolved::Bytes(text.to_vec()),
        }];
        let opts = EspOptions {
            sector_size: 512,
            volume_id: 1,
            label: "OEM".into(),
            mtime: 0,
        };
        write_esp(Region::new(f.as_file(), MIB, 40 * MIB), &opts, &files).unwrap();
    }
    let d = Disk {
        name: "t".into(),
        dev: f.path().to_owned(),
    };
    (f, d, gpt)
}

#[test]
fn host_config_overrides_without_reading_the_partition() {
    let h = host(r#", "oem-id": "openstack""#);
    let chosen = choose::<()>(Some(&h), || panic!("the partition must not be read"));
    assert_eq!(
        chosen,
        Ok(Some(("openstack".into(), OemIdSource::HostConfig)))
    );
    let release = OemRelease::parse(b"ID=qemu").unwrap();
    let chosen = choose::<()>(Some(&host("")), || Ok(Some((6, release.clone()))));
    assert_eq!(chosen, Ok(Some(("qemu".into(), OemIdSource::Partition(6)))));
    assert_eq!(choose::<()>(None, || Ok(None)), Ok(None));
}

#[test]
fn reads_oem_release_from_the_disk() {
    let (_f, d, gpt) = disk(Some(b"ID=qemu\nVERSION_ID=1.0\nNAME=\"x\"\n"));
    assert_eq!(
        slot_oem_id("test", &d, &gpt, None).unwrap().as_deref(),
        Some("qemu")
    );
    let h = host(r#", "oem_id": "aws""#);
    assert_eq!(
        slot_oem_id("test", &d, &gpt, Some(&h)).unwrap().as_deref(),
        Some("aws")
    );
    // Blank OEM partition, or none at all: no id, no error.
    let (_f, d, mut gpt) = disk(None);
    assert_eq!(
        slot_oem_id("test", &d, &gpt, Some(&host(""))).unwrap(),
        None
    );
    gpt.partitions[0].name = "DATA".into();
    assert_eq!(slot_oem_id("test", &d, &gpt, None).unwrap(), None);
}

#[test]
fn malformed_oem_release_is_an_error_naming_the_partition() {
    let (f, d, gpt) = disk(Some(b"ID=Not A Token\n"));
    let e = slot_oem_id("test", &d, &gpt, None).unwrap_err().to_string();
    let want = format!(
        "OEM partition 6 on {}: oem-release: line 1: \"Not A Token\": a value with spaces or quotes must be quoted",
        f.path().display()
    );
    assert!(e.starts_with(&want), "{e}");
    assert!(e.contains("set the HostConfig's oem-id"), "{e}");
    // The override still boots such a machine.
    let h = host(r#", "oem-id": "metal""#);
    assert_eq!(
        slot_oem_id("test", &d, &gpt, Some(&h)).unwrap().as_deref(),
        Some("metal")
    );
}

#[test]
fn the_argument_goes_last_on_the_slot_command_line() {
    let (_f, _d, gpt) = disk(None);
    let slot = gpt.partitions[0].clone();
    let h = host(r#", "kernel": {"extra-args": ["metalos.oem.id=stale"]}, "oem-id": "qemu""#);
    let line =
        crate::slotboot::slot_cmdline("console=ttyS0", Some(&h), &slot, &gpt, None, true, "");
    let line = with_oem_id(line, h.oem_id.as_deref());
    assert!(line.ends_with(" metalos.oem.id=qemu"), "{line}");
    assert_eq!(value(&line, OEM_ID), Some("qemu"));
    let plain = crate::slotboot::slot_cmdline("quiet", None, &slot, &gpt, None, false, "");
    assert_eq!(with_oem_id(plain.clone(), None), plain);
    assert!(!plain.contains(OEM_ID));
}
