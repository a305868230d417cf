//! ed25519 keys as PEM files.

use crate::SigningError;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};
use std::path::Path;

/// An ed25519 private key.
pub struct SigningKey(pub(crate) ed25519_dalek::SigningKey);

/// An ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey(pub(crate) ed25519_dalek::VerifyingKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "SigningKey({})", self.verifying_key().fingerprint())
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyingKey({})", self.fingerprint())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SigningError> {
    std::fs::read(path).map_err(|e| SigningError::Key {
        path: path.to_owned(),
        message: format!("cannot read: {e}"),
    })
}

fn pem_text<'a>(path: &Path, pem: &'a [u8]) -> Result<&'a str, SigningError> {
    std::str::from_utf8(pem).map_err(|_| SigningError::Key {
        path: path.to_owned(),
        message: "not a PEM file (not text)".into(),
    })
}

impl SigningKey {
    /// A new random key (from the kernel's random source).
    pub fn generate() -> Result<SigningKey, SigningError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)
            .map_err(|e| SigningError::Malformed(format!("no random source: {e}")))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SigningKey(key))
    }

    /// Reads a PEM (PKCS#8) private key.
    pub fn load(path: &Path) -> Result<SigningKey, SigningError> {
        let pem = read(path)?;
        Self::from_pem_at(path, &pem)
    }

    /// Parses PEM (PKCS#8) bytes; `path` is only used in errors.
    pub fn from_pem_at(path: &Path, pem: &[u8]) -> Result<SigningKey, SigningError> {
        let text = pem_text(path, pem)?;
        ed25519_dalek::SigningKey::from_pkcs8_pem(text)
            .map(SigningKey)
            .map_err(|e| SigningError::Key {
                path: path.to_owned(),
                message: format!("not a PEM PKCS#8 ed25519 private key: {e}"),
            })
    }

    /// PEM (PKCS#8 v1, RFC 8410: the seed only, as `openssl genpkey`
    /// writes it — OpenSSL 3.0 refuses v2 with the public key embedded):
    /// the secret. Write it only to a 0600 file.
    pub fn to_pem(&self) -> String {
        let bytes = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        bytes
            .to_pkcs8_pem(LineEnding::LF)
            .map(|z| z.to_string())
            .expect("an ed25519 key always encodes as PKCS#8")
    }

    /// Its public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }
}

impl VerifyingKey {
    /// Reads a PEM (SPKI) public key.
    pub fn load(path: &Path) -> Result<VerifyingKey, SigningError> {
        let pem = read(path)?;
        Self::from_pem(&pem).map_err(|e| match e {
            SigningError::Key { message, .. } => SigningError::Key {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses PEM bytes.
    pub fn from_pem(pem: &[u8]) -> Result<VerifyingKey, SigningError> {
        let path = Path::new("<public key>");
        let text = pem_text(path, pem)?;
        ed25519_dalek::VerifyingKey::from_public_key_pem(text)
            .map(VerifyingKey)
            .map_err(|e| SigningError::Key {
                path: path.to_owned(),
                message: format!("not a PEM (SPKI) ed25519 public key: {e}"),
            })
    }

    /// PEM (SPKI) encoding.
    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("an ed25519 key always encodes as SPKI")
    }

    /// Short fingerprint for messages (`sha256:` + first 16 hex of the
    /// sha256 of the raw 32-byte public key; `openssl pkey -pubin -in
    /// signing.pub -outform DER | tail -c 32 | sha256sum` shows it).
    pub fn fingerprint(&self) -> String {
        let digest = hex::encode(Sha256::digest(self.0.as_bytes()));
        format!("sha256:{}", &digest[..16])
    }
}
