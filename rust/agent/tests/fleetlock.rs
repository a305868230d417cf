//! The FleetLock client against a real scripted HTTP server on 127.0.0.1.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use metalos_agent::fleetlock::{Api, FleetLock, FleetLockError};
use metalos_net::http::{HttpClient, HttpOptions};

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    /// Header names in lowercase.
    headers: BTreeMap<String, String>,
    body: String,
}

/// A server answering the n-th connection with `script[n]` (the last one
/// repeats) and recording every request.
struct Server {
    /// `http://127.0.0.1:PORT`.
    base: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Starts a server; each script entry is `(status line, body)`.
    fn start(script: Vec<(&'static str, &'static str)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let (status, body) = script[n.min(script.len() - 1)];
                log.lock().unwrap().push(read_request(&stream));
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                drop(stream.write_all(answer.as_bytes()));
            }
        });
        Server { base, seen }
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads the request line, the headers and a Content-Length body.
fn read_request(stream: &TcpStream) -> Request {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let path = words.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Request {
        method,
        path,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// A client with one try per call.
fn fleetlock(base: &str) -> FleetLock {
    let http = HttpClient::new(HttpOptions {
        attempts: 1,
        ..HttpOptions::default()
    })
    .unwrap();
    FleetLock::new(base, "0123abcd", "workers", http).unwrap()
}

const BODY: &str = r#"{"client_params":{"id":"0123abcd","group":"workers"}}"#;

fn assert_protocol(request: &Request, path: &str) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, path);
    assert_eq!(request.headers["fleet-lock-protocol"], "true");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.body, BODY);
}

#[test]
fn pre_reboot_and_steady_state_post_the_protocol() {
    let server = Server::start(vec![("200 OK", ""), ("200 OK", "unlocked\n")]);
    let f = fleetlock(&server.base);
    f.pre_reboot().unwrap();
    f.steady_state().unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_protocol(&requests[0], "/v1/pre-reboot");
    assert_protocol(&requests[1], "/v1/steady-state");
}

#[test]
fn a_full_semaphore_is_refused_with_its_kind() {
    let body = r#"{"kind":"failed_lock_semaphore_full","value":"all 1 slots taken"}"#;
    let server = Server::start(vec![("500 Internal Server Error", body)]);
    let e = fleetlock(&server.base).pre_reboot().unwrap_err();
    let FleetLockError::Refused {
        api,
        url,
        status,
        kind,
        value,
    } = &e
    else {
        panic!("expected a refusal: {e}");
    };
    assert_eq!(*api, Api::PreReboot);
    assert_eq!(*url, format!("{}/v1/pre-reboot", server.base));
    assert_eq!(*status, 500);
    assert_eq!(kind, "failed_lock_semaphore_full");
    assert_eq!(value, "all 1 slots taken");
    assert_eq!(e.kind(), "failed_lock_semaphore_full");
    // One try per call: a refusal is not retried.
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_lock_held_by_another_node_is_refused() {
    // poseidon/fleetlock's answer when another node holds the lease.
    let body = r#"{"kind":"lock_held","value":"lock is held by another node"}"#;
    let server = Server::start(vec![("423 Locked", body)]);
    let e = fleetlock(&server.base).steady_state().unwrap_err();
    assert!(
        matches!(
            e,
            FleetLockError::Refused {
                api: Api::SteadyState,
                status: 423,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), "lock_held");
    assert!(
        e.to_string().contains("lock is held by another node"),
        "{e}"
    );
}

#[test]
fn other_statuses_are_generic() {
    let server = Server::start(vec![("404 Not Found", ""), ("204 No Content", "")]);
    let f = fleetlock(&server.base);
    let e = f.pre_reboot().unwrap_err();
    assert_eq!(e.kind(), "generic_http_404");
    // Only 200 is success.
    let e = f.pre_reboot().unwrap_err();
    assert_eq!(e.kind(), "generic_http_204");
}

#[test]
fn a_refused_connection_is_a_client_failure() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let e = fleetlock(&base).steady_state().unwrap_err();
    assert!(matches!(e, FleetLockError::Request { .. }), "{e}");
    assert_eq!(e.kind(), "client_failed_request");
    assert!(e.to_string().contains(&base), "{e}");
}

#[test]
fn a_base_path_is_kept_with_or_without_a_trailing_slash() {
    let server = Server::start(vec![("200 OK", "")]);
    fleetlock(&format!("{}/fleet/lock", server.base))
        .pre_reboot()
        .unwrap();
    fleetlock(&format!("{}/fleet/lock/", server.base))
        .steady_state()
        .unwrap();
    let requests = server.requests();
    assert_protocol(&requests[0], "/fleet/lock/v1/pre-reboot");
    assert_protocol(&requests[1], "/fleet/lock/v1/steady-state");
}
