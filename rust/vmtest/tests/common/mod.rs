//! Shared helpers of the VM self-tests: inputs, test initrds and UKIs.
#![allow(dead_code)]

use metalos_config::InputsManifest;
use metalos_vmtest::guest::GuestInitrd;
use metalos_vmtest::{paths, Machine, MachineBuilder};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Generous: the machine is shared and QEMU runs under TCG.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Kernel command line for direct boots.
pub const APPEND: &str = "console=ttyS0 panic=-1 quiet loglevel=4";

/// The inputs manifest; the tests FAIL (not skip) without it.
pub fn inputs() -> InputsManifest {
    paths::load_inputs().unwrap_or_else(|e| panic!("{e}"))
}

/// Path of input `name`.
pub fn input(m: &InputsManifest, name: &str) -> PathBuf {
    paths::input(m, name).unwrap_or_else(|e| panic!("{e}"))
}

/// A busybox initrd builder with the virtio modules.
pub fn initrd(m: &InputsManifest) -> GuestInitrd {
    GuestInitrd::from_inputs(m)
        .unwrap()
        .modules(&["virtio_pci", "virtio_blk"])
}

/// Writes `initrd` to `dir/initrd.img`.
pub fn write_initrd(dir: &Path, initrd: &GuestInitrd) -> PathBuf {
    let p = dir.join("initrd.img");
    initrd.write(&p).unwrap();
    p
}

/// A direct-kernel machine booting `initrd`.
pub fn kernel_machine(test: &str, m: &InputsManifest, initrd: &Path) -> MachineBuilder {
    Machine::builder(test).kernel(&input(m, "kernel"), Some(initrd), APPEND)
}

/// A UKI (systemd-stub + kernel + `initrd`) with command line `cmdline`.
pub fn uki(m: &InputsManifest, initrd: &[u8], cmdline: &str) -> Vec<u8> {
    let stub = std::fs::read(input(m, "systemd-stub")).unwrap();
    let kernel = std::fs::read(input(m, "kernel")).unwrap();
    metalos_uki::build_uki(
        &stub,
        &metalos_uki::UkiSections {
            linux: &kernel,
            initrd: Some(initrd),
            cmdline: Some(cmdline.as_bytes()),
            osrel: Some(b"ID=metalos-vmtest\nNAME=\"MetalOS vmtest\"\n"),
            uname: None,
        },
    )
    .unwrap()
}

/// sha256 of a file.
pub fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}
