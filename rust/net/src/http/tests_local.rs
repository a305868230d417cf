//! [`HttpClient::get_bytes_with`], extra CA roots and the system resolver
//! against servers on 127.0.0.1 (plain HTTP from a thread; TLS from
//! `openssl s_server`).

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

use metalos_tests::scripted_http::{ScriptedServer as Server, TlsServer, NOT_FOUND, OK};

fn serve(responses: Vec<Option<&'static str>>) -> Server {
    Server::start(responses)
}

const NO_CONTENT: &str = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
const PARTIAL: &str =
    "HTTP/1.1 206 Partial Content\r\nContent-Length: 1\r\nConnection: close\r\n\r\nh";
const BROKEN: &str =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

fn fast() -> HttpClient {
    HttpClient::new(HttpOptions {
        attempts: 100,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(40),
        ..HttpOptions::default()
    })
    .unwrap()
}

#[test]
fn request_headers_are_sent() {
    let server = serve(vec![Some(OK)]);
    let client = fast();
    let mut options = client.request_options();
    options.headers = vec![("X-Token".into(), "s3cret".into())];
    let body = client.get_bytes_with(&server.url, 100, &options).unwrap();
    assert_eq!(body, b"hello");
    let heads = server.heads();
    assert!(heads[0].starts_with("GET /file HTTP/1.1\r\n"), "{heads:?}");
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("x-token: s3cret\r\n"),
        "{heads:?}"
    );
}

#[test]
fn only_200_or_204_rejects_other_2xx() {
    let client = fast();
    let mut options = client.request_options();
    options.only_200_or_204 = true;
    let server = serve(vec![Some(PARTIAL)]);
    let e = client
        .get_bytes_with(&server.url, 100, &options)
        .unwrap_err();
    assert_eq!(e.status_code(), Some(206));
    assert_eq!(server.requests(), 1, "not retried");
    let server = serve(vec![Some(NO_CONTENT)]);
    assert_eq!(
        client.get_bytes_with(&server.url, 100, &options).unwrap(),
        b""
    );
    // The default accepts any 2xx.
    let server = serve(vec![Some(PARTIAL)]);
    assert_eq!(client.get_bytes(&server.url, 100).unwrap(), b"h");
}

#[test]
fn server_errors_are_retried_and_client_errors_not() {
    let client = fast();
    let server = serve(vec![Some(BROKEN), Some(BROKEN), Some(OK)]);
    assert_eq!(client.get_bytes(&server.url, 100).unwrap(), b"hello");
    assert_eq!(server.requests(), 3);
    let server = serve(vec![Some(NOT_FOUND)]);
    let e = client.get_bytes(&server.url, 100).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("GET {}: HTTP 404 Not Found", server.url)
    );
    assert_eq!(server.requests(), 1);
}

#[test]
fn total_timeout_bounds_all_tries() {
    let client = fast();
    let mut options = client.request_options();
    options.total_timeout = Some(Duration::from_millis(300));
    let server = serve(vec![Some(BROKEN)]);
    let started = Instant::now();
    let e = client
        .get_bytes_with(&server.url, 100, &options)
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{e}");
    assert_eq!(e.status_code(), Some(503));
    assert!(e.to_string().contains("attempts)"), "{e}");
    assert!(server.requests() > 1);
}

#[test]
fn response_timeout_gives_up_on_a_silent_server() {
    let client = fast();
    let mut options = client.request_options();
    options.response_timeout = Some(Duration::from_millis(100));
    options.total_timeout = Some(Duration::from_millis(500));
    let server = serve(vec![None]);
    let started = Instant::now();
    let e = client
        .get_bytes_with(&server.url, 100, &options)
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{e}");
    assert!(e.to_string().contains("timeout"), "{e}");
    assert!(server.requests() > 1, "retried");
}

#[test]
fn system_resolver_resolves_localhost() {
    let server = serve(vec![Some(OK)]);
    let url = server.url.replace("127.0.0.1", "localhost");
    let client = HttpClient::new(HttpOptions {
        system_resolver: true,
        ..HttpOptions::default()
    })
    .unwrap();
    assert_eq!(client.get_bytes(&url, 100).unwrap(), b"hello");
}

