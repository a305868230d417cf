//! Bundle signatures (docs/signing.md): `bundle.json.sig` must verify with
//! the running system's `/usr/lib/metalos/signing.pub` (or `--pubkey`)
//! before anything is written.

use super::source::BundleSource;
use anyhow::{anyhow, Context, Result};
use metalos_image::bundle::BUNDLE_MANIFEST;
use metalos_signing::{Signature, VerifyingKey};
use std::path::{Path, PathBuf};

/// The public key a signed build puts into `/usr`.
pub const SYSTEM_PUBKEY: &str = "/usr/lib/metalos/signing.pub";

/// Printed (stderr) when the running system has no key.
pub const UNVERIFIED: &str = "unverified: this system was built without signing keys";

/// How a bundle's signature is checked.
pub enum Trust {
    /// `bundle.json.sig` must verify with this key (read from the path).
    Key(Box<VerifyingKey>, PathBuf),
    /// `--insecure-skip-signature`.
    Skip,
    /// The running system has no key (an unsigned build).
    Unsigned,
}

/// `--pubkey` / `--insecure-skip-signature` flags shared by `stage` and `verify`.
#[derive(clap::Args, Clone, Debug)]
pub struct SignatureArgs {
    /// Verify bundle.json.sig with this public key (PEM, `signing.pub`)
    /// instead of the running system's /usr/lib/metalos/signing.pub.
    #[arg(long, value_name = "PEM")]
    pub pubkey: Option<PathBuf>,
    /// Do not check the bundle's signature (prints a warning). Only for
    /// recovery: anyone who can serve the bundle decides what is written.
    #[arg(long, conflicts_with = "pubkey")]
    pub insecure_skip_signature: bool,
}

impl SignatureArgs {
    /// What to trust: the flags, else the running system's key.
    pub fn trust(&self) -> Result<Trust> {
        self.trust_with(Path::new(SYSTEM_PUBKEY))
    }

    fn trust_with(&self, system: &Path) -> Result<Trust> {
        if self.insecure_skip_signature {
            eprintln!(
                "WARNING: --insecure-skip-signature: the bundle's signature is NOT checked; \
                 whoever serves it decides what this disk boots"
            );
            return Ok(Trust::Skip);
        }
        let path = match &self.pubkey {
            Some(p) => p.clone(),
            None if !system.exists() => {
                eprintln!("{UNVERIFIED}");
                return Ok(Trust::Unsigned);
            }
            None => system.to_path_buf(),
        };
        let key = VerifyingKey::load(&path).context("loading the public key")?;
        Ok(Trust::Key(Box::new(key), path))
    }
}

impl Trust {
    /// Checks `manifest` (the bytes of bundle.json) against
    /// `bundle.json.sig` of `src`.
    pub fn check(&self, src: &BundleSource, manifest: &[u8]) -> Result<()> {
        let Trust::Key(key, key_path) = self else {
            return Ok(());
        };
        let sig_name = format!("{BUNDLE_MANIFEST}.sig");
        let where_ = src.describe(&sig_name);
        let fp = key.fingerprint();
        let refuse = |why: String| {
            anyhow!(
                "{where_}: {why}; the bundle must be signed by key {fp} ({}); nothing was changed",
                key_path.display()
            )
        };
        let bytes = src
            .read_small(&sig_name)
            .map_err(|e| refuse(format!("no signature (unsigned bundle?): {e:#}")))?;
        let sig = Signature::from_file_bytes(&bytes).map_err(|e| refuse(e.to_string()))?;
        metalos_signing::verify(key, manifest, &sig).map_err(|_| {
            refuse(format!(
                "the signature of {BUNDLE_MANIFEST} does not verify (another key, or a modified {BUNDLE_MANIFEST})"
            ))
        })?;
        eprintln!("{BUNDLE_MANIFEST}: signature verified (key {fp})");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_system_key_the_bundle_is_unverified() {
        let args = SignatureArgs {
            pubkey: None,
            insecure_skip_signature: false,
        };
        let t = args
            .trust_with(Path::new("/nonexistent/signing.pub"))
            .unwrap();
        assert!(matches!(t, Trust::Unsigned));
    }

    #[test]
    fn a_bad_pubkey_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pub");
        std::fs::write(&p, "nope").unwrap();
        let args = SignatureArgs {
            pubkey: Some(p),
            insecure_skip_signature: false,
        };
        let e = args.trust().err().unwrap();
        assert!(format!("{e:#}").contains("k.pub"), "{e:#}");
    }
}
