//! HTTP responses as `metalos_net::http::HttpClient` receives them
//! (ureq's HTTP/1.1 parsing, status handling, Content-Length, chunked
//! bodies, the size limit, redirects and the 5xx/transport retry policy),
//! from an in-memory server: no sockets, no sleeps.

use std::cell::RefCell;
use std::io::Read;
use std::time::Duration;

use metalos_net::dns::Resolver;
use metalos_net::http::{HttpClient, HttpError, HttpOptions};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

use super::capture::capture;
use crate::seeds::Seed;

/// Separates what the server sends on successive connections: the first
/// connection gets the input up to the first separator, the next one what
/// follows, …; the last part repeats for any further connection.
pub const NEXT_CONNECTION: &[u8] = b"\n--next-connection--\n";
/// The URL fetched (an IP literal: no name resolution).
pub const URL: &str = "http://10.77.1.1/hosts/52-54-00-12-34-56.json";
/// The body size limit of the fetch.
pub const LIMIT: u64 = 1024;
/// Tries per GET.
const ATTEMPTS: u32 = 3;
/// How many bytes each successive read of a connection returns at most:
/// responses arrive split at varying places, as over TCP.
const READ_SIZES: [usize; 8] = [4096, 1, 13, 256, 2, 4096, 64, 7];

/// What the in-memory server sends, per thread (ureq calls the connector
/// on the requesting thread).
#[derive(Default)]
struct Script {
    parts: Vec<Vec<u8>>,
    connections: usize,
}

thread_local! {
    static SCRIPT: RefCell<Script> = RefCell::default();
}

/// A connector handing out connections that replay the script's parts.
#[derive(Debug)]
struct Canned;

impl Connector for Canned {
    type Out = CannedConnection;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let data = SCRIPT.with(|s| {
            let mut s = s.borrow_mut();
            let n = s.connections.min(s.parts.len().saturating_sub(1));
            s.connections += 1;
            s.parts.get(n).cloned().unwrap_or_default()
        });
        Ok(Some(CannedConnection {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            data,
            pos: 0,
            reads: 0,
        }))
    }
}

/// One connection: requests are swallowed, the response bytes are served
/// in reads of [`READ_SIZES`], then end of stream.
#[derive(Debug)]
struct CannedConnection {
    buffers: LazyBuffers,
    data: Vec<u8>,
    pos: usize,
    reads: usize,
}

impl Transport for CannedConnection {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        _amount: usize,
        _timeout: NextTimeout,
    ) -> Result<(), ureq::Error> {
        Ok(())
    }

    fn await_input(&mut self, _timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let most = READ_SIZES[self.reads % READ_SIZES.len()];
        self.reads += 1;
        let left = &self.data[self.pos..];
        let buf = self.buffers.input_append_buf();
        let n = buf.len().min(left.len()).min(most);
        buf[..n].copy_from_slice(&left[..n]);
        self.buffers.input_appended(n);
        self.pos += n;
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        // The server closes once it has sent everything.
        self.pos < self.data.len()
    }
}

/// A client as metalimage builds it, but connecting to [`Canned`], with
/// no pauses between tries and no DNS servers.
fn client() -> HttpClient {
    HttpClient::with_connector(
        HttpOptions {
            resolver: Some(Resolver::new(&[])),
            attempts: ATTEMPTS,
            first_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            ..HttpOptions::default()
        },
        || Canned,
    )
    .expect("a client without CA files")
}

/// Splits an input at [`NEXT_CONNECTION`].
pub fn parts(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest
        .windows(NEXT_CONNECTION.len())
        .position(|w| w == NEXT_CONNECTION)
    {
        out.push(rest[..i].to_vec());
        rest = &rest[i + NEXT_CONNECTION.len()..];
    }
    out.push(rest.to_vec());
    out
}

/// Installs the script; returns nothing, see [`connections`].
fn serve(parts: Vec<Vec<u8>>) {
    SCRIPT.with(|s| {
        *s.borrow_mut() = Script {
            parts,
            connections: 0,
        }
    });
}

fn connections() -> usize {
    SCRIPT.with(|s| s.borrow().connections)
}

/// Most connections one GET may open (a bound with room to spare: no
/// redirect is followed, each try opens one).
const MAX_CONNECTIONS: usize = ATTEMPTS as usize * 11;

/// Target `http`: the input is what the server sends ([`parts`]); GET
/// [`URL`] once into memory (as the HostConfig and Ignition fetches do,
/// limit [`LIMIT`]) and once as a stream (as the image download does).
pub fn http(data: &[u8]) {
    let parts = parts(data);
    serve(parts.clone());
    match client().get_bytes(URL, LIMIT) {
        Ok(body) => assert!(body.len() as u64 <= LIMIT, "{} bytes", body.len()),
        Err(HttpError::Status { code, .. }) => {
            assert!(
                !(200..300).contains(&code),
                "success status {code} is an error"
            )
        }
        Err(HttpError::TooLarge { limit, .. }) => assert_eq!(limit, LIMIT),
        Err(e) => drop(e.to_string()),
    }
    assert!(
        connections() <= MAX_CONNECTIONS,
        "{} connections",
        connections()
    );

    serve(parts);
    if let Ok((length, reader)) = client().get_reader(URL) {
        let mut body = Vec::new();
        let read = reader.take(2 * LIMIT).read_to_end(&mut body);
        if let (Ok(_), Some(length)) = (read, length) {
            assert!(body.len() as u64 <= length, "more than Content-Length");
        }
    }
    assert!(
        connections() <= MAX_CONNECTIONS,
        "{} connections",
        connections()
    );
}

