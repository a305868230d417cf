//! A real one-node etcd (Debian's `etcd-server`) for tests: free loopback
//! ports, a temporary data directory, killed on drop. Also used by the
//! CLI's tests (rust/cli/tests/fleet_cli.rs includes this file).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metalos_fleet::etcd::Etcd;

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
