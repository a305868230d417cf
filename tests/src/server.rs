//! The Debian server image in tests: its inputs, building it, and `ssh`
//! into a booted guest through a QEMU hostfwd on 127.0.0.1.

use crate::{build_image, cached_image, inputs, repo};
use metalos_config::InputsManifest;
use metalos_vmtest::Machine;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian systemd under TCG: allow for a slow first boot.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(420);

/// [`inputs`] plus the Debian server trees (scripts/build-server-rootfs).
pub fn server_inputs() -> InputsManifest {
    let mut m = inputs();
    let path = repo().join("target/server-inputs.json");
    let s = InputsManifest::load(&path).unwrap_or_else(|e| {
        panic!("{e}\nrun `scripts/build-server-rootfs` (or `make server-image`) first")
    });
    m.merge(s).unwrap();
    m
}

/// Builds images/server.toml with `host_config` on the ESP.
pub fn build_server(out: &Path, host_config: &Path) -> PathBuf {
    build_server_with(out, host_config, |t| t)
}

/// [`build_server`] after `edit` rewrites images/server.toml.
pub fn build_server_with(
    out: &Path,
    host_config: &Path,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    build_image("server.toml", out, Some(host_config), edit, server_inputs())
}

/// [`build_server_with`]'s output as the image cache keeps it
/// ([`cached_image`]: shared, never to be modified).
pub fn cached_server_with(
    host_config: &Path,
    edit: impl FnOnce(String) -> String,
) -> crate::image_cache::Entry {
    cached_image("server.toml", Some(host_config), edit, server_inputs())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ssh-keygen` an ed25519 key at `path`; returns the public key line.
pub fn keygen(path: &Path) -> String {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "metalos-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (package openssh-client)");
    assert!(st.success());
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// `ssh` to the guest through the hostfwd.
pub struct Ssh {
    /// The host port forwarded to the guest's 22.
    pub port: u16,
    /// The private key.
    pub key: PathBuf,
}

impl Ssh {
    /// The `ssh` command running `cmd` as `user` with `key`.
    pub fn command(&self, user: &str, key: &Path, cmd: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args([
            "-q",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            // A guest that reboots mid-command must not hang the test.
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ])
        .arg(key)
        .args([
            "-p",
            &self.port.to_string(),
            &format!("{user}@127.0.0.1"),
            cmd,
        ])
        .stdin(Stdio::null());
        c
    }

    /// Runs `cmd` as `user` with `key`: (exit status, stdout).
    pub fn run_with(&self, user: &str, key: &Path, cmd: &str) -> (i32, String) {
        let out = self.command(user, key, cmd).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Runs `cmd` as `user`, which must succeed.
    pub fn ok(&self, user: &str, cmd: &str) -> String {
        let (st, out) = self.run_with(user, &self.key, cmd);
        assert_eq!(st, 0, "ssh {user}@ {cmd}: exit {st}: {out}");
        out
    }

    /// Waits until `user` can log in; returns how long it took.
    pub fn wait(&self, vm: &Machine, user: &str, started: Instant) -> Duration {
        loop {
            if self.run_with(user, &self.key, "true").0 == 0 {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < SSH_TIMEOUT,
                "no ssh login after {SSH_TIMEOUT:?}; console:\n{}",
                tail(&vm.console_text())
            );
            std::thread::sleep(Duration::from_secs(3));
        }
    }
}

/// The last 60 lines of `text`.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
