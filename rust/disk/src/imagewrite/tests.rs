use super::*;
use crate::gpt::{Gpt, Partition};
use sha2::{Digest, Sha256};
use std::os::unix::fs::FileExt;
use uuid::Uuid;

pub(crate) const MIB: u64 = 1 << 20;

/// An 8 MiB GPT image: partition 1 (2 MiB of a pattern), partition 2
/// (mostly zero with one marked block), tables at both ends.
pub(crate) fn image(sector: u64) -> Vec<u8> {
    let size = 8 * MIB;
    let file = tempfile::tempfile().unwrap();
    file.set_len(size).unwrap();
    let lba = |b: u64| b / sector;
    let gpt = Gpt {
        sector_size: sector,
        total_sectors: size / sector,
        disk_guid: Uuid::from_u128(7),
        partitions: vec![
            Partition {
                number: 1,
                type_guid: Uuid::from_u128(1),
                guid: Uuid::from_u128(11),
                first_lba: lba(MIB),
                last_lba: lba(3 * MIB) - 1,
                attributes: 0,
                name: "ONE".into(),
            },
            Partition {
                number: 2,
                type_guid: Uuid::from_u128(2),
                guid: Uuid::from_u128(12),
                first_lba: lba(3 * MIB),
                last_lba: lba(6 * MIB) - 1,
                attributes: 0,
                name: "TWO".into(),
            },
        ],
    };
    gpt.write(&file).unwrap();
    let pattern: Vec<u8> = (0..2 * MIB).map(|i| (i % 251) as u8 + 1).collect();
    file.write_all_at(&pattern, MIB).unwrap();
    file.write_all_at(b"marker", 4 * MIB + 12345).unwrap();
    let mut out = vec![0u8; size as usize];
    file.read_exact_at(&mut out, 0).unwrap();
    out
}

pub(crate) fn expected(img: &[u8]) -> Expected {
    Expected {
        size: img.len() as u64,
        sha256: hex(&Sha256::digest(img)),
    }
}

/// A "disk" file full of old data, with an old GPT at both ends.
pub(crate) fn old_disk(size: u64) -> File {
    let disk = tempfile::tempfile().unwrap();
    disk.set_len(size).unwrap();
    let junk = vec![0xa5u8; size as usize];
    disk.write_all_at(&junk, 0).unwrap();
    let old = Gpt {
        sector_size: 512,
        total_sectors: size / 512,
        disk_guid: Uuid::from_u128(99),
        partitions: vec![],
    };
    old.write(&disk).unwrap();
    disk
}

pub(crate) fn read_all(disk: &File) -> Vec<u8> {
    let mut v = vec![0u8; device::size(disk).unwrap() as usize];
    disk.read_exact_at(&mut v, 0).unwrap();
    v
}

#[test]
fn writes_verifies_and_commits_tables_last() {
    let img = image(512);
    let disk = old_disk(12 * MIB);
    wipe_tables(&disk).unwrap();
    assert!(Gpt::read(&disk, 12 * MIB).is_err(), "no GPT after the wipe");
    let mut seen = vec![];
    let staged = stream_image(&disk, &mut img.as_slice(), &expected(&img), &mut |p| {
        seen.push(p)
    })
    .unwrap();
    assert_eq!(seen.last(), Some(&(8 * MIB)));
    assert_eq!(staged.sector_size(), 512);
    // Before the commit: body in place, but no valid table anywhere.
    assert!(Gpt::read(&disk, 12 * MIB).is_err(), "tables are held back");
    let on_disk = read_all(&disk);
    assert_eq!(
        &on_disk[MIB as usize..7 * MIB as usize],
        &img[MIB as usize..7 * MIB as usize]
    );
    assert!(staged.bytes_zeroed > 0 && staged.bytes_written < 6 * MIB);
    staged.verify(&disk).unwrap();
    let table = staged.table().unwrap();
    assert_eq!(table.partitions.len(), 2);
    assert_eq!(table.partitions[1].name, "TWO");
    staged.commit(&disk).unwrap();
    let on_disk = read_all(&disk);
    assert_eq!(
        &on_disk[..img.len()],
        img.as_slice(),
        "the image, bit for bit"
    );
    assert_eq!(
        &on_disk[12 * MIB as usize - MIB as usize..],
        vec![0u8; MIB as usize].as_slice()
    );
    let (gpt, _) = Gpt::read(&disk, 8 * MIB).unwrap();
    assert_eq!(gpt.disk_guid, Uuid::from_u128(7));
}

#[test]
fn bad_streams_leave_no_table() {
    let img = image(512);
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        (
            "truncated",
            img[..5 * MIB as usize].to_vec(),
            expected(&img),
        ),
        (
            "hash",
            {
                let mut bad = img.clone();
                bad[2 * MIB as usize] ^= 1;
                bad
            },
            expected(&img),
        ),
        ("too long", [img.clone(), vec![1]].concat(), expected(&img)),
        (
            "not an image",
            vec![0u8; 8 * MIB as usize],
            expected(&vec![0u8; 8 * MIB as usize]),
        ),
    ];
    for (name, stream, exp) in cases {
        let disk = old_disk(12 * MIB);
        wipe_tables(&disk).unwrap();
        let err = stream_image(&disk, &mut stream.as_slice(), &exp, &mut |_| {}).unwrap_err();
        let msg = err.to_string();
        match name {
            "truncated" => assert!(msg.contains("truncated"), "{msg}"),
            "hash" => assert!(msg.contains("sha256 mismatch"), "{msg}"),
            "too long" => assert!(msg.contains("longer"), "{msg}"),
            _ => assert!(msg.contains("not a disk image"), "{msg}"),
        }
        assert!(
            Gpt::read(&disk, 12 * MIB).is_err(),
            "{name}: no valid GPT left"
        );
    }
}

#[test]
fn refuses_small_disks_and_other_sector_sizes() {
    let img = image(4096);
    let disk = old_disk(4 * MIB);
    let err = stream_image(&disk, &mut img.as_slice(), &expected(&img), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("larger than the disk"), "{err}");
    // A regular file has 512-byte logical sectors.
    let disk = old_disk(12 * MIB);
    let err = stream_image(&disk, &mut img.as_slice(), &expected(&img), &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the image has 4096-byte sectors but the disk has 512-byte logical sectors"
    );
}

#[test]
fn read_back_detects_a_corrupted_disk() {
    let img = image(512);
    let disk = old_disk(12 * MIB);
    wipe_tables(&disk).unwrap();
    let staged = stream_image(&disk, &mut img.as_slice(), &expected(&img), &mut |_| {}).unwrap();
    disk.write_all_at(b"bitrot", 2 * MIB).unwrap();
    let err = staged.verify(&disk).unwrap_err();
    assert!(
        err.to_string().contains("read-back verification failed"),
        "{err}"
    );
}
