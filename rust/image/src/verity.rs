//! Sealing a `/usr` slot at build time: the dm-verity tree, superblock and
//! slot descriptor after the squashfs (docs/verity.md), with the sha256 of
//! the boot payload taken from the `/usr` nodes.

use metalos_disk::slotdesc::{SlotDescriptor, PAYLOAD_DIR, PAYLOAD_FILES};
use metalos_disk::slotverity::{write_slot_verity, SlotVerityError, SlotVerityInput};
use metalos_disk::usrfs::UsrNode;
use metalos_disk::verity::derive_salt_and_uuid;
use metalos_signing::SigningKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;

/// sha256 (hex) of the payload files present among `nodes`
/// (`lib/metalos/boot/{vmlinuz,initrd.img,cmdline}`; the last node of a
/// path wins, as in the squashfs).
pub fn payload_hashes(nodes: &[UsrNode]) -> std::io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for name in PAYLOAD_FILES {
        let path = format!("{PAYLOAD_DIR}/{name}");
        let content = nodes.iter().rev().find_map(|n| match n {
            UsrNode::File {
                path: p, content, ..
            } if *p == path => Some(content),
            _ => None,
        });
        if let Some(c) = content {
            out.insert(name.to_string(), hex::encode(Sha256::digest(c.read()?)));
        }
    }
    Ok(out)
}

/// Writes the verity area of the slot at `offset`/`size` of `disk`, whose
/// squashfs occupies `data_size` bytes. Salt and superblock UUID derive
/// from `seed`; the descriptor is signed when `key` is given.
pub fn seal_usr_slot(
    disk: &File,
    offset: u64,
    size: u64,
    data_size: u64,
    seed: &uuid::Uuid,
    nodes: &[UsrNode],
    key: Option<&SigningKey>,
) -> Result<SlotDescriptor, String> {
    let (salt, uuid) = derive_salt_and_uuid(seed);
    let payload = payload_hashes(nodes).map_err(|e| format!("hashing the boot payload: {e}"))?;
    let input = SlotVerityInput {
        data_size,
        salt: &salt,
        uuid: &uuid,
        payload,
        key,
    };
    write_slot_verity(disk, offset, size, &input)
        .map_err(|e: SlotVerityError| format!("verity: {e}"))
}
