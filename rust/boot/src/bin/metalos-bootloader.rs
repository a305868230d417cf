//! `metalos-bootloader`: PID 1 of the bootloader UKI's initrd. Finds the
//! disk it was booted from, picks the `/usr` slot by gptprio (counting the
//! attempt down first), verifies it (descriptor signature, dm-verity tree,
//! payload sha256; a failed slot is marked unbootable and the next one is
//! tried) and kexecs the slot's kernel + setup initrd. The stages are
//! `metalos_boot::bootloader`.

use metalos_boot::bootloader::{run, PROG};
use metalos_boot::emergency::pid1_main;

fn main() {
    pid1_main(PROG, run);
}
