//! An emulated link-local metadata service, EC2 (IMDS, with IMDSv2 session
//! tokens optional, required, or absent) and OpenStack (nova's EC2 tree and
//! `openstack/<version>/` tree), for the platform provider and metadata
//! agent tests: a real HTTP/1.1 server on a listener the test chooses
//! (127.0.0.1:0, or 169.254.169.254:80 in a network namespace).
//!
//! Files are kept under their `latest` path; a request for
//! `/<version>/…` (`/2021-01-03/meta-data/…`, `/2019-10-01/user-data`)
//! is answered from `/latest/…` when no file has its exact path, as EC2
//! answers every version. Faults: the next N requests answer 500, a path
//! answers a fixed status, every answer waits a delay.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The session token the emulator hands out.
pub const TOKEN: &str = "AQAEAEmulatedSessionToken==";

/// How the emulator treats IMDSv2 session tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// No token endpoint: `PUT /latest/api/token` answers 404 (an IMDSv1
    /// service, or OpenStack's).
    V1Only,
    /// Tokens are handed out and accepted; requests without one work too.
    Optional,
    /// Requests without a valid token answer 401 (EC2 `HttpTokens=required`).
    Required,
}

#[derive(Debug)]
struct State {
    files: BTreeMap<String, Vec<u8>>,
    tokens: Tokens,
    fail_next: u32,
    fail_status: u16,
    statuses: BTreeMap<String, u16>,
    delay: Duration,
    log: Vec<String>,
}

