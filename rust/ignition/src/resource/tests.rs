//! Validation, `data:` URLs, gzip and hashes (no network).

use std::io::Write;
use std::sync::Mutex;

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};

use super::*;
use crate::config::{HttpHeader, Verification};

fn res(source: &str) -> Resource {
    Resource {
        source: Some(source.to_string()),
        ..Resource::default()
    }
}

fn fetch_data(r: &Resource) -> Result<Vec<u8>> {
    fetch(r, "storage.files[2].contents", None, &HttpPolicy::default())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn b64_url(data: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    format!("data:;base64,{b64}")
}

#[test]
fn data_urls_decode() {
    for (url, want) in [
        ("data:,hello", &b"hello"[..]),
        ("data:,", b""),
        ("data:,hello%20world%0A", b"hello world\n"),
        ("data:,%e2%82%AC", "€".as_bytes()),
        ("data:;base64,aGVsbG8=", b"hello"),
        ("data:;base64,aGVsbG8", b"hello"),
        ("data:;base64,aGVsbG8%3D", b"hello"),
        ("DATA:;BASE64,aGk=", b"hi"),
        ("data:text/plain;charset=utf-8;base64,aGVsbG8=", b"hello"),
        ("data:text/plain;charset=US-ASCII,hi", b"hi"),
        ("data:;charset=utf-8,hi", b"hi"),
        ("data:application/octet-stream,a,b", b"a,b"),
    ] {
        assert_eq!(decode_data_url(url).as_deref(), Ok(want), "{url}");
        assert_eq!(check_source(url), Ok(()), "{url}");
    }
}

#[test]
fn malformed_data_urls_are_errors() {
    for (url, why) in [
        ("data:hello", "no ','"),
        ("data:;base64,@@@@", "base64"),
        ("data:;base64,aGVsbG8==x", "base64"),
        ("data:,%zz", "percent-encoding"),
        ("data:,abc%4", "percent-encoding"),
        ("data:text,x", "media type"),
        ("data:/plain,x", "media type"),
        ("data:text/pl ain,x", "media type"),
        ("data:text/plain;charset,x", "parameter"),
        ("data:text/plain;=utf-8,x", "parameter"),
        ("http://x/y", "not a data"),
    ] {
        let e = decode_data_url(url).unwrap_err();
        assert!(
            e.starts_with("invalid data url: ") && e.contains(why),
            "{url}: {e}"
        );
        if url.starts_with("data:") {
            assert_eq!(check_source(url), Err(e), "{url}");
        }
    }
}

#[test]
fn source_schemes() {
    for ok in [
        "http://h/x",
        "https://h:8443/x?y=1",
        "HTTPS://H/x",
        "data:,x",
    ] {
        assert_eq!(check_source(ok), Ok(()), "{ok}");
    }
    for s in ["tftp", "s3", "gs"] {
        let url = format!("{s}://host/x");
        let want = format!("url scheme \"{s}\" is not supported by MetalOS");
        assert_eq!(check_source(&url), Err(want), "{url}");
    }
    assert_eq!(
        check_source("arn:aws:s3:us-west-1:123:accesspoint/test/object/x"),
        Err("url scheme \"arn\" is not supported by MetalOS".to_string())
    );
    for bad in [
        "ftp://h/x",
        "file:///etc/x",
        "/etc/x",
        "x",
        "oem:///x",
        "http://[::1/",
    ] {
        assert_eq!(
            check_source(bad),
            Err("invalid url scheme".to_string()),
            "{bad}"
        );
    }
    // Ignition: "empty url is valid, indicates an empty file".
    assert_eq!(check_source(""), Ok(()));
    let empty = Resource {
        source: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(
        fetch(
            &empty,
            "storage.files[0].contents",
            None,
            &HttpPolicy::default()
        )
        .unwrap(),
        Vec::<u8>::new()
    );
}

#[test]
fn hash_specifiers() {
    let h512 = "a".repeat(128);
    let h256 = "B".repeat(64);
    for (spec, minor, want) in [
        (format!("sha512-{h512}"), 0, Ok(())),
        (format!("sha512-{h512}"), 5, Ok(())),
        (format!("sha256-{h256}"), 1, Ok(())),
        (format!("sha256-{h256}"), 5, Ok(())),
        (
            format!("sha256-{h256}"),
            0,
            Err("unrecognized hash function"),
        ),
        (format!("md5-{h256}"), 5, Err("unrecognized hash function")),
        (
            format!("SHA512-{h512}"),
            5,
            Err("unrecognized hash function"),
        ),
        (format!("-{h512}"), 5, Err("unrecognized hash function")),
        (h512.clone(), 5, Err("malformed hash specifier")),
        (String::new(), 5, Err("malformed hash specifier")),
        (
            format!("sha512-{h256}"),
            5,
            Err("incorrect size for hash sum"),
        ),
        (
            format!("sha256-{h512}"),
            5,
            Err("incorrect size for hash sum"),
        ),
        ("sha512-".to_string(), 5, Err("incorrect size for hash sum")),
        (
            format!("sha512-{}", "g".repeat(128)),
            5,
            Err("incorrect size for hash sum"),
        ),
        (
            format!("sha256-{}z", "0".repeat(63)),
            5,
            Err("incorrect size for hash sum"),
        ),
    ] {
        assert_eq!(
            check_hash(&spec, minor),
            want.map_err(str::to_string),
            "{spec} 3.{minor}"
        );
    }
}

#[test]
fn compression_methods() {
    assert_eq!(check_compression(None), Ok(()));
    assert_eq!(check_compression(Some("")), Ok(()));
    assert_eq!(check_compression(Some("gzip")), Ok(()));
    for bad in ["xz", "GZIP", "zstd"] {
        assert_eq!(
            check_compression(Some(bad)),
            Err("invalid compression method".to_string())
        );
    }
    let r = Resource {
        compression: Some("xz".into()),
        ..res("data:,x")
    };
    let e = fetch_data(&r).unwrap_err().to_string();
    assert_eq!(
        e,
        "storage.files[2].contents: data:,x: invalid compression method"
    );
}

#[test]
fn fetch_decodes_data_urls() {
    assert_eq!(fetch_data(&res("data:,a%20b")).unwrap(), b"a b");
    let e = fetch_data(&Resource::default()).unwrap_err().to_string();
    assert_eq!(e, "storage.files[2].contents: resource has no source");
    let e = fetch_data(&res("data:,%zz")).unwrap_err().to_string();
    assert!(
        e.starts_with("storage.files[2].contents: data:,%zz: invalid data url"),
        "{e}"
    );
    let e = fetch_data(&res("tftp://h/x")).unwrap_err().to_string();
    assert_eq!(
        e,
        "storage.files[2].contents: tftp://h/x: url scheme \"tftp\" is not supported by MetalOS"
    );
}

#[test]
fn gzip_is_decompressed_and_hashed_after() {
    let plain = b"hello, gzip\n".repeat(100);
    let packed = gzip(&plain);
    let spec = format!("sha512-{}", hex::encode(Sha512::digest(&plain)));
    let r = Resource {
        compression: Some("gzip".into()),
        verification: Verification { hash: Some(spec) },
        ..res(&b64_url(&packed))
    };
    assert_eq!(fetch_data(&r).unwrap(), plain);
    // A hash of the compressed bytes does not match.
    let r = Resource {
        verification: Verification {
            hash: Some(format!("sha512-{}", hex::encode(Sha512::digest(&packed)))),
        },
        ..r
    };
    let e = fetch_data(&r).unwrap_err().to_string();
    assert!(e.contains(": hash mismatch: expected sha512-"), "{e}");
}

#[test]
fn corrupt_gzip_is_an_error() {
    let mut packed = gzip(b"some data that will be damaged");
    let n = packed.len();
    packed[n - 6] ^= 0xff; // the CRC
    for data in [packed, b"not gzip at all; ".repeat(4)] {
        let url = b64_url(&data);
        let r = Resource {
            compression: Some("gzip".into()),
            ..res(&url)
        };
        let e = fetch_data(&r).unwrap_err().to_string();
        let want = format!("storage.files[2].contents: {}…: gzip: ", &url[..40]);
        assert!(e.starts_with(&want), "{e}");
    }
}

#[test]
fn hashes_are_verified() {
    let r256 = Resource {
        verification: Verification {
            hash: Some(format!(
                "sha256-{}",
                hex::encode_upper(Sha256::digest(b"hi"))
            )),
        },
        ..res("data:,hi")
    };
    assert_eq!(fetch_data(&r256).unwrap(), b"hi");
    let wrong = format!("sha512-{}", "0".repeat(128));
    let r = Resource {
        verification: Verification {
            hash: Some(wrong.clone()),
        },
        ..res("data:,hi")
    };
    let e = fetch_data(&r).unwrap_err().to_string();
    let got = hex::encode(Sha512::digest(b"hi"));
    assert_eq!(
        e,
        format!(
            "storage.files[2].contents: data:,hi: hash mismatch: expected {wrong}, got sha512-{got}"
        )
    );
    let r = Resource {
        verification: Verification {
            hash: Some("sha1-00".into()),
        },
        ..res("data:,hi")
    };
    let e = fetch_data(&r).unwrap_err().to_string();
    assert!(
        e.ends_with("data:,hi: verification.hash: unrecognized hash function"),
        "{e}"
    );
}

#[test]
fn long_data_urls_are_shortened_in_errors() {
    let url = format!("data:,{}", "x".repeat(100));
    let r = Resource {
        verification: Verification {
            hash: Some(format!("sha512-{}", "0".repeat(128))),
        },
        ..res(&url)
    };
    let e = fetch_data(&r).unwrap_err().to_string();
    let want = format!("storage.files[2].contents: {}…: hash mismatch", &url[..40]);
    assert!(e.starts_with(&want), "{e}");
    assert!(!e.contains(&url), "{e}");
}

/// A request seen by [`FakeFetcher`]: URL and headers.
type Seen = (String, Vec<(String, String)>);

/// Records requests; answers with `answer`.
struct FakeFetcher {
    answer: std::result::Result<Vec<u8>, String>,
    seen: Mutex<Vec<Seen>>,
}

impl Fetcher for FakeFetcher {
    fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
        _policy: &HttpPolicy,
    ) -> std::result::Result<Vec<u8>, String> {
        self.seen
            .lock()
            .unwrap()
            .push((url.into(), headers.to_vec()));
        self.answer.clone()
    }
}

#[test]
fn http_sources_go_to_the_fetcher() {
    let url = "https://example.test/x.gz";
    let r = Resource {
        compression: Some("gzip".into()),
        http_headers: vec![
            HttpHeader {
                name: "Authorization".into(),
                value: Some("Bearer t".into()),
            },
            HttpHeader {
                name: "X-Deleted".into(),
                value: None,
            },
        ],
        ..res(url)
    };
    let e = fetch_data(&r).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "storage.files[2].contents: {url}: needs the network but no HTTP fetcher is available"
        )
    );
    let fake = FakeFetcher {
        answer: Ok(gzip(b"remote")),
        seen: Mutex::new(Vec::new()),
    };
    let got = fetch(&r, "p", Some(&fake), &HttpPolicy::default()).unwrap();
    assert_eq!(got, b"remote");
    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        *seen,
        vec![(
            url.to_string(),
            vec![("Authorization".to_string(), "Bearer t".to_string())]
        )]
    );
    // Fetcher messages that do not name the URL get it prefixed.
    for (msg, want) in [
        (
            format!("GET {url}: HTTP 404 Not Found"),
            format!("p: GET {url}: HTTP 404 Not Found"),
        ),
        ("boom".to_string(), format!("p: {url}: boom")),
    ] {
        let fake = FakeFetcher {
            answer: Err(msg),
            seen: Mutex::new(Vec::new()),
        };
        let e = fetch(&r, "p", Some(&fake), &HttpPolicy::default()).unwrap_err();
        assert_eq!(e.to_string(), want);
    }
}
