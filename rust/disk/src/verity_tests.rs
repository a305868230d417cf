//! Tests of the verity tree: shape, and agreement with cryptsetup's
//! `veritysetup` (an independent implementation) on root hash, tree bytes
//! and verification.

use super::*;
use crate::slotdesc::{decode, PAYLOAD_FILES};
use crate::slotverity::{check_slot, read_descriptor, write_slot_verity, SlotVerityInput};
use std::path::Path;
use std::process::Command;

fn data(blocks: u64) -> Vec<u8> {
    // Deterministic, not all-zero, with one all-zero block in the middle.
    let mut v: Vec<u8> = (0..blocks * BLOCK)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    if blocks > 2 {
        let z = (blocks / 2 * BLOCK) as usize;
        v[z..z + BLOCK as usize].fill(0);
    }
    v
}

const SALT: [u8; 32] = [0x5a; 32];
const UUID: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
];

fn veritysetup(args: &[&str]) -> std::process::Output {
    Command::new("veritysetup")
        .args(args)
        .output()
        .expect("veritysetup (cryptsetup-bin) is installed: scripts/install-deps")
}

fn uuid_str() -> String {
    uuid::Uuid::from_bytes(UUID).to_string()
}

/// `veritysetup format` with our parameters; returns (root hex, hash file bytes).
fn reference(dir: &Path, data_file: &Path) -> (String, Vec<u8>) {
    let hash = dir.join("ref.hash");
    let out = veritysetup(&[
        "format",
        data_file.to_str().unwrap(),
        hash.to_str().unwrap(),
        "--hash=sha256",
        "--data-block-size=4096",
        "--hash-block-size=4096",
        "--format=1",
        &format!("--salt={}", hex(&SALT)),
        &format!("--uuid={}", uuid_str()),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let root = text
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .expect("root hash line")
        .trim()
        .to_string();
    (root, std::fs::read(hash).unwrap())
}

#[test]
fn level_shapes() {
    assert_eq!(level_sizes(1), Vec::<u64>::new());
    assert_eq!(level_sizes(2), vec![1]);
    assert_eq!(level_sizes(128), vec![1]);
    assert_eq!(level_sizes(129), vec![2, 1]);
    assert_eq!(level_sizes(128 * 128 + 1), vec![129, 2, 1]);
    let l = SlotLayout::for_data_size(21_905_408);
    assert_eq!(l.data_blocks, 5348);
    assert_eq!(l.hash_offset, 5348 * 4096);
    assert_eq!(l.tree_len, (42 + 1) * 4096);
    assert_eq!(l.descriptor_offset, l.hash_offset + 4096 + l.tree_len);
    assert_eq!(l.hash_start_block(), 5349);
}

#[test]
fn superblock_round_trip() {
    let sb = superblock(77, &SALT, &UUID);
    let info = parse_superblock(&sb).unwrap();
    assert_eq!(info.data_blocks, 77);
    assert_eq!(info.salt, SALT);
    assert!(parse_superblock(&[0u8; 512]).is_err());
}

#[test]
fn matches_veritysetup_format_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for blocks in [1u64, 2, 128, 129, 300, 128 * 128 + 3] {
        let bytes = data(blocks);
        let f = dir.path().join("data");
        std::fs::write(&f, &bytes).unwrap();
        let ours = build_tree(&bytes[..], blocks, &SALT).unwrap();
        let (root, reference) = reference(dir.path(), &f);
        assert_eq!(hex(&ours.root_hash), root, "{blocks} blocks");
        let mut mine = superblock(blocks, &SALT, &UUID);
        mine.extend_from_slice(&ours.tree);
        assert_eq!(mine.len(), reference.len(), "{blocks} blocks");
        assert!(mine == reference, "{blocks} blocks: tree bytes differ");
    }
}

fn write_slot(
    dir: &Path,
    blocks: u64,
    tail: u64,
) -> (std::path::PathBuf, crate::slotdesc::SlotDescriptor) {
    // A squashfs-looking head so read_descriptor finds bytes_used.
    let data_size = blocks * BLOCK - tail;
    let mut bytes = data(blocks);
    bytes[..4].copy_from_slice(b"hsqs");
    bytes[20..22].copy_from_slice(&6u16.to_le_bytes());
    bytes[40..48].copy_from_slice(&data_size.to_le_bytes());
    bytes[data_size as usize..].fill(0);
    let path = dir.join("slot.img");
    let size = 8 << 20;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(size).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &bytes, 0).unwrap();
    let input = SlotVerityInput {
        data_size,
        salt: &SALT,
        uuid: &UUID,
        payload: PAYLOAD_FILES
            .iter()
            .map(|f| (f.to_string(), "00".repeat(32)))
            .collect(),
        key: None,
    };
    let d = write_slot_verity(&file, 0, size, &input).unwrap();
    (path, d)
}

#[test]
fn slot_verifies_with_veritysetup_and_detects_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (path, d) = write_slot(dir.path(), 700, 1000);
    let file = std::fs::File::open(&path).unwrap();
    let read = read_descriptor(&file, 0).unwrap();
    assert_eq!(read.descriptor, d);
    check_slot(&file, 0, &d).unwrap();
    let p = path.to_str().unwrap();
    let verify = |root: &str| {
        veritysetup(&[
            "verify",
            p,
            p,
            root,
            &format!("--hash-offset={}", d.hash_offset),
        ])
    };
    let ok = verify(&d.root_hash);
    assert!(ok.status.success(), "{ok:?}");
    // Flip one byte of the data: both we and veritysetup refuse it.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[123_457] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    assert!(matches!(
        check_slot(&file, 0, &d),
        Err(crate::slotverity::SlotVerityError::Verity(
            VerityError::RootMismatch { .. }
        ))
    ));
    assert!(!verify(&d.root_hash).status.success());
}

#[test]
fn descriptor_follows_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (path, d) = write_slot(dir.path(), 129, 0);
    let bytes = std::fs::read(&path).unwrap();
    let l = d.layout().unwrap();
    let block = &bytes[l.descriptor_offset as usize..l.end as usize];
    assert_eq!(decode(block).unwrap().descriptor, d);
    assert_eq!(l.tree_len, 3 * BLOCK);
}
