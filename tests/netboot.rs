//! Network boot and imaging end to end: OVMF → QEMU's iPXE ROM → boot.ipxe
//! (slirp TFTP) → imaging UKI over HTTP (guestfwd `cmd:` busybox httpd) →
//! metalimage images the blank disk → kexec → setup initrd → rootfs; then
//! the machine boots from its disk.

use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, Nic, UserNet};
use std::path::{Path, PathBuf};

const HTTP: &str = "10.0.2.100:80";
const BASE_URL: &str = "http://10.0.2.100";
const MAC1: &str = "52:54:00:aa:bb:11";
const MAC2: &str = "52:54:00:aa:bb:12";

/// The default image (built once per test binary run) and a netboot
/// bundle for it with the two test hosts.
fn bundle(dir: &Path) -> PathBuf {
    let image = dir.join("image");
    build_default(&image, None, |t| t);
    let hosts = [
        metalos_netboot::HostArg::parse(&format!(
            "{MAC1}={}",
            repo().join("tests/fixtures/host-config-netboot-1.json").display()
        ))
        .unwrap(),
        metalos_netboot::HostArg::parse(&format!(
            "{MAC2}={}",
            repo().join("tests/fixtures/host-config-netboot-2.json").display()
        ))
        .unwrap(),
    ];
    let out = dir.join("bundle");
    metalos_netboot::build_bundle(
        &metalos_netboot::BundleOptions {
            image_dir: &image,
            base_url: BASE_URL,
            hosts: &hosts,
            out: &out,
        },
        &|_| {},
    )
    .unwrap();
    out
}

/// A blank 3 GiB disk (sparse file).
fn blank_disk(path: &Path) -> PathBuf {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(3 << 30).unwrap();
    path.to_path_buf()
}

/// A machine with a blank disk (bootindex 1) and a NIC (bootindex 2) on a
/// user network that serves `bundle` over TFTP (boot.ipxe) and HTTP.
fn machine(test: &str, name: &str, bundle: &Path, disk: &Path, mac: &str) -> Machine {
    Machine::builder(test)
        .name(name)
        .uefi()
        .memory_mib(1024)
        .disk(Disk::direct(disk).bootindex(1))
        .nic(
            Nic::new(UserNet::new().tftp(bundle, "boot.ipxe").http_dir(HTTP, bundle))
                .mac(mac)
                .bootindex(2),
        )
        .build()
        .unwrap()
}

#[test]
fn pxe_images_a_blank_disk_then_it_boots_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path());
    let disk = blank_disk(&dir.path().join("disk1.raw"));
    let mut vm = machine("netboot_happy_path", "host1", &bundle, &disk, MAC1);
    vm.start().unwrap();
    let up = vm
        .wait_for_console("METALOS-ROOTFS-UP host=(\\S+) usr=(\\S+)", 2 * BOOT_TIMEOUT)
        .unwrap();
    assert_eq!(up[1], "netboot-host-1", "the MAC-keyed HostConfig");
    assert_eq!(up[2], "/dev/vda2");
    let console = vm.console_text();
    for line in ["metalimage: started", "imaging: reading the image back", "formatting ROOT"] {
        assert!(console.contains(line), "missing {line:?}");
    }
    vm.send_console("sync; echo METALOS-$((40+2))-SYNCED\n").unwrap();
    vm.wait_for_console("METALOS-42-SYNCED", BOOT_TIMEOUT).unwrap();
    vm.crash().unwrap();

    // Second power-on: the disk boots (no imaging), ROOT kept.
    vm.restart().unwrap();
    vm.wait_for_console("METALOS-ROOTFS-UP host=netboot-host-1", BOOT_TIMEOUT)
        .unwrap();
    let console = vm.console_text();
    assert_eq!(console.matches("metalimage: started").count(), 1, "imaged once");
    assert_eq!(console.matches("formatting ROOT").count(), 1, "ROOT kept");
    vm.shutdown().unwrap();
}
