//! The HostConfig's identity on the assembled rootfs: `/etc/hostname`,
//! `/etc/machine-id` and the kernel's hostname.

use anyhow::{Context, Result};
use metalos_config::hostconfig::HostConfig;

/// systemd in the rootfs (the server image); busybox images have none.
const SYSTEMD: &str = "/usr/lib/systemd/systemd";

/// Writes the hostname and machine-id of `h` under `sysroot` and sets the
/// kernel's hostname.
pub fn apply(h: &HostConfig, first_boot: bool, sysroot: &str) -> Result<()> {
    let etc = format!("{sysroot}/etc");
    write_if_changed(
        &format!("{etc}/hostname"),
        &format!("{}\n", h.identity.hostname),
    )?;
    // On a first boot into systemd, `uninitialized` makes systemd treat the
    // boot as its first: it applies the presets provisioning wrote (as on
    // Flatcar) and takes the id from `systemd.machine_id=`, which
    // metalos-bootloader puts on the command line.
    let systemd_first_boot =
        first_boot && std::path::Path::new(&format!("{sysroot}{SYSTEMD}")).exists();
    let machine_id = if systemd_first_boot {
        "uninitialized".to_string()
    } else {
        h.identity.machine_id.clone()
    };
    write_if_changed(&format!("{etc}/machine-id"), &format!("{machine_id}\n"))?;
    let name = &h.identity.hostname;
    // SAFETY: pointer and length of a live byte slice.
    if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("sethostname");
    }
    Ok(())
}

/// Boots that change nothing leave /etc untouched (no new mtime, no write).
fn write_if_changed(path: &str, content: &str) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
        return Ok(());
    }
    std::fs::write(path, content).with_context(|| format!("writing {path}"))
}
