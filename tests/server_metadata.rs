//! The server image on an emulated OpenStack metadata service (Python's
//! http.server at 169.254.169.254 in a lab namespace): `core` logs in over
//! ssh with a key that only the metadata carries
//! (coreos-metadata-sshkeys@core.service); once the key is removed from
//! the metadata, it is refused after the next boot.

use metalos_tests::server::*;
use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, NetnsLab, Nic};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MAC: &str = "52:54:00:aa:bb:41";
const MACHINE_ID: &str = "7a8b9c0d1e2f30415263748596a7b8c9";

/// nova's EC2-compatible key listing, from `root/keys` (one key per line;
/// empty: no keys, 404).
const METADATA: &str = r#"
import http.server, sys
root = sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        keys = [k for k in open(root + "/keys").read().splitlines() if k.strip()]
        p = self.path
        if p == "/openstack/2012-08-10/meta_data.json":
            return self.reply(200, b'{"uuid": "server-metadata-test"}')
        if p in ("/latest/meta-data/public-keys", "/latest/meta-data/public-keys/") and keys:
            return self.reply(200, "\n".join(f"{i}=key-{i}" for i in range(len(keys))).encode())
        for i, k in enumerate(keys):
            if p == f"/latest/meta-data/public-keys/{i}/openssh-key":
                return self.reply(200, (k + "\n").encode())
        self.reply(404)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"#;

fn host_config(dir: &Path, root_key: &str) -> PathBuf {
    let hc = json!({
        "version": 1,
        "identity": {"hostname": "metadata-test", "machine-id": MACHINE_ID},
        "network": {"interfaces": [{"mac": MAC, "name": "lan0", "primary": true}]},
        "kernel": {"extra-args": ["ignition.platform.id=openstack"]},
        "boot": {"emergency-action": "poweroff", "emergency-delay-seconds": 1},
        "provisioning": {
            "ignition": {"version": "3.4.0"},
            "passwd": {"users": [
                {"name": "core", "shell": "/bin/bash"},
                {"name": "root", "sshAuthorizedKeys": [root_key]}
            ]}
        }
    });
    let path = dir.join("host-config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&hc).unwrap()).unwrap();
    path
}

/// `ssh user@ip cmd` from inside the lab's network namespace.
fn ssh(pid: u32, ip: &str, key: &Path, user: &str, cmd: &str) -> (i32, String) {
    let out = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ssh",
            "-q",
            "-o",
            "BatchMode=yes",
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes"])
        .args([
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
            "-i",
        ])
        .arg(key)
        .arg(format!("{user}@{ip}"))
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The guest's newest address from dnsmasq's lease file (the initrd and
/// the booted system each take a lease).
fn guest_ip(vm: &Machine) -> Option<String> {
    let leases = std::fs::read_to_string(vm.dir().join("dnsmasq.leases")).unwrap_or_default();
    leases
        .lines()
        .filter(|l| l.contains(MAC))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.parse::<u64>().ok()?, f.get(2)?.to_string()))
        })
        .max()
        .map(|(_, ip)| ip)
}

/// Waits until `user` logs in with `key`; returns the guest's address.
fn wait_login(vm: &Machine, pid: u32, key: &Path, user: &str) -> String {
    let started = Instant::now();
    loop {
        if let Some(ip) = guest_ip(vm) {
            if ssh(pid, &ip, key, user, "true").0 == 0 {
                return ip;
            }
        }
        assert!(
            started.elapsed() < SSH_TIMEOUT,
            "no ssh login as {user}; console:\n{}",
            tail(&vm.console_text())
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

#[test]
fn a_key_from_openstack_metadata_logs_in_until_it_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (core_key, root_key) = (dir.path().join("core"), dir.path().join("root"));
    let core_pub = keygen(&core_key);
    let root_pub = keygen(&root_key);
    let service = dir.path().join("metadata");
    std::fs::create_dir_all(&service).unwrap();
    std::fs::write(service.join("keys"), format!("{core_pub}\n")).unwrap();
    let script = dir.path().join("metadata.py");
    std::fs::write(&script, METADATA).unwrap();
    let hc = host_config(dir.path(), &root_pub);
    let image = build_server(&dir.path().join("out"), &hc);
    let disk = raw_copy(&image, &repo().join("target/vmtest-server-metadata.raw"));
    let lab = NetnsLab::new().address("169.254.169.254/32").daemon(
        "metadata",
        &[
            "python3",
            script.to_str().unwrap(),
            "169.254.169.254",
            "80",
            service.to_str().unwrap(),
        ],
    );
    let mut vm = Machine::builder("server_metadata")
        .uefi()
        .memory_mib(1024)
        .disk(Disk::direct(&disk).bootindex(1))
        .nic(Nic::new_netns(lab).mac(MAC))
        .build()
        .unwrap();
    vm.start().unwrap();
    let pid = vm.launcher_pid().unwrap();
    wait_login(&vm, pid, &root_key, "root");
    // The metadata agent runs after the network: wait for the key.
    let ip = wait_login(&vm, pid, &core_key, "core");
    let (_, fragment) = ssh(
        pid,
        &ip,
        &core_key,
        "core",
        "cat ~/.ssh/authorized_keys.d/coreos-metadata",
    );
    assert_eq!(fragment.trim(), core_pub.trim());
    let (_, attrs) = ssh(pid, &ip, &root_key, "root", "cat /run/metadata/afterburn");
    assert!(
        attrs.contains("AFTERBURN_OPENSTACK_INSTANCE_UUID=server-metadata-test"),
        "{attrs}"
    );

    // The key leaves the metadata: refused after the next boot.
    std::fs::write(service.join("keys"), "").unwrap();
    let _ = ssh(pid, &ip, &root_key, "root", "systemctl reboot");
    std::thread::sleep(Duration::from_secs(15));
    let ip = wait_login(&vm, pid, &root_key, "root");
    let started = Instant::now();
    loop {
        let (_, state) = ssh(
            pid,
            &ip,
            &root_key,
            "root",
            "systemctl is-active coreos-metadata-sshkeys@core.service",
        );
        if state.trim() == "active" {
            break;
        }
        assert!(
            started.elapsed() < SSH_TIMEOUT,
            "the sshkeys unit never finished: {state}"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
    assert_ne!(
        ssh(pid, &ip, &core_key, "core", "true").0,
        0,
        "the removed key still logs in"
    );
    let (code, _) = ssh(
        pid,
        &ip,
        &root_key,
        "root",
        "test -e /home/core/.ssh/authorized_keys.d/coreos-metadata",
    );
    assert_ne!(code, 0, "the fragment is gone");
    let _ = ssh(pid, &ip, &root_key, "root", "systemctl poweroff");
    vm.wait_for_shutdown(Duration::from_secs(120)).unwrap();
    drop(vm);
    let _ = std::fs::remove_file(&disk);
}
