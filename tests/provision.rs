//! First-boot provisioning in VMs: Ignition configs from the HostConfig and
//! from `ignition.config.url=`, applied by metalinit to ROOT before
//! switch-root, failing closed with the first-boot flag kept.

use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, Nic, UserNet};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAC: &str = "52:54:00:aa:bb:01";
const ROOTFS_UP: &str = "METALOS-ROOTFS-UP host=(\\S+)";
const HTTP: &str = "10.0.2.100";
/// Where QEMU forwards the guest's HTTP connections to a host-side server.
const HTTP_ADDR: &str = "10.0.2.100:80";

fn gzip_base64_data_url(text: &str) -> (String, String) {
    use base64::Engine;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(text.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let url = format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    use sha2::Digest;
    let hash = format!(
        "sha512-{}",
        hex::encode(sha2::Sha512::digest(text.as_bytes()))
    );
    (url, hash)
}

/// The VM test HostConfig with `provisioning` (and extra kernel args).
fn host_config(dir: &Path, provisioning: Option<Value>, extra_args: &[&str]) -> PathBuf {
    let mut hc: Value =
        serde_json::from_str(&std::fs::read_to_string(test_host_config()).unwrap()).unwrap();
    if let Some(p) = provisioning {
        hc["provisioning"] = p;
    }
    for a in extra_args {
        hc["kernel"]["extra-args"]
            .as_array_mut()
            .unwrap()
            .push(json!(a));
    }
    hc["boot"] = json!({"emergency-action": "reboot", "emergency-delay-seconds": 1});
    let path = dir.join("host-config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&hc).unwrap()).unwrap();
    path
}

fn esp_put(disk: &Path, file: &Path, path: &str) {
    let st = std::process::Command::new("mcopy")
        .args(["-o", "-i", &esp_arg(disk)])
        .arg(file)
        .arg(format!("::{path}"))
        .status()
        .unwrap();
    assert!(st.success(), "mcopy {path}");
}

/// The config of the first test: a user with a key, files (data URL,
/// gzip + sha512, appended), a directory, a symlink, a unit and its wants
/// link.
fn full_config() -> Value {
    let (gz, hash) = gzip_base64_data_url("compressed and verified\n");
    json!({
        "ignition": {"version": "3.4.0"},
        "passwd": {
            "users": [{
                "name": "ops",
                "uid": 1500,
                "shell": "/bin/sh",
                "groups": ["wheel"],
                "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMetalOSTestKey ops@test"]
            }],
            "groups": [{"name": "wheel", "gid": 10}]
        },
        "storage": {
            "files": [
                {"path": "/etc/motd", "mode": 420, "overwrite": true,
                 "contents": {"source": data_url("provisioned by MetalOS\n")}},
                {"path": "/var/lib/app/data.txt", "mode": 384,
                 "user": {"name": "ops"}, "group": {"id": 10},
                 "contents": {"source": gz, "compression": "gzip", "verification": {"hash": hash}},
                 "append": [{"source": data_url("appended\n")}]}
            ],
            "directories": [{"path": "/srv/www", "mode": 488, "user": {"id": 1500}}],
            "links": [
                {"path": "/etc/app.conf", "target": "/var/lib/app/data.txt"},
                {"path": "/etc/systemd/system/multi-user.target.wants/hello.service",
                 "target": "/etc/systemd/system/hello.service"}
            ]
        },
        "systemd": {"units": [{
            "name": "hello.service", "enabled": true,
            "contents": "[Service]\nExecStart=/bin/echo hi\n\n[Install]\nWantedBy=multi-user.target\n"
        }]}
    })
}

/// `stat` of a path in the guest: `MODE UID GID TYPE`.
fn stat(vm: &mut Machine, path: &str) -> String {
    vm.succeed(&format!("stat -c '%a %u %g %F' {path}"))
        .unwrap()
        .trim()
        .to_string()
}

/// Checksums of everything provisioning wrote, and a listing with full
/// timestamps: a boot that rewrites any of it (even with the same bytes)
/// shows up in the diff.
const STATE: &str = "cat /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/motd \
    /var/lib/app/data.txt /home/ops/.ssh/authorized_keys.d/ignition \
    /etc/systemd/system-preset/20-ignition.preset /var/lib/metalos/provisioning.json \
    | sha256sum; ls -lnR --full-time /etc /home /srv /var/lib/app";

#[test]
fn host_config_provisioning_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let hc = host_config(dir.path(), Some(full_config()), &[]);
    let image = build_default(&dir.path().join("out"), Some(&hc), |t| t);
    let mut vm = Machine::builder("provision_host_config")
        .uefi()
        .disk(Disk::overlay(&image).grow_to(2 << 30).bootindex(1))
        .nic(Nic::new(UserNet::new()).mac(MAC))
        .agent()
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("metalinit: provisioning applied", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();

    let passwd = vm.succeed("cat /etc/passwd").unwrap();
    assert!(
        passwd.contains("ops:x:1500:1500::/home/ops:/bin/sh"),
        "{passwd}"
    );
    let group = vm.succeed("cat /etc/group").unwrap();
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("wheel:x:10:") && l.ends_with("ops")),
        "{group}"
    );
    assert!(vm.succeed("cat /etc/shadow").unwrap().contains("ops:*:"));
    assert_eq!(
        vm.succeed("cat /home/ops/.ssh/authorized_keys.d/ignition")
            .unwrap(),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMetalOSTestKey ops@test\n"
    );
    assert_eq!(stat(&mut vm, "/home/ops/.ssh"), "700 1500 1500 directory");
    assert_eq!(
        stat(&mut vm, "/home/ops/.ssh/authorized_keys.d/ignition"),
        "600 1500 1500 regular file"
    );
    assert_eq!(
        vm.succeed("cat /etc/motd").unwrap(),
        "provisioned by MetalOS\n"
    );
    assert_eq!(
        vm.succeed("cat /var/lib/app/data.txt").unwrap(),
        "compressed and verified\nappended\n"
    );
    assert_eq!(
        stat(&mut vm, "/var/lib/app/data.txt"),
        "600 1500 10 regular file"
    );
    assert_eq!(stat(&mut vm, "/var/lib/app"), "755 0 0 directory");
    assert_eq!(stat(&mut vm, "/srv/www"), "750 1500 0 directory");
    assert_eq!(
        vm.succeed("readlink /etc/app.conf").unwrap().trim(),
        "/var/lib/app/data.txt"
    );
    assert_eq!(vm.succeed("cat /etc/app.conf").unwrap().lines().count(), 2);
    assert!(vm
        .succeed("cat /etc/systemd/system/hello.service")
        .unwrap()
        .contains("ExecStart=/bin/echo hi"));
    assert_eq!(
        vm.succeed("readlink /etc/systemd/system/multi-user.target.wants/hello.service")
            .unwrap()
            .trim(),
        "/etc/systemd/system/hello.service"
    );
    assert_eq!(
        vm.succeed("cat /etc/systemd/system-preset/20-ignition.preset")
            .unwrap(),
        "enable hello.service\n"
    );
    let record: Value = serde_json::from_str(
        &vm.succeed("cat /var/lib/metalos/provisioning.json")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["result"], "success");
    assert_eq!(record["sources"][0]["source"], "HostConfig provisioning");
    assert_eq!(record["sources"][0]["sha512"].as_str().unwrap().len(), 128);
    let flag = vm.succeed("metalos inspect --json /dev/vda").unwrap();
    assert!(!flag.contains("metalos/first_boot"), "the flag is removed");
    let before = vm.succeed(STATE).unwrap();
    vm.succeed("sync").unwrap();
    vm.crash().unwrap();

    // Second boot: no provisioning, nothing changes.
    vm.restart().unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    assert_eq!(vm.succeed(STATE).unwrap(), before);
    let console = vm.console_text();
    assert_eq!(
        console.matches("provisioning applied").count(),
        1,
        "provisioned once"
    );
    vm.shutdown().unwrap();
}

