//! Network boot and imaging end to end: OVMF → QEMU's iPXE ROM → boot.ipxe
//! (slirp TFTP) → imaging UKI over HTTP (guestfwd `cmd:` busybox httpd) →
//! metalimage images the blank disk → kexec → setup initrd → rootfs; then
//! the machine boots from its disk.

use metalos_tests::netboot::{blank_disk, build_bundle, build_signed_bundle, netboot_host_config};
use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, Nic, UserNet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tempfile::TempPath;

const HTTP: &str = "10.0.2.100:80";
const BASE_URL: &str = "http://10.0.2.100";
const MAC1: &str = "52:54:00:aa:bb:11";
const MAC2: &str = "52:54:00:aa:bb:12";
/// A MAC without a HostConfig in the bundle.
const MAC3: &str = "52:54:00:aa:bb:13";

/// The default image and a netboot bundle for it with the two test
/// hosts, built once per run for every test process (a shared fixture).
fn bundle() -> &'static Path {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = shared_fixture("netboot", |dir| {
            let image = dir.join("image");
            build_default(&image, None, |t| t);
            let (hc1, hc2) = (netboot_host_config(1), netboot_host_config(2));
            let hosts = [(MAC1, hc1.as_path()), (MAC2, hc2.as_path())];
            build_bundle(&image, BASE_URL, &hosts, &dir.join("bundle"));
        });
        dir.join("bundle")
    })
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
            Nic::new(
                UserNet::new()
                    .tftp(bundle, "boot.ipxe")
                    .http_dir(HTTP, bundle),
            )
            .mac(mac)
            .bootindex(2),
        )
        .build()
        .unwrap()
}

#[test]
fn pxe_images_a_blank_disk_then_it_boots_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let disk = blank_disk(&dir.path().join("disk1.raw"));
    let mut vm = machine("netboot_happy_path", "host1", bundle(), &disk, MAC1);
    vm.start().unwrap();
    let up = vm
        .wait_for_console("METALOS-ROOTFS-UP host=(\\S+) usr=(\\S+)", 2 * BOOT_TIMEOUT)
        .unwrap();
    assert_eq!(up[1], "netboot-host-1", "the MAC-keyed HostConfig");
    assert_eq!(up[2], "/dev/vda2");
    let console = vm.console_text();
    for line in [
        "metalimage: started",
        "zeroed, read back in", // metalimage read the written extents back
        "formatting ROOT",
    ] {
        assert!(console.contains(line), "missing {line:?}");
    }
    vm.send_console("sync; echo METALOS-$((40+2))-SYNCED\n")
        .unwrap();
    vm.wait_for_console("METALOS-42-SYNCED", BOOT_TIMEOUT)
        .unwrap();
    vm.crash().unwrap();

    // Second power-on: the disk boots (no imaging), ROOT kept.
    vm.restart().unwrap();
    vm.wait_for_console("METALOS-ROOTFS-UP host=netboot-host-1", BOOT_TIMEOUT)
        .unwrap();
    let console = vm.console_text();
    assert_eq!(
        console.matches("metalimage: started").count(),
        1,
        "imaged once"
    );
    assert_eq!(console.matches("formatting ROOT").count(), 1, "ROOT kept");
    vm.shutdown().unwrap();
}

#[test]
fn each_mac_gets_its_own_host_config() {
    let dir = tempfile::tempdir().unwrap();
    let disk = blank_disk(&dir.path().join("disk2.raw"));
    let mut vm = machine("netboot_second_host", "host2", bundle(), &disk, MAC2);
    vm.start().unwrap();
    vm.wait_for_console(
        "METALOS-ROOTFS-UP host=netboot-host-2 usr=/dev/vda2",
        2 * BOOT_TIMEOUT,
    )
    .unwrap();
    vm.shutdown().unwrap();
}

/// Netboots (NIC first in the boot order) with the iPXE script `script`
/// onto a disk that already holds a MetalOS image, expecting metalimage to
/// fail: returns its FATAL line once QEMU has exited by the emergency
/// action (reboot, turned into an exit by -no-reboot), and the disk (a
/// temporary file: a failed imaging may have zeroed all 1 GiB of it).
fn failing_netboot(test: &str, script: &str, mac: &str) -> (String, TempPath) {
    failing_netboot_in(test, bundle(), script, mac)
}

