//! `metalimage`: PID 1 of the imaging initrd (network boot). Brings up the
//! boot NIC (`ip=` from iPXE, else DHCP), fetches the MAC's HostConfig and
//! the disk image over HTTP(S), writes and verifies the disk with its
//! partition tables committed last, stores the HostConfig on the new ESP,
//! then kexecs USR-A's payload exactly as metalos-bootloader would.
//! Stray argv (iPXE passes the image name) is ignored. The stages are
//! `metalos_boot::metalimage`.

use metalos_boot::emergency::pid1_main;
use metalos_boot::metalimage::{run, PROG};

fn main() {
    pid1_main(PROG, run);
}
