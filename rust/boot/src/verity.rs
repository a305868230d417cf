//! dm-verity over a `/usr` slot, for metalinit (`/usr` itself) and for
//! metalos-bootloader / metalimage (reading the boot payload,
//! [`crate::slotread`]): parses `metalos.verity=` (or the slot descriptor,
//! through the same value) and creates a read-only `verity` device-mapper
//! target over the slot partition with the device-mapper ioctls (no
//! `dmsetup`/`veritysetup` in the initrd), and removes it again. The
//! target has no corruption-handling arguments: a block that does not
//! match its hash is an I/O error, never returned as data.

use metalos_disk::slotdesc::SlotDescriptor;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// `sizeof(struct dm_ioctl)`.
const DM_IOCTL_SIZE: usize = 312;
/// `sizeof(struct dm_target_spec)`.
const DM_SPEC_SIZE: usize = 40;
const DM_DEV_CREATE: u8 = 3;
const DM_DEV_REMOVE: u8 = 4;
const DM_DEV_SUSPEND: u8 = 6;
const DM_TABLE_LOAD: u8 = 9;
const DM_READONLY_FLAG: u32 = 1;
/// Remove the device once its last user closes it.
const DM_DEFERRED_REMOVE_FLAG: u32 = 1 << 17;
/// The misc device of device-mapper (10:236).
const CONTROL: &str = "/dev/mapper/control";

/// Errors parsing `metalos.verity=` or creating the device.
#[derive(Debug, thiserror::Error)]
pub enum VerityError {
    /// The kernel argument is malformed.
    #[error("metalos.verity={value}: {why}")]
    Arg {
        /// The value.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// A device-mapper step failed.
    #[error("device-mapper {step}: {source}")]
    Dm {
        /// Which step.
        step: String,
        /// The error.
        source: std::io::Error,
    },
}

fn dm_err(step: &str) -> impl FnOnce(std::io::Error) -> VerityError + '_ {
    move |source| VerityError::Dm {
        step: step.to_string(),
        source,
    }
}

/// `metalos.verity=<root_hash>:<hash_offset>:<data_blocks>:<salt>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityArgs {
    /// Root hash, hex (sha256).
    pub root_hash: String,
    /// Bytes into the partition of the verity superblock.
    pub hash_offset: u64,
    /// 4096-byte data blocks.
    pub data_blocks: u64,
    /// Salt, hex.
    pub salt: String,
}

impl VerityArgs {
    /// Parses and checks the argument value.
    pub fn parse(value: &str) -> Result<Self, VerityError> {
        let err = |why: &str| VerityError::Arg {
            value: value.to_string(),
            why: why.to_string(),
        };
        let parts: Vec<&str> = value.split(':').collect();
        let [root, off, blocks, salt] = parts[..] else {
            return Err(err(
                "expected <root_hash>:<hash_offset>:<data_blocks>:<salt>",
            ));
        };
        let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
        if root.len() != 64 || !is_hex(root) {
            return Err(err("the root hash is not 64 hex digits"));
        }
        if salt.len() % 2 != 0 || salt.len() > 512 || !is_hex(salt) {
            return Err(err("the salt is not hex"));
        }
        let hash_offset: u64 = off.parse().map_err(|_| err("bad hash offset"))?;
        let data_blocks: u64 = blocks.parse().map_err(|_| err("bad data block count"))?;
        if data_blocks == 0 || !hash_offset.is_multiple_of(4096) || hash_offset / 4096 < data_blocks
        {
            return Err(err("the hash area overlaps the data"));
        }
        Ok(VerityArgs {
            root_hash: root.to_ascii_lowercase(),
            hash_offset,
            data_blocks,
            salt: salt.to_ascii_lowercase(),
        })
    }

    /// The arguments for the slot `d` describes: the very value the
    /// bootloader passes to metalinit as `metalos.verity=`, so both map the
    /// slot with the same table line.
    pub fn from_descriptor(d: &SlotDescriptor) -> Result<Self, VerityError> {
        Self::parse(&d.cmdline_value())
    }

