//! MetalOS artifact signatures (API stub; implementation in progress).
//!
//! * [`SigningKey`] / [`VerifyingKey`]: ed25519, stored as PEM
//!   (`signing.key`: PKCS#8 private key, `signing.pub`: SPKI public key).
//! * [`sign`] / [`verify`]: detached signatures, stored as `*.sig` files
//!   (see [`Signature::to_file_bytes`]).
//! * [`KeyDir`]: the operator's key directory written by
//!   `metalos keys generate DIR` (`signing.{key,pub}`, Secure Boot
//!   `PK`/`KEK`/`db` `.key` + `.crt`).

use std::path::{Path, PathBuf};

/// Errors of key handling and verification.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A key file cannot be read or parsed.
    #[error("{path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A signature file is malformed.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The signature does not verify with the key.
    #[error("signature does not verify with key {fingerprint}")]
    BadSignature {
        /// The verifying key's fingerprint.
        fingerprint: String,
    },
}

/// An ed25519 private key.
pub struct SigningKey(());

/// An ed25519 public key.
#[derive(Clone)]
pub struct VerifyingKey(());

/// A detached ed25519 signature.
pub struct Signature(());

impl SigningKey {
    /// Reads a PEM (PKCS#8) private key.
    pub fn load(path: &Path) -> Result<SigningKey, SigningError> {
        let _ = path;
        todo!()
    }
    /// Its public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        todo!()
    }
}

impl VerifyingKey {
    /// Reads a PEM (SPKI) public key.
    pub fn load(path: &Path) -> Result<VerifyingKey, SigningError> {
        let _ = path;
        todo!()
    }
    /// Parses PEM bytes.
    pub fn from_pem(pem: &[u8]) -> Result<VerifyingKey, SigningError> {
        let _ = pem;
        todo!()
    }
    /// PEM (SPKI) encoding.
    pub fn to_pem(&self) -> String {
        todo!()
    }
    /// Short fingerprint for messages (`sha256:` + first 16 hex of the key).
    pub fn fingerprint(&self) -> String {
        todo!()
    }
}

impl Signature {
    /// The `*.sig` file contents.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        todo!()
    }
    /// Parses a `*.sig` file.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Signature, SigningError> {
        let _ = bytes;
        todo!()
    }
}

/// Signs `message` (deterministic: ed25519).
pub fn sign(key: &SigningKey, message: &[u8]) -> Signature {
    let _ = (key, message);
    todo!()
}

/// Verifies `sig` over `message` with `key`.
pub fn verify(key: &VerifyingKey, message: &[u8], sig: &Signature) -> Result<(), SigningError> {
    let _ = (key, message, sig);
    todo!()
}

/// The operator's key directory (`metalos keys generate DIR`).
pub struct KeyDir {
    /// The directory.
    pub dir: PathBuf,
}
