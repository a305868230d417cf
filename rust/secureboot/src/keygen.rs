//! Generating Secure Boot keys (`metalos keys generate`): an RSA 2048
//! private key (PEM PKCS#8, made with the `rsa` crate) and its self-signed
//! X.509 v3 CA certificate (sha256WithRSAEncryption, written with
//! `rcgen`), the shape `openssl req -x509 -newkey rsa:2048` gives and
//! firmware enrols.

use rsa::pkcs8::{EncodePrivateKey, LineEnding};

/// RSA modulus size of the Secure Boot keys.
pub const RSA_BITS: usize = 2048;
/// Validity of the Secure Boot certificates, in years from the current one.
pub const CERT_YEARS: i32 = 30;

/// Why a key pair could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    /// The RSA key generation failed.
    #[error("generating an RSA key")]
    GenerateKey(#[source] rsa::Error),
    /// The RSA key could not be encoded as PEM PKCS#8.
    #[error("encoding the RSA key")]
    EncodeKey(#[source] rsa::pkcs8::Error),
    /// rcgen did not accept the RSA key.
    #[error("loading the RSA key for signing")]
    LoadKey(#[source] rcgen::Error),
    /// The certificate parameters were refused.
    #[error(transparent)]
    Params(rcgen::Error),
    /// Self-signing the certificate failed.
    #[error("signing the certificate {common_name}")]
    SignCertificate {
        /// The certificate's commonName.
        common_name: String,
        /// What rcgen reported.
        #[source]
        source: rcgen::Error,
    },
    /// The operating system's random source failed.
    #[error("no random source")]
    Random(#[source] rand_core::Error),
}

/// A Secure Boot key pair, PEM-encoded.
#[derive(Clone)]
pub struct KeyPairPem {
    /// The RSA private key (PEM PKCS#8).
    pub key_pem: String,
    /// The self-signed CA certificate of its public half (PEM X.509).
    pub cert_pem: String,
}

impl std::fmt::Debug for KeyPairPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPairPem")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// A new RSA [`RSA_BITS`] private key and its self-signed CA certificate
/// for `common_name`, valid from 1 January of the current year for
/// [`CERT_YEARS`] years, with a random positive 16-byte serial number.
pub fn generate_key_pair(common_name: &str) -> Result<KeyPairPem, KeygenError> {
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, RSA_BITS)
        .map_err(KeygenError::GenerateKey)?;
    let key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(KeygenError::EncodeKey)?
        .to_string();
    let pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(KeygenError::LoadKey)?;
    let cert = ca_params(common_name)?
        .self_signed(&pair)
        .map_err(|source| KeygenError::SignCertificate {
            common_name: common_name.to_string(),
            source,
        })?;
    Ok(KeyPairPem {
        key_pem,
        cert_pem: cert.pem(),
    })
}

/// The parameters of a self-signed CA certificate named `common_name`.
fn ca_params(common_name: &str) -> Result<rcgen::CertificateParams, KeygenError> {
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(KeygenError::Params)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let year = current_year();
    params.not_before = rcgen::date_time_ymd(year, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + CERT_YEARS, 1, 1);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()?));
    Ok(params)
}

/// A positive 16-byte serial number.
fn random_serial() -> Result<[u8; 16], KeygenError> {
    use rand_core::RngCore;
    let mut s = [0u8; 16];
    rand_core::OsRng
        .try_fill_bytes(&mut s)
        .map_err(KeygenError::Random)?;
    s[0] = (s[0] & 0x7f) | 0x01;
    Ok(s)
}

/// The current UTC year (good enough for a validity start on 1 January).
fn current_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    1970 + (secs / 31_556_952) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pair_loads_as_a_signer() {
        let pair = generate_key_pair("MetalOS db (test)").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db.key"), &pair.key_pem).unwrap();
        std::fs::write(dir.path().join("db.crt"), &pair.cert_pem).unwrap();
        let signer = crate::DbSigner::from_dir(dir.path()).unwrap();
        assert_eq!(signer.subject_cn().as_deref(), Some("MetalOS db (test)"));
    }
}
