//! RSA PKCS#1 v1.5 over sha256, as Authenticode signs and verifies: the
//! signature scheme and the public key of a certificate.

use crate::pkcs7::CertParts;
use crate::SecureBootError;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};

/// DER `DigestInfo` prefix of a sha256 digest (RFC 8017, 9.2 note 1).
const SHA256_DIGEST_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// PKCS#1 v1.5 padding of a sha256 digest.
pub(crate) fn scheme() -> Pkcs1v15Sign {
    Pkcs1v15Sign {
        hash_len: Some(32),
        prefix: SHA256_DIGEST_INFO.into(),
    }
}

/// The RSA public key of a certificate.
pub(crate) fn rsa_public(cert: &CertParts) -> Result<RsaPublicKey, SecureBootError> {
    RsaPublicKey::from_public_key_der(cert.spki.raw)
        .map_err(|e| SecureBootError::Der(format!("certificate key is not RSA: {e}")))
}
