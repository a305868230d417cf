//! switch-root from the initramfs: move the API mounts into the new root,
//! free the initramfs' files, make the new root `/` and exec its init.

use crate::sys::mount;
use anyhow::{Context, Result};
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Deletes everything on the initramfs (device `dev`) below `dir`, not
/// crossing into other filesystems — this frees the initrd's memory.
fn delete_initramfs(dir: &Path, dev: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != dev {
            continue;
        }
        if meta.is_dir() {
            delete_initramfs(&path, dev);
            let _ = std::fs::remove_dir(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Switches to `sysroot` and execs `init`. Returns only on failure.
pub fn switch_root(sysroot: &str, init: &str) -> Result<std::convert::Infallible> {
    for api in ["/dev", "/proc", "/sys", "/run"] {
        mount(api, &format!("{sysroot}{api}"), "", libc::MS_MOVE, "")
            .with_context(|| format!("moving {api}"))?;
    }
    std::env::set_current_dir(sysroot)?;
    let root_dev = std::fs::metadata("/")?.dev();
    delete_initramfs(Path::new("/"), root_dev);
    mount(".", "/", "", libc::MS_MOVE, "").context("moving the new root onto /")?;
    let dot = CString::new(".").expect("no NUL");
    // SAFETY: valid C string.
    if unsafe { libc::chroot(dot.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chroot");
    }
    std::env::set_current_dir("/")?;
    let err = exec(init);
    Err(err).with_context(|| format!("exec {init}"))
}

fn exec(program: &str) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(program).exec()
}
