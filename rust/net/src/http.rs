//! HTTP(S) requests (GET, streaming GET, POST, PUT) for the in-initrd programs and
//! the update code, on top of `ureq`.
//!
//! * Host names are resolved by [`crate::dns`] (the initrd has no NSS), via
//!   ureq's pluggable resolver; TLS still verifies the host name (SNI).
//!   Programs on a normal host can use the C library's resolver instead
//!   ([`HttpOptions::system_resolver`]).
//! * TLS trusts either the roots in a PEM CA bundle (and only those) or
//!   the Mozilla roots built into ureq (webpki-roots), plus any extra PEM
//!   roots given as bytes ([`HttpOptions::extra_ca_pem`]).
//! * Connection errors, timeouts and HTTP 5xx are retried with exponential
//!   backoff; 4xx and TLS failures are not.
//! * [`HttpClient::get_bytes_with`] adds per-request headers, timeouts and
//!   a bound on the total time ([`RequestOptions`]).
//! * [`HttpClient::post`], [`HttpClient::put`] and [`HttpClient::send`]
//!   (any [`Method`]) return the status and body for the caller to judge.

mod request;
mod roots;
#[cfg(test)]
mod tests_local;

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::TlsConfig;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver as UreqResolver};
use ureq::unversioned::transport::{Connector, DefaultConnector, NextTimeout};
use ureq::Agent;

pub use request::{Method, RequestOptions};

use crate::dns::Resolver;
use crate::mac::MacAddr;

/// Replaces every `${mac}` in `template` by the MAC in lowercase hyphenated
/// form (`aa-bb-cc-dd-ee-ff`, iPXE's `${net0/mac:hexhyp}`), e.g.
/// `http://images.metalos.test/hosts/${mac}.json` →
/// `http://images.metalos.test/hosts/52-54-00-12-34-56.json`.
pub fn expand_url(template: &str, mac: MacAddr) -> String {
    template.replace("${mac}", &mac.hyphenated())
}

