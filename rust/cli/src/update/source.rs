//! Where a bundle comes from: a local directory (or its bundle.json) or an
//! `http://` URL. Files are streamed into a destination while their sha256
//! is computed; short or corrupt downloads are errors.

use anyhow::{bail, Context, Result};
use metalos_image::bundle::{BundleFile, BundleManifest, BUNDLE_MANIFEST};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// A bundle location.
pub enum BundleSource {
    /// A directory holding bundle.json.
    Dir(PathBuf),
    /// `http://host[:port]/path/` (the directory of bundle.json).
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

impl BundleSource {
    /// Parses a path or URL (a trailing `bundle.json` is accepted).
    pub fn parse(location: &str) -> Result<Self> {
        if let Some(rest) = location.strip_prefix("http://") {
            let (hostport, path) = rest
                .split_once('/')
                .map(|(h, p)| (h, format!("/{p}")))
                .unwrap_or((rest, "/".into()));
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .with_context(|| format!("bad port in {location}"))?,
                ),
                None => (hostport.to_string(), 80),
            };
            let mut path = path.trim_end_matches(BUNDLE_MANIFEST).to_string();
            if !path.ends_with('/') {
                path.push('/');
            }
            return Ok(Self::Http { host, port, path });
        }
        if location.starts_with("https://") {
            bail!("https:// bundles are not supported by this build; use http:// (every file is verified against bundle.json's sha256) or a local path");
        }
        let p = PathBuf::from(location);
        let dir = if p.file_name().is_some_and(|n| n == BUNDLE_MANIFEST) {
            p.parent().map(PathBuf::from).unwrap_or_default()
        } else {
            p
        };
        Ok(Self::Dir(dir))
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
            Self::Http { host, port, path } => http_get(host, *port, &format!("{path}{name}")),
        }
    }

    /// Reads and validates bundle.json.
    pub fn manifest(&self) -> Result<BundleManifest> {
        let (mut r, _) = self.open(BUNDLE_MANIFEST)?;
        let mut text = String::new();
        r.read_to_string(&mut text).context("reading bundle.json")?;
        BundleManifest::parse(&text).map_err(anyhow::Error::msg)
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

/// Minimal HTTP/1.0 GET: status 200 required; returns the body reader and
/// its Content-Length when sent.
fn http_get(host: &str, port: u16, path: &str) -> Result<(Box<dyn Read>, Option<u64>)> {
    let url = format!("http://{host}:{port}{path}");
    let mut stream =
        TcpStream::connect((host, port)).with_context(|| format!("connecting to {url}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: metalos\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("GET {url}: {}", status.trim());
    }
    let mut len = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok();
            }
        }
    }
    Ok((Box::new(reader), len))
}
