//! `metalos keys generate DIR`: the operator's keys (docs/signing.md).
//!
//! * `signing.key` / `signing.pub`: ed25519 (PEM PKCS#8 / SPKI), signs
//!   update and netboot manifests ([`metalos_signing`]).
//! * `PK`, `KEK`, `db` `.key` + `.crt`: Secure Boot — RSA 2048 private keys
//!   (PEM PKCS#8, generated with the `rsa` crate) and self-signed X.509 v3
//!   CA certificates (sha256WithRSAEncryption, written with `rcgen`), the
//!   shape `openssl req -x509 -newkey rsa:2048` gives and firmware enrols.
//!
//! Private keys are written 0600 into a 0700 directory; nothing is
//! overwritten: an existing key file makes the command fail before it
//! writes anything.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use metalos_signing::{KeyDir, SECURE_BOOT_KEYS, SIGNING_KEY_FILE, SIGNING_PUB_FILE};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// RSA modulus size of the Secure Boot keys.
const RSA_BITS: usize = 2048;
/// Validity of the Secure Boot certificates, in years from the current one.
const CERT_YEARS: i32 = 30;

/// `metalos keys` subcommands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Write a new key directory: signing.key/signing.pub (ed25519, signs
    /// update and netboot manifests) and the Secure Boot PK, KEK and db
    /// (.key RSA 2048 + .crt self-signed X.509). Refuses to overwrite keys.
    Generate {
        /// The key directory (created, mode 0700). Keep it off the images.
        dir: PathBuf,
    },
}

/// Runs a `keys` subcommand.
pub fn run(cmd: KeysCommand, progress: &crate::progress::Progress) -> Result<()> {
    match cmd {
        KeysCommand::Generate { dir } => generate(&dir, progress),
    }
}

/// Every file `generate` writes, relative to the directory.
fn all_files() -> Vec<String> {
    let mut v = vec![SIGNING_KEY_FILE.to_string(), SIGNING_PUB_FILE.to_string()];
    for n in SECURE_BOOT_KEYS {
        v.push(format!("{n}.key"));
        v.push(format!("{n}.crt"));
    }
    v
}

fn generate(dir: &Path, progress: &crate::progress::Progress) -> Result<()> {
    for f in all_files() {
        let p = dir.join(&f);
        if p.symlink_metadata().is_ok() {
            bail!(
                "{} exists; refusing to overwrite keys (nothing was written)",
                p.display()
            );
        }
    }
    let label = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "keys".into());
    // Make the (slow) RSA keys before writing anything.
    let mut sb = Vec::new();
    for name in SECURE_BOOT_KEYS {
        progress.step(&format!(
            "generating the Secure Boot {name} key (RSA {RSA_BITS})"
        ));
        let cn = format!("MetalOS {name} ({label})");
        sb.push((name, secure_boot_pair(&cn)?));
    }
    let kd = KeyDir::generate_signing(dir)
        .with_context(|| format!("writing the signing key into {}", dir.display()))?;
    let fp = kd.verifying_key()?.fingerprint();
    for (name, (key_pem, cert_pem)) in sb {
        write_new(&dir.join(format!("{name}.key")), key_pem.as_bytes(), 0o600)?;
        write_new(&dir.join(format!("{name}.crt")), cert_pem.as_bytes(), 0o644)?;
    }
    println!(
        "wrote {}: signing.key, signing.pub (ed25519, {fp}), PK, KEK, db (.key, .crt)",
        dir.display()
    );
    Ok(())
}

/// An RSA private key (PEM PKCS#8) and its self-signed CA certificate.
fn secure_boot_pair(common_name: &str) -> Result<(String, String)> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, RSA_BITS)
        .context("generating an RSA key")?;
    let key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the RSA key")?
        .to_string();
    let pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
        .context("loading the RSA key for signing")?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
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
    let cert = params
        .self_signed(&pair)
        .with_context(|| format!("signing the certificate {common_name}"))?;
    Ok((key_pem, cert.pem()))
}

/// A positive 16-byte serial number.
fn random_serial() -> Result<[u8; 16]> {
    use rand_core::RngCore;
    let mut s = [0u8; 16];
    rand_core::OsRng
        .try_fill_bytes(&mut s)
        .context("no random source")?;
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

/// Writes a new file with `mode`, never replacing an existing one.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
