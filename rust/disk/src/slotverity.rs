//! Writing and checking the verity area of a `/usr` slot in place (a
//! partition of an image file or of a block device): the hash tree and
//! superblock after the squashfs, then the slot descriptor.

use crate::readat::{ReadAt, WriteAt};
use crate::slotdesc::{self, DescriptorBlock, DescriptorError, SlotDescriptor, FORMAT};
use crate::sparse::Region;
use crate::verity::{self, build_tree, hex, superblock, SlotLayout, VerityError, BLOCK};
use metalos_signing::SigningKey;
use std::collections::BTreeMap;

/// Errors of [`write_slot_verity`] and [`read_descriptor`] / [`check_slot`].
#[derive(Debug, thiserror::Error)]
pub enum SlotVerityError {
    /// Tree or I/O problem.
    #[error(transparent)]
    Verity(#[from] VerityError),
    /// Descriptor problem.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// No squashfs at the start of the slot.
    #[error("no squashfs at the start of the slot")]
    NoFilesystem,
}

impl From<std::io::Error> for SlotVerityError {
    fn from(e: std::io::Error) -> Self {
        SlotVerityError::Verity(VerityError::Io(e))
    }
}

/// What goes into a slot's verity area besides the data.
pub struct SlotVerityInput<'a> {
    /// Filesystem bytes at the start of the slot.
    pub data_size: u64,
    /// Salt (see [`verity::derive_salt_and_uuid`]).
    pub salt: &'a [u8],
    /// Superblock UUID.
    pub uuid: &'a [u8; 16],
    /// sha256 (hex) of each payload file.
    pub payload: BTreeMap<String, String>,
    /// Signs the descriptor when given.
    pub key: Option<&'a SigningKey>,
}

/// Builds the tree over the first `data_size` bytes (rounded up to 4096)
/// of the partition at `offset`/`size` and writes superblock, tree and
/// descriptor after it. Returns the descriptor.
pub fn write_slot_verity<D: WriteAt + ?Sized>(
    file: &D,
    offset: u64,
    size: u64,
    input: &SlotVerityInput,
) -> Result<SlotDescriptor, SlotVerityError> {
    let layout = SlotLayout::for_data_size(input.data_size);
    if layout.end > size {
        return Err(VerityError::TooLarge {
            needed: layout.end,
            capacity: size,
        }
        .into());
    }
    let data = Region::new(file, offset, layout.hash_offset);
    let tree = build_tree(data, layout.data_blocks, input.salt)?;
    let descriptor = SlotDescriptor {
        format: FORMAT,
        hash_algorithm: "sha256".into(),
        block_size: BLOCK,
        data_size: layout.data_size,
        data_blocks: layout.data_blocks,
        hash_offset: layout.hash_offset,
        root_hash: hex(&tree.root_hash),
        salt: hex(input.salt),
        payload: input.payload.clone(),
    };
    let block = slotdesc::encode(&descriptor, input.key)?;
    let sb = superblock(layout.data_blocks, input.salt, input.uuid);
    file.pwrite_all(&sb, offset + layout.hash_offset)?;
    file.pwrite_all(&tree.tree, offset + layout.hash_offset + BLOCK)?;
    file.pwrite_all(&block, offset + layout.descriptor_offset)?;
    Ok(descriptor)
}

/// Reads the filesystem size from the squashfs superblock at `offset`
/// and the descriptor block after the verity tree.
pub fn read_descriptor<D: ReadAt + ?Sized>(
    file: &D,
    offset: u64,
) -> Result<DescriptorBlock, SlotVerityError> {
    let mut head = vec![0u8; BLOCK as usize];
    file.pread_exact(&mut head, offset)?;
    let info = crate::usrfs::probe(&head)
        .filter(|i| i.kind == "squashfs")
        .ok_or(SlotVerityError::NoFilesystem)?;
    let layout = SlotLayout::try_for_data_size(info.bytes_used)?;
    let mut block = vec![0u8; BLOCK as usize];
    file.pread_exact(&mut block, at(offset, layout.descriptor_offset)?)?;
    let d = slotdesc::decode(&block)?;
    // The writer may report its size padded to 4096: compare in blocks.
    if d.descriptor.data_blocks != layout.data_blocks {
        return Err(DescriptorError::Malformed(format!(
            "descriptor covers {} blocks, the squashfs has {}",
            d.descriptor.data_blocks, layout.data_blocks
        ))
        .into());
    }
    Ok(d)
}

/// `offset + rel`, an I/O error past 2^64 bytes.
fn at(offset: u64, rel: u64) -> Result<u64, SlotVerityError> {
    offset.checked_add(rel).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "slot offset beyond 2^64 bytes",
        )
        .into()
    })
}

/// Re-hashes every data block of the slot at `offset` and compares the
/// root with the descriptor's and the tree and superblock with what is
/// stored: a corrupted block anywhere is found here.
pub fn check_slot<D: ReadAt + ?Sized>(
    file: &D,
    offset: u64,
    descriptor: &SlotDescriptor,
) -> Result<(), SlotVerityError> {
    let layout = descriptor.layout()?;
    let salt = verity::unhex(&descriptor.salt)
        .ok_or_else(|| DescriptorError::Malformed("salt is not hex".into()))?;
    let data = Region::new(file, offset, layout.hash_offset);
    let tree = build_tree(data, layout.data_blocks, &salt)?;
    let actual = hex(&tree.root_hash);
    if actual != descriptor.root_hash {
        return Err(VerityError::RootMismatch {
            actual,
            expected: descriptor.root_hash.clone(),
        }
        .into());
    }
    let mut sb = vec![0u8; BLOCK as usize];
    file.pread_exact(&mut sb, at(offset, layout.hash_offset)?)?;
    let info = verity::parse_superblock(&sb)?;
    if info.data_blocks != layout.data_blocks || info.salt != salt {
        return Err(VerityError::Superblock("does not match the descriptor".into()).into());
    }
    let mut stored = vec![0u8; tree.tree.len()];
    file.pread_exact(&mut stored, at(at(offset, layout.hash_offset)?, BLOCK)?)?;
    if let Some(i) = stored.iter().zip(&tree.tree).position(|(a, b)| a != b) {
        return Err(VerityError::TreeMismatch(i as u64).into());
    }
    Ok(())
}
