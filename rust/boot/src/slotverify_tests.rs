//! The whole-slot check and how a read error through dm-verity is named.

use super::*;
use metalos_disk::slotverity::{write_slot_verity, SlotVerityInput};
use std::os::unix::fs::FileExt;

const BLOCKS: u64 = 40;

/// A sealed slot over `BLOCKS` blocks of patterned data.
fn sealed_slot(dir: &Path) -> (std::fs::File, SlotDescriptor) {
    let path = dir.join("slot.img");
    let data: Vec<u8> = (0..BLOCKS * 4096).map(|i| (i * 7 / 3) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let input = SlotVerityInput {
        data_size: data.len() as u64,
        salt: &[0x5a; 32],
        uuid: &[7; 16],
        payload: Default::default(),
        key: None,
    };
    let d = write_slot_verity(&file, 0, 1 << 20, &input).unwrap();
    (file, d)
}

#[test]
fn a_read_error_is_named_by_the_whole_slot_check() {
    let dir = tempfile::tempdir().unwrap();
    let (file, d) = sealed_slot(dir.path());
    let eio = std::io::Error::from_raw_os_error(libc::EIO);
    let mut said = vec![];
    check_whole_slot(&file, 2, &d, |m| said.push(m)).unwrap();
    assert!(
        said[0].starts_with("/usr slot 2: verity ok (root "),
        "{said:?}"
    );
    let r = read_error_rejection(&file, 2, &d, "lib/metalos/boot/initrd.img", &eio);
    assert_eq!(
        r.reason,
        format!("reading lib/metalos/boot/initrd.img through dm-verity: {eio} (the slot itself hashes to its root hash)")
    );
    // One flipped bit: the reason is the corrupted data, as the full check
    // names it (what the VM tests and the console look for).
    file.write_all_at(&[0x80], 5 * 4096 + 17).unwrap();
    let r = read_error_rejection(&file, 2, &d, "the squashfs", &eio);
    assert!(
        r.reason
            .starts_with("verity check: verity root hash mismatch: "),
        "{}",
        r.reason
    );
    assert!(
        r.reason.ends_with(&format!(
            "(found reading the squashfs through dm-verity: {eio})"
        )),
        "{}",
        r.reason
    );
    let e = check_whole_slot(&file, 2, &d, |_| {}).unwrap_err();
    assert!(e
        .reason
        .starts_with("verity check: verity root hash mismatch"));
    assert!(
        !e.reason.contains(';'),
        "the console line ends the reason at ';'"
    );
}
