//! Secure Boot in a VM (docs/secure-boot.md): OVMF's Secure Boot firmware
//! with the generated PK/KEK/db enrolled (`virt-fw-vars`).
//!
//! 1. The default image built with the keys boots to the rootfs: the
//!    firmware accepts the db-signed bootloader UKI, its kernel is locked
//!    down, and `kexec_file_load` accepts the db-signed slot kernel.
//! 2. The same image with the unsigned bootloader UKI on the ESP: the
//!    firmware refuses it (`Access Denied`); nothing of MetalOS runs.

use metalos_tests::*;
use metalos_vmtest::{Disk, Machine};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const ROOTFS_UP: &str = "METALOS-ROOTFS-UP host=(\\S+) usr=(\\S+) verity=(\\S+)";
/// Any GUID: the owner recorded with the enrolled certificates.
const OWNER: &str = "4d45544c-4f53-4d45-5441-4c4f53534253";

/// An OVMF variable store with PK, KEK and db of `keys` enrolled and
/// Secure Boot on.
fn secure_boot_vars(keys: &Path, out: &Path) -> PathBuf {
    let c = |n: &str| keys.join(format!("{n}.crt"));
    let st = Command::new("virt-fw-vars")
        .args(["--input", "/usr/share/OVMF/OVMF_VARS_4M.fd", "--output"])
        .arg(out)
        .arg("--set-pk")
        .arg(OWNER)
        .arg(c("PK"))
        .arg("--add-kek")
        .arg(OWNER)
        .arg(c("KEK"))
        .arg("--add-db")
        .arg(OWNER)
        .arg(c("db"))
        .arg("--secure-boot")
        .output()
        .expect("virt-fw-vars (pip install virt-firmware; scripts/install-deps)");
    assert!(
        st.status.success(),
        "virt-fw-vars: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    out.to_path_buf()
}

/// `metalos keys generate DIR/keys` (the static binary); returns the dir.
fn generate_keys(dir: &Path) -> PathBuf {
    let keys = dir.join("keys");
    let st = Command::new(input(&inputs(), "metalos"))
        .args(["keys", "generate"])
        .arg(&keys)
        .status()
        .unwrap();
    assert!(st.success(), "metalos keys generate");
    keys
}

#[test]
fn signed_image_boots_under_secure_boot_and_an_unsigned_bootloader_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    let out = dir.path().join("out");
    let image = build_default(&out, Some(&test_host_config()), |t| {
        format!("{t}\n[signing]\nkeys = \"{}\"\n", keys.display())
    });
    let vars = secure_boot_vars(&keys, &dir.path().join("sb-vars.fd"));

    // 1. Signed: boots to the rootfs under lockdown.
    let disk = raw_copy(&image, &repo().join("target/vmtest-secureboot.raw"));
    let mut vm = Machine::builder("secureboot_signed")
        .secure_boot(&vars)
        .disk(Disk::direct(&disk).bootindex(1))
        .agent()
        .build()
        .unwrap();
    let t0 = Instant::now();
    vm.start().unwrap();
    let up = vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(&up[3], "yes", "verity on");
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    // The kexec'd slot kernel (the one running the rootfs) is locked down
    // too: kexec of unsigned kernels, /dev/mem, unsigned modules refused.
    let lockdown = vm
        .succeed(
            "mount -t securityfs securityfs /sys/kernel/security 2>/dev/null; \
             cat /sys/kernel/security/lockdown",
        )
        .unwrap();
    assert!(
        lockdown.contains("[integrity]") || lockdown.contains("[confidentiality]"),
        "slot kernel lockdown: {lockdown}"
    );
    let dmesg = vm.succeed("dmesg | grep -i 'locked down' || true").unwrap();
    assert!(dmesg.contains("locked down"), "slot kernel dmesg: {dmesg}");
    let console = vm.console_text();
    vm.shutdown().unwrap();
    let lines: Vec<&str> = console
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("secure boot") || l.contains("lockdown") || l.contains("locked down")
        })
        .collect();
    eprintln!("{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.contains("locked down")),
        "the bootloader kernel is locked down under Secure Boot"
    );
    eprintln!("SECUREBOOT-FIGURES rootfs marker under Secure Boot: {secs:.2} s");

    // 2. The unsigned bootloader UKI on the ESP: refused by the firmware.
    let signed = std::fs::read(out.join("artifacts/bootloader.efi")).unwrap();
    let unsigned = metalos_secureboot::pe::strip_signature(&signed).unwrap();
    assert!(metalos_secureboot::authenticode(&unsigned)
        .unwrap()
        .is_none());
    let uki = dir.path().join("unsigned.efi");
    std::fs::write(&uki, unsigned).unwrap();
    let st = Command::new("mcopy")
        .args(["-o", "-i", &esp_arg(&disk)])
        .arg(&uki)
        .arg("::EFI/BOOT/BOOTX64.EFI")
        .status()
        .unwrap();
    assert!(st.success(), "mcopy");
    let mut vm = Machine::builder("secureboot_unsigned")
        .secure_boot(&vars)
        .disk(Disk::direct(&disk).bootindex(1))
        .build()
        .unwrap();
    vm.start().unwrap();
    let denied = vm
        .wait_for_console("(Access Denied|Security Violation)", BOOT_TIMEOUT)
        .unwrap();
    eprintln!("firmware: {}", &denied[0]);
    std::thread::sleep(std::time::Duration::from_secs(5));
    vm.crash().unwrap();
    let console = vm.console_text();
    assert!(
        !console.contains("METALOS") && !console.contains("metalos-bootloader"),
        "nothing of MetalOS ran"
    );
    let _ = std::fs::remove_file(&disk);
}

