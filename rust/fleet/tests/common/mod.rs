//! Test helpers: a real one-node etcd (Debian's `etcd-server`) on free
//! loopback ports with a temporary data directory, fleet servers on it,
//! the agent's FleetLock client, and raw HTTP for malformed requests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metalos_agent::fleetlock::FleetLock;
use metalos_fleet::config::FleetConfig;
use metalos_fleet::etcd::Etcd;
use metalos_fleet::server::Server;
use metalos_net::http::{HttpClient, HttpOptions};

/// How long etcd may take to answer after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `etcd` process, killed on drop.
pub struct EtcdProcess {
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl EtcdProcess {
    /// Starts etcd on free ports with a fresh data directory and waits
    /// until it answers.
    pub fn start() -> EtcdProcess {
        let mut e = EtcdProcess {
            dir: tempfile::tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
        };
        e.restart();
        e
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// A client of this etcd.
    pub fn client(&self) -> Arc<Etcd> {
        Arc::new(Etcd::new(&[self.url()], Duration::from_secs(3)).unwrap())
    }

    /// Kills etcd (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd (again) on the same ports and data directory and waits
    /// until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new("etcd")
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &self.url()])
            .args(["--advertise-client-urls", &self.url()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("default={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("etcd (package etcd-server; scripts/install-deps)");
        self.child = Some(child);
        self.wait_ready();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    fn wait_ready(&mut self) {
        let client = self.client();
        let start = Instant::now();
        while client.get("ready-probe").is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("etcd exited ({status}):\n{}", self.log());
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "etcd not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// etcd's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs `etcdctl` (v3 API) against this etcd.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(self.url())
            .args(args)
            .output()
            .expect("etcdctl (package etcd-client)");
        assert!(out.status.success(), "etcdctl {args:?}: {out:?}");
        out
    }

    /// The value of `key` as `etcdctl get --print-value-only` prints it.
    pub fn etcdctl_get(&self, key: &str) -> String {
        let out = self.etcdctl(&["get", "--print-value-only", key]);
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

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
