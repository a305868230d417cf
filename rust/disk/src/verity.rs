//! dm-verity hash trees for `/usr` slots (format version 1, as
//! `veritysetup format` writes them): sha256, 4096-byte data and hash
//! blocks, the salt prepended to every hashed block, and a standard
//! 512-byte verity superblock in the first hash block.
//!
//! A slot is laid out as ([`SlotLayout`], docs/verity.md):
//!
//! ```text
//! 0             squashfs (bytes_used), zero padding to 4096
//! hash_offset   verity superblock (one 4096-byte block)
//! +4096         hash tree, top level first (as dm-verity reads it)
//! descriptor    slot descriptor block (crate::slotdesc), 4096 bytes
//! end
//! ```
//!
//! The tree is built from a stream of the data; only the tree (1/128 of
//! the data) is held in memory.

use sha2::{Digest, Sha256};
use std::io::Read;

/// Data and hash block size.
pub const BLOCK: u64 = 4096;
/// Size of a sha256 digest.
pub const DIGEST: usize = 32;
/// Superblock signature.
const SB_MAGIC: &[u8; 8] = b"verity\0\0";

/// Errors reading or checking a verity area.
#[derive(Debug, thiserror::Error)]
pub enum VerityError {
    /// Reading the data or the tree failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The superblock is missing or not what MetalOS writes.
    #[error("verity superblock: {0}")]
    Superblock(String),
    /// The data does not hash to the expected root.
    #[error("verity root hash mismatch: the data hashes to {actual}, expected {expected}")]
    RootMismatch {
        /// Root hash of the data as read.
        actual: String,
        /// Root hash recorded for the slot.
        expected: String,
    },
    /// The stored tree differs from the tree of the data.
    #[error("the stored verity hash tree is corrupt (first difference at byte {0} of the tree)")]
    TreeMismatch(u64),
    /// A filesystem size (from a superblock or descriptor) whose verity
    /// area would end beyond 2^64 bytes.
    #[error("a filesystem of {0} bytes is too large for a /usr slot (its verity area would end beyond 2^64 bytes)")]
    DataSize(u64),
    /// The area does not fit in the partition.
    #[error(
        "the /usr slot needs {needed} bytes (squashfs + verity), the partition has {capacity}"
    )]
    TooLarge {
        /// Bytes needed.
        needed: u64,
        /// Partition size.
        capacity: u64,
    },
}

/// Where the pieces of a slot lie, in bytes from the partition start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLayout {
    /// Bytes of the filesystem (squashfs `bytes_used`).
    pub data_size: u64,
    /// Hashed data blocks (`data_size` rounded up to 4096, in blocks).
    pub data_blocks: u64,
    /// Offset of the verity superblock (= data_blocks × 4096).
    pub hash_offset: u64,
    /// Bytes of hash blocks after the superblock.
    pub tree_len: u64,
    /// Offset of the slot descriptor block.
    pub descriptor_offset: u64,
    /// End of the verity area (descriptor end).
    pub end: u64,
}

impl SlotLayout {
    /// The layout for a filesystem of `data_size` bytes.
    ///
    /// # Panics
    /// When the layout ends beyond 2^64 bytes (see [`Self::try_for_data_size`]
    /// for sizes read from a disk).
    pub fn for_data_size(data_size: u64) -> Self {
        Self::try_for_data_size(data_size).expect("slot layout within 2^64 bytes")
    }

    /// The layout for a filesystem of `data_size` bytes, or an error when
    /// the verity area would end beyond 2^64 bytes (a size read from a
    /// corrupt superblock or descriptor).
    pub fn try_for_data_size(data_size: u64) -> Result<Self, VerityError> {
        let too_large = || VerityError::DataSize(data_size);
        let data_blocks = data_size.div_ceil(BLOCK).max(1);
        let hash_offset = data_blocks.checked_mul(BLOCK).ok_or_else(too_large)?;
        let tree_len = level_sizes(data_blocks)
            .iter()
            .try_fold(0u64, |a, b| a.checked_add(*b))
            .and_then(|blocks| blocks.checked_mul(BLOCK))
            .ok_or_else(too_large)?;
        let descriptor_offset = hash_offset
            .checked_add(BLOCK)
            .and_then(|o| o.checked_add(tree_len))
            .ok_or_else(too_large)?;
        Ok(SlotLayout {
            data_size,
            data_blocks,
            hash_offset,
            tree_len,
            descriptor_offset,
            end: descriptor_offset.checked_add(BLOCK).ok_or_else(too_large)?,
        })
    }

    /// The hash tree's first block, in 4096-byte blocks from the
    /// partition start (dm-verity's `hash_start_block`).
    pub fn hash_start_block(&self) -> u64 {
        self.hash_offset / BLOCK + 1
    }
}

/// Blocks per tree level, level 0 (hashes of data blocks) first. Empty
/// for a single data block (dm-verity: the root is that block's hash).
fn level_sizes(data_blocks: u64) -> Vec<u64> {
    let mut levels = 0u32;
    while 7 * levels < 64 && (data_blocks - 1) >> (7 * levels) != 0 {
        levels += 1;
    }
    (0..levels)
        .map(|i| {
            let shift = 7 * (i + 1);
            if shift >= 64 {
                1
            } else {
                data_blocks.div_ceil(1u64 << shift)
            }
        })
        .collect()
}

fn salted(salt: &[u8], block: &[u8]) -> [u8; DIGEST] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(block);
    h.finalize().into()
}

