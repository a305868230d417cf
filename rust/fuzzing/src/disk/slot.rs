//! `slot_payload` and `slot_descriptor_roundtrip`: what the bootloader
//! reads from a `/usr` slot before kexec (filesystem probe, verity
//! superblock, slot descriptor and its signature, the verity check, the
//! payload hashes), and `squashfs` (the superblock probes).

use super::vdisk::VirtualDisk;
use metalos_boot::slotverify::{check_payload_with, verify_slot_on};
use metalos_disk::readat::ReadAt;
use metalos_disk::slotdesc::{self, SignatureState};
use metalos_disk::{slotverity, usrfs, verity};
use metalos_signing::{SigningKey, VerifyingKey};
use std::sync::OnceLock;

/// Largest virtual slot: the verity check hashes all of it.
pub const MAX_SLOT: u64 = 256 << 10;

/// The fuzzing key (not a secret: it signs seeds and plays the
/// bootloader's trusted key).
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIOoi3XtbBDkzYg5b3/5l5DKYlMU0HHaJocBP96qx9xCL
-----END PRIVATE KEY-----
";

/// The fuzzing signing key.
pub fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::from_pem_at("fuzz-key.pem".as_ref(), KEY_PEM.as_bytes()).expect("fuzz key")
    })
}

fn trusted() -> &'static VerifyingKey {
    static KEY: OnceLock<VerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| key().verifying_key())
}

/// Decodes a slot in the extent format (at most [`MAX_SLOT`] bytes): the
/// bootloader's `verify_slot` without and with a trusted key, then the
/// payload check; and every 4096-byte block as a descriptor and as a
/// verity superblock.
pub fn slot_payload(data: &[u8]) {
    let disk = VirtualDisk::from_extents(data, MAX_SLOT);
    let mut head = vec![0u8; 4096.min(disk.len()) as usize];
    if disk.pread_exact(&mut head, 0).is_ok() {
        let _ = usrfs::probe(&head);
    }
    for key in [None, Some(trusted())] {
        let Ok(Some(d)) = verify_slot_on(&disk, 2, key, |_| {}) else {
            continue;
        };
        let _ = d.cmdline_value();
        let _ = check_payload_with(&d, 2, |name| match name {
            "vmlinuz" => Some(Ok(data.to_vec())),
            "initrd.img" => Some(Err(std::io::Error::other("unreadable"))),
            _ => None,
        });
    }
    let mut block = vec![0u8; 4096];
    let mut at = 0;
    while disk.pread_exact(&mut block, at).is_ok() {
        if let Ok(d) = slotdesc::decode(&block) {
            let _ = d.signature_state(None);
            let _ = d.signature_state(Some(trusted()));
        }
        let _ = verity::parse_superblock(&block);
        at += 4096;
    }
}

/// A descriptor block that decodes re-encodes (unsigned and signed) to a
/// block that decodes to the same descriptor; the re-encoding is stable.
pub fn slot_descriptor_roundtrip(data: &[u8]) {
    let Ok(block) = slotdesc::decode(data) else {
        return;
    };
    let _ = block.signature_state(None);
    let d = block.descriptor;
    let Ok(enc) = slotdesc::encode(&d, None) else {
        return;
    };
    let again = slotdesc::decode(&enc).expect("an encoded descriptor decodes");
    assert_eq!(again.descriptor, d);
    assert_eq!(again.signature_state(None), SignatureState::Unsigned);
    assert_eq!(slotdesc::encode(&again.descriptor, None).unwrap(), enc);
    if let Ok(signed) = slotdesc::encode(&d, Some(key())) {
        let back = slotdesc::decode(&signed).expect("a signed descriptor decodes");
        assert_eq!(back.descriptor, d);
        assert!(matches!(
            back.signature_state(Some(trusted())),
            SignatureState::Valid(_)
        ));
    }
}

/// The squashfs/erofs superblock probe over a partition head, and the
/// slot descriptor lookup that sizes the slot from it.
pub fn squashfs(data: &[u8]) {
    if let Some(info) = usrfs::probe(data) {
        assert!(info.kind == "squashfs" || info.kind == "erofs");
    }
    let _ = slotverity::read_descriptor(data, 0);
}
