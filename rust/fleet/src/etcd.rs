//! An etcd v3 client over the JSON gateway (`/v3/kv/range`, `put`, `txn`,
//! `deleterange`; etcd 3.4 and later), on [`metalos_net::http`]: no gRPC,
//! no protoc.
//!
//! Several endpoints may be given (the members of one cluster). Each call
//! goes to the endpoint that answered last; on a transport failure, or an
//! answer meaning "this member cannot serve now" (HTTP 503/504, gRPC
//! `Unavailable`/`DeadlineExceeded`: no leader, timeout), the next one is
//! tried. A call that failed without an answer may still have been applied;
//! callers only retry idempotent writes or compare-and-swap transactions
//! (a retried CAS fails its compare and the caller reads again).

mod wire;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use metalos_net::http::{HttpClient, HttpError, HttpOptions, RequestOptions};
use serde::de::DeserializeOwned;
use serde::Serialize;

use wire::{b64, unb64};

/// Time allowed for one request to one endpoint (airlock's default
/// `transaction_timeout_ms` is 3 s too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read (a range over every host report of a big fleet).
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// Why an etcd call failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint was given.
    #[error("no etcd endpoints given")]
    NoEndpoints,
    /// An endpoint is not an `http://` or `https://` URL.
    #[error("etcd endpoint {url:?}: must be http://HOST:PORT or https://HOST:PORT")]
    BadEndpoint {
        /// The endpoint given.
        url: String,
    },
    /// The HTTP client could not be built.
    #[error("etcd HTTP client: {0}")]
    Client(#[source] HttpError),
    /// No endpoint could serve the call (etcd down, unreachable or
    /// without a leader).
    #[error("etcd {op} {key:?}: no endpoint could serve it: {tried}")]
    Unavailable {
        /// `range`, `put`, `txn` or `deleterange`.
        op: &'static str,
        /// The key (or prefix) asked for.
        key: String,
        /// Each endpoint tried and its failure.
        tried: String,
    },
    /// An endpoint refused the call.
    #[error("etcd {op} {key:?} at {endpoint}: HTTP {status}: {message}")]
    Rejected {
        /// `range`, `put`, `txn` or `deleterange`.
        op: &'static str,
        /// The key (or prefix).
        key: String,
        /// The endpoint that answered.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// etcd's message.
        message: String,
    },
    /// An answer could not be read.
    #[error("etcd {op} {key:?} at {endpoint}: unreadable answer: {reason}")]
    Decode {
        /// `range`, `put`, `txn` or `deleterange`.
        op: &'static str,
        /// The key (or prefix).
        key: String,
        /// The endpoint that answered.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
}

impl EtcdError {
    /// Whether etcd could not be reached at all (rather than refusing).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EtcdError::Unavailable { .. })
    }
}

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key (lossy UTF-8).
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// Writes since creation: 1 when created, 0 means absent.
    pub version: u64,
    /// Revision of the last write.
    pub mod_revision: u64,
    /// Revision of the creation.
    pub create_revision: u64,
}

/// A condition of a [`Etcd::txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's version equals this (0: the key is absent).
    Version {
        /// The key.
        key: String,
        /// The version expected.
        version: u64,
    },
}

/// An operation of a [`Etcd::txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Write `value` at `key`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete `key` (nothing if absent).
    Delete {
        /// The key.
        key: String,
    },
}

/// An etcd v3 client (JSON gateway) for one cluster.
#[derive(Debug)]
pub struct Etcd {
    /// Client URLs without trailing `/`.
    endpoints: Vec<String>,
    http: HttpClient,
    /// Index of the endpoint that answered last.
    current: AtomicUsize,
}

