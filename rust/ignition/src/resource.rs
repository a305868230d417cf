//! Resources: `data:` URLs, http(s) GETs, gzip, and hash verification over
//! the decompressed bytes.
//!
//! Validation ([`check_source`], [`check_hash`], [`check_compression`])
//! uses Ignition's messages; [`fetch`] produces the bytes, every error
//! naming the JSON path of the resource and its URL.

mod dataurl;
mod hash;
mod http;
#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::time::Duration;

use crate::config::Resource;
use crate::error::{Error, Result};

pub use dataurl::decode_data_url;
pub use hash::check_hash;
pub use http::HttpFetcher;

/// HTTP settings in force for a fetch (from the configs merged so far).
#[derive(Debug, Clone, Default)]
pub struct HttpPolicy {
    /// PEM bundles trusted in addition to the system roots
    /// (`ignition.security.tls.certificateAuthorities`, already fetched).
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// `ignition.timeouts.httpResponseHeaders` (None = default 10 s, Some(0) = no limit).
    pub response_headers_timeout: Option<Duration>,
    /// `ignition.timeouts.httpTotal` (None or Some(0) = no limit).
    pub total_timeout: Option<Duration>,
}

/// Something that can GET a URL (http/https). `Err` is a one-line message
/// naming the URL.
pub trait Fetcher: Send + Sync {
    /// GETs `url` with `headers`, following `policy`.
    fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
        policy: &HttpPolicy,
    ) -> std::result::Result<Vec<u8>, String>;
}

/// How a source URL is fetched.
enum Kind {
    /// `""`: empty contents (Ignition: "empty url is valid, indicates an
    /// empty file").
    Empty,
    Data,
    Http,
}

/// Checks a resource's `source` URL: `""` (empty contents), `data:`
/// (well-formed per RFC 2397), `http:` and `https:` are accepted; `tftp`,
/// `s3`, `gs` and `arn` are valid Ignition but not supported by MetalOS;
/// anything else is an invalid scheme.
pub fn check_source(url: &str) -> std::result::Result<(), String> {
    kind(url).map(|_| ())
}

fn kind(url: &str) -> std::result::Result<Kind, String> {
    let invalid = || "invalid url scheme".to_string();
    if url.is_empty() {
        return Ok(Kind::Empty);
    }
    // The url crate would trim these silently; Go's parser rejects them.
    if url.starts_with(|c: char| c <= ' ') || url.ends_with(|c: char| c <= ' ') {
        return Err(invalid());
    }
    let scheme = url.split_once(':').map(|(s, _)| s).ok_or_else(invalid)?;
    if scheme.eq_ignore_ascii_case("data") {
        decode_data_url(url)?;
        return Ok(Kind::Data);
    }
    let parsed = url::Url::parse(url).map_err(|_| invalid())?;
    match parsed.scheme() {
        "http" | "https" => Ok(Kind::Http),
        s @ ("tftp" | "s3" | "gs" | "arn") => {
            Err(format!("url scheme {s:?} is not supported by MetalOS"))
        }
        _ => Err(invalid()),
    }
}

/// Checks `compression`: unset, `""` or `gzip`.
pub fn check_compression(c: Option<&str>) -> std::result::Result<(), String> {
    match c {
        None | Some("") | Some("gzip") => Ok(()),
        Some(_) => Err("invalid compression method".to_string()),
    }
}

/// Fetches `res` (at JSON path `path`), decompresses and verifies it.
pub fn fetch(
    res: &Resource,
    path: &str,
    fetcher: Option<&dyn Fetcher>,
    policy: &HttpPolicy,
) -> Result<Vec<u8>> {
    let url = res
        .source
        .as_deref()
        .ok_or_else(|| Error::resource(path, "resource has no source"))?;
    let summary = summarize(url);
    let err = |m: String| Error::resource(path, format!("{summary}: {m}"));
    check_compression(res.compression.as_deref()).map_err(err)?;
    let raw = match kind(url).map_err(err)? {
        // As Ignition: nothing fetched, so nothing decompressed or verified.
        Kind::Empty => return Ok(Vec::new()),
        Kind::Data => decode_data_url(url).map_err(err)?,
        Kind::Http => {
            let fetcher = fetcher.ok_or_else(|| {
                err("needs the network but no HTTP fetcher is available".to_string())
            })?;
            let headers: Vec<(String, String)> = res
                .http_headers
                .iter()
                .filter_map(|h| Some((h.name.clone(), h.value.clone()?)))
                .collect();
            fetcher.get(url, &headers, policy).map_err(|m| {
                if m.contains(url) {
                    Error::resource(path, m)
                } else {
                    err(m)
                }
            })?
        }
    };
    let data = match res.compression.as_deref() {
        Some("gzip") => gunzip(&raw).map_err(|e| err(format!("gzip: {e}")))?,
        _ => raw,
    };
    if let Some(spec) = &res.verification.hash {
        hash::verify(spec, &data).map_err(err)?;
    }
    Ok(data)
}

/// Decompresses gzip `data` (all members, like Go's `gzip.Reader`).
fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

/// `url` for messages: `data:` URLs cut to their first 40 characters.
fn summarize(url: &str) -> String {
    const MAX: usize = 40;
    let is_data = url
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"));
    if is_data && url.chars().count() > MAX {
        let head: String = url.chars().take(MAX).collect();
        format!("{head}…")
    } else {
        url.to_string()
    }
}
