//! The FleetLock client: take a reboot slot before finalizing an update
//! (`pre-reboot`) and give it back once the host is up again
//! (`steady-state`), per the FleetLock protocol
//! (coreos/zincati `docs/development/fleetlock/protocol.md`).
//!
//! Each call is one POST to `{base}/v1/pre-reboot` or
//! `{base}/v1/steady-state` with the header `fleet-lock-protocol: true`
//! and the body `{"client_params":{"id":"…","group":"…"}}`. Only HTTP 200
//! is success. Both calls are idempotent on the server, so the client
//! keeps no lock state and the agent simply calls again on its next tick.

use std::time::Duration;

use metalos_net::http::{HttpClient, HttpError, RequestOptions};
use serde::{Deserialize, Serialize};

/// Longest wait for the server's answer (head, then each read of the body).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read (an error document is a few hundred bytes).
const BODY_LIMIT: u64 = 64 * 1024;
/// Longest `value` kept from a response that is not a FleetLock error document.
const TEXT_LIMIT: usize = 200;

/// The two FleetLock endpoints (the `api` metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Api {
    /// `v1/pre-reboot`: take (or keep) a reboot slot.
    PreReboot,
    /// `v1/steady-state`: release this host's slot, if it holds one.
    SteadyState,
    /// `metalos/v1/report`: MetalOS's extension, the host's update state
    /// (servers without it answer 404, which the agent ignores).
    Report,
}

impl Api {
    /// The endpoint name: `pre-reboot` or `steady-state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::PreReboot => "pre-reboot",
            Api::SteadyState => "steady-state",
            Api::Report => "report",
        }
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a FleetLock call (or building the client) failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetLockError {
    /// The group is not `^[a-zA-Z0-9.-]+$`.
    #[error("FleetLock group {group:?}: must be non-empty and only letters, digits, '.' and '-'")]
    BadGroup {
        /// The group given.
        group: String,
    },
    /// The node id is empty.
    #[error("FleetLock id: must not be empty")]
    EmptyId,
    /// The base URL is not `http://…` or `https://…`.
    #[error("FleetLock base URL {url:?}: must start with http:// or https://")]
    BadBaseUrl {
        /// The URL given.
        url: String,
    },
    /// The server answered with a status other than 200.
    #[error("FleetLock {api} at {url}: HTTP {status}: {kind}: {value}")]
    Refused {
        /// The endpoint called.
        api: Api,
        /// The URL posted to.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's error `kind`, or `generic_http_<status>` when the
        /// body is not a FleetLock error document.
        kind: String,
        /// The server's error `value` (or the start of the body's text).
        value: String,
    },
    /// No answer: connection, DNS, TLS, timeout, or an oversized body.
    #[error("FleetLock {api} at {url}: {source}")]
    Request {
        /// The endpoint called.
        api: Api,
        /// The URL posted to.
        url: String,
        /// The transport failure.
        source: HttpError,
    },
}

impl FleetLockError {
    /// A short identifier for metrics labels, from a bounded set: the
    /// server's `kind` (the protocol requires servers to bound it),
    /// `generic_http_<status>`, `client_failed_request`, or
    /// `client_bad_config` for the errors of [`FleetLock::new`].
    pub fn kind(&self) -> &str {
        match self {
            FleetLockError::Refused { kind, .. } => kind,
            FleetLockError::Request { .. } => "client_failed_request",
            FleetLockError::BadGroup { .. }
            | FleetLockError::EmptyId
            | FleetLockError::BadBaseUrl { .. } => "client_bad_config",
        }
    }
}

/// A FleetLock client for one node in one group.
#[derive(Debug, Clone)]
pub struct FleetLock {
    /// The base URL without trailing `/`.
    base: String,
    /// The node id (`client_params.id`).
    id: String,
    /// The reboot group (`client_params.group`).
    group: String,
    /// The HTTP client the requests go through.
    http: HttpClient,
}

