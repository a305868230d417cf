//! Resources: `data:` URLs, http(s) GETs, gzip, and hash verification over
//! the decompressed bytes.

use crate::config::Resource;
use crate::error::Result;
use std::time::Duration;

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

/// Fetches `res` (at JSON path `path`), decompresses and verifies it.
pub fn fetch(
    res: &Resource,
    path: &str,
    fetcher: Option<&dyn Fetcher>,
    policy: &HttpPolicy,
) -> Result<Vec<u8>> {
    let _ = (res, path, fetcher, policy);
    todo!()
}
