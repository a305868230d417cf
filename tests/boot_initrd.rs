//! Initrds and UKIs written by MetalOS, booted by the real Debian kernel
//! and by OVMF (issue: initrd builder and UKI bundler).

use metalos_config::spec::ImageSpec;
use metalos_config::Resolver;
use metalos_tests::*;
use metalos_vmtest::{Disk, Machine};

#[test]
fn kernel_boots_our_initrd_loads_a_module_and_powers_off() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("tests/fixtures");
    let text = std::fs::read_to_string(fixtures.join("marker-initrd.toml")).unwrap();
    let spec = metalos_initrd::InitrdSpec::from_toml(&text).unwrap();
    let bytes = metalos_initrd::build(
        &spec,
        &Resolver::new(&fixtures, m.clone()),
        &Default::default(),
    )
    .unwrap();
    let initrd = dir.path().join("initrd.img");
    std::fs::write(&initrd, bytes).unwrap();
    let mut vm = Machine::builder("kernel_boots_our_initrd")
        .kernel(
            &input(&m, "kernel"),
            Some(&initrd),
            "console=ttyS0 panic=-1 metalos.test=direct",
        )
        .no_reboot()
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("METALOS-INITRD-UP", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console("METALOS-MODULE-LOADED virtio_blk", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_console("METALOS-CMDLINE .*metalos.test=direct", BOOT_TIMEOUT)
        .unwrap();
    vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
}

const UKI_SPEC: &str = r#"
[disk]
size = "96MiB"
seed = "5b7e0c2a-1f3d-4e6a-8b9c-0d1e2f3a4b5c"

[[partitions]]
slot = 1
label = "EFI-SYSTEM"
type = "esp"
size = "64MiB"
content = "esp"

[[initrds]]
name = "marker-initrd"
spec = "marker-initrd.toml"

[[ukis]]
name = "marker.efi"
stub = { input = "systemd-stub" }
kernel = { input = "kernel" }
initrd = { artifact = "marker-initrd" }
cmdline = "console=ttyS0 panic=-1 metalos.test=uki"
os-release = { text = "ID=metalos-test\n" }

[[esp.files]]
path = "EFI/BOOT/BOOTX64.EFI"
source = { artifact = "marker.efi" }
"#;

#[test]
fn ovmf_boots_our_uki_from_an_esp_we_wrote() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let spec = ImageSpec::parse(UKI_SPEC).unwrap();
    let out = dir.path().join("out");
    let options = metalos_image::BuildOptions {
        out_dir: out.clone(),
        source_date_epoch: None,
        progress: &|_| {},
        signing_keys: None,
        cache_dir: None,
    };
    metalos_image::build(
        &spec,
        &Resolver::new(repo().join("tests/fixtures"), m),
        &options,
    )
    .unwrap();
    let mut vm = Machine::builder("ovmf_boots_our_uki")
        .uefi()
        .disk(Disk::overlay(out.join("disk.img")).bootindex(1))
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("METALOS-INITRD-UP", BOOT_TIMEOUT)
        .unwrap();
    // The embedded .cmdline reached the kernel (systemd-stub passed it on).
    vm.wait_for_console(
        "METALOS-CMDLINE console=ttyS0 panic=-1 metalos.test=uki",
        BOOT_TIMEOUT,
    )
    .unwrap();
    vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
}