/// A built hash tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashTree {
    /// The root hash.
    pub root_hash: [u8; DIGEST],
    /// Hash blocks as stored after the superblock (top level first).
    pub tree: Vec<u8>,
}

/// Builds the tree over `data_blocks` blocks read from `data` (short
/// reads at the end are zero-padded, as dm-verity sees a zeroed tail).
pub fn build_tree(
    mut data: impl Read,
    data_blocks: u64,
    salt: &[u8],
) -> Result<HashTree, VerityError> {
    let sizes = level_sizes(data_blocks);
    // Level 0: digests of the data blocks, streamed in 1 MiB chunks.
    // Reserved up front only up to 2 MiB: `data_blocks` may come from a
    // corrupt descriptor, whose reads fail long before the vector grows.
    let mut digests = Vec::with_capacity(data_blocks.min(1 << 16) as usize * DIGEST);
    let mut chunk = vec![0u8; 256 * BLOCK as usize];
    let mut left = data_blocks;
    while left > 0 {
        let n = left.min(256) as usize;
        let buf = &mut chunk[..n * BLOCK as usize];
        let mut got = 0;
        while got < buf.len() {
            match data.read(&mut buf[got..])? {
                0 => break,
                k => got += k,
            }
        }
        buf[got..].fill(0);
        for b in buf.chunks(BLOCK as usize) {
            digests.extend_from_slice(&salted(salt, b));
        }
        left -= n as u64;
    }
    if sizes.is_empty() {
        let mut root = [0u8; DIGEST];
        root.copy_from_slice(&digests[..DIGEST]);
        return Ok(HashTree {
            root_hash: root,
            tree: vec![],
        });
    }
    // Each level: the previous level's digests packed into zero-padded
    // blocks; the digests of those blocks feed the next level.
    let mut levels: Vec<Vec<u8>> = vec![];
    for &blocks in &sizes {
        let mut level = digests;
        level.resize((blocks * BLOCK) as usize, 0);
        digests = level
            .chunks(BLOCK as usize)
            .flat_map(|b| salted(salt, b))
            .collect();
        levels.push(level);
    }
    let mut root = [0u8; DIGEST];
    root.copy_from_slice(&digests[..DIGEST]);
    let tree = levels.into_iter().rev().flatten().collect();
    Ok(HashTree {
        root_hash: root,
        tree,
    })
}

/// The verity superblock block (4096 bytes; the first 512 are the
/// cryptsetup `verity_sb`, version 1, hash type 1).
pub fn superblock(data_blocks: u64, salt: &[u8], uuid: &[u8; 16]) -> Vec<u8> {
    assert!(salt.len() <= 256, "verity salts are at most 256 bytes");
    let mut sb = vec![0u8; BLOCK as usize];
    sb[0..8].copy_from_slice(SB_MAGIC);
    sb[8..12].copy_from_slice(&1u32.to_le_bytes());
    sb[12..16].copy_from_slice(&1u32.to_le_bytes());
    sb[16..32].copy_from_slice(uuid);
    sb[32..38].copy_from_slice(b"sha256");
    sb[64..68].copy_from_slice(&(BLOCK as u32).to_le_bytes());
    sb[68..72].copy_from_slice(&(BLOCK as u32).to_le_bytes());
    sb[72..80].copy_from_slice(&data_blocks.to_le_bytes());
    sb[80..82].copy_from_slice(&(salt.len() as u16).to_le_bytes());
    sb[88..88 + salt.len()].copy_from_slice(salt);
    sb
}

/// What a superblock says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperblockInfo {
    /// Data blocks covered.
    pub data_blocks: u64,
    /// Salt.
    pub salt: Vec<u8>,
}

/// Parses a superblock written by [`superblock`] (or by veritysetup with
/// the same parameters).
pub fn parse_superblock(b: &[u8]) -> Result<SuperblockInfo, VerityError> {
    let bad = |m: &str| VerityError::Superblock(m.to_string());
    if b.len() < 512 || &b[0..8] != SB_MAGIC {
        return Err(bad("no verity signature"));
    }
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    if u32_at(8) != 1 || u32_at(12) != 1 {
        return Err(bad("not version 1 / hash type 1"));
    }
    let alg_end = b[32..64].iter().position(|&c| c == 0).unwrap_or(32);
    if &b[32..32 + alg_end] != b"sha256" {
        return Err(bad("hash algorithm is not sha256"));
    }
    if u32_at(64) != BLOCK as u32 || u32_at(68) != BLOCK as u32 {
        return Err(bad("block sizes are not 4096"));
    }
    let salt_size = u16::from_le_bytes([b[80], b[81]]) as usize;
    if salt_size > 256 {
        return Err(bad("salt longer than 256 bytes"));
    }
    Ok(SuperblockInfo {
        data_blocks: u64::from_le_bytes(b[72..80].try_into().unwrap()),
        salt: b[88..88 + salt_size].to_vec(),
    })
}

/// The salt and superblock UUID of an image, derived from its seed
/// (HMAC-SHA256 like the partition GUIDs): reproducible builds.
pub fn derive_salt_and_uuid(seed: &uuid::Uuid) -> ([u8; 32], [u8; 16]) {
    let salt = crate::guid::hmac_sha256(seed.as_bytes(), b"verity-salt");
    let uuid = crate::guid::derive_uuid(seed.as_bytes(), b"verity-uuid");
    (salt, *uuid.as_bytes())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lower- or upper-case hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
#[path = "verity_tests.rs"]
mod tests;
