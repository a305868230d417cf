//! OVMF netboots a UKI over QEMU user networking (restrict=on) + TFTP.
//! The bootfile is an iPXE script so the UKI gets our command line (iPXE
//! replaces a UKI's .cmdline with its own arguments otherwise).
mod common;
use common::*;
use metalos_vmtest::{Machine, Nic, UserNet};
use std::time::Instant;

#[test]
fn tftp_netboot_of_a_uki() {
    let m = inputs();
    let tftp = tempfile::tempdir().unwrap();
    let initrd = initrd(&m)
        .script("echo VMTEST-NETBOOT-INITRD\n")
        .build()
        .unwrap();
    std::fs::write(
        tftp.path().join("uki.efi"),
        uki(&m, &initrd, "console=ttyS0 quiet"),
    )
    .unwrap();
    std::fs::write(
        tftp.path().join("boot.ipxe"),
        "#!ipxe\necho metalos-vmtest: iPXE script\nkernel tftp://10.0.2.2/uki.efi console=ttyS0 panic=-1\nboot\n",
    )
    .unwrap();
    let mut vm = Machine::builder("tftp_netboot_of_a_uki")
        .uefi()
        .nic(
            Nic::new(UserNet::new().tftp(tftp.path(), "boot.ipxe"))
                .mac("52:54:00:12:34:56")
                .bootindex(1),
        )
        .boot_network()
        .build()
        .unwrap();
    let t0 = Instant::now();
    vm.start().unwrap();
    vm.wait_for_console("VMTEST-NETBOOT-INITRD", BOOT_TIMEOUT)
        .unwrap();
    eprintln!("initrd reached after {:?}", t0.elapsed());
    let cmdline = std::fs::read_to_string(vm.console_log()).unwrap();
    assert!(cmdline.contains("metalos-vmtest: iPXE script"));
    vm.shutdown().unwrap();
}
