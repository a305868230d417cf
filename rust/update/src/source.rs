//! Where a bundle comes from: a local directory (or its bundle.json) or an
//! `http://`/`https://` URL, fetched with `metalos-net`'s HTTP client.
//! Files are streamed into a destination while their sha256 is computed;
//! short or corrupt downloads are errors.

use anyhow::{bail, Context, Result};
use metalos_contract::update::{BundleFile, BUNDLE_MANIFEST};
use metalos_net::http::{HttpClient, HttpOptions};
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
        client: HttpClient,
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
            let client = HttpClient::new(HttpOptions {
                ca_bundle: ca_cert.map(Path::to_path_buf),
                // A host system: the C library resolves names.
                system_resolver: true,
                // One try: the operator or the caller decides when to retry.
                attempts: 1,
                connect_timeout: Duration::from_secs(30),
                io_timeout: Duration::from_secs(120),
                ..HttpOptions::default()
            })
            .with_context(|| format!("setting up HTTP for {location}"))?;
            return Ok(Self::Url { base, client });
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
            Self::Url { base, client } => {
                let url = format!("{base}{name}");
                let (len, body) = client.get_reader(&url)?;
                Ok((Box::new(body), len))
            }
        }
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
