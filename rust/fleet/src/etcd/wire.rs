//! The JSON shapes of etcd's v3 gateway (the protobuf JSON mapping): keys
//! and values in base64, 64-bit integers as strings, fields with default
//! values (0, false, empty) left out of answers.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};

/// Base64 of `bytes`, as the gateway wants keys and values.
pub(super) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The bytes of a base64 field of an answer.
pub(super) fn unb64(text: &str) -> Result<Vec<u8>, String> {
    B64.decode(text)
        .map_err(|e| format!("bad base64 {text:?}: {e}"))
}

/// `range_end` for every key starting with `prefix`: the prefix with its
/// last byte below 0xff incremented (bytes after it dropped); `\0` (every
/// key) when there is none.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// `/v3/kv/range`.
#[derive(Serialize)]
pub(super) struct RangeRequest {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
}

/// `/v3/kv/put`, also inside a txn (`request_put`).
#[derive(Serialize)]
pub(super) struct PutRequest {
    pub key: String,
    pub value: String,
}

/// `/v3/kv/deleterange`, also inside a txn (`request_delete_range`).
#[derive(Serialize)]
pub(super) struct DeleteRequest {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
}

/// `/v3/kv/txn`.
#[derive(Serialize)]
pub(super) struct TxnRequest {
    pub compare: Vec<CompareJson>,
    pub success: Vec<RequestOp>,
}

/// One compare of a txn: `target` VERSION, `result` EQUAL.
#[derive(Serialize)]
pub(super) struct CompareJson {
    pub target: &'static str,
    pub result: &'static str,
    pub key: String,
    pub version: String,
}

/// One operation of a txn.
#[derive(Serialize)]
pub(super) enum RequestOp {
    #[serde(rename = "request_put")]
    Put(PutRequest),
    #[serde(rename = "request_delete_range")]
    Delete(DeleteRequest),
}

/// A stored key as the gateway shows it.
#[derive(Deserialize)]
pub(super) struct KvJson {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, deserialize_with = "int64")]
    pub version: u64,
    #[serde(default, deserialize_with = "int64")]
    pub mod_revision: u64,
    #[serde(default, deserialize_with = "int64")]
    pub create_revision: u64,
}

/// The answer to a range.
#[derive(Deserialize)]
pub(super) struct RangeResponse {
    #[serde(default)]
    pub kvs: Vec<KvJson>,
}

/// The answer to a txn (`succeeded` is left out when false).
#[derive(Deserialize)]
pub(super) struct TxnResponse {
    #[serde(default)]
    pub succeeded: bool,
}

/// The answer to a delete.
#[derive(Deserialize)]
pub(super) struct DeleteResponse {
    #[serde(default, deserialize_with = "int64")]
    pub deleted: u64,
}

/// An error answer: `{"error", "message", "code"}` (a gRPC status code).
#[derive(Deserialize)]
pub(super) struct ErrorResponse {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: i32,
}

/// A 64-bit integer sent as a string (or, leniently, a number).
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Text(String),
        Number(u64),
    }
    match Int::deserialize(d)? {
        Int::Number(n) => Ok(n),
        Int::Text(t) => t.parse().map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab"), b"ac");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }

    #[test]
    fn answers_decode_with_defaults_left_out() {
        let r: RangeResponse = serde_json::from_str(
            r#"{"header":{},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2"}],"count":"1"}"#,
        )
        .unwrap();
        let kv = &r.kvs[0];
        assert_eq!(unb64(&kv.key).unwrap(), b"foo");
        assert_eq!((kv.version, kv.mod_revision, kv.create_revision), (2, 3, 2));
        assert_eq!(kv.value, "");
        let t: TxnResponse = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert!(!t.succeeded);
        let empty: RangeResponse = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert!(empty.kvs.is_empty());
    }

    #[test]
    fn txn_requests_use_the_gateway_names() {
        let t = TxnRequest {
            compare: vec![CompareJson {
                target: "VERSION",
                result: "EQUAL",
                key: b64(b"k"),
                version: "0".into(),
            }],
            success: vec![
                RequestOp::Put(PutRequest {
                    key: b64(b"k"),
                    value: b64(b"v"),
                }),
                RequestOp::Delete(DeleteRequest {
                    key: b64(b"h"),
                    range_end: None,
                }),
            ],
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"compare":[{"target":"VERSION","result":"EQUAL","key":"aw==","version":"0"}],"success":[{"request_put":{"key":"aw==","value":"dg=="}},{"request_delete_range":{"key":"aA=="}}]}"#
        );
    }
}
