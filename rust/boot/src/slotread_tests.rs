//! The payload copy: digests checked as read, missing files and read
//! errors told apart, nothing left behind on failure.

use super::*;
use crate::slotverify::SlotRejected;
use std::collections::BTreeMap;

const FILES: [(&str, &[u8]); 3] = [
    ("vmlinuz", b"kernel bytes"),
    ("initrd.img", b"initrd bytes"),
    ("cmdline", b"console=ttyS0 quiet\n"),
];

fn sha(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn descriptor(files: &[(&str, &[u8])]) -> SlotDescriptor {
    SlotDescriptor {
        format: 1,
        hash_algorithm: "sha256".into(),
        block_size: 4096,
        data_size: 4096,
        data_blocks: 1,
        hash_offset: 4096,
        root_hash: "00".repeat(32),
        salt: "5a".repeat(32),
        payload: files
            .iter()
            .map(|(n, b)| (n.to_string(), sha(b)))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn payload_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

#[test]
fn copies_the_payload_it_checked() {
    let src = payload_dir(&FILES);
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("kexec");
    let d = descriptor(&FILES);
    let p = copy_payload(src.path(), &dst, 2, Some(&d)).unwrap();
    assert_eq!(p.cmdline, "console=ttyS0 quiet\n");
    assert_eq!(
        p.bytes,
        FILES.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
    );
    assert_eq!(std::fs::read(p.kernel()).unwrap(), b"kernel bytes");
    assert_eq!(std::fs::read(p.initrd()).unwrap(), b"initrd bytes");
    // A slot from before dm-verity: copied, nothing to compare with.
    let p = copy_payload(src.path(), &dst, 2, None).unwrap();
    assert_eq!(std::fs::read(p.initrd()).unwrap(), b"initrd bytes");
}

fn rejection(f: ReadFailure) -> String {
    let ReadFailure::Other(e) = f else {
        panic!("not a rejection: {f:?}");
    };
    let r = e.downcast_ref::<SlotRejected>().expect("a SlotRejected");
    assert_eq!(r.slot, 3);
    r.reason.clone()
}

#[test]
fn a_payload_file_other_than_signed_rejects_the_slot_and_leaves_no_copy() {
    let src = payload_dir(&FILES);
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("kexec");
    let mut d = descriptor(&FILES);
    d.payload.insert("initrd.img".into(), sha(b"other"));
    let why = rejection(copy_payload(src.path(), &dst, 3, Some(&d)).unwrap_err());
    assert_eq!(
        why,
        format!(
            "initrd.img has sha256 {}, the descriptor says {}",
            sha(b"initrd bytes"),
            sha(b"other")
        )
    );
    assert!(!dst.exists(), "no partial payload");
    d.payload.remove("cmdline");
    d.payload.insert("initrd.img".into(), sha(b"initrd bytes"));
    let why = rejection(copy_payload(src.path(), &dst, 3, Some(&d)).unwrap_err());
    assert_eq!(why, "the descriptor has no sha256 for cmdline");
}

#[test]
fn a_missing_file_is_no_payload_and_an_unreadable_one_a_read_error() {
    let src = payload_dir(&FILES[..2]);
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("kexec");
    let d = descriptor(&FILES);
    let Err(ReadFailure::Other(e)) = copy_payload(src.path(), &dst, 2, Some(&d)) else {
        panic!("expected an error");
    };
    assert!(e.downcast_ref::<SlotRejected>().is_none());
    assert_eq!(
        e.to_string(),
        format!(
            "slot 2 has no boot payload ({})",
            src.path().join("cmdline").display()
        )
    );
    // A directory where cmdline should be: reading it fails, which
    // through dm-verity is how a corrupted block shows.
    std::fs::create_dir(src.path().join("cmdline")).unwrap();
    let Err(ReadFailure::Slot { what, error }) = copy_payload(src.path(), &dst, 2, Some(&d)) else {
        panic!("expected a read error");
    };
    assert_eq!(what, src.path().join("cmdline").display().to_string());
    assert_eq!(error.raw_os_error(), Some(libc::EISDIR));
    assert!(!dst.exists(), "no partial payload");
}