/// How an [`HttpClient`] connects and retries.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// PEM file whose certificates are the only trusted roots; `None`
    /// trusts the Mozilla roots built into ureq.
    pub ca_bundle: Option<PathBuf>,
    /// DNS servers to use; `None` uses [`crate::dns::default_servers`] at
    /// the time of each request. The resolver's own timeout and attempts
    /// bound name resolution (ureq's resolve timeout is not used).
    pub resolver: Option<Resolver>,
    /// Tries per request, including the first (default 5).
    pub attempts: u32,
    /// Pause before the first retry; doubled for each further one (default
    /// 1 s).
    pub first_backoff: Duration,
    /// The longest pause between tries (default 16 s).
    pub max_backoff: Duration,
    /// TCP connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Longest wait for the response head, and for each read of the body
    /// (default 30 s): a stalled server fails instead of hanging the boot.
    pub io_timeout: Duration,
    /// PEM bundles (file contents) whose certificates are trusted in
    /// addition to `ca_bundle` or the built-in roots (default none). Each
    /// must hold at least one certificate.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Resolve host names with the C library (`getaddrinfo`: `/etc/hosts`,
    /// `/etc/resolv.conf`, NSS) instead of [`crate::dns`]; `resolver` is
    /// then unused. For programs on a normal host, not the initrd (default
    /// false).
    pub system_resolver: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_bundle: None,
            resolver: None,
            attempts: 5,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(16),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            extra_ca_pem: Vec::new(),
            system_resolver: false,
        }
    }
}

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server answered with a non-success status.
    #[error("{method} {url}: HTTP {status}{after}")]
    Status {
        /// `GET`, `PUT` or `POST`.
        method: &'static str,
        /// The URL asked for.
        url: String,
        /// The status line, e.g. `404 Not Found`.
        status: String,
        /// The numeric status.
        code: u16,
        /// ` (after N attempts)` when retried, where a redirect points, else empty.
        after: String,
    },
    /// No response (connection, DNS, TLS or protocol failure).
    #[error("{method} {url}: {reason}{after}")]
    Transport {
        /// `GET`, `PUT` or `POST`.
        method: &'static str,
        /// The URL asked for.
        url: String,
        /// What failed.
        reason: String,
        /// ` (after N attempts)` when retried, else empty.
        after: String,
    },
    /// The body is larger than the caller's limit.
    #[error("{method} {url}: body larger than the limit of {limit} bytes")]
    TooLarge {
        /// `GET`, `PUT` or `POST`.
        method: &'static str,
        /// The URL asked for.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The CA bundle could not be used.
    #[error("CA bundle {path}: {reason}")]
    CaBundle {
        /// The PEM file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An entry of [`HttpOptions::extra_ca_pem`] could not be used.
    #[error("extra CA bundle #{index}: {reason}")]
    ExtraCa {
        /// Its index in [`HttpOptions::extra_ca_pem`].
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

impl HttpError {
    /// The HTTP status code, when the server answered with an error status.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            HttpError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A response whose status the caller interprets ([`HttpClient::post`],
/// [`HttpClient::send`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The numeric status, e.g. 200 or 409.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// An HTTP(S) client; cheap to clone, reuses connections.
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// One agent per root store, tried in order on a TLS failure (ureq
    /// cannot combine the built-in roots with others in one store).
    agents: Vec<Agent>,
    options: HttpOptions,
}

/// A failure inside one try: retry it or give up at once.
enum TryError {
    Retry(HttpError),
    Fatal(HttpError),
}

impl HttpClient {
    /// A client with `options` (reads the CA bundle now).
    pub fn new(options: HttpOptions) -> Result<Self, HttpError> {
        Self::with_connector(options, DefaultConnector::new)
    }

    /// [`HttpClient::new`] whose connections come from `connector()` (one
    /// connector per root store) instead of TCP and TLS: for serving
    /// canned bytes in fuzzing (see rust/fuzzing).
    #[doc(hidden)]
    pub fn with_connector<C: Connector>(
        options: HttpOptions,
        connector: impl Fn() -> C,
    ) -> Result<Self, HttpError> {
        let mut agents = Vec::new();
        for roots in roots::root_stores(&options)? {
            let mut tls = TlsConfig::builder();
            if let Some(roots) = roots {
                tls = tls.root_certs(roots);
            }
            let config = Config::builder()
                .http_status_as_error(false)
                // Redirects are not followed: ureq 3.5.2 panics on some
                // redirect bodies (fuzzing finding, target `http`); a 3xx is
                // an error naming where the server points.
                .max_redirects(0)
                .tls_config(tls.build())
                .user_agent(concat!("metalos-net/", env!("CARGO_PKG_VERSION")))
                .timeout_connect(Some(options.connect_timeout))
                .timeout_recv_response(Some(options.io_timeout))
                .timeout_per_read(Some(options.io_timeout))
                .build();
            let resolver = if options.system_resolver {
                DnsForUreq::System
            } else {
                DnsForUreq::Stub(options.resolver.clone())
            };
            agents.push(Agent::with_parts(config, connector(), resolver));
        }
        Ok(HttpClient { agents, options })
    }

    /// The per-request settings [`HttpClient::get_bytes`] uses: no extra
    /// headers, `io_timeout` for the response head and each read, no
    /// total limit beyond `attempts`, any 2xx status is success.
    pub fn request_options(&self) -> RequestOptions {
        RequestOptions {
            headers: Vec::new(),
            response_timeout: Some(self.options.io_timeout),
            read_timeout: Some(self.options.io_timeout),
            total_timeout: None,
            only_200_or_204: false,
        }
    }

    /// GETs `url` into memory; fails with [`HttpError::TooLarge`] when the
    /// body exceeds `limit` bytes. For small documents (a HostConfig).
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, HttpError> {
        self.get_bytes_with(url, limit, &self.request_options())
    }

    /// [`HttpClient::get_bytes`] with per-request `options`: headers,
    /// timeouts, a deadline for all tries together, which statuses count
    /// as success.
    pub fn get_bytes_with(
        &self,
        url: &str,
        limit: u64,
        options: &RequestOptions,
    ) -> Result<Vec<u8>, HttpError> {
        let deadline = options
            .total_timeout
            .map(|t| crate::deadline_after(Instant::now(), t));
        self.with_retries(url, deadline, || {
            let (_, body) = self.get_once(url, options, deadline)?.into_parts();
            read_limited("GET", url, body, limit)
        })
    }

    /// GETs `url` for streaming: returns the Content-Length (if the server
    /// sent one) and a reader of the body. Only getting the response head
    /// is retried; an error while reading is returned by the reader (as an
    /// `io::Error`) and the caller restarts the download.
    pub fn get_reader(
        &self,
        url: &str,
    ) -> Result<(Option<u64>, impl Read + Send + 'static), HttpError> {
        let options = self.request_options();
        let response = self.with_retries(url, None, || self.get_once(url, &options, None))?;
        let (_, body) = response.into_parts();
        Ok((body.content_length(), body.into_reader()))
    }

    /// POSTs `body` to `url` with per-request `options` (headers such as
    /// `content-type`) and returns the answer whatever its status, with a
    /// body of at most `limit` bytes: protocols such as FleetLock answer
    /// refusals with a status and a JSON body the caller reads. Connection
    /// failures are retried as for GETs (the caller's requests must be
    /// idempotent); no status is.
    pub fn post(
        &self,
        url: &str,
        body: &[u8],
        limit: u64,
        options: &RequestOptions,
    ) -> Result<HttpResponse, HttpError> {
        self.send(Method::Post, url, body, limit, options)
    }

    /// PUTs `body` to `url`, as [`HttpClient::post`] (e.g. the EC2 metadata
    /// service's session token, `PUT /latest/api/token`).
    pub fn put(
        &self,
        url: &str,
        body: &[u8],
        limit: u64,
        options: &RequestOptions,
    ) -> Result<HttpResponse, HttpError> {
        self.send(Method::Put, url, body, limit, options)
    }

    /// Sends one `method` request to `url` (`body` is ignored for GET) and
    /// returns the answer whatever its status, with a body of at most
    /// `limit` bytes, as [`HttpClient::post`]: for callers with their own
    /// rules about statuses and retries (a 404 that means "nothing here",
    /// a 5xx retried until their deadline). Connection failures are retried
    /// up to [`HttpOptions::attempts`] within `options.total_timeout`.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        body: &[u8],
        limit: u64,
        options: &RequestOptions,
    ) -> Result<HttpResponse, HttpError> {
        let deadline = options
            .total_timeout
            .map(|t| crate::deadline_after(Instant::now(), t));
        let name = method.as_str();
        self.with_retries(url, deadline, || {
            let mut result = Err(ureq::Error::ConnectionFailed);
            for agent in &self.agents {
                result = request::send_method(agent, method, url, body, options, deadline);
                match &result {
                    Err(e) if roots::is_tls_failure(e) => continue,
                    _ => break,
                }
            }
            let (head, body) = result.map_err(|e| classify(name, url, e))?.into_parts();
            Ok(HttpResponse {
                status: head.status.as_u16(),
                body: read_limited(name, url, body, limit)?,
            })
        })
    }

    /// One GET; `Ok` only for a success status (redirects are not followed).
    /// On a TLS failure the next root store's agent is tried.
    fn get_once(
        &self,
        url: &str,
        options: &RequestOptions,
        deadline: Option<Instant>,
    ) -> Result<ureq::http::Response<ureq::Body>, TryError> {
        let mut result = Err(ureq::Error::ConnectionFailed);
        for agent in &self.agents {
            result = request::send(agent, url, options, deadline);
            match &result {
                Err(e) if roots::is_tls_failure(e) => continue,
                _ => break,
            }
        }
        let response = result.map_err(|e| classify("GET", url, e))?;
        let status = response.status();
        if request::is_success(status.as_u16(), options) {
            return Ok(response);
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .filter(|_| status.is_redirection());
        let error = HttpError::Status {
            method: "GET",
            url: url.to_string(),
            status: status.to_string(),
            code: status.as_u16(),
            after: location
                .map(|l| format!(" (redirects to {l}: not followed; point the URL there)"))
                .unwrap_or_default(),
        };
        if status.is_server_error() {
            Err(TryError::Retry(error))
        } else {
            Err(TryError::Fatal(error))
        }
    }

    /// Runs `once` up to `attempts` times with backoff pauses, giving up
    /// early when the next try could not start before `deadline`.
    fn with_retries<T>(
        &self,
        url: &str,
        deadline: Option<Instant>,
        mut once: impl FnMut() -> Result<T, TryError>,
    ) -> Result<T, HttpError> {
        let attempts = self.options.attempts.max(1);
        let mut backoff = self.options.first_backoff;
        for attempt in 1..=attempts {
            match once() {
                Ok(v) => return Ok(v),
                Err(TryError::Fatal(e)) => return Err(e),
                Err(TryError::Retry(e)) if attempt == attempts => {
                    return Err(with_attempts(e, attempts))
                }
                Err(TryError::Retry(e)) => {
                    if deadline.is_some_and(|d| Instant::now() + backoff >= d) {
                        return Err(with_attempts(e, attempt));
                    }
                    thread::sleep(backoff);
                    backoff = backoff.saturating_mul(2).min(self.options.max_backoff);
                }
            }
        }
        // attempts >= 1, so the loop always returns.
        Err(HttpError::Transport {
            method: "GET",
            url: url.to_string(),
            reason: "no attempt made".to_string(),
            after: String::new(),
        })
    }
}

/// Reads `body` whole, failing with [`HttpError::TooLarge`] past `limit`.
fn read_limited(
    method: &'static str,
    url: &str,
    mut body: ureq::Body,
    limit: u64,
) -> Result<Vec<u8>, TryError> {
    body.with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => TryError::Fatal(HttpError::TooLarge {
                method,
                url: url.to_string(),
                limit,
            }),
            other => classify(method, url, other),
        })
}

fn with_attempts(e: HttpError, attempts: u32) -> HttpError {
    let after = if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    };
    match e {
        HttpError::Status {
            method,
            url,
            status,
            code,
            ..
        } => HttpError::Status {
            method,
            url,
            status,
            code,
            after,
        },
        HttpError::Transport {
            method,
            url,
            reason,
            ..
        } => HttpError::Transport {
            method,
            url,
            reason,
            after,
        },
        other => other,
    }
}

