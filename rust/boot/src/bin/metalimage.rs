//! `metalimage`: PID 1 of the imaging initrd (network boot). Brings up the
//! boot NIC, fetches the HostConfig and the disk image over HTTP(S), writes
//! and verifies the disk, then kexecs the new USR-A slot like
//! metalos-bootloader does.

use anyhow::{bail, Result};
use metalos_boot::emergency::{pid1_main, Policy};
use metalos_boot::{modules, sys};

const PROG: &str = "metalimage";

fn main() {
    pid1_main(PROG, run);
}

fn run(_cmdline: &str, _policy: &mut Policy) -> Result<()> {
    sys::mount_api_filesystems()?;
    sys::say(PROG, "started");
    modules::load_all()?;
    bail!("imaging is not implemented yet")
}
