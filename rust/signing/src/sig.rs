//! Detached signatures and their `*.sig` files.

use crate::{SigningError, SigningKey, VerifyingKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::Signer;
use std::path::Path;

/// The first word of a `*.sig` file.
const ALGORITHM: &str = "ed25519";

/// A detached ed25519 signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Signature({})",
            String::from_utf8_lossy(&self.to_file_bytes()).trim_end()
        )
    }
}

impl Signature {
    /// The `*.sig` file contents: one line, `ed25519 <base64 of the 64
    /// signature bytes>\n` (standard alphabet, padded).
    pub fn to_file_bytes(&self) -> Vec<u8> {
        format!("{ALGORITHM} {}\n", STANDARD.encode(self.0.to_bytes())).into_bytes()
    }

    /// Parses a `*.sig` file (exactly the line [`Self::to_file_bytes`]
    /// writes; the final newline is optional).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Signature, SigningError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| SigningError::Malformed("not text".into()))?;
        let line = text.strip_suffix('\n').unwrap_or(text);
        if line.contains('\n') {
            return Err(SigningError::Malformed("more than one line".into()));
        }
        let Some((alg, b64)) = line.split_once(' ') else {
            return Err(SigningError::Malformed(format!(
                "expected \"{ALGORITHM} <base64>\""
            )));
        };
        if alg != ALGORITHM {
            return Err(SigningError::Malformed(format!(
                "algorithm {alg:?} is not supported (expected {ALGORITHM})"
            )));
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|e| SigningError::Malformed(format!("bad base64: {e}")))?;
        let raw: [u8; 64] = raw.as_slice().try_into().map_err(|_| {
            SigningError::Malformed(format!("{} bytes, an ed25519 signature has 64", raw.len()))
        })?;
        Ok(Signature(ed25519_dalek::Signature::from_bytes(&raw)))
    }
}

/// Signs `message` (deterministic: ed25519).
pub fn sign(key: &SigningKey, message: &[u8]) -> Signature {
    Signature(key.0.sign(message))
}

/// Verifies `sig` over `message` with `key` (strict verification: no
/// malleable or small-order signatures).
pub fn verify(key: &VerifyingKey, message: &[u8], sig: &Signature) -> Result<(), SigningError> {
    key.0
        .verify_strict(message, &sig.0)
        .map_err(|_| SigningError::BadSignature {
            fingerprint: key.fingerprint(),
        })
}

/// Verifies the detached signature file `sig_file` over `message`:
/// a missing or malformed file and a signature by another key are errors.
/// Callers add which file was signed to the message.
pub fn verify_file(
    key: &VerifyingKey,
    message: &[u8],
    sig_file: &Path,
) -> Result<(), SigningError> {
    let bytes = std::fs::read(sig_file).map_err(|e| {
        SigningError::Malformed(format!("{}: cannot read: {e}", sig_file.display()))
    })?;
    let sig = Signature::from_file_bytes(&bytes)
        .map_err(|e| SigningError::Malformed(format!("{}: {e}", sig_file.display())))?;
    verify(key, message, &sig)
}