/// [`failing_netboot`] serving `bundle`.
fn failing_netboot_in(test: &str, bundle: &Path, script: &str, mac: &str) -> (String, TempPath) {
    let name = format!("{test}.ipxe");
    std::fs::write(bundle.join(&name), script).unwrap();
    let disk = tempfile::Builder::new()
        .prefix(test)
        .suffix(".raw")
        .tempfile_in(bundle.parent().unwrap())
        .unwrap()
        .into_temp_path();
    let image = bundle.parent().unwrap().join("image/disk.img");
    let st = std::process::Command::new("cp")
        .args(["--sparse=always"])
        .arg(&image)
        .arg(&disk)
        .status()
        .unwrap();
    assert!(st.success());
    let mut vm = Machine::builder(test)
        .uefi()
        .disk(Disk::direct(&disk).bootindex(2))
        .nic(
            Nic::new(UserNet::new().tftp(bundle, &name).http_dir(HTTP, bundle))
                .mac(mac)
                .bootindex(1),
        )
        .no_reboot()
        .build()
        .unwrap();
    vm.start().unwrap();
    let fatal = vm
        .wait_for_console("metalimage: FATAL: ([^\\r\\n]*)", 2 * BOOT_TIMEOUT)
        .unwrap()[1]
        .clone();
    vm.wait_for_console("emergency action: Reboot", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
    (fatal, disk)
}

/// The bundle's boot.ipxe with `from` replaced by `to`.
fn script_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(bundle().join("boot.ipxe")).unwrap();
    assert!(text.contains(from), "{from} not in boot.ipxe");
    text.replace(from, to)
}

fn image_sha256() -> String {
    let text = std::fs::read_to_string(bundle().join("boot.ipxe")).unwrap();
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("metalos.image_sha256="))
        .unwrap()
        .to_string()
}

fn assert_no_valid_gpt(disk: &Path) {
    let f = std::fs::File::open(disk).unwrap();
    let size = f.metadata().unwrap().len();
    assert!(
        metalos_disk::gpt::Gpt::read(&f, size).is_err(),
        "{} still has a partition table",
        disk.display()
    );
    let out = std::process::Command::new("sgdisk")
        .arg("-p")
        .arg(disk)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Creating new GPT entries in memory"),
        "sgdisk found a table:\n{text}"
    );
}

#[test]
fn wrong_sha256_leaves_no_bootable_disk() {
    let sha = image_sha256();
    let wrong = "0".repeat(64);
    let script = script_with(
        &format!("metalos.image_sha256={sha}"),
        &format!("metalos.image_sha256={wrong}"),
    );
    let (fatal, disk) = failing_netboot("netboot_wrong_sha256", &script, MAC1);
    assert!(
        fatal.contains("sha256 mismatch") && fatal.contains(&wrong),
        "{fatal}"
    );
    assert_no_valid_gpt(&disk);
}

#[test]
fn truncated_image_leaves_no_bootable_disk() {
    let bundle = bundle();
    let blob = std::fs::read_dir(bundle.join("blobs/sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&blob).unwrap();
    std::fs::write(bundle.join("blobs/truncated"), &bytes[..bytes.len() / 2]).unwrap();
    let name = blob.file_name().unwrap().to_string_lossy().into_owned();
    let script = script_with(&format!("blobs/sha256/{name}"), "blobs/truncated");
    let (fatal, disk) = failing_netboot("netboot_truncated", &script, MAC1);
    assert!(
        fatal.contains("http://10.0.2.100/blobs/truncated"),
        "{fatal}"
    );
    assert_no_valid_gpt(&disk);
}

#[test]
fn missing_host_config_leaves_the_disk_untouched() {
    let script = std::fs::read_to_string(bundle().join("boot.ipxe")).unwrap();
    let (fatal, disk) = failing_netboot("netboot_host_config_404", &script, MAC3);
    assert!(
        fatal.contains("GET http://10.0.2.100/hosts/52-54-00-aa-bb-13.json: HTTP 404"),
        "{fatal}"
    );
    let image = bundle().parent().unwrap().join("image/disk.img");
    assert_eq!(
        sha256(&disk),
        sha256(&image),
        "nothing on the disk was touched"
    );
}

#[test]
fn ipxe_without_arguments_says_what_is_missing() {
    let script = format!("#!ipxe\nkernel {BASE_URL}/imaging.efi\nboot\n");
    let (fatal, disk) = failing_netboot("netboot_no_arguments", &script, MAC1);
    assert!(
        fatal.contains("metalos.host_config_url= is missing"),
        "{fatal}"
    );
    let image = bundle().parent().unwrap().join("image/disk.img");
    assert_eq!(
        sha256(&disk),
        sha256(&image),
        "nothing on the disk was touched"
    );
}

// ---- signed netboot (docs/signing.md) ---------------------------------------

/// The default image built with keys (signing.pub in the imaging initrd) and
/// its signed bundle (MAC1, MAC2), built once per run for every test
/// process (a shared fixture).
fn signed_bundle() -> &'static Path {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = shared_fixture("netboot-signed", |dir| {
            let keys = metalos_signing::KeyDir::generate_signing(&dir.join("keys")).unwrap();
            let image = dir.join("image");
            let keys_line = format!("[signing]\nkeys = \"{}\"\n", keys.dir.display());
            build_default(&image, None, |t| keys_line + &t);
            let (hc1, hc2) = (netboot_host_config(1), netboot_host_config(2));
            let hosts = [(MAC1, hc1.as_path()), (MAC2, hc2.as_path())];
            let key = keys.signing_key().unwrap();
            build_signed_bundle(&image, BASE_URL, &hosts, &dir.join("bundle"), Some(&key));
        });
        dir.join("bundle")
    })
}