/// A running emulator; the server threads live as long as the process.
#[derive(Debug, Clone)]
pub struct MetadataService {
    /// `http://ADDR:PORT` (no trailing slash).
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl MetadataService {
    /// An empty service on 127.0.0.1 (an ephemeral port).
    pub fn start(tokens: Tokens) -> MetadataService {
        MetadataService::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), tokens)
    }

    /// An empty service on `listener`.
    pub fn start_on(listener: TcpListener, tokens: Tokens) -> MetadataService {
        let addr = listener.local_addr().unwrap();
        let url = match addr.port() {
            80 => format!("http://{}", addr.ip()),
            _ => format!("http://{addr}"),
        };
        let state = Arc::new(Mutex::new(State {
            files: BTreeMap::new(),
            tokens,
            fail_next: 0,
            fail_status: 500,
            statuses: BTreeMap::new(),
            delay: Duration::ZERO,
            log: Vec::new(),
        }));
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let state = shared.clone();
                thread::spawn(move || serve(stream, &state));
            }
        });
        MetadataService { url, state }
    }

    /// Sets the file at `path` (e.g. `/latest/meta-data/instance-id`).
    pub fn set(&self, path: &str, body: impl Into<Vec<u8>>) -> &Self {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_string(), body.into());
        self
    }

    /// Removes the file at `path` (it then answers 404).
    pub fn remove(&self, path: &str) -> &Self {
        self.state.lock().unwrap().files.remove(path);
        self
    }

    /// Answers the next `n` requests with `status` (e.g. 500).
    pub fn fail_next(&self, n: u32, status: u16) -> &Self {
        let mut s = self.state.lock().unwrap();
        s.fail_next = n;
        s.fail_status = status;
        self
    }

    /// Answers every request for `path` with `status` (e.g. 401).
    pub fn set_status(&self, path: &str, status: u16) -> &Self {
        self.state
            .lock()
            .unwrap()
            .statuses
            .insert(path.to_string(), status);
        self
    }

    /// Waits `delay` before every answer.
    pub fn set_delay(&self, delay: Duration) -> &Self {
        self.state.lock().unwrap().delay = delay;
        self
    }

    /// The requests so far, as `METHOD /path` plus ` token` when they
    /// carried the session token.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Sets SSH keys as EC2 lists them: `public-keys` (`0=name` lines) and
    /// `public-keys/<i>/openssh-key`; no keys removes the listing (404).
    pub fn set_keys(&self, keys: &[(&str, &str)]) -> &Self {
        let mut s = self.state.lock().unwrap();
        s.files
            .retain(|p, _| !p.starts_with("/latest/meta-data/public-keys"));
        if !keys.is_empty() {
            let list: Vec<String> = keys
                .iter()
                .enumerate()
                .map(|(i, (name, _))| format!("{i}={name}"))
                .collect();
            s.files.insert(
                "/latest/meta-data/public-keys".into(),
                list.join("\n").into_bytes(),
            );
            for (i, (_, key)) in keys.iter().enumerate() {
                s.files.insert(
                    format!("/latest/meta-data/public-keys/{i}/openssh-key"),
                    key.as_bytes().to_vec(),
                );
            }
        }
        drop(s);
        self
    }

    /// An EC2 instance's metadata: every attribute afterburn reads, the
    /// instance identity document and `keys`.
    pub fn ec2(tokens: Tokens, keys: &[(&str, &str)]) -> MetadataService {
        let m = MetadataService::start(tokens);
        m.fill_ec2(keys);
        m
    }

    /// Fills the EC2 tree (see [`MetadataService::ec2`]).
    pub fn fill_ec2(&self, keys: &[(&str, &str)]) -> &Self {
        for (path, value) in EC2_VALUES {
            self.set(&format!("/latest/meta-data/{path}"), *value);
        }
        self.set(
            "/latest/dynamic/instance-identity/document",
            r#"{"accountId":"123456789012","region":"eu-west-3","availabilityZone":"eu-west-3b","instanceId":"i-0123456789abcdef0"}"#,
        );
        self.set_keys(keys)
    }

    /// An OpenStack instance's metadata service: nova's EC2 tree, the
    /// `openstack/2012-08-10` and `latest` `meta_data.json` and `keys`.
    pub fn openstack(keys: &[(&str, &str)]) -> MetadataService {
        let m = MetadataService::start(Tokens::V1Only);
        m.fill_openstack(keys);
        m
    }

    /// Fills the OpenStack trees (see [`MetadataService::openstack`]).
    pub fn fill_openstack(&self, keys: &[(&str, &str)]) -> &Self {
        for (path, value) in OPENSTACK_EC2_VALUES {
            self.set(&format!("/latest/meta-data/{path}"), *value);
        }
        let json = openstack_meta_data(keys);
        self.set("/openstack/2012-08-10/meta_data.json", json.clone());
        self.set("/openstack/latest/meta_data.json", json);
        self.set_keys(keys)
    }
}

/// The EC2 attribute values [`MetadataService::ec2`] serves.
pub const EC2_VALUES: &[(&str, &str)] = &[
    ("instance-id", "i-0123456789abcdef0"),
    ("instance-type", "m5.large"),
    ("local-ipv4", "172.31.5.10"),
    ("public-ipv4", "203.0.113.25"),
    ("ipv6", "2001:db8::25"),
    ("placement/availability-zone", "eu-west-3b"),
    ("placement/availability-zone-id", "euw3-az2"),
    ("hostname", "ip-172-31-5-10.eu-west-3.compute.internal"),
    (
        "public-hostname",
        "ec2-203-0-113-25.eu-west-3.compute.amazonaws.com",
    ),
];

/// The EC2-tree values [`MetadataService::openstack`] serves.
pub const OPENSTACK_EC2_VALUES: &[(&str, &str)] = &[
    ("hostname", "metalos-vm.novalocal"),
    ("instance-id", "i-0000a1b2"),
    ("instance-type", "m1.small"),
    ("local-ipv4", "10.0.151.35"),
    ("public-ipv4", "198.51.100.7"),
];

/// The instance UUID in the OpenStack `meta_data.json`.
pub const OPENSTACK_UUID: &str = "b3c7f4de-da0b-44ae-a42c-fa3806b61d7f";

