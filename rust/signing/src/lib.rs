//! MetalOS artifact signatures.
//!
//! * [`SigningKey`] / [`VerifyingKey`]: ed25519, stored as PEM
//!   (`signing.key`: PKCS#8 private key, `signing.pub`: SPKI public key) —
//!   the files `openssl genpkey -algorithm ed25519` and `openssl pkey
//!   -pubout` write, and read.
//! * [`sign`] / [`verify`]: detached signatures, stored as `*.sig` files
//!   (see [`Signature::to_file_bytes`]: one line `ed25519 <base64>\n`).
//! * [`KeyDir`] — the operator's key directory written by
//!   `metalos keys generate DIR` (`signing.{key,pub}`, Secure Boot
//!   `PK`/`KEK`/`db` `.key` + `.crt`).
//!
//! The format is described in docs/signing.md.
//!
//! Modules:
//!
//! * `keydir` — The operator's key directory (`metalos keys generate DIR`);
//! * `keys` — ed25519 keys as PEM files;
//! * `sig` — Detached signatures and their `*.sig` files.

mod keydir;
mod keys;
mod sig;

pub use keydir::{
    sig_path, KeyDir, SECURE_BOOT_KEYS, SIGNATURE_SUFFIX, SIGNING_KEY_FILE, SIGNING_PUB_FILE,
};
pub use keys::{SigningKey, VerifyingKey};
pub use sig::{sign, verify, verify_file, Signature};

use std::path::PathBuf;

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

#[cfg(test)]
mod tests;