/// The request body.
#[derive(Serialize)]
struct Body<'a> {
    client_params: ClientParams<'a>,
}

/// The body of `metalos/v1/report`.
#[derive(Serialize)]
struct ReportBody<'a> {
    client_params: ClientParams<'a>,
    #[serde(flatten)]
    report: &'a Report,
}

/// What a host reports to `metalos/v1/report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The running version.
    pub booted: String,
    /// The version it is moving to (or rolled back from), if any.
    pub target: Option<String>,
    /// `steady`, `staged`, `rebooting`, `rolled-back` or `failed`.
    pub state: String,
    /// What went wrong, for `failed`.
    pub error: Option<String>,
}

/// `client_params`; field order is the serialised order.
#[derive(Serialize)]
struct ClientParams<'a> {
    id: &'a str,
    group: &'a str,
}

/// A FleetLock error document.
#[derive(Deserialize)]
struct ErrorDoc {
    kind: String,
    value: String,
}

impl FleetLock {
    /// A client posting to `base_url` as node `id` in `group`.
    ///
    /// Trailing `/`s of `base_url` are dropped and `/v1/…` appended, so the
    /// whole base path is kept with or without a trailing slash. (Zincati
    /// uses `Url::join`, where a base without a trailing `/` loses its last
    /// path segment; MetalOS does not follow that.)
    ///
    /// Each call is one request: `http` should be built with
    /// `HttpOptions::attempts` = 1, since the agent calls again on its next
    /// tick (more attempts retry connection failures and timeouts within
    /// the call).
    pub fn new(
        base_url: &str,
        id: &str,
        group: &str,
        http: HttpClient,
    ) -> Result<Self, FleetLockError> {
        let valid_group = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
        if group.is_empty() || !group.chars().all(valid_group) {
            return Err(FleetLockError::BadGroup {
                group: group.to_string(),
            });
        }
        if id.is_empty() {
            return Err(FleetLockError::EmptyId);
        }
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(FleetLockError::BadBaseUrl {
                url: base_url.to_string(),
            });
        }
        Ok(FleetLock {
            base: base_url.trim_end_matches('/').to_string(),
            id: id.to_string(),
            group: group.to_string(),
            http,
        })
    }

    /// The URL of `api`: `{base}/v1/pre-reboot` or `{base}/v1/steady-state`.
    pub fn url(&self, api: Api) -> String {
        match api {
            Api::Report => format!("{}/metalos/v1/report", self.base),
            _ => format!("{}/v1/{}", self.base, api.as_str()),
        }
    }

    /// Takes a reboot slot (or confirms this node holds one). `Ok` means
    /// the host may reboot into the staged update now.
    pub fn pre_reboot(&self) -> Result<(), FleetLockError> {
        self.call(Api::PreReboot)
    }

    /// Releases this node's reboot slot, if it holds one (after boot, and
    /// before looking for updates).
    pub fn steady_state(&self) -> Result<(), FleetLockError> {
        self.call(Api::SteadyState)
    }

    /// `POST metalos/v1/report`: this host's update state (MetalOS's
    /// extension; a MetalOS fleet server halts a release that hosts
    /// report as `rolled-back` or `failed`).
    pub fn report(&self, report: &Report) -> Result<(), FleetLockError> {
        let body = serde_json::to_vec(&ReportBody {
            client_params: self.params(),
            report,
        })
        .expect("a report serialises");
        self.post(Api::Report, &body)
    }

    fn params(&self) -> ClientParams<'_> {
        ClientParams {
            id: &self.id,
            group: &self.group,
        }
    }

    /// One POST to `api`.
    fn call(&self, api: Api) -> Result<(), FleetLockError> {
        let body = serde_json::to_vec(&Body {
            client_params: self.params(),
        })
        .expect("two strings serialise");
        self.post(api, &body)
    }

    fn post(&self, api: Api, body: &[u8]) -> Result<(), FleetLockError> {
        let url = self.url(api);
        let response = self
            .http
            .post(&url, body, BODY_LIMIT, &request_options())
            .map_err(|source| FleetLockError::Request {
                api,
                url: url.clone(),
                source,
            })?;
        if response.status == 200 {
            return Ok(());
        }
        let (kind, value) = error_kind_value(response.status, &response.body);
        Err(FleetLockError::Refused {
            api,
            url,
            status: response.status,
            kind,
            value,
        })
    }
}

