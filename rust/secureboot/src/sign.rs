//! Signing with the operator's `db` key.

use crate::pkcs7::{indirect_data, signed_attributes, signed_data, CertParts};
use crate::{pe, rsa_sha256, SecureBootError};
use base64::Engine;
use rsa::pkcs8::DecodePrivateKey;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The `db` key pair of a key directory: `db.key` (PEM PKCS#8 RSA) and
/// `db.crt` (PEM X.509).
pub struct DbSigner {
    key: RsaPrivateKey,
    cert: Vec<u8>,
    /// Where the certificate came from.
    pub cert_path: PathBuf,
}

impl std::fmt::Debug for DbSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSigner")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

/// The DER of the first PEM block labelled `label` in `text`.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

impl DbSigner {
    /// Loads `DIR/db.key` and `DIR/db.crt`.
    pub fn from_dir(dir: &Path) -> Result<DbSigner, SecureBootError> {
        DbSigner::load(&dir.join("db.key"), &dir.join("db.crt"))
    }

    /// `true` if `dir` has both `db.key` and `db.crt`.
    pub fn present(dir: &Path) -> bool {
        dir.join("db.key").is_file() && dir.join("db.crt").is_file()
    }

    /// Loads a PEM PKCS#8 RSA key and the PEM certificate of its public half.
    pub fn load(key_path: &Path, cert_path: &Path) -> Result<DbSigner, SecureBootError> {
        let err = |path: &Path, message: String| SecureBootError::Key {
            path: path.to_owned(),
            message,
        };
        let key_text = std::fs::read_to_string(key_path)
            .map_err(|e| err(key_path, format!("cannot read: {e}")))?;
        let key = RsaPrivateKey::from_pkcs8_pem(&key_text)
            .map_err(|e| err(key_path, format!("not a PEM PKCS#8 RSA private key: {e}")))?;
        let cert_text = std::fs::read_to_string(cert_path)
            .map_err(|e| err(cert_path, format!("cannot read: {e}")))?;
        let cert = pem_block(&cert_text, "CERTIFICATE")
            .ok_or_else(|| err(cert_path, "no PEM CERTIFICATE block".into()))?;
        let parts = CertParts::parse(&cert).map_err(|e| err(cert_path, e.to_string()))?;
        let public = rsa_sha256::rsa_public(&parts).map_err(|e| err(cert_path, e.to_string()))?;
        if public != key.to_public_key() {
            return Err(err(
                cert_path,
                format!("is not the certificate of {}", key_path.display()),
            ));
        }
        Ok(DbSigner {
            key,
            cert,
            cert_path: cert_path.to_owned(),
        })
    }

    /// The certificate's subject commonName.
    pub fn subject_cn(&self) -> Option<String> {
        CertParts::parse(&self.cert).ok()?.subject_cn()
    }

    /// `image` signed with the db key: any existing signature is removed
    /// first (`sbattach --remove`), the image padded to 8 bytes, then one
    /// Authenticode signature appended. Deterministic.
    pub fn sign_pe(&self, image: &[u8]) -> Result<Vec<u8>, SecureBootError> {
        let mut unsigned = pe::strip_signature(image)?;
        pe::pad_for_signing(&mut unsigned);
        let digest = pe::PeLayout::parse(&unsigned)?.digest(&unsigned);
        let idc = indirect_data(&digest);
        // The messageDigest covers the content octets of the
        // SpcIndirectDataContent SEQUENCE, not its tag and length.
        let (idc_tlv, _) = crate::der::Tlv::parse(&idc)?;
        let attrs = signed_attributes(&Sha256::digest(idc_tlv.content).into());
        let to_sign = Sha256::digest(crate::der::tlv(crate::der::SET, &attrs));
        let signature = self
            .key
            .sign(rsa_sha256::scheme(), &to_sign)
            .map_err(|e| SecureBootError::Rsa(e.to_string()))?;
        let cert = CertParts::parse(&self.cert)?;
        let p7 = signed_data(&idc, &cert, &attrs, &signature);
        pe::attach_signature(&unsigned, &p7)
    }
}
