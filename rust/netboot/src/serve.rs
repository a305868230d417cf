//! A small static HTTP/1.1 file server (`metalos netboot serve`), for
//! development and tests: GET and HEAD, `Content-Length`, keep-alive, 404
//! for missing files, 400 for paths with `..`, one thread per connection.
//! Symlinks inside the root (a published tree's entry points) are followed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Request log callback: one line per request (`GET /boot.ipxe 200 512`).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Serves `root` on `listener` until the process ends.
pub fn serve(listener: TcpListener, root: PathBuf, log: Log) -> std::io::Result<()> {
    let root = Arc::new(root);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log(&format!("accept failed: {e}"));
                continue;
            }
        };
        let (root, log) = (Arc::clone(&root), Arc::clone(&log));
        std::thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            if let Err(e) = connection(stream, &root, &peer, &log) {
                log(&format!("{peer}: {e}"));
            }
        });
    }
    Ok(())
}

/// Handles requests on one connection until it closes.
fn connection(stream: TcpStream, root: &Path, peer: &str, log: &Log) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target, version) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("HTTP/1.0"),
        );
        let mut close = version == "HTTP/1.0";
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if lower.starts_with("connection:") {
                close = lower.contains("close")
                    || (version == "HTTP/1.0" && !lower.contains("keep-alive"));
            }
        }
        let head = method == "HEAD";
        let status = if method != "GET" && !head {
            respond(&mut out, 405, "Method Not Allowed", b"", head, close)?;
            405
        } else {
            match resolve(root, target) {
                None => {
                    respond(&mut out, 400, "Bad Request", b"bad path\n", head, close)?;
                    400
                }
                Some(path) => match std::fs::File::open(&path) {
                    Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
                        send_file(&mut out, f, head, close)?;
                        200
                    }
                    _ => {
                        respond(&mut out, 404, "Not Found", b"not found\n", head, close)?;
                        404
                    }
                },
            }
        };
        log(&format!("{peer} {method} {target} {status}"));
        if close {
            return Ok(());
        }
    }
}

/// Maps a request target to a file under `root`; `None` for `..` or
/// malformed percent-escapes. `/` and directories are not listed.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let path = percent_decode(path.strip_prefix('/')?)?;
    let mut out = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." || part.contains('\0') || part.contains('\\') {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn header(code: u16, reason: &str, len: u64, close: bool) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: {}\r\n\r\n",
        if close { "close" } else { "keep-alive" }
    )
}

fn respond(
    out: &mut TcpStream,
    code: u16,
    reason: &str,
    body: &[u8],
    head: bool,
    close: bool,
) -> std::io::Result<()> {
    out.write_all(header(code, reason, body.len() as u64, close).as_bytes())?;
    if !head {
        out.write_all(body)?;
    }
    out.flush()
}

fn send_file(
    out: &mut TcpStream,
    f: std::fs::File,
    head: bool,
    close: bool,
) -> std::io::Result<()> {
    let len = f.metadata()?.len();
    out.write_all(header(200, "OK", len, close).as_bytes())?;
    if !head {
        let copied = std::io::copy(&mut f.take(len), out)?;
        if copied != len {
            return Err(std::io::Error::other(format!(
                "file shrank while sending ({copied} of {len} bytes)"
            )));
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let root = Path::new("/srv");
        assert_eq!(
            resolve(root, "/boot.ipxe"),
            Some(PathBuf::from("/srv/boot.ipxe"))
        );
        assert_eq!(
            resolve(root, "/hosts/a%2Db.json?x=1"),
            Some(PathBuf::from("/srv/hosts/a-b.json"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/%2e%2e/%2e%2e/x"), None);
        assert_eq!(resolve(root, "relative"), None);
        assert_eq!(resolve(root, "/%zz"), None);
    }

    #[test]
    fn get_head_404_keepalive() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.txt"), b"hello").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let root = dir.path().to_path_buf();
        std::thread::spawn(move || serve(listener, root, Arc::new(|_: &str| {})));
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /f.txt HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"),
            "{text}"
        );
        assert_eq!(
            text.matches("hello").count(),
            1,
            "HEAD sends no body: {text}"
        );
        assert!(text.contains("HTTP/1.1 404 Not Found"), "{text}");
    }
}