    /// The `verity` target parameters for a partition `major:minor`
    /// (data and hash tree on the same device; the tree starts one block
    /// after the superblock).
    pub fn table_params(&self, major: u32, minor: u32) -> String {
        format!(
            "1 {major}:{minor} {major}:{minor} 4096 4096 {} {} sha256 {} {}",
            self.data_blocks,
            self.hash_offset / 4096 + 1,
            self.root_hash,
            if self.salt.is_empty() {
                "-"
            } else {
                &self.salt
            }
        )
    }
}

/// A `struct dm_ioctl` buffer with room for one target.
struct DmBuf(Vec<u64>);

impl DmBuf {
    fn new(name: &str, flags: u32) -> Self {
        let mut b = DmBuf(vec![0u64; 2048]);
        let len = b.0.len() * 8;
        let bytes = b.bytes();
        for (i, v) in [4u32, 0, 0].iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        bytes[12..16].copy_from_slice(&(len as u32).to_ne_bytes()); // data_size
        bytes[16..20].copy_from_slice(&(DM_IOCTL_SIZE as u32).to_ne_bytes()); // data_start
        bytes[28..32].copy_from_slice(&flags.to_ne_bytes());
        bytes[48..48 + name.len()].copy_from_slice(name.as_bytes());
        b
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: a u64 buffer viewed as bytes (alignment 8 ≥ 1, same length in bytes).
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast(), self.0.len() * 8) }
    }

    fn add_target(&mut self, sectors: u64, target: &str, params: &str) {
        let bytes = self.bytes();
        bytes[20..24].copy_from_slice(&1u32.to_ne_bytes()); // target_count
        let s = DM_IOCTL_SIZE;
        bytes[s + 8..s + 16].copy_from_slice(&sectors.to_ne_bytes());
        let next = (DM_SPEC_SIZE + params.len() + 1).div_ceil(8) * 8;
        bytes[s + 20..s + 24].copy_from_slice(&(next as u32).to_ne_bytes());
        bytes[s + 24..s + 24 + target.len()].copy_from_slice(target.as_bytes());
        let p = s + DM_SPEC_SIZE;
        bytes[p..p + params.len()].copy_from_slice(params.as_bytes());
    }

    fn ioctl(&mut self, control: &File, cmd: u8, step: &str) -> Result<(), VerityError> {
        // _IOWR(0xfd, cmd, struct dm_ioctl)
        let req = (3u64 << 30) | ((DM_IOCTL_SIZE as u64) << 16) | (0xfd << 8) | cmd as u64;
        // SAFETY: the buffer is a dm_ioctl header followed by its data, data_size bytes long.
        let rc = unsafe { libc::ioctl(control.as_raw_fd(), req as _, self.0.as_mut_ptr()) };
        if rc < 0 {
            return Err(dm_err(step)(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn dev(&mut self) -> (u32, u32) {
        let dev = u64::from_ne_bytes(self.bytes()[40..48].try_into().unwrap());
        // The kernel's huge_encode_dev.
        let major = ((dev >> 8) & 0xfff) as u32;
        let minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32;
        (major, minor)
    }
}

fn open_control() -> Result<File, VerityError> {
    if !Path::new(CONTROL).exists() {
        std::fs::create_dir_all("/dev/mapper").map_err(dm_err("creating /dev/mapper"))?;
        mknod(CONTROL, libc::S_IFCHR, 10, 236).map_err(dm_err("creating /dev/mapper/control"))?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(CONTROL)
        .map_err(dm_err("opening /dev/mapper/control"))
}

fn mknod(path: &str, kind: libc::mode_t, major: u32, minor: u32) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path).expect("no NUL");
    // SAFETY: a NUL-terminated path; makedev is a pure computation.
    let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Creates the read-only verity device `name` over `part` and returns its
/// node, `/dev/mapper/<name>` (made here: the initrd has no udev). A
/// device created before a later step failed is removed again.
pub fn setup(name: &str, part: &Path, args: &VerityArgs) -> Result<PathBuf, VerityError> {
    let meta = std::fs::metadata(part).map_err(dm_err("stat of the /usr partition"))?;
    if !meta.file_type().is_block_device() {
        return Err(dm_err("the /usr partition")(std::io::Error::other(
            "not a block device",
        )));
    }
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let control = open_control()?;
    let mut create = DmBuf::new(name, 0);
    create.ioctl(&control, DM_DEV_CREATE, "DM_DEV_CREATE")?;
    let (dm_major, dm_minor) = create.dev();
    let loaded = load_and_resume(&control, name, args, (major, minor));
    if let Err(e) = loaded {
        let _ = DmBuf::new(name, 0).ioctl(&control, DM_DEV_REMOVE, "DM_DEV_REMOVE");
        return Err(e);
    }
    let node = node_path(name);
    if !node.exists() {
        mknod(
            node.to_str().expect("utf-8"),
            libc::S_IFBLK,
            dm_major,
            dm_minor,
        )
        .map_err(dm_err("creating the device node"))?;
    }
    Ok(node)
}

/// `/dev/mapper/<name>`.
fn node_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/mapper/{name}"))
}

/// Loads the `verity` table of the device `name` (over `part`,
/// `major:minor`) and resumes it.
fn load_and_resume(
    control: &File,
    name: &str,
    args: &VerityArgs,
    part: (u32, u32),
) -> Result<(), VerityError> {
    let mut load = DmBuf::new(name, DM_READONLY_FLAG);
    load.add_target(
        args.data_blocks * 8,
        "verity",
        &args.table_params(part.0, part.1),
    );
    load.ioctl(control, DM_TABLE_LOAD, "DM_TABLE_LOAD (verity)")?;
    let mut resume = DmBuf::new(name, 0);
    resume.ioctl(control, DM_DEV_SUSPEND, "DM_DEV_SUSPEND (resume)")
}

/// Removes the device `name` and the node [`setup`] made for it; while
/// something still holds it open, the kernel removes it at the last close.
pub fn remove(name: &str) -> Result<(), VerityError> {
    let control = open_control()?;
    let mut remove = DmBuf::new(name, DM_DEFERRED_REMOVE_FLAG);
    remove.ioctl(&control, DM_DEV_REMOVE, "DM_DEV_REMOVE")?;
    match std::fs::remove_file(node_path(name)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(dm_err("removing the device node")(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_the_table() {
        let root = "a".repeat(64);
        let salt = "5a".repeat(32);
        let a = VerityArgs::parse(&format!("{root}:21909504:5349:{salt}")).unwrap();
        assert_eq!(a.data_blocks, 5349);
        assert_eq!(
            a.table_params(254, 2),
            format!("1 254:2 254:2 4096 4096 5349 5350 sha256 {root} {salt}")
        );
        for bad in [
            format!("{root}:21909504:5349"),
            format!("{}:21909504:5349:{salt}", "a".repeat(63)),
            format!("{root}:4096:5349:{salt}"),
            format!("{root}:21909505:5349:{salt}"),
            format!("{root}:21909504:5349:xyz"),
        ] {
            assert!(VerityArgs::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bootloader_and_metalinit_map_a_slot_with_one_table_line() {
        let d = SlotDescriptor {
            format: 1,
            hash_algorithm: "sha256".into(),
            block_size: 4096,
            data_size: 21_905_000,
            data_blocks: 5348,
            hash_offset: 21_905_408,
            root_hash: "AB".repeat(32),
            salt: "5a".repeat(32),
            payload: Default::default(),
        };
        let boot = VerityArgs::from_descriptor(&d).unwrap();
        // metalinit parses what the bootloader put on the command line.
        let init = VerityArgs::parse(&d.cmdline_value()).unwrap();
        assert_eq!(boot, init);
        assert_eq!(
            boot.table_params(8, 2),
            format!(
                "1 8:2 8:2 4096 4096 5348 5349 sha256 {} {}",
                "ab".repeat(32),
                "5a".repeat(32)
            )
        );
        let bad = SlotDescriptor {
            hash_offset: 4096,
            ..d
        };
        let e = VerityArgs::from_descriptor(&bad).unwrap_err().to_string();
        assert!(e.contains("the hash area overlaps the data"), "{e}");
    }

    #[test]
    fn dm_buffer_layout() {
        let mut b = DmBuf::new("usr", DM_READONLY_FLAG);
        b.add_target(80, "verity", "1 2 3");
        let bytes = b.bytes();
        assert_eq!(&bytes[0..4], &4u32.to_ne_bytes());
        assert_eq!(&bytes[16..20], &312u32.to_ne_bytes());
        assert_eq!(&bytes[48..52], b"usr\0");
        assert_eq!(&bytes[312 + 24..312 + 30], b"verity");
        assert_eq!(&bytes[352..358], b"1 2 3\0");
    }
}