/// A copy of the signed bundle for one test to tamper with (next to it,
/// so the image is found as for the original).
fn signed_bundle_copy(test: &str) -> PathBuf {
    let src = signed_bundle();
    let dst = src.parent().unwrap().join(format!("bundle-{test}"));
    let _ = std::fs::remove_dir_all(&dst);
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    dst
}

/// The signed image of a refused netboot is still byte for byte on the disk.
fn assert_untouched(bundle: &Path, disk: &Path) {
    let image = bundle.parent().unwrap().join("image/disk.img");
    assert_eq!(sha256(disk), sha256(&image), "the disk was touched");
}

#[test]
fn signed_bundle_images_a_blank_disk() {
    let dir = tempfile::tempdir().unwrap();
    let disk = blank_disk(&dir.path().join("signed.raw"));
    let mut vm = machine("netboot_signed", "signed", signed_bundle(), &disk, MAC1);
    vm.start().unwrap();
    vm.wait_for_console(
        "METALOS-ROOTFS-UP host=netboot-host-1 usr=/dev/vda2",
        2 * BOOT_TIMEOUT,
    )
    .unwrap();
    let console = vm.console_text();
    for line in [
        "manifest.json: signature verified (key sha256:",
        "sha256 matches the signed manifest",
    ] {
        assert!(console.contains(line), "missing {line:?}");
    }
    assert!(!console.contains("unverified"));
    vm.shutdown().unwrap();
}

#[test]
fn signed_imaging_refuses_a_tampered_host_config() {
    let bundle = signed_bundle_copy("signed_tampered_hc");
    let hc = bundle.join("hosts/52-54-00-aa-bb-12.json");
    let text = std::fs::read_to_string(&hc).unwrap();
    std::fs::write(&hc, text.replace("netboot-host-2", "evil-host-2")).unwrap();
    let script = std::fs::read_to_string(bundle.join("boot.ipxe")).unwrap();
    let (fatal, disk) = failing_netboot_in("netboot_signed_tampered_hc", &bundle, &script, MAC2);
    assert!(
        fatal.contains("the HostConfig is not the signed one"),
        "{fatal}"
    );
    assert!(
        fatal.contains("does not match the signed manifest"),
        "{fatal}"
    );
    assert_untouched(&bundle, &disk);
}

#[test]
fn signed_imaging_refuses_another_key_and_unsigned_manifests() {
    let bundle = signed_bundle_copy("signed_other_key");
    let other = metalos_signing::SigningKey::generate().unwrap();
    let manifest = std::fs::read(bundle.join("manifest.json")).unwrap();
    std::fs::write(
        bundle.join("manifest.json.sig"),
        metalos_signing::sign(&other, &manifest).to_file_bytes(),
    )
    .unwrap();
    let script = std::fs::read_to_string(bundle.join("boot.ipxe")).unwrap();
    let (fatal, disk) = failing_netboot_in("netboot_signed_other_key", &bundle, &script, MAC1);
    assert!(
        fatal.contains(
            "manifest.json: the signature manifest.json.sig does not verify with key sha256:"
        ),
        "{fatal}"
    );
    assert_untouched(&bundle, &disk);

    // No signature at all.
    std::fs::remove_file(bundle.join("manifest.json.sig")).unwrap();
    let (fatal, disk) = failing_netboot_in("netboot_signed_unsigned", &bundle, &script, MAC1);
    assert!(
        fatal.contains("manifest.json.sig") && fatal.contains("HTTP 404"),
        "{fatal}"
    );
    assert_untouched(&bundle, &disk);
}

#[test]
fn signed_imaging_refuses_an_image_the_manifest_does_not_list() {
    // Another image (here: the same bytes under another content address
    // and sha256) offered on the command line is refused before the disk
    // is opened.
    let bundle = signed_bundle_copy("signed_other_image");
    let blob = std::fs::read_dir(bundle.join("blobs/sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let name = blob.file_name().unwrap().to_string_lossy().into_owned();
    let fake = "f".repeat(64);
    std::fs::copy(&blob, bundle.join("blobs/sha256").join(&fake)).unwrap();
    let script = std::fs::read_to_string(bundle.join("boot.ipxe"))
        .unwrap()
        .replace(
            &format!("blobs/sha256/{name}"),
            &format!("blobs/sha256/{fake}"),
        );
    let (fatal, disk) = failing_netboot_in("netboot_signed_other_image", &bundle, &script, MAC1);
    assert!(
        fatal.contains("is not the signed manifest's image"),
        "{fatal}"
    );
    assert_untouched(&bundle, &disk);
}