impl Etcd {
    /// A client for the cluster at `endpoints` (client URLs such as
    /// `http://127.0.0.1:2379`), each request allowed `timeout`.
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<Self, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError::NoEndpoints);
        }
        for url in endpoints {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.trim_end_matches('/').is_empty()) {
                return Err(EtcdError::BadEndpoint { url: url.clone() });
            }
        }
        let http = HttpClient::new(HttpOptions {
            attempts: 1,
            connect_timeout: timeout,
            io_timeout: timeout,
            system_resolver: true,
            ..HttpOptions::default()
        })
        .map_err(EtcdError::Client)?;
        Ok(Etcd {
            endpoints: endpoints
                .iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
            http,
            current: AtomicUsize::new(0),
        })
    }

    /// The client URLs, as given (without trailing `/`).
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The key's value and versions, `None` when absent.
    pub fn get(&self, key: &str) -> Result<Option<KeyValue>, EtcdError> {
        let request = wire::RangeRequest {
            key: b64(key.as_bytes()),
            range_end: None,
        };
        let (endpoint, answer): (String, wire::RangeResponse) =
            self.call("range", key, &request)?;
        let kv = answer.kvs.into_iter().next();
        kv.map(|kv| decode_kv(kv, key, &endpoint)).transpose()
    }

    /// Every key starting with `prefix`, in key order.
    pub fn range_prefix(&self, prefix: &str) -> Result<Vec<KeyValue>, EtcdError> {
        let request = wire::RangeRequest {
            key: b64(prefix.as_bytes()),
            range_end: Some(b64(&wire::prefix_end(prefix.as_bytes()))),
        };
        let (endpoint, answer): (String, wire::RangeResponse) =
            self.call("range", prefix, &request)?;
        answer
            .kvs
            .into_iter()
            .map(|kv| decode_kv(kv, prefix, &endpoint))
            .collect()
    }

    /// Writes `value` at `key`.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), EtcdError> {
        let request = wire::PutRequest {
            key: b64(key.as_bytes()),
            value: b64(value),
        };
        let _: (String, serde_json::Value) = self.call("put", key, &request)?;
        Ok(())
    }

    /// Writes `value` at `key` only if the key's version is `version` (0:
    /// only if absent); whether it was written.
    pub fn put_if_version(&self, key: &str, version: u64, value: &[u8]) -> Result<bool, EtcdError> {
        self.txn(
            &[Compare::Version {
                key: key.to_string(),
                version,
            }],
            &[Op::Put {
                key: key.to_string(),
                value: value.to_vec(),
            }],
        )
    }

    /// Deletes `key`; how many keys were deleted (0 or 1).
    pub fn delete(&self, key: &str) -> Result<u64, EtcdError> {
        let request = wire::DeleteRequest {
            key: b64(key.as_bytes()),
            range_end: None,
        };
        let (_, answer): (String, wire::DeleteResponse) =
            self.call("deleterange", key, &request)?;
        Ok(answer.deleted)
    }

    /// Runs `ops` atomically if every compare holds; whether they ran.
    /// Errors name the first compared key (else the first operation's).
    pub fn txn(&self, compares: &[Compare], ops: &[Op]) -> Result<bool, EtcdError> {
        let request = wire::TxnRequest {
            compare: compares
                .iter()
                .map(|Compare::Version { key, version }| wire::CompareJson {
                    target: "VERSION",
                    result: "EQUAL",
                    key: b64(key.as_bytes()),
                    version: version.to_string(),
                })
                .collect(),
            success: ops.iter().map(op_json).collect(),
        };
        let key = compares
            .first()
            .map(|Compare::Version { key, .. }| key.as_str())
            .or_else(|| ops.first().map(op_key))
            .unwrap_or("");
        let (_, answer): (String, wire::TxnResponse) = self.call("txn", key, &request)?;
        Ok(answer.succeeded)
    }

    /// POSTs `request` to `/v3/kv/{op}`, trying the endpoints in turn from
    /// the one that answered last; the endpoint that answered and its
    /// decoded answer.
    fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        key: &str,
        request: &impl Serialize,
    ) -> Result<(String, T), EtcdError> {
        let body = serde_json::to_vec(request).expect("etcd requests serialise");
        let start = self.current.load(Ordering::Relaxed);
        let mut tried = Vec::new();
        for i in 0..self.endpoints.len() {
            let index = (start + i) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            let url = format!("{endpoint}/v3/kv/{op}");
            let response = match self.http.post(&url, &body, BODY_LIMIT, &json_options()) {
                Ok(r) => r,
                Err(e) => {
                    tried.push(format!("{endpoint}: {e}"));
                    continue;
                }
            };
            let error = |reason: String| EtcdError::Decode {
                op,
                key: key.to_string(),
                endpoint: endpoint.clone(),
                reason,
            };
            if response.status == 200 {
                self.current.store(index, Ordering::Relaxed);
                let answer =
                    serde_json::from_slice(&response.body).map_err(|e| error(format!("{e}")))?;
                return Ok((endpoint.clone(), answer));
            }
            let (message, code) =
                match serde_json::from_slice::<wire::ErrorResponse>(&response.body) {
                    Ok(e) => (e.message, e.code),
                    Err(_) => (
                        String::from_utf8_lossy(&response.body).trim().to_string(),
                        0,
                    ),
                };
            // gRPC 14 Unavailable / 4 DeadlineExceeded: no leader, timeout.
            if matches!(response.status, 503 | 504) || matches!(code, 4 | 14) {
                tried.push(format!("{endpoint}: HTTP {}: {message}", response.status));
                continue;
            }
            return Err(EtcdError::Rejected {
                op,
                key: key.to_string(),
                endpoint: endpoint.clone(),
                status: response.status,
                message,
            });
        }
        Err(EtcdError::Unavailable {
            op,
            key: key.to_string(),
            tried: tried.join("; "),
        })
    }
}

