//! Platforms in VMs (docs/platforms.md): an image whose OEM partition says
//! `qemu` provisions from the config QEMU passes through fw_cfg
//! (`-fw_cfg name=opt/com.coreos/config,file=…`), merged over the OEM
//! partition's base config; provisioning.json records the platform.

use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, Nic, UserNet};
use serde_json::{json, Value};
use std::path::Path;

const MAC: &str = "52:54:00:aa:bb:31";
const ROOTFS_UP: &str = "METALOS-ROOTFS-UP host=(\\S+)";

fn file_config(path: &str, text: &str) -> Value {
    json!({
        "ignition": {"version": "3.4.0"},
        "storage": {"files": [{"path": path, "mode": 420, "contents": {"source": data_url(text)}}]}
    })
}

/// An example OEM base config shipped next to the specs: it writes
/// `/etc/oem-base` ("from the OEM partition").
const OEM_BASE: &str = "oem/example-base.ign";

/// Boots `image` (overlay, 2 GiB) on `nic` with `extra` QEMU arguments,
/// waits until metalinit names `platform`, provisions and the rootfs and
/// its agent are up; returns the machine and its provisioning.json.
fn boot_provisioned(
    name: &str,
    image: &Path,
    nic: Nic,
    extra: &[&str],
    platform: &str,
) -> (Machine, Value) {
    let mut vm = Machine::builder(name)
        .uefi()
        .disk(Disk::overlay(image).grow_to(2 << 30).bootindex(1))
        .nic(nic.mac(MAC))
        .qemu_args(extra.iter().copied())
        .agent()
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console(&format!("metalinit: platform: {platform}"), BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console("metalinit: provisioning applied", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    let record = serde_json::from_str(
        &vm.succeed("cat /var/lib/metalos/provisioning.json")
            .unwrap(),
    )
    .unwrap();
    (vm, record)
}

/// images/default.toml with an OEM partition (slot 4) saying `id` and
/// carrying [`OEM_BASE`] as its base config.
fn with_oem(spec: String, id: &str) -> String {
    let root = "[[partitions]]\nslot = 5\nlabel = \"ROOT\"";
    assert!(
        spec.contains(root),
        "images/default.toml changed its ROOT entry"
    );
    let oem = "[[partitions]]\nslot = 4\nlabel = \"OEM\"\ntype = \"linux-generic\"\nsize = \"40MiB\"\ncontent = \"oem\"\n\n";
    format!(
        "{}\n[oem]\nid = \"{id}\"\nbase_configs = [\"{OEM_BASE}\"]\n",
        spec.replace(root, &format!("{oem}{root}"))
    )
}

#[test]
fn qemu_platform_provisions_from_fw_cfg_over_the_oem_base_config() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("user.ign");
    let mut cfg = file_config("/etc/from-fw-cfg", "from QEMU fw_cfg\n");
    cfg["passwd"] = json!({"users": [{"name": "fwcfg", "uid": 1600, "shell": "/bin/sh"}]});
    std::fs::write(&user, cfg.to_string()).unwrap();
    let image = build_default(&dir.path().join("out"), Some(&test_host_config()), |t| {
        with_oem(t, "qemu")
    });
    let fw_cfg = format!("name=opt/com.coreos/config,file={}", user.display());
    let (mut vm, record) = boot_provisioned(
        "platform_qemu",
        &image,
        Nic::new(UserNet::new()),
        &["-fw_cfg", fw_cfg.as_str()],
        "qemu",
    );
    assert_eq!(
        vm.succeed("cat /etc/from-fw-cfg").unwrap(),
        "from QEMU fw_cfg\n"
    );
    assert_eq!(
        vm.succeed("cat /etc/oem-base").unwrap(),
        "from the OEM partition\n"
    );
    assert!(vm
        .succeed("cat /etc/passwd")
        .unwrap()
        .contains("fwcfg:x:1600:"));
    let cmdline = vm.succeed("cat /proc/cmdline").unwrap();
    assert!(cmdline.contains("metalos.oem.id=qemu"), "{cmdline}");
    assert_eq!(record["platform"], "qemu", "{record:#}");
    assert_eq!(
        record["platformSource"],
        "kernel command line metalos.oem.id=qemu"
    );
    let sources: Vec<&str> = record["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"oem:///base/example-base.ign"),
        "{sources:?}"
    );
    assert!(
        sources.last().unwrap().contains("opt/com.coreos/config"),
        "the fw_cfg config is the user config, merged last: {sources:?}"
    );
    vm.shutdown().unwrap();
}

/// An OpenStack config drive as nova writes it (ISO 9660, label config-2)
/// holding `user_data`.
fn config_drive(dir: &Path, user_data: &str) -> std::path::PathBuf {
    let root = dir.join("drive");
    std::fs::create_dir_all(root.join("openstack/latest")).unwrap();
    std::fs::write(root.join("openstack/latest/user_data"), user_data).unwrap();
    std::fs::write(
        root.join("openstack/latest/meta_data.json"),
        "{\"uuid\": \"vm-1\"}",
    )
    .unwrap();
    let iso = dir.join("config-drive.iso");
    let st = std::process::Command::new("genisoimage")
        .args(["-o"])
        .arg(&iso)
        .args([
            "-ldots",
            "-allow-lowercase",
            "-allow-multidot",
            "-l",
            "-quiet",
            "-J",
            "-r",
            "-V",
            "config-2",
        ])
        .arg(&root)
        .status()
        .expect("genisoimage (scripts/install-deps)");
    assert!(st.success());
    iso
}

#[test]
fn openstack_config_drive_provisions_a_user_and_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut hc: Value =
        serde_json::from_str(&std::fs::read_to_string(test_host_config()).unwrap()).unwrap();
    hc["kernel"]["extra-args"]
        .as_array_mut()
        .unwrap()
        .push(json!("ignition.platform.id=openstack"));
    let hc_path = dir.path().join("host-config.json");
    std::fs::write(&hc_path, serde_json::to_vec_pretty(&hc).unwrap()).unwrap();
    let mut cfg = file_config("/etc/from-config-drive", "from the config drive\n");
    cfg["passwd"] = json!({"users": [{"name": "stack", "uid": 1700, "shell": "/bin/sh"}]});
    let iso = config_drive(dir.path(), &cfg.to_string());
    let image = build_default(&dir.path().join("out"), Some(&hc_path), |t| t);
    let mut vm = Machine::builder("platform_openstack_drive")
        .uefi()
        .disk(Disk::overlay(&image).grow_to(2 << 30).bootindex(1))
        .disk(Disk::overlay(&iso))
        .nic(Nic::new(UserNet::new()).mac(MAC))
        .agent()
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("metalinit: platform: openstack", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console("metalinit: provisioning applied", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    assert_eq!(
        vm.succeed("cat /etc/from-config-drive").unwrap(),
        "from the config drive\n"
    );
    assert!(vm
        .succeed("cat /etc/passwd")
        .unwrap()
        .contains("stack:x:1700:"));
    let record: Value = serde_json::from_str(
        &vm.succeed("cat /var/lib/metalos/provisioning.json")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["platform"], "openstack", "{record:#}");
    assert_eq!(
        record["platformSource"],
        "kernel command line ignition.platform.id=openstack"
    );
    vm.shutdown().unwrap();
}

/// The test HostConfig plus kernel arguments and an emergency action.
fn host_config_with(dir: &Path, args: &[&str], action: &str) -> std::path::PathBuf {
    let mut hc: Value =
        serde_json::from_str(&std::fs::read_to_string(test_host_config()).unwrap()).unwrap();
    for a in args {
        hc["kernel"]["extra-args"]
            .as_array_mut()
            .unwrap()
            .push(json!(a));
    }
    hc["boot"] = json!({"emergency-action": action, "emergency-delay-seconds": 1});
    let path = dir.join("host-config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&hc).unwrap()).unwrap();
    path
}

/// An EC2 metadata service that answers 500 to everything (Python's
/// http.server in the lab at 169.254.169.254): the provider retries until
/// its bound (20 s here, `metalos.platform_timeout=`), then the FATAL line
/// names the URL, the emergency action runs and the first-boot flag stays.
const ALWAYS_500: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def fail(self):
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_PUT = fail
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"#;

#[test]
fn a_failing_provider_fails_closed_naming_the_url() {
    use metalos_vmtest::NetnsLab;
    let dir = tempfile::tempdir().unwrap();
    let hc = host_config_with(
        dir.path(),
        &["ignition.platform.id=aws", "metalos.platform_timeout=20"],
        "reboot",
    );
    let script = dir.path().join("always500.py");
    std::fs::write(&script, ALWAYS_500).unwrap();
    let image = build_default(&dir.path().join("out"), Some(&hc), |t| t);
    let disk = raw_copy(&image, &repo().join("target/vmtest-platform-fail.raw"));
    let lab = NetnsLab::new().address("169.254.169.254/32").daemon(
        "imds",
        &["python3", script.to_str().unwrap(), "169.254.169.254", "80"],
    );
    let mut vm = Machine::builder("platform_provider_fails")
        .uefi()
        .disk(Disk::direct(&disk).bootindex(1))
        .nic(Nic::new_netns(lab).mac(MAC))
        .no_reboot()
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("metalinit: platform: aws", BOOT_TIMEOUT)
        .unwrap();
    let fatal = vm
        .wait_for_console("metalinit: FATAL: ([^\\r\\n]*)", BOOT_TIMEOUT)
        .unwrap()[1]
        .clone();
    assert!(fatal.contains("http://169.254.169.254/latest/"), "{fatal}");
    assert!(fatal.contains("500"), "{fatal}");
    vm.wait_for_console("emergency action: Reboot", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
    let served = std::fs::read_to_string(vm.dir().join("imds.log")).unwrap_or_default();
    drop(vm);
    assert!(served.matches("\" 500 ").count() >= 2, "retried: {served}");
    assert!(
        esp_has(&disk, "metalos/first_boot"),
        "the flag stays after a failure"
    );
    // Nothing was written: with the platform fixed, the next first boot
    // provisions and finds no earlier record on ROOT.
    let fixed_dir = dir.path().join("fixed");
    std::fs::create_dir(&fixed_dir).unwrap();
    let fixed = host_config_with(&fixed_dir, &[], "reboot");
    let st = std::process::Command::new("mcopy")
        .args(["-o", "-i", &esp_arg(&disk)])
        .arg(&fixed)
        .arg("::metalos/host-config.json")
        .status()
        .unwrap();
    assert!(st.success());
    let mut vm = Machine::builder("platform_provider_fixed")
        .uefi()
        .disk(Disk::direct(&disk).bootindex(1))
        .nic(Nic::new(UserNet::new()).mac(MAC))
        .agent()
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    let record: Value = serde_json::from_str(
        &vm.succeed("cat /var/lib/metalos/provisioning.json")
            .unwrap(),
    )
    .unwrap();
    assert!(record.get("previousReport").is_none(), "{record:#}");
    vm.shutdown().unwrap();
    drop(vm);
    let _ = std::fs::remove_file(&disk);
}

/// OpenStack without a config drive: the user data comes from the
/// metadata service at 169.254.169.254, here busybox httpd on that address
/// in the lab's network namespace (the guest reaches it through its
/// DHCP default route).
#[test]
fn openstack_metadata_service_provisions_a_user_and_a_file() {
    use metalos_vmtest::config::HTTPD_BUSYBOX;
    use metalos_vmtest::NetnsLab;
    let dir = tempfile::tempdir().unwrap();
    let hc = host_config_with(dir.path(), &["ignition.platform.id=openstack"], "reboot");
    let service = dir.path().join("metadata");
    std::fs::create_dir_all(service.join("openstack/latest")).unwrap();
    let mut cfg = file_config("/etc/from-metadata", "from the metadata service\n");
    cfg["passwd"] = json!({"users": [{"name": "meta", "uid": 1800, "shell": "/bin/sh"}]});
    std::fs::write(service.join("openstack/latest/user_data"), cfg.to_string()).unwrap();
    let image = build_default(&dir.path().join("out"), Some(&hc), |t| t);
    let lab = NetnsLab::new().address("169.254.169.254/32").daemon(
        "metadata",
        &[
            HTTPD_BUSYBOX,
            "httpd",
            "-f",
            "-vv",
            "-p",
            "169.254.169.254:80",
            "-h",
            service.to_str().unwrap(),
        ],
    );
    let (mut vm, record) = boot_provisioned(
        "platform_openstack_metadata",
        &image,
        Nic::new_netns(lab),
        &[],
        "openstack",
    );
    assert_eq!(
        vm.succeed("cat /etc/from-metadata").unwrap(),
        "from the metadata service\n"
    );
    assert!(vm
        .succeed("cat /etc/passwd")
        .unwrap()
        .contains("meta:x:1800:"));
    let sources = record["sources"].to_string();
    assert!(
        sources.contains("http://169.254.169.254/openstack/latest/user_data"),
        "{sources}"
    );
    vm.shutdown().unwrap();
}

/// An EC2 instance metadata service that requires IMDSv2 (a session token
/// from `PUT /latest/api/token`; a GET without it is 401), serving
/// `user-data` from `root`: Python's http.server, run in the lab.
const IMDSV2_ONLY: &str = r#"
import http.server, sys
TOKEN = "metalos-test-token"
root = sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_PUT(self):
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200, TOKEN.encode()) if ok else self.reply(400)
    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self.reply(401)
        if self.path == "/latest/user-data":
            return self.reply(200, open(root + "/user-data", "rb").read())
        self.reply(404)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"#;

#[test]
fn aws_imdsv2_only_service_provisions_a_user_and_a_file() {
    use metalos_vmtest::NetnsLab;
    let dir = tempfile::tempdir().unwrap();
    let hc = host_config_with(dir.path(), &["ignition.platform.id=ec2"], "reboot");
    let service = dir.path().join("imds");
    std::fs::create_dir_all(&service).unwrap();
    let mut cfg = file_config("/etc/from-imds", "from EC2 user data\n");
    cfg["passwd"] = json!({"users": [{"name": "ec2", "uid": 1900, "shell": "/bin/sh"}]});
    std::fs::write(service.join("user-data"), cfg.to_string()).unwrap();
    let script = dir.path().join("imds.py");
    std::fs::write(&script, IMDSV2_ONLY).unwrap();
    let image = build_default(&dir.path().join("out"), Some(&hc), |t| t);
    let lab = NetnsLab::new().address("169.254.169.254/32").daemon(
        "imds",
        &[
            "python3",
            script.to_str().unwrap(),
            "169.254.169.254",
            "80",
            service.to_str().unwrap(),
        ],
    );
    let (mut vm, record) =
        boot_provisioned("platform_imdsv2", &image, Nic::new_netns(lab), &[], "aws");
    assert_eq!(
        vm.succeed("cat /etc/from-imds").unwrap(),
        "from EC2 user data\n"
    );
    assert!(vm
        .succeed("cat /etc/passwd")
        .unwrap()
        .contains("ec2:x:1900:"));
    assert_eq!(record["platform"], "aws");
    assert_eq!(
        record["platformSource"],
        "kernel command line ignition.platform.id=ec2"
    );
    vm.shutdown().unwrap();
}
