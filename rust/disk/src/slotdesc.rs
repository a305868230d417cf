//! The slot descriptor: one 4096-byte block after a `/usr` slot's verity
//! tree that names the root hash, the verity parameters and the sha256 of
//! the boot payload, optionally signed with the operator's ed25519 key.
//!
//! ```text
//! 0   8   magic "MTLSLOT1"
//! 8   4   body length (LE u32)
//! 12  4   public key length (LE u32; 0 when unsigned)
//! 16  4   signature length (LE u32; 0 when unsigned)
//! 20  12  zero
//! 32  …   body (JSON, [`SlotDescriptor`]), then the signer's public key
//!         (PEM), then the signature over the body (a `*.sig` file's bytes)
//! …   zero padding to 4096
//! ```
//!
//! The signature covers exactly the body bytes; the embedded public key
//! only names the signer — a verifier trusts its own key, not this one.

use crate::verity::{SlotLayout, BLOCK};
use metalos_signing::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Magic of a descriptor block.
pub const MAGIC: &[u8; 8] = b"MTLSLOT1";
/// Format version inside the body.
pub const FORMAT: u32 = 1;
/// The payload files the descriptor hashes, relative to
/// `/usr/lib/metalos/boot/`.
pub const PAYLOAD_FILES: [&str; 3] = ["vmlinuz", "initrd.img", "cmdline"];
/// Where the payload lives in the slot (relative to /usr).
pub const PAYLOAD_DIR: &str = metalos_contract::paths::UsrPath::BOOT_PAYLOAD.in_slot();

/// Errors decoding a descriptor.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// Not a descriptor block.
    #[error("no slot descriptor (bad magic)")]
    Magic,
    /// Lengths or JSON are wrong.
    #[error("malformed slot descriptor: {0}")]
    Malformed(String),
    /// Encoding does not fit in one block.
    #[error("slot descriptor too large ({0} bytes)")]
    TooLarge(usize),
}

/// The signed body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotDescriptor {
    /// [`FORMAT`].
    pub format: u32,
    /// Always `sha256`.
    pub hash_algorithm: String,
    /// Data and hash block size (4096).
    pub block_size: u64,
    /// Filesystem bytes (squashfs `bytes_used`).
    pub data_size: u64,
    /// Hashed data blocks.
    pub data_blocks: u64,
    /// Offset of the verity superblock in the partition (bytes).
    pub hash_offset: u64,
    /// Root hash, hex.
    pub root_hash: String,
    /// Salt, hex.
    pub salt: String,
    /// sha256 (hex) of each payload file by name ([`PAYLOAD_FILES`]).
    pub payload: BTreeMap<String, String>,
}

impl SlotDescriptor {
    /// The layout the descriptor describes (an error for a `data_size`
    /// whose verity area would end beyond 2^64 bytes).
    pub fn layout(&self) -> Result<SlotLayout, crate::verity::VerityError> {
        SlotLayout::try_for_data_size(self.data_size)
    }

    /// The kernel argument value metalinit reads:
    /// `<root_hash>:<hash_offset>:<data_blocks>:<salt>`.
    pub fn cmdline_value(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.root_hash, self.hash_offset, self.data_blocks, self.salt
        )
    }
}

/// A decoded descriptor block.
#[derive(Debug, Clone)]
pub struct DescriptorBlock {
    /// The body as stored (what the signature covers).
    pub body: Vec<u8>,
    /// The parsed body.
    pub descriptor: SlotDescriptor,
    /// The signer's public key (PEM), when signed.
    pub public_key_pem: Option<Vec<u8>>,
    /// The signature file bytes, when signed.
    pub signature: Option<Vec<u8>>,
}

/// Signature state of a slot's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// No signature.
    Unsigned,
    /// Verifies with the key of this fingerprint.
    Valid(String),
    /// Present but does not verify (why).
    Invalid(String),
}

impl std::fmt::Display for SignatureState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureState::Unsigned => write!(f, "unsigned"),
            SignatureState::Valid(fp) => write!(f, "signed-valid by {fp}"),
            SignatureState::Invalid(why) => write!(f, "invalid ({why})"),
        }
    }
}