/// Seeds: python's http.server (captured: 200 with Content-Length, 301,
/// 404, 500, 503, chunked) and the test servers' canned responses, alone
/// and in sequences (retry after 5xx, redirect then 200).
pub fn seeds() -> Vec<Seed> {
    const CAPTURED: &[(&str, &[u8])] = &[
        capture!("python-http-200"),
        capture!("python-http-301"),
        capture!("python-http-404"),
        capture!("python-http-500"),
        capture!("python-http-503"),
        capture!("python-http-chunked"),
    ];
    let get = |n: &str| CAPTURED.iter().find(|(x, _)| *x == n).expect("captured").1;
    // tests/src/scripted_http.rs OK / NOT_FOUND, rust/net/tests/netns.rs.
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let not_found: &[u8] =
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let unavailable: &[u8] =
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let no_content: &[u8] = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    let redirect: &[u8] = b"HTTP/1.1 302 Found\r\nLocation: http://10.77.1.2/hosts/x.json\r\nContent-Length: 0\r\n\r\n";
    let keep_alive: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    let until_close: &[u8] =
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until the server closes";
    let too_large = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n".as_slice(),
        &[b'x'; 2000],
    ]
    .concat();
    let chunked_big = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n".as_slice(),
        &[b'y'; 0x400],
        b"\r\n1\r\nz\r\n0\r\n\r\n",
    ]
    .concat();
    let join = |parts: &[&[u8]]| parts.join(NEXT_CONNECTION);
    let mut seeds: Vec<(String, Vec<u8>)> = CAPTURED
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_vec()))
        .collect();
    seeds.extend([
        ("scripted-ok".to_string(), ok.to_vec()),
        ("scripted-not-found".into(), not_found.to_vec()),
        ("no-content".into(), no_content.to_vec()),
        ("until-close".into(), until_close.to_vec()),
        ("too-large".into(), too_large),
        ("chunked-over-limit".into(), chunked_big),
        ("retry-503-then-ok".into(), join(&[unavailable, ok])),
        (
            "python-500-then-chunked".into(),
            join(&[get("python-http-500"), get("python-http-chunked")]),
        ),
        (
            "python-301-then-200".into(),
            join(&[get("python-http-301"), get("python-http-200")]),
        ),
        ("redirect-then-ok".into(), join(&[redirect, ok])),
        ("keep-alive-twice".into(), [keep_alive, keep_alive].concat()),
    ]);
    seeds
        .into_iter()
        .map(|(name, data)| Seed {
            target: "http",
            name,
            data,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(parts: &[&[u8]]) -> (Result<Vec<u8>, HttpError>, usize) {
        serve(parts.iter().map(|p| p.to_vec()).collect());
        (client().get_bytes(URL, LIMIT), connections())
    }

    #[test]
    fn canned_server_drives_the_client() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let busy: &[u8] = b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(fetch(&[ok]).0.unwrap(), b"hello");
        let (r, n) = fetch(&[busy, ok]);
        assert_eq!((r.unwrap(), n), (b"hello".to_vec(), 2), "5xx retried");
        let (r, n) = fetch(&[busy]);
        assert_eq!(r.unwrap_err().status_code(), Some(503));
        assert_eq!(n, ATTEMPTS as usize);
        let chunked: &[u8] =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(fetch(&[chunked]).0.unwrap(), b"abcde");
        let big = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n".as_slice(),
            &[0; 2000],
        ]
        .concat();
        assert!(matches!(fetch(&[&big]).0, Err(HttpError::TooLarge { .. })));
        let moved: &[u8] =
            b"HTTP/1.1 301 Moved\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n";
        let (r, n) = fetch(&[moved, ok]);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("HTTP 301") && e.contains("redirects to /elsewhere"),
            "{e}"
        );
        assert_eq!(n, 1, "a redirect is not followed");
        let (r, _) = fetch(&[b"garbage\r\n\r\n"]);
        assert!(r.is_err());
    }

    #[test]
    fn parts_split_at_the_separator() {
        let input = [b"a".as_slice(), NEXT_CONNECTION, b"b", NEXT_CONNECTION].concat();
        assert_eq!(parts(&input), vec![b"a".to_vec(), b"b".to_vec(), vec![]]);
        assert_eq!(parts(b"x"), vec![b"x".to_vec()]);
    }

    #[test]
    fn target_runs_over_seeds_and_broken_inputs() {
        for seed in seeds() {
            http(&seed.data);
            http(&seed.data[..seed.data.len() / 2]);
            let mut flipped = seed.data.clone();
            flipped[9] ^= 0x04; // status digit
            http(&flipped);
        }
        http(b"");
    }
}
