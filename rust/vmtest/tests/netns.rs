//! The network-namespace tier ([`metalos_vmtest::netns`], needs root): a
//! busybox guest on a lab NIC gets a lease from dnsmasq, fetches a file
//! from the lab's HTTP server and powers off; afterwards no helper process
//! of the namespace is left.
mod common;
use common::*;
use metalos_vmtest::{NetnsLab, Nic};
use std::path::Path;

/// busybox udhcpc's hook: configure the address it got.
const UDHCPC_SCRIPT: &str =
    "#!/bin/sh\n[ \"$1\" = bound ] && ip addr add \"$ip/$mask\" dev \"$interface\"\nexit 0\n";

#[test]
fn dhcp_and_http_on_a_private_segment() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "hello from the lab\n").unwrap();
    let initrd = write_initrd(
        dir.path(),
        &initrd(&m)
            .modules(&["virtio_pci", "virtio_net"])
            .file("/udhcpc.sh", 0o755, UDHCPC_SCRIPT)
            .script(
                "ip link set eth0 up\n\
                 udhcpc -i eth0 -n -q -t 20 -s /udhcpc.sh && echo \"LEASE-OK $(ip -4 -o addr show eth0 | awk '{print $4}')\"\n\
                 wget -q -O - http://10.77.1.1/hello.txt\n\
                 poweroff -f\n",
            ),
    );
    let mut vm = kernel_machine("netns_dhcp_and_http", &m, &initrd)
        .nic(Nic::new_netns(NetnsLab::new().http_dir(&www)).mac("52:54:00:77:00:01"))
        .build()
        .unwrap();
    vm.start().unwrap();
    let lease = vm
        .wait_for_console(r"LEASE-OK (10\.77\.1\.\d+)/24", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console("hello from the lab", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();

    let log = |name: &str| std::fs::read_to_string(vm.dir().join(name)).unwrap_or_default();
    let dnsmasq = log("dnsmasq.log");
    assert!(
        dnsmasq.contains(&format!("DHCPACK(br0) {} 52:54:00:77:00:01", lease[1])),
        "{dnsmasq}"
    );
    assert!(
        log("httpd.log").contains("url:/hello.txt"),
        "{}",
        log("httpd.log")
    );
    assert!(log("netns-setup.sh").ends_with("exec \"$@\"\n"));
    // QEMU was PID 1 of the namespace: dnsmasq and httpd died with it.
    let left = processes_mentioning(vm.dir());
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Command lines of processes that mention `dir` (dnsmasq's log and pid
/// file paths are in the machine directory).
fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(cmdline);
        }
    }
    found
}
