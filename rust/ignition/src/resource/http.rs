//! [`HttpFetcher`]: http(s) GETs with Ignition's retry and timeout rules,
//! on [`metalos_net::http::HttpClient`].

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use metalos_net::dns::Resolver;
use metalos_net::http::{HttpClient, HttpError, HttpOptions};

use super::{Fetcher, HttpPolicy};

/// The largest body fetched (resources are held in memory).
const MAX_BODY: u64 = 1 << 30;

/// `ignition.timeouts.httpResponseHeaders` when unset.
const DEFAULT_RESPONSE_HEADERS_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Fetcher`] for real networks, with Ignition's HTTP semantics:
///
/// * a try that fails to connect, times out waiting for the response
///   headers (`response_headers_timeout`, default 10 s, 0 = no limit) or
///   gets a 5xx is retried after a pause of 100 ms, doubling up to 5 s;
/// * any other status ends the request: 200 and 204 succeed, everything
///   else fails (`GET <url>: HTTP 404 Not Found`);
/// * all tries together are bounded by `total_timeout` — and, unlike
///   Ignition, which retries forever when it is unset or 0, always by the
///   fetcher's `max_total` (default [`HttpFetcher::DEFAULT_MAX_TOTAL`]);
/// * TLS trusts the system roots plus `extra_ca_pem`.
///
/// Bodies larger than 1 GiB are refused.
#[derive(Debug)]
pub struct HttpFetcher {
    options: HttpOptions,
    max_total: Duration,
    /// The client for the last set of extra CAs seen.
    client: Mutex<(Vec<Vec<u8>>, HttpClient)>,
}

impl HttpFetcher {
    /// The default bound on one fetch, retries included (2 minutes).
    pub const DEFAULT_MAX_TOTAL: Duration = Duration::from_secs(120);

    /// A fetcher trusting the certificates in the PEM file `system_ca`
    /// (e.g. the initrd's CA bundle; `None` = the Mozilla roots built into
    /// ureq) and resolving names with `resolver` (`None` = the C library's
    /// resolver, for use on a normal host; the initrd has none and must
    /// pass one). Fetches are bounded by [`HttpFetcher::DEFAULT_MAX_TOTAL`].
    /// Fails when `system_ca` cannot be read or holds no certificate.
    pub fn new(system_ca: Option<PathBuf>, resolver: Option<Resolver>) -> Result<Self, HttpError> {
        HttpFetcher::with_max_total(system_ca, resolver, HttpFetcher::DEFAULT_MAX_TOTAL)
    }

    /// [`HttpFetcher::new`] with each fetch (all tries and pauses) bounded
    /// by `max_total` instead of the default.
    pub fn with_max_total(
        system_ca: Option<PathBuf>,
        resolver: Option<Resolver>,
        max_total: Duration,
    ) -> Result<Self, HttpError> {
        let options = HttpOptions {
            ca_bundle: system_ca,
            system_resolver: resolver.is_none(),
            resolver,
            attempts: u32::MAX,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            ..HttpOptions::default()
        };
        let client = HttpClient::new(options.clone())?;
        Ok(HttpFetcher {
            options,
            max_total,
            client: Mutex::new((Vec::new(), client)),
        })
    }

    /// The client trusting `extra_ca_pem` in addition to the system roots.
    fn client(&self, extra_ca_pem: &[Vec<u8>]) -> Result<HttpClient, HttpError> {
        let mut cached = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0 != extra_ca_pem {
            let client = HttpClient::new(HttpOptions {
                extra_ca_pem: extra_ca_pem.to_vec(),
                ..self.options.clone()
            })?;
            *cached = (extra_ca_pem.to_vec(), client);
        }
        Ok(cached.1.clone())
    }
}

impl Fetcher for HttpFetcher {
    fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
        policy: &HttpPolicy,
    ) -> Result<Vec<u8>, String> {
        let client = self
            .client(&policy.extra_ca_pem)
            .map_err(|e| format!("GET {url}: {e}"))?;
        let mut request = client.request_options();
        request.headers = headers.to_vec();
        request.response_timeout = match policy.response_headers_timeout {
            None => Some(DEFAULT_RESPONSE_HEADERS_TIMEOUT),
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
        };
        request.read_timeout = None;
        request.total_timeout = Some(match policy.total_timeout {
            Some(t) if !t.is_zero() => t.min(self.max_total),
            _ => self.max_total,
        });
        request.only_200_or_204 = true;
        client
            .get_bytes_with(url, MAX_BODY, &request)
            .map_err(|e| e.to_string())
    }
}
