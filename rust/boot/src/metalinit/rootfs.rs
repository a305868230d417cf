//! The root filesystem on ROOT: btrfs with a fixed subvolume layout,
//! formatted only when ROOT holds no filesystem at all.
//!
//! | subvolume | mounted at | holds |
//! |---|---|---|
//! | `root`  | `/` | the rootfs skeleton (merged-/usr symlinks, mount points) |
//! | `var`   | `/var` | variable data |
//! | `home`  | `/home` | user homes |
//! | `state` | `/var/lib/metalos` | MetalOS state: the `/etc` overlay's upper and work dirs |

use crate::sys::mount;
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Subvolumes and where they are mounted below the new root.
pub const SUBVOLUMES: &[(&str, &str)] = &[
    ("root", ""),
    ("var", "var"),
    ("home", "home"),
    ("state", "var/lib/metalos"),
];

/// Whether the first 1 MiB and the btrfs superblock area of `dev` are all
/// zero, i.e. ROOT holds no filesystem and may be formatted.
pub fn is_blank(dev: &Path) -> Result<bool> {
    let f = File::open(dev).with_context(|| format!("opening {}", dev.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let n = f.read_at(&mut buf, 0)?;
    Ok(buf[..n].iter().all(|b| *b == 0))
}

/// Formats `dev` as btrfs (label ROOT) and creates the subvolumes.
pub fn format(dev: &Path, mkfs: &Path, scratch: &str) -> Result<()> {
    if !is_blank(dev)? {
        bail!("refusing to format {}: it is not blank", dev.display());
    }
    let status = std::process::Command::new(mkfs)
        .args(["-q", "-L", "ROOT"])
        .arg(dev)
        .status()
        .with_context(|| format!("running {}", mkfs.display()))?;
    if !status.success() {
        bail!("{} {} failed: {status}", mkfs.display(), dev.display());
    }
    mount(&dev.to_string_lossy(), scratch, "btrfs", 0, "")?;
    for (name, _) in SUBVOLUMES {
        create_subvolume(Path::new(scratch), name)
            .with_context(|| format!("creating subvolume {name}"))?;
    }
    crate::sys::umount(scratch)?;
    Ok(())
}

/// `BTRFS_IOC_SUBVOL_CREATE` on `parent` for `name`.
fn create_subvolume(parent: &Path, name: &str) -> std::io::Result<()> {
    #[repr(C)]
    struct VolArgs {
        fd: i64,
        name: [u8; 4088],
    }
    const BTRFS_IOC_SUBVOL_CREATE: libc::c_ulong = 0x5000_940e;
    let dir = File::open(parent)?;
    let mut args = VolArgs {
        fd: 0,
        name: [0; 4088],
    };
    args.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: the kernel reads a properly sized, NUL-terminated struct.
    let rc = unsafe { libc::ioctl(dir.as_raw_fd(), BTRFS_IOC_SUBVOL_CREATE as _, &args) };
    crate::sys::check(rc.into(), || format!("creating btrfs subvolume {name}"))
}

/// Mounts the subvolumes of `dev` below `sysroot`.
pub fn mount_subvolumes(dev: &Path, sysroot: &str) -> Result<()> {
    for (name, at) in SUBVOLUMES {
        let target = if at.is_empty() {
            sysroot.to_string()
        } else {
            format!("{sysroot}/{at}")
        };
        mount(
            &dev.to_string_lossy(),
            &target,
            "btrfs",
            0,
            &format!("subvol={name}"),
        )
        .with_context(|| format!("mounting subvolume {name}"))?;
    }
    Ok(())
}

/// Creates the merged-/usr skeleton of the root subvolume (idempotent).
pub fn skeleton(sysroot: &str) -> Result<()> {
    for d in [
        "dev", "proc", "sys", "run", "tmp", "etc", "usr", "var", "home", "root", "mnt",
    ] {
        std::fs::create_dir_all(format!("{sysroot}/{d}"))?;
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        let path = format!("{sysroot}/{link}");
        if std::fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(target, &path)?;
        }
    }
    let tmp = CString::new(format!("{sysroot}/tmp")).expect("no NUL");
    // SAFETY: valid path.
    unsafe { libc::chmod(tmp.as_ptr(), 0o1777) };
    Ok(())
}

/// Mounts `/etc` as an overlay: lower = the image's defaults
/// (`/usr/share/metalos/etc`), upper/work on the state subvolume.
pub fn mount_etc_overlay(sysroot: &str) -> Result<()> {
    let state = format!("{sysroot}/var/lib/metalos/etc");
    for d in ["upper", "work"] {
        std::fs::create_dir_all(format!("{state}/{d}"))?;
    }
    let opts = format!(
        "lowerdir={sysroot}/usr/share/metalos/etc,upperdir={state}/upper,workdir={state}/work"
    );
    mount("overlay", &format!("{sysroot}/etc"), "overlay", 0, &opts)
        .context("mounting the /etc overlay")
}
