//! `metalinit`: PID 1 of the setup initrd. Finds the root disk by the GUIDs
//! the bootloader handed over, does the first-boot work (new disk GUID,
//! grow + format ROOT), mounts ROOT, the `/usr` slot (through dm-verity
//! when the bootloader passed `metalos.verity=`) and the `/etc`
//! overlay, applies the HostConfig identity and NIC names, provisions
//! (Ignition configs, first boot only; see `metalos_boot::metalinit::provision`),
//! and switch-roots into the rootfs init. The stages are
//! `metalos_boot::metalinit`.

use metalos_boot::emergency::pid1_main;
use metalos_boot::metalinit::{run, PROG};

fn main() {
    pid1_main(PROG, run);
}
