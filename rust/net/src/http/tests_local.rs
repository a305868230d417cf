//! [`HttpClient::get_bytes_with`], extra CA roots and the system resolver
//! against servers on 127.0.0.1 (plain HTTP from a thread; TLS from
//! `openssl s_server`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// An HTTP server answering the n-th connection with
/// `responses[n]` (the last one repeats); `None` = never answer.
struct Server {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

fn serve(responses: Vec<Option<&'static str>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/file", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let seen = seen.clone();
            let response = responses[n.min(responses.len() - 1)];
            thread::spawn(move || {
                seen.lock().unwrap().push(read_head(&stream));
                match response {
                    Some(r) => {
                        let _ = stream.write_all(r.as_bytes());
                    }
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

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
const NO_CONTENT: &str = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
const PARTIAL: &str =
    "HTTP/1.1 206 Partial Content\r\nContent-Length: 1\r\nConnection: close\r\n\r\nh";
const NOT_FOUND: &str = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
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
    let heads = server.heads.lock().unwrap();
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
    assert_eq!(server.heads.lock().unwrap().len(), 1, "not retried");
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
    assert_eq!(server.heads.lock().unwrap().len(), 3);
    let server = serve(vec![Some(NOT_FOUND)]);
    let e = client.get_bytes(&server.url, 100).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("GET {}: HTTP 404 Not Found", server.url)
    );
    assert_eq!(server.heads.lock().unwrap().len(), 1);
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
    assert!(server.heads.lock().unwrap().len() > 1);
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
    assert!(server.heads.lock().unwrap().len() > 1, "retried");
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

/// Runs `openssl args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `<name>.pem`/`<name>.key` in `dir`: a P-256 CA.
fn make_ca(dir: &Path, name: &str) {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &key,
            "-out",
            &pem,
        ],
    );
}

/// `openssl s_server -WWW` on 127.0.0.1 serving `file` (`hello`) from a
/// temporary directory, with a certificate for IP 127.0.0.1 signed by the
/// CA `ca.pem` in that directory.
struct TlsServer {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_ca(d, "ca");
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "1",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        std::fs::write(d.join("file"), "hello").unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-WWW",
                "-cert",
                "server.pem",
                "-key",
                "server.key",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl s_server");
        TlsServer {
            child,
            url: format!("https://127.0.0.1:{port}/file"),
            dir,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn extra_ca_pem_adds_to_either_root_store() {
    let server = TlsServer::start();
    let d = server.dir.path();
    let ca_pem = std::fs::read(d.join("ca.pem")).unwrap();
    make_ca(d, "other");
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
    let other = Some(d.join("other.pem"));
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
