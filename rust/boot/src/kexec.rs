//! Starting another kernel: `kexec_file_load(2)` then `reboot(KEXEC)`.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Loads `kernel` + `initrd` with `cmdline` and jumps into it. Returns only on failure.
pub fn kexec(kernel: &Path, initrd: &Path, cmdline: &str) -> std::io::Error {
    match load(kernel, initrd, cmdline) {
        Err(e) => e,
        Ok(()) => {
            // SAFETY: sync and reboot take no pointers.
            unsafe {
                libc::sync();
                libc::reboot(libc::LINUX_REBOOT_CMD_KEXEC);
            }
            std::io::Error::last_os_error()
        }
    }
}

/// Loads the images without executing them.
pub fn load(kernel: &Path, initrd: &Path, cmdline: &str) -> std::io::Result<()> {
    let k = std::fs::File::open(kernel)?;
    let i = std::fs::File::open(initrd)?;
    let c = CString::new(cmdline)
        .map_err(|_| std::io::Error::other("NUL in the kernel command line"))?;
    let len = cmdline.len() + 1;
    // SAFETY: valid descriptors and a NUL-terminated command line of `len` bytes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            k.as_raw_fd(),
            i.as_raw_fd(),
            len,
            c.as_ptr(),
            0u64,
        )
    };
    crate::sys::check(rc, || format!("kexec_file_load({})", kernel.display()))
}
