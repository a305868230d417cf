//! Test helpers: a real one-node etcd ([`etcd`]), fleet servers on it,
//! the agent's FleetLock client, and raw HTTP for malformed requests.
#![allow(dead_code)]

mod etcd;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use metalos_agent::fleetlock::FleetLock;
use metalos_fleet::config::FleetConfig;
use metalos_fleet::server::Server;
use metalos_net::http::{HttpClient, HttpOptions};

#[allow(unused_imports)]
pub use etcd::{free_port, EtcdProcess};

/// A fleet server on `etcd_urls` listening on a free port, with
/// `default_slots`, per-group `groups` and `halt_after`.
pub fn serve(
    etcd_urls: &[String],
    default_slots: u64,
    groups: &[(&str, u64)],
    halt_after: u32,
) -> Server {
    let config = FleetConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        etcd: etcd_urls.to_vec(),
        default_slots,
        groups: groups.iter().map(|(g, s)| (g.to_string(), *s)).collect(),
        halt_after,
    };
    Server::start(config).unwrap()
}

/// The base URL of `server`.
pub fn base(server: &Server) -> String {
    format!("http://{}", server.addr())
}

/// An HTTP client making one try per call.
pub fn http() -> HttpClient {
    HttpClient::new(HttpOptions {
        attempts: 1,
        io_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    })
    .unwrap()
}

/// The agent's FleetLock client for `id` in `group` at `base`.
pub fn fleetlock(base: &str, id: &str, group: &str) -> FleetLock {
    FleetLock::new(base, id, group, http()).unwrap()
}

/// A report body for `id` in `group`.
pub fn report_body(
    id: &str,
    group: &str,
    booted: &str,
    target: Option<&str>,
    state: &str,
    error: Option<&str>,
) -> String {
    serde_json::json!({
        "client_params": {"id": id, "group": group},
        "booted": booted,
        "target": target,
        "state": state,
        "error": error,
    })
    .to_string()
}

/// POSTs a report; the status and body.
pub fn send_report(base: &str, body: &str) -> (u16, String) {
    let options = metalos_net::http::RequestOptions {
        headers: vec![("fleet-lock-protocol".into(), "true".into())],
        ..Default::default()
    };
    let r = http()
        .post(
            &format!("{base}/metalos/v1/report"),
            body.as_bytes(),
            1 << 20,
            &options,
        )
        .unwrap();
    (r.status, String::from_utf8(r.body).unwrap())
}

/// One raw HTTP/1.1 request (`Connection: close`) to `addr`; the status
/// and body.
pub fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A server may answer before reading a large body and close.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The `kind` of an error document.
pub fn kind_of(body: &str) -> String {
    let doc: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    let kind = doc["kind"].as_str().unwrap_or_default().to_string();
    let value = doc["value"].as_str().unwrap_or_default();
    assert!(
        !kind.is_empty() && !value.is_empty(),
        "kind and value must be non-empty: {body}"
    );
    kind
}
