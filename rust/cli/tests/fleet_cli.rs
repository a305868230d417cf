//! `metalos fleet serve|status|unlock|resume` as an operator runs them,
//! against a real etcd (the fleet crate's test helper).

mod common;
#[path = "../../fleet/tests/common/etcd.rs"]
mod etcd;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{metalos, metalos_ok};
use etcd::{free_port, EtcdProcess};

/// `metalos fleet serve` in the background, killed on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One raw HTTP/1.1 request; the status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nfleet-lock-protocol: true\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, answer.split_once("\r\n\r\n")?.1.to_string()))
}

fn lock(id: &str) -> String {
    format!(r#"{{"client_params":{{"id":"{id}","group":"g"}}}}"#)
}

#[test]
fn serve_status_unlock_resume() {
    let etcd = EtcdProcess::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fleet.toml");
    // The file's listen address is overridden by --listen.
    let file = format!(
        "listen = \"127.0.0.1:1\"\netcd = [\"{}\"]\ndefault_slots = 5\n[[group]]\nname = \"g\"\nslots = 3\n",
        etcd.url()
    );
    std::fs::write(&config, file).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_metalos"))
        .args(["fleet", "serve", "--config"])
        .arg(&config)
        .args(["--listen", &listen, "--group", "g=1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _serve = Serve(child);
    let start = Instant::now();
    while http(port, "GET", "/-/healthy", "").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        http(port, "POST", "/v1/pre-reboot", &lock("ghost"))
            .unwrap()
            .0,
        200
    );
    let (status, body) = http(port, "POST", "/v1/pre-reboot", &lock("next")).unwrap();
    assert_eq!(status, 423, "--group g=1 wins over the file's 3: {body}");

    let url = etcd.url();
    let text = metalos_ok(&["fleet", "status", "--etcd", &url]);
    assert!(text.contains("g: 1 of 1 slots held"), "{text}");
    assert!(text.contains("ghost  held for "), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&metalos_ok(&["fleet", "status", "--etcd", &url, "--json"])).unwrap();
    assert_eq!(json["groups"][0]["holders"][0]["id"], "ghost");

    let out = metalos_ok(&["fleet", "unlock", "--etcd", &url, "--group", "g", "ghost"]);
    assert!(
        out.starts_with("released ghost from group g (logged as by "),
        "{out}"
    );
    assert_eq!(
        http(port, "POST", "/v1/pre-reboot", &lock("next"))
            .unwrap()
            .0,
        200
    );
    let text = metalos_ok(&["fleet", "status", "--etcd", &url]);
    assert!(
        text.contains("unlock  released ghost from group g"),
        "{text}"
    );

    let report = r#"{"client_params":{"id":"n1","group":"g"},"booted":"v2","target":"v3","state":"rolled-back","error":"health check failed"}"#;
    assert_eq!(
        http(port, "POST", "/metalos/v1/report", report).unwrap().0,
        200
    );
    let text = metalos_ok(&["fleet", "status", "--etcd", &url]);
    assert!(
        text.contains("n1  group g  booted v2  target v3  rolled-back"),
        "{text}"
    );
    assert!(text.contains("last error: health check failed"), "{text}");
    assert!(text.contains("v3  since "), "{text}");
    let out = metalos_ok(&["fleet", "resume", "--etcd", &url, "v3"]);
    assert!(out.starts_with("lifted the halt of v3"), "{out}");
    let text = metalos_ok(&["fleet", "status", "--etcd", &url]);
    assert!(text.contains("halted releases: none"), "{text}");
}

#[test]
fn bad_settings_are_refused() {
    let out = metalos(&["fleet", "serve", "--config", "/nonexistent/fleet.toml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/fleet.toml"), "{err}");
    let out = metalos(&["fleet", "serve", "--etcd", "http://127.0.0.1:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen: missing"), "{err}");
    let out = metalos(&[
        "fleet",
        "status",
        "--etcd",
        &format!("http://127.0.0.1:{}", free_port()),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no endpoint could serve it"), "{err}");
}
