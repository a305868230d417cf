//! Where a bundle comes from: a local directory (or its bundle.json) or an
//! `http://`/`https://` URL. Files are streamed into a destination while their sha256
//! is computed; short or corrupt downloads are errors.

use anyhow::{bail, Context, Result};
use metalos_image::bundle::{BundleFile, BundleManifest, BUNDLE_MANIFEST};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A bundle location.
pub enum BundleSource {
    /// A directory holding bundle.json.
    Dir(PathBuf),
    /// An `http://` or `https://` URL of the directory holding bundle.json.
    Url {
        /// Base URL, ending in `/`.
        base: String,
        /// HTTP client (TLS roots: Mozilla's, or the `--ca-cert` file).
        agent: ureq::Agent,
    },
}

impl BundleSource {
    /// Parses a path or URL (a trailing `bundle.json` is accepted). For
    /// https, `ca_cert` (PEM) replaces the built-in root certificates.
    pub fn parse(location: &str, ca_cert: Option<&Path>) -> Result<Self> {
        if location.starts_with("http://") || location.starts_with("https://") {
            let mut base = location.trim_end_matches(BUNDLE_MANIFEST).to_string();
            if !base.ends_with('/') {
                base.push('/');
            }
            let mut tls = ureq::tls::TlsConfig::builder();
            if let Some(path) = ca_cert {
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    bail!("{} holds no PEM certificate", path.display());
                }
                tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
            }
            let agent = ureq::Agent::config_builder()
                .tls_config(tls.build())
                .timeout_connect(Some(Duration::from_secs(30)))
                .timeout_recv_body(Some(Duration::from_secs(120)))
                .build()
                .new_agent();
            return Ok(Self::Url { base, agent });
        }
        let p = PathBuf::from(location);
        let dir = if p.file_name().is_some_and(|n| n == BUNDLE_MANIFEST) {
            p.parent().map(PathBuf::from).unwrap_or_default()
        } else {
            p
        };
        Ok(Self::Dir(dir))
    }

    /// Whether files come over the network (and are staged on disk first).
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Url { .. })
    }

    fn open(&self, name: &str) -> Result<(Box<dyn Read>, Option<u64>)> {
        match self {
            Self::Dir(d) => {
                let path = d.join(name);
                let f = std::fs::File::open(&path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                let len = f.metadata()?.len();
                Ok((Box::new(f), Some(len)))
            }
            Self::Url { base, agent } => {
                let url = format!("{base}{name}");
                let resp = agent
                    .get(&url)
                    .call()
                    .with_context(|| format!("GET {url}"))?;
                let len = resp
                    .headers()
                    .get("content-length")
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                Ok((Box::new(resp.into_body().into_reader()), len))
            }
        }
    }

    /// Reads and validates bundle.json, after checking its signature as
    /// `trust` says (see [`super::signature`]): the manifest returned is
    /// parsed from exactly the bytes that were verified.
    pub fn manifest(&self, trust: &super::signature::Trust) -> Result<BundleManifest> {
        let bytes = self.read_small(BUNDLE_MANIFEST)?;
        trust.check(self, &bytes)?;
        let text = String::from_utf8(bytes).context("bundle.json is not UTF-8")?;
        BundleManifest::parse(&text).map_err(anyhow::Error::msg)
    }

    /// Reads a small file of the bundle (at most 1 MiB).
    pub fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let (r, _) = self.open(name)?;
        let mut bytes = Vec::new();
        r.take(1 << 20)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {name}"))?;
        Ok(bytes)
    }

    /// Where `name` comes from, for messages.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Self::Dir(d) => d.join(name).display().to_string(),
            Self::Url { base, .. } => format!("{base}{name}"),
        }
    }

    /// Streams `file` into `out`, verifying size and sha256.
    pub fn copy_verified(
        &self,
        file: &BundleFile,
        out: &mut dyn Write,
        mut progress: impl FnMut(u64),
    ) -> Result<()> {
        let (mut r, len) = self.open(&file.file)?;
        if let Some(len) = len.filter(|l| *l != file.size) {
            bail!(
                "{}: the server/file has {len} bytes, bundle.json says {}",
                file.file,
                file.size
            );
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = r
                .read(&mut buf)
                .with_context(|| format!("reading {} (interrupted download?)", file.file))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > file.size {
                bail!(
                    "{} is longer than the {} bytes bundle.json lists",
                    file.file,
                    file.size
                );
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            progress(total);
        }
        if total != file.size {
            bail!(
                "{}: got {total} of {} bytes (interrupted download?)",
                file.file,
                file.size
            );
        }
        let got = hex::encode(hasher.finalize());
        if got != file.sha256 {
            bail!(
                "{}: sha256 {got} does not match bundle.json ({})",
                file.file,
                file.sha256
            );
        }
        Ok(())
    }
}
