//! Secure Boot for MetalOS (docs/secure-boot.md): Authenticode signatures
//! of PE images — UKIs and the kernels placed in `/usr` slots — with the
//! operator's `db` key (`metalos keys generate DIR` writes `DIR/db.key`
//! and `DIR/db.crt`), and reading a signed image's signer.
//!
//! * [`DbSigner::sign_pe`] — removes any existing signature, then signs
//!   (PKCS#7 SignedData over `SpcIndirectDataContent`, sha256, RSA
//!   PKCS#1 v1.5). Deterministic: no signing time or other varying
//!   attribute, so the same image and key give the same bytes.
//!   `sbverify --cert db.crt` accepts the result; so do OVMF and the
//!   kernel's `kexec_file_load` under lockdown.
//! * [`authenticode`] — the signer (subject CN) of a signed image and
//!   whether the signature matches the image.
//! * [`generate_key_pair`] — a new RSA 2048 key and its self-signed CA
//!   certificate (the PK, KEK and db of `metalos keys generate`).
//!
//! Modules: [`der`] (the DER subset Authenticode uses), [`keygen`] (key
//! generation), [`pe`] (Authenticode hashing ranges and the certificate
//! table, over `metalos_uki::pe`), `pkcs7` (the SignedData), `rsa_sha256`
//! (RSA PKCS#1 v1.5 over sha256), `sign` ([`DbSigner`]) and `verify`
//! ([`authenticode`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod der;
pub mod keygen;
pub mod pe;
mod pkcs7;
mod rsa_sha256;
mod sign;
mod verify;

pub use keygen::{generate_key_pair, KeyPairPem, KeygenError};
pub use sign::DbSigner;
pub use verify::{authenticode, Authenticode};

use std::path::PathBuf;

/// Errors of Secure Boot signing and inspection.
#[derive(Debug, thiserror::Error)]
pub enum SecureBootError {
    /// The key or certificate cannot be read or parsed.
    #[error("{path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The image is not a PE image this crate can sign or read.
    #[error("PE image: {0}")]
    Pe(String),
    /// The PE headers do not parse ([`metalos_uki::pe::PeImage::parse`]).
    #[error("PE image: {0}")]
    PeHeaders(#[from] metalos_uki::UkiError),
    /// A DER structure is malformed.
    #[error("malformed DER: {0}")]
    Der(String),
    /// RSA signing failed.
    #[error("RSA: {0}")]
    Rsa(String),
}
