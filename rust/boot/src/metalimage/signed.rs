//! Signed netboot manifests (docs/signing.md): when the imaging initrd
//! carries `/etc/metalos/signing.pub`, metalimage fetches the bundle's
//! `manifest.json` and `manifest.json.sig` from the base URL (the image
//! URL without `/blobs/sha256/<hex>`), verifies the signature, and
//! requires the command line's image (URL, sha256, size, blob sha256) and
//! the fetched HostConfig to be the ones the signed manifest lists — all
//! before the disk is touched. The image stream itself is then checked
//! against those hashes while it is written (partition tables last).

use anyhow::{anyhow, bail, Context, Result};
use metalos_contract::cmdline::ImagingArgs;
use metalos_contract::netboot::{
    NetbootManifest, MANIFEST_FILE as MANIFEST, SIGNATURE_FILE as MANIFEST_SIG,
};
use metalos_signing::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What the signed manifest vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// The base URL (no trailing `/`).
    pub base: String,
    /// `image.blob` (`blobs/sha256/<hex>`).
    pub blob: String,
    /// `image.sha256`: the uncompressed disk image.
    pub image_sha256: String,
    /// `image.size`.
    pub image_size: u64,
    /// `files[]`: path → sha256.
    pub files: BTreeMap<String, String>,
}

/// The base URL of an image URL `<base>/blobs/sha256/<hex>`.
pub fn base_url(image_url: &str) -> Result<&str> {
    image_url
        .rsplit_once("/blobs/sha256/")
        .map(|(base, _)| base)
        .filter(|b| !b.is_empty())
        .with_context(|| {
            format!(
                "metalos.image_url={image_url} is not <base>/blobs/sha256/<hex>: cannot find the \
                 signed manifest"
            )
        })
}

/// Verifies `sig` (a `*.sig` file) over `manifest` with `key`, then parses
/// the manifest. `base` is where both were fetched from.
pub fn verify_manifest(
    key: &VerifyingKey,
    base: &str,
    manifest: &[u8],
    sig: &[u8],
) -> Result<SignedManifest> {
    let fp = key.fingerprint();
    let sig = Signature::from_file_bytes(sig)
        .with_context(|| format!("{base}/{MANIFEST_SIG} (key {fp})"))?;
    metalos_signing::verify(key, manifest, &sig).with_context(|| {
        format!(
            "{base}/{MANIFEST}: the signature {MANIFEST_SIG} does not verify with key {fp} \
             (another key, or a modified manifest)"
        )
    })?;
    parse(base, manifest)
}

fn parse(base: &str, manifest: &[u8]) -> Result<SignedManifest> {
    let bad = |what: String| anyhow!("{base}/{MANIFEST}: {what}");
    let text = std::str::from_utf8(manifest).map_err(|_| bad("not UTF-8".into()))?;
    let m = NetbootManifest::parse(text).map_err(bad)?;
    Ok(SignedManifest {
        base: base.to_string(),
        blob: m.image.blob,
        image_sha256: m.image.sha256,
        image_size: m.image.size,
        files: m.files.into_iter().map(|f| (f.path, f.sha256)).collect(),
    })
}

impl SignedManifest {
    /// The command line's image must be the manifest's: URL, uncompressed
    /// sha256 and size, and the blob's content address.
    pub fn check_params(&self, p: &ImagingArgs) -> Result<()> {
        let want_url = format!("{}/{}", self.base, self.blob);
        if p.image_url != want_url {
            bail!(
                "metalos.image_url={} is not the signed manifest's image ({want_url})",
                p.image_url
            );
        }
        if p.image_sha256 != self.image_sha256 || p.image_size != self.image_size {
            bail!(
                "metalos.image_sha256/_size ({}, {}) differ from the signed manifest's ({}, {})",
                p.image_sha256,
                p.image_size,
                self.image_sha256,
                self.image_size
            );
        }
        let listed = self.files.get(&self.blob);
        match (p.blob_sha256(), listed) {
            (Some(got), Some(want)) if got == want => Ok(()),
            _ => bail!(
                "the image blob {} is not listed with that sha256 in the signed manifest",
                self.blob
            ),
        }
    }

    /// The HostConfig fetched from `url` must be listed in the manifest with
    /// the sha256 of `bytes`.
    pub fn check_file(&self, url: &str, bytes: &[u8]) -> Result<()> {
        let path = url
            .strip_prefix(&self.base)
            .and_then(|r| r.strip_prefix('/'))
            .with_context(|| {
                format!(
                    "{url} is not under the signed bundle's base URL {}",
                    self.base
                )
            })?;
        let Some(want) = self.files.get(path) else {
            bail!("{url}: {path} is not in the signed manifest");
        };
        let got: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if &got != want {
            bail!("{url}: sha256 {got} does not match the signed manifest ({want})");
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "signed_tests.rs"]
mod tests;
