//! The server image (Debian bookworm /usr with systemd and sshd) in a VM:
//! provisioning over the same boot chain, SSH logins through a QEMU
//! hostfwd on 127.0.0.1, `metalos ssh-keys` and `metalos reset` on the
//! running host. One machine goes through every step (two boots), so the
//! image is built and booted once.

use metalos_tests::server::*;
use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, Nic, UserNet};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const MAC: &str = "52:54:00:aa:bb:07";
const MACHINE_ID: &str = "5e7a1c0f2b3d4e5f60718293a4b5c6d7";

fn host_config(dir: &Path, key: &str) -> PathBuf {
    let marker = "[Unit]\nDescription=Provisioning test marker\n\n[Service]\nType=oneshot\n\
        ExecStart=/bin/sh -c 'cat /proc/sys/kernel/random/boot_id > /var/lib/marker'\n\n\
        [Install]\nWantedBy=multi-user.target\n";
    let hc = json!({
        "version": 1,
        "identity": {"hostname": "server-test", "machine-id": MACHINE_ID},
        // Static addressing (slirp's own numbers, so the hostfwd still
        // reaches the guest), checked in the booted system below.
        "network": {
            "interfaces": [{"mac": MAC, "name": "lan0", "primary": true,
                            "addresses": ["10.0.2.15/24"], "gateway": "10.0.2.2"}],
            "dns": ["10.0.2.3", "192.0.2.53"]
        },
        "boot": {"emergency-action": "poweroff", "emergency-delay-seconds": 1},
        "provisioning": {
            "ignition": {
                "version": "3.4.0",
                "config": {"merge": [{"source": data_url(&seed_config().to_string())}]}
            },
            "passwd": {"users": [
                {"name": "core", "sshAuthorizedKeys": [key], "shell": "/bin/bash"},
                {"name": "root", "sshAuthorizedKeys": [key]}
            ]},
            "storage": {"files": [
                {"path": "/etc/metalos-test/hello", "mode": 420,
                 "contents": {"source": data_url("provisioned\n")}}
            ]},
            "systemd": {"units": [{"name": "marker.service", "enabled": true, "contents": marker}]}
        }
    });
    let path = dir.join("host-config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&hc).unwrap()).unwrap();
    path
}

/// lan0 runs exactly the HostConfig's static addressing, through the unit
/// metalinit wrote (not the image's DHCP default).
fn assert_static_network(ssh: &Ssh) {
    let status = ssh.ok("root", "networkctl status lan0 --no-pager");
    assert!(
        status.contains("/run/systemd/network/10-metalos-lan0.network"),
        "{status}"
    );
    assert!(
        status.contains("192.0.2.53"),
        "the HostConfig's DNS: {status}"
    );
    let addr = ssh.ok("root", "ip -4 -o addr show dev lan0");
    assert!(
        addr.contains("inet 10.0.2.15/24") && !addr.contains("dynamic"),
        "{addr}"
    );
    let route = ssh.ok("root", "ip -4 route show default");
    assert!(route.contains("via 10.0.2.2 dev lan0"), "{route}");
}

/// No failed units and the default target reached.
fn assert_system_up(ssh: &Ssh) {
    let failed = ssh.ok("root", "systemctl --failed --no-legend --plain");
    assert_eq!(failed.trim(), "", "failed units");
    ssh.ok("root", "systemctl is-active multi-user.target");
    let state = ssh.ok("root", "systemctl is-system-running --wait || true");
    assert_eq!(state.trim(), "running", "systemctl is-system-running");
}

#[test]
fn server_provisioning_ssh_keys_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("id");
    let key = keygen(&key_path);
    let hc = host_config(dir.path(), &key);
    let image = build_server(&dir.path().join("out"), &hc);
    let disk = raw_copy(&image, &repo().join("target/vmtest-server.raw"));
    let ssh = Ssh {
        port: free_port(),
        key: key_path.clone(),
    };
    let mut vm = Machine::builder("server")
        .uefi()
        .memory_mib(1024)
        .disk(Disk::direct(&disk).bootindex(1))
        .nic(Nic::new(UserNet::new().hostfwd_tcp(&format!("127.0.0.1:{}", ssh.port), 22)).mac(MAC))
        .build()
        .unwrap();

    // 1. First boot: provisioning, sshd with fresh host keys, login as core.
    // Timed from QEMU's start: waiting for a VM slot does not count.
    vm.start().unwrap();
    let started = Instant::now();
    let first = ssh.wait(&vm, "core", started);
    eprintln!("server image: first boot to ssh login {first:?}");
    assert_eq!(
        ssh.ok("core", "cat /etc/metalos-test/hello"),
        "provisioned\n"
    );
    assert_system_up(&ssh);
    let boot_id = ssh.ok("root", "cat /proc/sys/kernel/random/boot_id");
    assert_eq!(
        ssh.ok("root", "cat /var/lib/marker"),
        boot_id,
        "the enabled unit ran"
    );
    let seed = ssh.ok("root", "systemctl show -p Result -p ActiveState my.service");
    assert!(seed.contains("Result=success"), "{seed}");
    assert!(ssh
        .ok("root", "journalctl -b -u my.service --no-pager")
        .contains("Hello World"));
    assert_eq!(ssh.ok("root", "cat /etc/machine-id").trim(), MACHINE_ID);
    assert_static_network(&ssh);
    let host_key = ssh.ok("root", "cat /etc/ssh/ssh_host_ed25519_key.pub");
    ssh.ok(
        "root",
        "test -s /var/lib/metalos/etc/upper/ssh/ssh_host_ed25519_key",
    );
    let ak = ssh.ok("core", "cat ~/.ssh/authorized_keys");
    assert!(
        ak.starts_with("# auto-generated by metalos ssh-keys"),
        "{ak}"
    );
    assert!(ak.contains(&key), "{ak}");

    // 2. metalos ssh-keys on the host: a second key set, then disabled.
    let extra_path = dir.path().join("extra");
    let extra = keygen(&extra_path);
    let mut add = ssh.command("core", &key_path, "metalos ssh-keys -a extra");
    add.stdin(Stdio::piped());
    let mut child = add.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        format!("{extra}\n").as_bytes(),
    )
    .unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "ssh-keys -a extra");
    assert_eq!(ssh.run_with("core", &extra_path, "echo in").1, "in\n");
    ssh.ok("core", "metalos ssh-keys -D extra");
    assert_ne!(
        ssh.run_with("core", &extra_path, "true").0,
        0,
        "disabled key still logs in"
    );
    ssh.ok("core", "true");

    // 3. Reset, keeping the host keys and the machine id; provisioning again.
    ssh.ok(
        "root",
        "echo x > /var/tmp/gone && echo y > /etc/gone && mkdir -p /home/core/stuff && sync",
    );
    let preview = ssh.ok(
        "root",
        "metalos reset --preview --keep-paths '/etc/ssh/ssh_host_.*'",
    );
    assert!(preview.contains("delete /var/tmp/gone"), "{preview}");
    assert!(
        preview.contains("keep /etc/ssh/ssh_host_ed25519_key"),
        "{preview}"
    );
    ssh.ok(
        "root",
        "metalos reset --keep-paths '/etc/ssh/ssh_host_.*' --keep-machine-id",
    );
    let _ = ssh.run_with("root", &key_path, "systemctl reboot");
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let second = ssh.wait(&vm, "core", started);
    eprintln!("server image: reset + reprovisioning boot to ssh login {second:?}");
    let console = vm.console_text();
    assert!(
        console.contains("metalinit: reset: deleted"),
        "{}",
        tail(&console)
    );
    assert_eq!(
        console.matches("metalinit: provisioning applied").count(),
        2
    );
    assert_eq!(
        ssh.ok("root", "cat /etc/ssh/ssh_host_ed25519_key.pub"),
        host_key
    );
    assert_eq!(ssh.ok("root", "cat /etc/machine-id").trim(), MACHINE_ID);
    for gone in ["/var/tmp/gone", "/etc/gone", "/home/core/stuff"] {
        assert_ne!(
            ssh.run_with("root", &key_path, &format!("test -e {gone}"))
                .0,
            0,
            "{gone} survived"
        );
    }
    let boot_id2 = ssh.ok("root", "cat /proc/sys/kernel/random/boot_id");
    assert_ne!(boot_id2, boot_id);
    assert_eq!(
        ssh.ok("root", "cat /var/lib/marker"),
        boot_id2,
        "the marker is new"
    );
    assert_eq!(
        ssh.ok("core", "cat /etc/metalos-test/hello"),
        "provisioned\n"
    );
    assert_system_up(&ssh);

    // 4. A later boot: no provisioning, same state.
    let _ = ssh.run_with("root", &key_path, "systemctl reboot");
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let third = ssh.wait(&vm, "core", started);
    eprintln!("server image: later boot to ssh login {third:?}");
    assert_eq!(
        vm.console_text()
            .matches("metalinit: provisioning applied")
            .count(),
        2
    );
    assert_system_up(&ssh);
    ssh.ok("root", "systemctl poweroff || true");
    vm.wait_for_shutdown(Duration::from_secs(120)).unwrap();
    drop(vm);
    assert!(
        !esp_has(&disk, "metalos/first_boot"),
        "the first-boot flag is gone"
    );
    let _ = std::fs::remove_file(&disk);
}