/// Encodes `d` into a 4096-byte block, signed when `key` is given.
pub fn encode(d: &SlotDescriptor, key: Option<&SigningKey>) -> Result<Vec<u8>, DescriptorError> {
    let body = serde_json::to_vec(d).expect("descriptor serialises");
    let (pem, sig) = match key {
        Some(k) => (
            k.verifying_key().to_pem().into_bytes(),
            metalos_signing::sign(k, &body).to_file_bytes(),
        ),
        None => (vec![], vec![]),
    };
    let total = 32 + body.len() + pem.len() + sig.len();
    if total > BLOCK as usize {
        return Err(DescriptorError::TooLarge(total));
    }
    let mut block = vec![0u8; BLOCK as usize];
    block[0..8].copy_from_slice(MAGIC);
    block[8..12].copy_from_slice(&(body.len() as u32).to_le_bytes());
    block[12..16].copy_from_slice(&(pem.len() as u32).to_le_bytes());
    block[16..20].copy_from_slice(&(sig.len() as u32).to_le_bytes());
    let mut at = 32;
    for part in [&body, &pem, &sig] {
        block[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    Ok(block)
}

/// Decodes a descriptor block (the signature is not checked here).
pub fn decode(block: &[u8]) -> Result<DescriptorBlock, DescriptorError> {
    if block.len() < 32 || &block[0..8] != MAGIC {
        return Err(DescriptorError::Magic);
    }
    let len = |o: usize| u32::from_le_bytes(block[o..o + 4].try_into().unwrap()) as usize;
    let (body_len, pem_len, sig_len) = (len(8), len(12), len(16));
    let total = 32usize
        .checked_add(body_len)
        .and_then(|t| t.checked_add(pem_len))
        .and_then(|t| t.checked_add(sig_len))
        .filter(|&t| t <= block.len())
        .ok_or_else(|| DescriptorError::Malformed("lengths exceed the block".into()))?;
    let _ = total;
    let body = block[32..32 + body_len].to_vec();
    let pem = &block[32 + body_len..32 + body_len + pem_len];
    let sig = &block[32 + body_len + pem_len..32 + body_len + pem_len + sig_len];
    let descriptor: SlotDescriptor =
        serde_json::from_slice(&body).map_err(|e| DescriptorError::Malformed(e.to_string()))?;
    if descriptor.format != FORMAT || descriptor.hash_algorithm != "sha256" {
        return Err(DescriptorError::Malformed(format!(
            "format {} / {} is not supported",
            descriptor.format, descriptor.hash_algorithm
        )));
    }
    let layout = descriptor
        .layout()
        .map_err(|e| DescriptorError::Malformed(format!("data_size: {e}")))?;
    if descriptor.block_size != BLOCK
        || descriptor.hash_offset != layout.hash_offset
        || descriptor.data_blocks != layout.data_blocks
    {
        return Err(DescriptorError::Malformed(
            "the verity parameters are inconsistent".into(),
        ));
    }
    Ok(DescriptorBlock {
        body,
        descriptor,
        public_key_pem: (!pem.is_empty()).then(|| pem.to_vec()),
        signature: (!sig.is_empty()).then(|| sig.to_vec()),
    })
}

impl DescriptorBlock {
    /// Checks the signature with `trusted`, or — without a trusted key —
    /// with the embedded key (which only says the block is intact and who
    /// signed it, not that the signer is trusted).
    pub fn signature_state(&self, trusted: Option<&VerifyingKey>) -> SignatureState {
        let Some(sig_bytes) = &self.signature else {
            return SignatureState::Unsigned;
        };
        let embedded;
        let key = match trusted {
            Some(k) => k,
            None => match self
                .public_key_pem
                .as_deref()
                .map(VerifyingKey::from_pem)
                .transpose()
            {
                Ok(Some(k)) => {
                    embedded = k;
                    &embedded
                }
                Ok(None) => return SignatureState::Invalid("no signer key".into()),
                Err(e) => return SignatureState::Invalid(e.to_string()),
            },
        };
        match Signature::from_file_bytes(sig_bytes)
            .and_then(|sig| metalos_signing::verify(key, &self.body, &sig))
        {
            Ok(()) => SignatureState::Valid(key.fingerprint()),
            Err(e) => SignatureState::Invalid(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SlotDescriptor {
        let l = SlotLayout::for_data_size(1_000_000);
        SlotDescriptor {
            format: FORMAT,
            hash_algorithm: "sha256".into(),
            block_size: BLOCK,
            data_size: l.data_size,
            data_blocks: l.data_blocks,
            hash_offset: l.hash_offset,
            root_hash: "ab".repeat(32),
            salt: "cd".repeat(32),
            payload: PAYLOAD_FILES
                .iter()
                .map(|f| (f.to_string(), "ef".repeat(32)))
                .collect(),
        }
    }

    #[test]
    fn unsigned_round_trip() {
        let block = encode(&sample(), None).unwrap();
        assert_eq!(block.len(), 4096);
        let d = decode(&block).unwrap();
        assert_eq!(d.descriptor, sample());
        assert_eq!(d.signature_state(None), SignatureState::Unsigned);
        assert_eq!(
            d.descriptor.cmdline_value(),
            format!("{}:1003520:245:{}", "ab".repeat(32), "cd".repeat(32))
        );
    }

    #[test]
    fn signed_round_trip_and_tampering() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let mut block = encode(&sample(), Some(&key)).unwrap();
        let d = decode(&block).unwrap();
        let fp = key.verifying_key().fingerprint();
        assert_eq!(d.signature_state(None), SignatureState::Valid(fp.clone()));
        assert_eq!(
            d.signature_state(Some(&key.verifying_key())).to_string(),
            format!("signed-valid by {fp}")
        );
        assert!(matches!(
            d.signature_state(Some(&other.verifying_key())),
            SignatureState::Invalid(_)
        ));
        // One changed byte of the body (a hex digit of the root hash).
        let at = 32 + d.body.windows(4).position(|w| w == b"abab").unwrap();
        block[at] = b'c';
        let d = decode(&block).unwrap();
        assert!(matches!(
            d.signature_state(Some(&key.verifying_key())),
            SignatureState::Invalid(_)
        ));
    }

    #[test]
    fn rejects_garbage_and_inconsistency() {
        assert!(matches!(decode(&[0u8; 4096]), Err(DescriptorError::Magic)));
        let mut block = encode(&sample(), None).unwrap();
        block[8..12].copy_from_slice(&5000u32.to_le_bytes());
        assert!(matches!(decode(&block), Err(DescriptorError::Malformed(_))));
        let mut bad = sample();
        bad.hash_offset += 4096;
        let block = encode(&bad, None).unwrap();
        assert!(matches!(decode(&block), Err(DescriptorError::Malformed(_))));
    }
}
