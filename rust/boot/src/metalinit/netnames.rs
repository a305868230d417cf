//! Renaming NICs by MAC address (`SIOCSIFNAME`), before anything uses them.

use crate::sys;
use metalos_config::hostconfig::HostConfig;
use std::path::Path;

/// Current name of the interface with `mac` (lower-case `aa:bb:…`).
pub fn name_for_mac(mac: &str) -> Option<String> {
    std::fs::read_dir("/sys/class/net")
        .ok()?
        .flatten()
        .find_map(|e| {
            let addr = std::fs::read_to_string(e.path().join("address")).ok()?;
            (addr.trim().eq_ignore_ascii_case(mac))
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
}

/// Renames interface `from` to `to` (the link must be down).
pub fn rename(from: &str, to: &str) -> std::io::Result<()> {
    if from == to {
        return Ok(());
    }
    if to.len() >= libc::IFNAMSIZ || Path::new("/sys/class/net").join(to).exists() {
        return Err(std::io::Error::other(format!(
            "cannot rename {from} to {to}: name taken or too long"
        )));
    }
    // SAFETY: a plain datagram socket used only for the ioctl.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(from.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: writing the new name into the union's newname member.
    unsafe {
        for (d, s) in req.ifr_ifru.ifru_newname.iter_mut().zip(to.bytes()) {
            *d = s as libc::c_char;
        }
    }
    // SAFETY: valid socket and request struct.
    let rc = unsafe { libc::ioctl(sock, libc::SIOCSIFNAME as _, &req) };
    let err = std::io::Error::last_os_error();
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(sock) };
    if rc == 0 {
        Ok(())
    } else {
        Err(err)
    }
}

/// Gives every interface of the HostConfig `h` its name, saying on the
/// console (as `prog`) what was renamed, what could not be and what is
/// absent.
pub fn rename_all(prog: &str, h: &HostConfig) {
    for iface in &h.network.interfaces {
        let mac = iface.mac.to_string();
        match name_for_mac(&mac) {
            Some(cur) => match rename(&cur, &iface.name) {
                Ok(()) => sys::say(prog, &format!("NIC {mac}: {cur} -> {}", iface.name)),
                Err(e) => sys::say(
                    prog,
                    &format!("NIC {mac}: cannot rename {cur} to {}: {e}", iface.name),
                ),
            },
            None => sys::say(prog, &format!("NIC {mac} ({}) not present", iface.name)),
        }
    }
}