/// The gateway takes and gives JSON.
fn json_options() -> RequestOptions {
    RequestOptions {
        headers: vec![("content-type".into(), "application/json".into())],
        ..RequestOptions::default()
    }
}

/// A txn operation in the gateway's shape.
fn op_json(op: &Op) -> wire::RequestOp {
    match op {
        Op::Put { key, value } => wire::RequestOp::Put(wire::PutRequest {
            key: b64(key.as_bytes()),
            value: b64(value),
        }),
        Op::Delete { key } => wire::RequestOp::Delete(wire::DeleteRequest {
            key: b64(key.as_bytes()),
            range_end: None,
        }),
    }
}

/// The key an operation names.
fn op_key(op: &Op) -> &str {
    match op {
        Op::Put { key, .. } | Op::Delete { key } => key,
    }
}

/// A [`KeyValue`] from the gateway's shape.
fn decode_kv(kv: wire::KvJson, asked: &str, endpoint: &str) -> Result<KeyValue, EtcdError> {
    let error = |reason| EtcdError::Decode {
        op: "range",
        key: asked.to_string(),
        endpoint: endpoint.to_string(),
        reason,
    };
    Ok(KeyValue {
        key: String::from_utf8_lossy(&unb64(&kv.key).map_err(error)?).into_owned(),
        value: unb64(&kv.value).map_err(error)?,
        version: kv.version,
        mod_revision: kv.mod_revision,
        create_revision: kv.create_revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked() {
        assert!(matches!(
            Etcd::new(&[], DEFAULT_TIMEOUT),
            Err(EtcdError::NoEndpoints)
        ));
        for bad in ["127.0.0.1:2379", "ftp://h", "http://", "http:///"] {
            let e = Etcd::new(&[bad.to_string()], DEFAULT_TIMEOUT).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        let e = Etcd::new(&["http://h:2379/".to_string()], DEFAULT_TIMEOUT).unwrap();
        assert_eq!(e.endpoints(), ["http://h:2379"]);
    }

    #[test]
    fn unreachable_endpoints_are_all_named() {
        let ports: Vec<u16> = (0..2)
            .map(|_| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            })
            .collect();
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let etcd = Etcd::new(&urls, Duration::from_millis(500)).unwrap();
        let e = etcd.get("some/key").unwrap_err();
        assert!(e.is_unavailable(), "{e}");
        let text = e.to_string();
        assert!(text.starts_with("etcd range \"some/key\": "), "{text}");
        for u in &urls {
            assert!(text.contains(u.as_str()), "{text}");
        }
    }
}