/// nova's `meta_data.json` for `keys` (name → key text, with the trailing
/// newline nova adds).
pub fn openstack_meta_data(keys: &[(&str, &str)]) -> String {
    let public_keys: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .map(|(n, k)| (n.to_string(), format!("{k}\n").into()))
        .collect();
    let keys_list: Vec<serde_json::Value> = keys
        .iter()
        .map(|(n, k)| serde_json::json!({"name": n, "type": "ssh", "data": format!("{k}\n")}))
        .collect();
    serde_json::json!({
        "uuid": OPENSTACK_UUID,
        "hostname": "metalos-vm.novalocal",
        "name": "metalos-vm",
        "availability_zone": "nova",
        "launch_index": 0,
        "project_id": "f7ac731cc11f40efbc03a9f9e1d1d21f",
        "public_keys": public_keys,
        "keys": keys_list,
        "devices": [],
    })
    .to_string()
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(&stream);
    let Some((method, path, headers, _body)) = read_request(&mut reader) else {
        return;
    };
    let has_token = headers
        .iter()
        .any(|(k, v)| k == "x-aws-ec2-metadata-token" && v == TOKEN);
    let (status, body, delay) = {
        let mut s = state.lock().unwrap();
        let token_note = if has_token { " token" } else { "" };
        s.log.push(format!("{method} {path}{token_note}"));
        let answer = answer(&mut s, &method, &path, &headers, has_token);
        (answer.0, answer.1, s.delay)
    };
    thread::sleep(delay);
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut out = &stream;
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&body);
}

/// The status and body for one request.
fn answer(
    s: &mut State,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    has_token: bool,
) -> (u16, Vec<u8>) {
    if s.fail_next > 0 {
        s.fail_next -= 1;
        return (s.fail_status, b"injected failure".to_vec());
    }
    let latest = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .map(|(_, rest)| format!("/latest/{rest}"));
    let status = s
        .statuses
        .get(path)
        .or_else(|| latest.as_ref().and_then(|l| s.statuses.get(l)));
    if let Some(status) = status {
        return (*status, b"injected status".to_vec());
    }
    if path == "/latest/api/token" {
        return match (method, s.tokens) {
            (_, Tokens::V1Only) => (404, Vec::new()),
            ("PUT", _)
                if headers
                    .iter()
                    .any(|(k, _)| k == "x-aws-ec2-metadata-token-ttl-seconds") =>
            {
                (200, TOKEN.as_bytes().to_vec())
            }
            ("PUT", _) => (400, b"missing ttl header".to_vec()),
            _ => (405, Vec::new()),
        };
    }
    if s.tokens == Tokens::Required && !has_token {
        return (401, Vec::new());
    }
    if method != "GET" {
        return (405, Vec::new());
    }
    let file = s
        .files
        .get(path)
        .or_else(|| latest.and_then(|l| s.files.get(&l)));
    match file {
        Some(body) => (200, body.clone()),
        None => (404, Vec::new()),
    }
}

type Parsed = (String, String, Vec<(String, String)>, Vec<u8>);

/// Method, path, lower-cased headers and body of one request.
fn read_request(reader: &mut BufReader<&TcpStream>) -> Option<Parsed> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, headers, body))
}

/// Test SSH public keys (their private halves were thrown away).
pub const KEY1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZMIeP551/3huS3vTFaQg0lNRZEL1T7hSJ6IUP4g4F9 k1@metalos.test";
/// A second ed25519 key.
pub const KEY2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMKceABd5wWgY7C6A4MSNNMwDOxQkis1MCPafDOBeFAW k2@metalos.test";
/// An ECDSA key.
pub const KEY3: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIvyg7u2HUWd1blAGYGoNFjPx9GP5KTnSyzcCvAGBu+8heJ+RR8tXaqZD0BAw0lER9voLtzXEReTVtpTRMM+vKY= k3@metalos.test";