/// Sorts ureq's errors into worth retrying (the network or server may
/// recover) and not (the request or the TLS trust is wrong).
fn classify(method: &'static str, url: &str, e: ureq::Error) -> TryError {
    let retry = match &e {
        ureq::Error::Io(io) => io.kind() != io::ErrorKind::InvalidData, // rustls errors are InvalidData
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Protocol(_) => true,
        _ => false,
    };
    let error = HttpError::Transport {
        method,
        url: url.to_string(),
        reason: e.to_string(),
        after: String::new(),
    };
    if retry {
        TryError::Retry(error)
    } else {
        TryError::Fatal(error)
    }
}

/// ureq's resolver hook, answering from [`crate::dns`] (or the C library).
#[derive(Debug)]
enum DnsForUreq {
    /// [`crate::dns`] with these servers (None: the process defaults).
    Stub(Option<Resolver>),
    /// `getaddrinfo`.
    System,
}

impl UreqResolver for DnsForUreq {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .ok_or_else(|| ureq::Error::BadUri(format!("{uri}: no host")))?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let ips: Vec<IpAddr> = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match self {
                DnsForUreq::Stub(resolver) => {
                    let resolver = resolver.clone().unwrap_or_else(Resolver::from_defaults);
                    resolver
                        .resolve_ipv4(host)
                        .map_err(|e| ureq::Error::Io(io::Error::other(e.to_string())))?
                        .into_iter()
                        .map(IpAddr::V4)
                        .collect()
                }
                DnsForUreq::System => (literal, port)
                    .to_socket_addrs()
                    .map_err(|e| {
                        ureq::Error::Io(io::Error::other(format!("resolving {host:?}: {e}")))
                    })?
                    .map(|a| a.ip())
                    .collect(),
            },
        };
        let mut out = self.empty();
        // ureq's address list holds at most 16.
        for ip in ips.into_iter().take(16) {
            out.push(SocketAddr::new(ip, port));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_mac_hyphenated() {
        let mac: MacAddr = "52:54:00:AB:cd:EF".parse().unwrap();
        assert_eq!(
            expand_url("http://h/hosts/${mac}.json?m=${mac}", mac),
            "http://h/hosts/52-54-00-ab-cd-ef.json?m=52-54-00-ab-cd-ef"
        );
        assert_eq!(expand_url("http://h/x", mac), "http://h/x");
    }

    #[test]
    fn bad_ca_bundles_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = HttpClient::new(HttpOptions {
            ca_bundle: Some(missing.clone()),
            ..HttpOptions::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!("CA bundle {}: ", missing.display())),
            "{e}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = HttpClient::new(HttpOptions {
            ca_bundle: Some(empty),
            ..HttpOptions::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("no certificates"), "{e}");
    }
}