/// The protocol's headers and a [`RESPONSE_TIMEOUT`].
fn request_options() -> RequestOptions {
    RequestOptions {
        headers: vec![
            ("fleet-lock-protocol".into(), "true".into()),
            ("content-type".into(), "application/json".into()),
        ],
        response_timeout: Some(RESPONSE_TIMEOUT),
        read_timeout: Some(RESPONSE_TIMEOUT),
        total_timeout: None,
        only_200_or_204: false,
    }
}

/// The `kind` and `value` of a refusal: the body's FleetLock error
/// document when it is one with a non-empty `kind`, otherwise
/// `generic_http_<status>` and the start of the body's text.
fn error_kind_value(status: u16, body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ErrorDoc>(body) {
        Ok(doc) if !doc.kind.is_empty() => (doc.kind, doc.value),
        _ => {
            let text = String::from_utf8_lossy(body);
            let value: String = text.trim().chars().take(TEXT_LIMIT).collect();
            (format!("generic_http_{status}"), value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metalos_net::http::HttpOptions;

    fn client(base: &str, id: &str, group: &str) -> Result<FleetLock, FleetLockError> {
        FleetLock::new(
            base,
            id,
            group,
            HttpClient::new(HttpOptions::default()).unwrap(),
        )
    }

    #[test]
    fn groups_are_checked() {
        for good in ["default", "a.b-C9", "-", "."] {
            assert!(client("http://h", "x", good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a_b", "a/b", "é"] {
            let e = client("http://h", "x", bad).unwrap_err();
            assert!(matches!(e, FleetLockError::BadGroup { .. }), "{bad}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
            assert_eq!(e.kind(), "client_bad_config");
        }
    }

    #[test]
    fn id_and_base_are_checked() {
        let e = client("http://h", "", "default").unwrap_err();
        assert!(matches!(e, FleetLockError::EmptyId), "{e}");
        let e = client("ftp://h", "x", "default").unwrap_err();
        assert!(e.to_string().contains("\"ftp://h\""), "{e}");
    }

    #[test]
    fn urls_keep_the_whole_base() {
        let f = client("https://lock.example/fleet/", "x", "default").unwrap();
        assert_eq!(
            f.url(Api::PreReboot),
            "https://lock.example/fleet/v1/pre-reboot"
        );
        let f = client("https://lock.example/fleet", "x", "default").unwrap();
        assert_eq!(
            f.url(Api::SteadyState),
            "https://lock.example/fleet/v1/steady-state"
        );
        let f = client("http://h:8080//", "x", "default").unwrap();
        assert_eq!(f.url(Api::PreReboot), "http://h:8080/v1/pre-reboot");
    }

    #[test]
    fn refusals_are_decoded() {
        let doc = br#"{"kind":"lock_held","value":"held by n2"}"#;
        assert_eq!(
            error_kind_value(423, doc),
            ("lock_held".into(), "held by n2".into())
        );
        let not_doc = b"  Not Found\n";
        assert_eq!(
            error_kind_value(404, not_doc),
            ("generic_http_404".into(), "Not Found".into())
        );
        let empty_kind = br#"{"kind":"","value":"x"}"#;
        assert_eq!(error_kind_value(500, empty_kind).0, "generic_http_500");
        let long = vec![b'a'; 1000];
        assert_eq!(error_kind_value(502, &long).1.len(), TEXT_LIMIT);
    }
}
