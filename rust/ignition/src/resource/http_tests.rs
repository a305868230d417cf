//! [`HttpFetcher`] through [`fetch`] against servers on 127.0.0.1: a
//! thread answering scripted responses, and `openssl s_server` for TLS.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::*;
use crate::config::{HttpHeader, Verification};

/// An HTTP server answering the n-th connection with `responses[n]` (the
/// last one repeats; `None` = never answer); records request heads.
struct Server {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

fn serve(responses: Vec<Option<&'static str>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/config", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let (seen, response) = (seen.clone(), responses[n.min(responses.len() - 1)]);
            thread::spawn(move || {
                seen.lock().unwrap().push(read_head(&stream));
                match response {
                    Some(r) => drop(stream.write_all(r.as_bytes())),
                    None => thread::sleep(Duration::from_secs(3)),
                }
            });
        }
    });
    Server { url, heads }
}

fn read_head(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            return head;
        }
        head.push_str(&line);
    }
}

impl Server {
    fn requests(&self) -> usize {
        self.heads.lock().unwrap().len()
    }
}

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
const NOT_FOUND: &str = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
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
    let heads = server.heads.lock().unwrap();
    assert!(
        heads[0].starts_with("GET /config HTTP/1.1\r\n"),
        "{heads:?}"
    );
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

/// Runs `openssl args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args:?}: {err}");
}

/// `openssl s_server -WWW` on 127.0.0.1 with a certificate for that IP
/// from a fresh P-256 CA (`ca.pem` in `dir`), serving `config` (`hello`).
struct TlsServer(Child);

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_tls_server(d: &Path) -> (TlsServer, String) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE"];
    let ca = [
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ];
    openssl(
        d,
        &[&["req", "-x509", "-days", "2"], &ec[..], &ca_ext, &ca].concat(),
    );
    let csr = [
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "s.key",
        "-out",
        "s.csr",
    ];
    openssl(d, &[&["req"], &ec[..], &csr].concat());
    std::fs::write(d.join("s.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "s.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "1",
            "-extfile",
            "s.ext",
            "-out",
            "s.pem",
        ],
    );
    std::fs::write(d.join("config"), "hello").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args([
            "s_server", "-quiet", "-WWW", "-cert", "s.pem", "-key", "s.key",
        ])
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl s_server");
    (TlsServer(child), format!("https://127.0.0.1:{port}/config"))
}

#[test]
fn https_trusts_extra_ca_pem() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = start_tls_server(dir.path());
    let policy = HttpPolicy {
        extra_ca_pem: vec![std::fs::read(dir.path().join("ca.pem")).unwrap()],
        ..HttpPolicy::default()
    };
    // Retries cover s_server starting up.
    assert_eq!(get(&url, &policy).unwrap(), b"hello");
    let e = get(&url, &HttpPolicy::default()).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{PATH}: GET {url}: ")), "{e}");
    assert!(!e.contains("attempts"), "retried: {e}");
}
