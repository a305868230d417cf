//! [`HttpFetcher`] through [`fetch`] against servers on 127.0.0.1: a
//! thread answering scripted responses, and `openssl s_server` for TLS.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::*;
use crate::config::{HttpHeader, Verification};

use metalos_tests::scripted_http::{ScriptedServer as Server, TlsServer, NOT_FOUND, OK};

fn serve(responses: Vec<Option<&'static str>>) -> Server {
    Server::start(responses)
}

const ERROR: &str =
    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

const PATH: &str = "ignition.config.merge[0]";

fn get(url: &str, policy: &HttpPolicy) -> Result<Vec<u8>> {
    let fetcher = HttpFetcher::with_max_total(None, None, Duration::from_secs(20)).unwrap();
    let r = Resource {
        source: Some(url.to_string()),
        ..Resource::default()
    };
    fetch(&r, PATH, Some(&fetcher), policy)
}

#[test]
fn http_200_sends_headers_and_verifies() {
    let server = serve(vec![Some(OK)]);
    let fetcher = HttpFetcher::new(None, None).unwrap();
    let r = Resource {
        source: Some(server.url.clone()),
        http_headers: vec![HttpHeader {
            name: "X-Auth".into(),
            value: Some("t0ken".into()),
        }],
        verification: Verification {
            hash: Some(format!("sha256-{}", hex::encode(Sha256::digest(b"hello")))),
        },
        ..Resource::default()
    };
    let body = fetch(&r, PATH, Some(&fetcher), &HttpPolicy::default()).unwrap();
    assert_eq!(body, b"hello");
    let heads = server.heads();
    assert!(heads[0].starts_with("GET /file HTTP/1.1\r\n"), "{heads:?}");
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("\r\nx-auth: t0ken\r\n"),
        "{heads:?}"
    );
}

#[test]
fn http_404_fails_without_retry() {
    let server = serve(vec![Some(NOT_FOUND)]);
    let e = get(&server.url, &HttpPolicy::default())
        .unwrap_err()
        .to_string();
    assert_eq!(e, format!("{PATH}: GET {}: HTTP 404 Not Found", server.url));
    assert_eq!(server.requests(), 1);
}

#[test]
fn http_500_then_200_is_retried() {
    let server = serve(vec![Some(ERROR), Some(ERROR), Some(OK)]);
    let started = Instant::now();
    assert_eq!(get(&server.url, &HttpPolicy::default()).unwrap(), b"hello");
    assert_eq!(server.requests(), 3);
    // Backoff 100 ms, then 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn http_total_timeout_ends_retries() {
    let server = serve(vec![Some(ERROR)]);
    let policy = HttpPolicy {
        total_timeout: Some(Duration::from_millis(500)),
        ..HttpPolicy::default()
    };
    let started = Instant::now();
    let e = get(&server.url, &policy).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(3), "{e}");
    let want = format!(
        "{PATH}: GET {}: HTTP 500 Internal Server Error (after ",
        server.url
    );
    assert!(e.starts_with(&want), "{e}");
    assert!(server.requests() >= 2);
}

#[test]
fn http_response_headers_timeout_is_retried() {
    let server = serve(vec![None, Some(OK)]);
    let policy = HttpPolicy {
        response_headers_timeout: Some(Duration::from_millis(200)),
        ..HttpPolicy::default()
    };
    assert_eq!(get(&server.url, &policy).unwrap(), b"hello");
    assert_eq!(server.requests(), 2);
}

#[test]
fn https_trusts_extra_ca_pem() {
    let dir = tempfile::tempdir().unwrap();
    let server = TlsServer::start(dir.path());
    let url = server.url.clone();
    let policy = HttpPolicy {
        extra_ca_pem: vec![std::fs::read(&server.ca.ca_pem).unwrap()],
        ..HttpPolicy::default()
    };
    // Retries cover s_server starting up.
    assert_eq!(get(&url, &policy).unwrap(), b"hello");
    let e = get(&url, &HttpPolicy::default()).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{PATH}: GET {url}: ")), "{e}");
    assert!(!e.contains("attempts"), "retried: {e}");
}
