//! The HTTP server (`metalos fleet serve`) on `tiny_http`: a fixed pool
//! of worker threads, each answering one request at a time through
//! [`routes`].
//!
//! Endpoints: `POST /v1/pre-reboot`, `POST /v1/steady-state` (FleetLock),
//! `POST /metalos/v1/report` (host reports), `GET /metrics`,
//! `GET /-/healthy`. State lives only in etcd, so any number of instances
//! may serve one cluster; with etcd unreachable every lock request fails
//! (503) and nothing is granted.

pub mod metrics;
pub mod routes;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::FleetConfig;
use crate::etcd::{Etcd, EtcdError, DEFAULT_TIMEOUT};
use crate::hosts::Hosts;
use crate::semaphore::{RetryPolicy, Semaphores};

/// Worker threads (each blocks on etcd for at most a few seconds).
pub const WORKERS: usize = 32;
/// Largest request body read.
const BODY_LIMIT: u64 = 64 * 1024;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The etcd settings are unusable.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// The address could not be bound.
    #[error("listening on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why not.
        reason: String,
    },
}

/// What the request handlers share.
pub struct State {
    /// The settings.
    pub config: FleetConfig,
    /// The etcd client.
    pub etcd: Arc<Etcd>,
    /// The groups' semaphores.
    pub semaphores: Semaphores,
    /// Reports and halts.
    pub hosts: Hosts,
    /// Request counters.
    pub metrics: metrics::Metrics,
    /// Who this instance is in the admin log (`metalos fleet serve@ADDR`).
    pub name: String,
}

/// A running server.
pub struct Server {
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `config.listen` and starts the workers.
    pub fn start(config: FleetConfig) -> Result<Server, ServerError> {
        let etcd = Arc::new(Etcd::new(&config.etcd, DEFAULT_TIMEOUT)?);
        let http = tiny_http::Server::http(config.listen).map_err(|e| ServerError::Listen {
            addr: config.listen,
            reason: e.to_string(),
        })?;
        let addr = http.server_addr().to_ip().unwrap_or(config.listen);
        let state = Arc::new(State {
            semaphores: Semaphores::new(etcd.clone(), RetryPolicy::default()),
            hosts: Hosts::new(etcd.clone()),
            etcd,
            metrics: metrics::Metrics::default(),
            name: format!("metalos fleet serve@{addr}"),
            config,
        });
        let http = Arc::new(http);
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|_| {
                let (http, state, stopping) = (http.clone(), state.clone(), stopping.clone());
                std::thread::spawn(move || work(&http, &state, &stopping))
            })
            .collect();
        Ok(Server {
            http,
            addr,
            stopping,
            workers,
        })
    }

    /// The address listened on (with the port chosen for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs until the process is stopped.
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }

    /// Stops the workers once their current request is answered.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.http.unblock();
        }
        self.wait();
    }
}

/// A worker: answers requests until the server stops.
fn work(http: &tiny_http::Server, state: &State, stopping: &AtomicBool) {
    loop {
        let request = match http.recv() {
            Ok(r) => r,
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(e) => {
                eprintln!("accepting a connection: {e}");
                continue;
            }
        };
        answer(state, request);
    }
}

/// Reads one request, routes it, counts and sends the answer.
fn answer(state: &State, mut request: tiny_http::Request) {
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(BODY_LIMIT + 1)
        .read_to_end(&mut body);
    let too_large = read.is_err() || body.len() as u64 > BODY_LIMIT;
    let header = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("fleet-lock-protocol"))
        .map(|h| h.value.as_str().to_string());
    let method = request.method().as_str().to_string();
    let url = request.url().to_string();
    let (endpoint, reply) = routes::handle(
        state,
        &routes::Request {
            method: &method,
            url: &url,
            fleet_lock_header: header.as_deref(),
            body: (!too_large).then_some(body.as_slice()),
        },
    );
    let kind = reply.kind.map_or("ok", |k| k.as_str());
    state.metrics.count(endpoint.as_str(), kind);
    let content_type =
        tiny_http::Header::from_bytes("content-type", reply.content_type).expect("a valid header");
    let response = tiny_http::Response::from_data(reply.body)
        .with_status_code(reply.status)
        .with_header(content_type);
    if let Err(e) = request.respond(response) {
        eprintln!("answering {method} {url}: {e}");
    }
}
