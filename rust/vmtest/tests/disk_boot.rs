//! A disk built with metalos-image (ESP with a UKI at EFI/BOOT/BOOTX64.EFI)
//! boots under OVMF: proves the pflash (CODE read-only + private VARS) path.
mod common;
use common::*;
use metalos_config::spec::ImageSpec;
use metalos_config::Resolver;
use metalos_vmtest::{Disk, Machine};
use std::time::Instant;

const SPEC: &str = r#"
[disk]
size = "64MiB"
seed = "3f1c9a52-7d4e-4b8a-9c61-2e5f0a7b8d93"

[[partitions]]
slot = 1
label = "EFI-SYSTEM"
type = "esp"
size = "48MiB"
content = "esp"

[[esp.files]]
path = "EFI/BOOT/BOOTX64.EFI"
source = { file = "uki.efi" }
"#;

#[test]
fn ovmf_boots_a_uki_from_an_esp() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let initrd = initrd(&m)
        .script("echo VMTEST-DISK-BOOT\n")
        .build()
        .unwrap();
    std::fs::write(
        dir.path().join("uki.efi"),
        uki(&m, &initrd, "console=ttyS0 panic=-1"),
    )
    .unwrap();
    let spec = ImageSpec::parse(SPEC).unwrap();
    let out = dir.path().join("out");
    metalos_image::build(
        &spec,
        &Resolver::new(dir.path(), m.clone()),
        &metalos_image::BuildOptions {
            out_dir: out.clone(),
            source_date_epoch: None,
            progress: &|_| {},
            signing_keys: None,
            cache_dir: None,
        },
    )
    .unwrap();
    let image = out.join(metalos_image::build::DISK_FILE);
    let before = sha256(&image);
    let mut vm = Machine::builder("ovmf_boots_a_uki_from_an_esp")
        .uefi()
        .disk(Disk::overlay(&image).bootindex(1))
        .build()
        .unwrap();
    let vars = vm.vars_file().unwrap().to_path_buf();
    let t0 = Instant::now();
    vm.start().unwrap();
    vm.wait_for_console("VMTEST-DISK-BOOT", BOOT_TIMEOUT)
        .unwrap();
    eprintln!("UKI initrd reached after {:?}", t0.elapsed());
    vm.shutdown().unwrap();
    assert!(vars.is_file());
    assert_eq!(sha256(&image), before);
}