#[test]
fn bad_extra_ca_is_named() {
    let e = HttpClient::new(HttpOptions {
        extra_ca_pem: vec![b"nothing here".to_vec()],
        ..HttpOptions::default()
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "extra CA bundle #0: no certificates in the file"
    );
}

/// A second, unrelated CA (`other.pem`) in `dir`.
fn other_ca(dir: &Path) -> PathBuf {
    metalos_tests::tls::TestCa::generate(&dir.join("other"), "other", "127.0.0.1").ca_pem
}

#[test]
fn extra_ca_pem_adds_to_either_root_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = TlsServer::start(dir.path());
    let ca_pem = std::fs::read(&server.ca.ca_pem).unwrap();
    let client = |ca_bundle: Option<PathBuf>, extra_ca_pem: Vec<Vec<u8>>| {
        HttpClient::new(HttpOptions {
            ca_bundle,
            extra_ca_pem,
            attempts: 200,
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(50),
            ..HttpOptions::default()
        })
        .unwrap()
    };
    // Built-in roots + the extra CA (retries cover s_server starting up).
    let with_builtin = client(None, vec![ca_pem.clone()]);
    assert_eq!(with_builtin.get_bytes(&server.url, 100).unwrap(), b"hello");
    // A CA bundle + the extra CA.
    let other = Some(other_ca(dir.path()));
    let with_bundle = client(other.clone(), vec![ca_pem]);
    assert_eq!(with_bundle.get_bytes(&server.url, 100).unwrap(), b"hello");
    // Without the extra CA: a TLS failure, not retried.
    for untrusting in [client(None, vec![]), client(other, vec![])] {
        let started = Instant::now();
        let e = untrusting
            .get_bytes(&server.url, 100)
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(1), "retried: {e}");
        assert!(e.starts_with(&format!("GET {}: ", server.url)), "{e}");
        assert!(!e.contains("attempts"), "{e}");
    }
}

#[test]
fn post_sends_headers_and_body_and_returns_any_status() {
    const CONFLICT: &str = "HTTP/1.1 409 Conflict\r\nContent-Length: 28\r\nConnection: close\r\n\r\n{\"kind\":\"x\",\"value\":\"held\"}\n";
    let server = serve(vec![Some(BROKEN), Some(CONFLICT)]);
    let client = fast();
    let mut options = client.request_options();
    options.headers = vec![("fleet-lock-protocol".into(), "true".into())];
    let r = client
        .post(&server.url, b"{\"client_params\":{}}", 1000, &options)
        .unwrap();
    assert_eq!(
        r.status, 503,
        "a status is the caller's to judge, not retried"
    );
    assert_eq!(server.requests(), 1);
    let r = client.post(&server.url, b"{}", 1000, &options).unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.body, b"{\"kind\":\"x\",\"value\":\"held\"}\n");
    let heads = server.heads();
    assert!(heads[0].starts_with("POST /file HTTP/1.1\r\n"), "{heads:?}");
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("fleet-lock-protocol: true\r\n"),
        "{heads:?}"
    );
    let e = client.post(&server.url, b"{}", 5, &options);
    assert!(e.is_err(), "no third response scripted");
}

#[test]
fn put_and_send_return_any_status_with_headers_and_body() {
    const TOKEN: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ntoken";
    let server = serve(vec![Some(TOKEN), Some(NOT_FOUND), Some(BROKEN)]);
    let client = fast();
    let mut options = client.request_options();
    options.headers = vec![(
        "X-aws-ec2-metadata-token-ttl-seconds".into(),
        "21600".into(),
    )];
    let r = client.put(&server.url, b"", 100, &options).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"token"[..]));
    let heads = server.heads();
    assert!(heads[0].starts_with("PUT /file HTTP/1.1\r\n"), "{heads:?}");
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"),
        "{heads:?}"
    );
    // A GET through `send`: 404 and 503 are answers, not errors or retries.
    let r = client
        .send(Method::Get, &server.url, b"ignored", 100, &options)
        .unwrap();
    assert_eq!(r.status, 404);
    let r = client
        .send(Method::Get, &server.url, b"", 100, &options)
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(server.requests(), 3, "no status is retried");
    assert!(server.heads()[1].starts_with("GET /file HTTP/1.1\r\n"));
    assert_eq!(Method::Put.as_str(), "PUT");
}

#[test]
fn send_names_the_method_and_url_of_a_connection_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/latest/api/token");
    let client = HttpClient::new(HttpOptions {
        attempts: 2,
        first_backoff: Duration::from_millis(10),
        ..HttpOptions::default()
    })
    .unwrap();
    let e = client
        .put(&url, b"", 100, &client.request_options())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(&format!("PUT {url}: ")), "{e}");
    assert!(e.ends_with(" (after 2 attempts)"), "{e}");
}
