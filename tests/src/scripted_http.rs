//! Local servers for HTTP client tests: a scripted plain-HTTP server (one
//! canned response per connection) and `openssl s_server -WWW` with a
//! [`TestCa`] certificate, both on 127.0.0.1.

use crate::tls::TestCa;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// `200 OK` with the body `hello`.
pub const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
/// `404 Not Found`, empty body.
pub const NOT_FOUND: &str =
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A server answering the n-th connection with `responses[n]` (the last
/// one repeats); `None` = read the request and never answer (3 s).
pub struct ScriptedServer {
    /// `http://127.0.0.1:PORT/file`.
    pub url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl ScriptedServer {
    /// Starts the server.
    pub fn start(responses: Vec<Option<&'static str>>) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/file", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let (seen, response) = (seen.clone(), responses[n.min(responses.len() - 1)]);
                thread::spawn(move || {
                    seen.lock().unwrap().push(read_head(&stream));
                    match response {
                        Some(r) => drop(stream.write_all(r.as_bytes())),
                        None => thread::sleep(Duration::from_secs(3)),
                    }
                });
            }
        });
        ScriptedServer { url, heads }
    }

    /// Request heads received so far (request line and headers).
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.heads.lock().unwrap().len()
    }
}

fn read_head(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            return head;
        }
        head.push_str(&line);
    }
}

/// `openssl s_server -WWW` on 127.0.0.1 serving `DIR/file` (`hello`) with a
/// certificate for IP 127.0.0.1 from a fresh [`TestCa`] in `DIR`. Killed on
/// drop.
pub struct TlsServer {
    child: Child,
    /// `https://127.0.0.1:PORT/file`.
    pub url: String,
    /// The CA that signed the server certificate.
    pub ca: TestCa,
}

impl TlsServer {
    /// Starts the server in `dir` (clients should retry while it starts).
    pub fn start(dir: &Path) -> TlsServer {
        let ca = TestCa::generate(dir, "metalos http test", "127.0.0.1");
        std::fs::write(dir.join("file"), "hello").unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-cert"])
            .arg(&ca.cert)
            .arg("-key")
            .arg(&ca.key)
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl s_server");
        TlsServer {
            child,
            url: format!("https://127.0.0.1:{port}/file"),
            ca,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