#[test]
fn wrong_hash_fails_closed_then_fixed_config_provisions() {
    let dir = tempfile::tempdir().unwrap();
    let bad = json!({
        "ignition": {"version": "3.3.0"},
        "passwd": {"users": [{"name": "failed-user"}]},
        "storage": {"files": [
            {"path": "/etc/failed-first", "contents": {"source": data_url("x")}},
            {"path": "/etc/failed-last", "contents": {
                "source": data_url("y"),
                "verification": {"hash": format!("sha512-{}", "0".repeat(128))}
            }}
        ]}
    });
    let hc = host_config(dir.path(), Some(bad), &[]);
    let image = build_default(&dir.path().join("out"), Some(&hc), |t| t);
    let disk = raw_copy(&image, &repo().join("target/vmtest-provision-fail.raw"));
    let machine = |name: &str| {
        Machine::builder(name)
            .uefi()
            .disk(Disk::direct(&disk).bootindex(1))
            .nic(Nic::new(UserNet::new()).mac(MAC))
            .agent()
            .no_reboot()
            .build()
            .unwrap()
    };
    let mut vm = machine("provision_wrong_hash");
    vm.start().unwrap();
    let fatal = vm
        .wait_for_console("metalinit: FATAL: ([^\\r\\n]*)", BOOT_TIMEOUT)
        .unwrap()[1]
        .clone();
    assert!(fatal.contains("storage.files[1].contents"), "{fatal}");
    assert!(fatal.contains("hash mismatch"), "{fatal}");
    vm.wait_for_console("emergency action: Reboot", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
    drop(vm);
    assert!(
        esp_has(&disk, "metalos/first_boot"),
        "the flag stays after a failure"
    );

    // Fix the HostConfig on the ESP (the seed's 2.2.0 example) and boot again.
    let fixed_dir = dir.path().join("fixed");
    std::fs::create_dir(&fixed_dir).unwrap();
    let fixed = host_config(&fixed_dir, Some(seed_config()), &[]);
    esp_put(&disk, &fixed, "metalos/host-config.json");
    let mut vm = machine("provision_fixed");
    vm.start().unwrap();
    vm.wait_for_console("metalinit: provisioning applied", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    // Nothing of the failed config reached ROOT.
    let (st, _) = vm.run("ls /etc/failed-first").unwrap();
    assert_ne!(st, 0, "a file of the failed config exists");
    assert!(!vm
        .succeed("cat /etc/passwd")
        .unwrap()
        .contains("failed-user"));
    assert!(vm
        .succeed("cat /etc/systemd/system/my.service")
        .unwrap()
        .contains("ExecStart=/usr/bin/echo Hello World"));
    assert_eq!(
        vm.succeed("readlink /etc/systemd/system/multi-user.target.wants/my.service")
            .unwrap()
            .trim(),
        "/etc/systemd/system/my.service"
    );
    assert_eq!(
        vm.succeed("cat /etc/systemd/system-preset/20-ignition.preset")
            .unwrap(),
        "enable my.service\n"
    );
    vm.succeed("sync").unwrap();
    vm.shutdown().unwrap();
    drop(vm);
    assert!(!esp_has(&disk, "metalos/first_boot"), "the flag is removed");
    let _ = std::fs::remove_file(&disk);
}

#[test]
fn config_url_over_http_merges_after_base_configs() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let user = json!({
        "ignition": {"version": "3.5.0"},
        "storage": {"files": [
            {"path": "/etc/from-url", "contents": {"source": data_url("user config\n")}},
            {"path": "/etc/layered", "overwrite": true, "contents": {"source": format!("http://{HTTP}/layer.txt")}}
        ]}
    });
    std::fs::write(www.join("user.ign"), serde_json::to_vec(&user).unwrap()).unwrap();
    std::fs::write(www.join("layer.txt"), "from the user config over http\n").unwrap();
    let base = json!({
        "ignition": {"version": "3.0.0"},
        "storage": {"files": [
            {"path": "/etc/from-base", "contents": {"source": data_url("base config\n")}},
            {"path": "/etc/layered", "contents": {"source": data_url("from base\n")}}
        ]}
    });
    // The HostConfig's own provisioning is ignored when the URL is given.
    let hc = host_config(
        dir.path(),
        Some(
            json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/etc/from-hostconfig"}]}}),
        ),
        &[&format!("ignition.config.url=http://{HTTP}/user.ign")],
    );
    let base_text = serde_json::to_string(&base).unwrap().replace('"', "\\\"");
    let image = build_default(&dir.path().join("out"), Some(&hc), |t| {
        format!(
            "{t}\n[[usr.files]]\npath = \"lib/metalos/provisioning/base.d/10-base.ign\"\nsource = {{ text = \"{base_text}\" }}\n"
        )
    });
    let mut vm = Machine::builder("provision_config_url")
        .uefi()
        .disk(Disk::overlay(&image).bootindex(1))
        .nic(Nic::new(UserNet::new().http_dir(HTTP_ADDR, &www)).mac(MAC))
        .agent()
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("metalinit: provisioning network: ", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console("metalinit: provisioning applied", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    assert_eq!(vm.succeed("cat /etc/from-url").unwrap(), "user config\n");
    assert_eq!(vm.succeed("cat /etc/from-base").unwrap(), "base config\n");
    assert_eq!(
        vm.succeed("cat /etc/layered").unwrap(),
        "from the user config over http\n",
        "the user config is merged over the base config"
    );
    let (st, _) = vm.run("ls /etc/from-hostconfig").unwrap();
    assert_ne!(st, 0, "the URL replaces the HostConfig's provisioning");
    let record: Value = serde_json::from_str(
        &vm.succeed("cat /var/lib/metalos/provisioning.json")
            .unwrap(),
    )
    .unwrap();
    let sources: Vec<&str> = record["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            "/usr/lib/metalos/provisioning/base.d/10-base.ign",
            &format!("http://{HTTP}/user.ign")
        ]
    );
    vm.shutdown().unwrap();
}
