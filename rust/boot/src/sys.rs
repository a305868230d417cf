//! Mounting the API filesystems and talking to the console.

use std::ffi::CString;
use std::io::Write;
use std::path::Path;

/// Prints a line on the console, prefixed with the program name so the
/// serial log says who spoke.
///
/// When the kernel command line names no `console=` (iPXE replaced it, so
/// the kernel talks only to the screen), the line also goes to the first
/// serial port: servers are watched over serial, and a PID 1 that fails
/// must be heard there.
pub fn say(prog: &str, msg: &str) {
    let line = format!("{prog}: {msg}\n");
    // /dev/console is stdout for PID 1 but be explicit: kmsg ordering matters less than visibility.
    let _ = std::io::stdout().write_all(line.as_bytes());
    let _ = std::io::stdout().flush();
    if let Some(mut serial) = serial_mirror() {
        let _ = serial.write_all(line.replace('\n', "\r\n").as_bytes());
    }
}

/// `/dev/ttyS0` when the command line has no `console=` (see [`say`]).
fn serial_mirror() -> Option<&'static std::fs::File> {
    static MIRROR: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    MIRROR
        .get_or_init(|| {
            if std::process::id() != 1 {
                return None;
            }
            let cmdline = std::fs::read_to_string("/proc/cmdline").ok()?;
            if cmdline
                .split_whitespace()
                .any(|w| w.starts_with("console="))
            {
                return None;
            }
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
                .open("/dev/ttyS0")
                .ok()
        })
        .as_ref()
}

/// Whether the kernel's random number generator is seeded (getrandom(2)
/// would not block).
pub fn kernel_rng_ready() -> bool {
    let mut byte = 0u8;
    // SAFETY: one byte into a local; GRND_NONBLOCK never blocks.
    let n = unsafe { libc::getrandom((&mut byte as *mut u8).cast(), 1, libc::GRND_NONBLOCK) };
    n == 1
}

/// Turns a syscall's return code into a `Result`: negative means failure,
/// reported as `what: <errno text>` with the errno's kind kept.
pub fn check(rc: libc::c_long, what: impl FnOnce() -> String) -> std::io::Result<()> {
    if rc >= 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    Err(std::io::Error::new(e.kind(), format!("{}: {e}", what())))
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in mount arguments")
}

/// `mount(2)`; `data` may be empty.
pub fn mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(target)?;
    let (s, t, f, d) = (cstr(source), cstr(target), cstr(fstype), cstr(data));
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    let rc = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            if fstype.is_empty() {
                std::ptr::null()
            } else {
                f.as_ptr()
            },
            flags,
            if data.is_empty() {
                std::ptr::null()
            } else {
                d.as_ptr().cast()
            },
        )
    };
    check(rc.into(), || {
        format!("mount {source} on {target} ({fstype})")
    })
}

/// `umount2(2)` with `MNT_DETACH`.
pub fn umount(target: &str) -> std::io::Result<()> {
    let t = cstr(target);
    // SAFETY: valid C string.
    let rc = unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    check(rc.into(), || format!("umount {target}"))
}

/// Mounts /proc, /sys, /dev, /run (and efivarfs when present), ignoring
/// ones already mounted.
pub fn mount_api_filesystems() -> std::io::Result<()> {
    let table = [
        (
            "proc",
            "/proc",
            "proc",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        ),
        (
            "sysfs",
            "/sys",
            "sysfs",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        ),
        ("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID),
        ("tmpfs", "/run", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV),
    ];
    for (src, target, fstype, flags) in table {
        if is_mountpoint(target) {
            continue;
        }
        mount(
            src,
            target,
            fstype,
            flags,
            if fstype == "tmpfs" { "mode=0755" } else { "" },
        )?;
    }
    let _ = mount_efivarfs();
    Ok(())
}

/// Mounts efivarfs on UEFI machines. Call again after loading modules: on
/// kernels where efivarfs is a module the first try fails. Not being a
/// UEFI boot is not an error.
pub fn mount_efivarfs() -> std::io::Result<()> {
    let efivars = "/sys/firmware/efi/efivars";
    if Path::new("/sys/firmware/efi").exists() && !is_mountpoint(efivars) {
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        mount("efivarfs", efivars, "efivarfs", flags, "")?;
    }
    Ok(())
}

/// Whether `path` is listed as a mount point in /proc/self/mounts.
pub fn is_mountpoint(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .map(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some(path)))
        .unwrap_or(false)
}

/// Kernel command line (`/proc/cmdline`).
pub fn kernel_cmdline() -> String {
    std::fs::read_to_string("/proc/cmdline")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Value of `key=value` on the kernel command line (last one wins): the
/// one parser every writer and reader of `metalos.*` arguments shares.
pub use metalos_contract::cmdline::value as cmdline_value;

/// The GUID of `key=GUID` or `key=PARTUUID=GUID` on the kernel command
/// line (metalinit's `metalos.usr=`, `metalos.root_disk=`).
pub fn cmdline_uuid(cmdline: &str, key: &str) -> anyhow::Result<uuid::Uuid> {
    use anyhow::Context;
    let v = cmdline_value(cmdline, key).with_context(|| {
        format!("{key}= is missing from the kernel command line (boot through metalos-bootloader)")
    })?;
    let v = v.strip_prefix("PARTUUID=").unwrap_or(v);
    uuid::Uuid::parse_str(v).with_context(|| format!("{key}={v} is not a GUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_uuids() {
        let c = "metalos.usr=PARTUUID=3a1c2e44-0f4b-4a57-9c51-2b8e6f7d9a10 \
                 metalos.root_disk=3A1C2E44-0F4B-4A57-9C51-2B8E6F7D9A11 metalos.x=nope";
        let usr = cmdline_uuid(c, "metalos.usr").unwrap();
        assert_eq!(usr.to_string(), "3a1c2e44-0f4b-4a57-9c51-2b8e6f7d9a10");
        let disk = cmdline_uuid(c, "metalos.root_disk").unwrap();
        assert_eq!(disk.to_string(), "3a1c2e44-0f4b-4a57-9c51-2b8e6f7d9a11");
        let e = cmdline_uuid(c, "metalos.x").unwrap_err().to_string();
        assert_eq!(e, "metalos.x=nope is not a GUID");
        let e = cmdline_uuid(c, "metalos.y").unwrap_err().to_string();
        assert!(e.starts_with("metalos.y= is missing"), "{e}");
    }

    #[test]
    fn cmdline_values() {
        let c = "console=ttyS0 metalos.usr=PARTUUID=abc metalos.usr=PARTUUID=def quiet";
        assert_eq!(cmdline_value(c, "metalos.usr"), Some("PARTUUID=def"));
        assert_eq!(cmdline_value(c, "quiet"), None);
        assert_eq!(cmdline_value(c, "console"), Some("ttyS0"));
    }
}