/// With Secure Boot on, the stub ignores loader-supplied command lines:
/// the netboot path runs on the imaging UKI's embedded `.cmdline` (replaced
/// and re-signed by `netboot build`). OVMF's own UEFI PXE (no iPXE option
/// ROM, which our db does not sign) loads the signed imaging.efi over TFTP.
#[test]
fn signed_imaging_uki_netboots_under_secure_boot() {
    use metalos_vmtest::{Nic, UserNet};
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    let out = dir.path().join("out");
    build_default(&out, None, |t| {
        format!("{t}\n[signing]\nkeys = \"{}\"\n", keys.display())
    });
    let key = metalos_signing::SigningKey::load(&keys.join("signing.key")).unwrap();
    let db = metalos_secureboot::DbSigner::from_dir(&keys).unwrap();
    let hc = netboot::netboot_host_config(1);
    let hosts: Vec<_> = [("52:54:00:aa:bb:11", hc.as_path())]
        .iter()
        .map(|(mac, p)| metalos_netboot::HostArg::parse(&format!("{mac}={}", p.display())).unwrap())
        .collect();
    let bundle = dir.path().join("bundle");
    metalos_netboot::build_bundle(
        &metalos_netboot::BundleOptions {
            image_dir: &out,
            base_url: "http://10.0.2.100",
            hosts: &hosts,
            out: &bundle,
            signing_key: Some(&key),
            secure_boot: Some(&db),
        },
        &|_| {},
    )
    .unwrap();
    let vars = secure_boot_vars(&keys, &dir.path().join("sb-vars.fd"));
    let disk = netboot::blank_disk(&dir.path().join("disk.raw"));
    let mut vm = Machine::builder("secureboot_netboot")
        .secure_boot(&vars)
        .memory_mib(1024)
        .disk(Disk::direct(&disk).bootindex(1))
        .nic(
            Nic::new(
                UserNet::new()
                    .tftp(&bundle, "imaging.efi")
                    .http_dir("10.0.2.100:80", &bundle),
            )
            .no_option_rom()
            .mac("52:54:00:aa:bb:11")
            .bootindex(2),
        )
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("metalimage: started", 2 * BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console("METALOS-ROOTFS-UP host=netboot-host-1", 2 * BOOT_TIMEOUT)
        .unwrap();
    let console = vm.console_text();
    assert!(
        console.contains("locked down"),
        "lockdown under Secure Boot"
    );
    vm.shutdown().unwrap();
}
