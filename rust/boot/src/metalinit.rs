//! `metalinit`, PID 1 of the setup initrd, stage by stage. Finds the root
//! disk by the GUIDs the bootloader handed over, does the first-boot work
//! (new disk GUID, grow + format ROOT), mounts ROOT, the `/usr` slot
//! (through dm-verity when the bootloader passed `metalos.verity=`) and
//! the `/etc` overlay, applies the HostConfig identity and NIC names,
//! provisions (Ignition configs, first boot only, with the OEM partition's
//! base configs and `config.ign`; see [`provision`]), and
//! switch-roots into the rootfs init.
//!
//! * [`firstboot`]: new disk and ROOT GUIDs, ROOT grown to the disk's end;
//! * [`rootfs`]: ROOT's btrfs subvolumes, the skeleton, the `/etc` overlay;
//! * [`identity`]: hostname and machine-id from the HostConfig;
//! * [`netnames`]: NICs renamed by MAC;
//! * [`networkd`]: the HostConfig's static addresses as systemd-networkd units;
//! * [`provision`]: first-boot provisioning from Ignition configs;
//! * [`switchroot`]: the hand-over to the rootfs init.

pub mod firstboot;
pub mod identity;
pub mod netnames;
pub mod networkd;
pub mod provision;
pub mod rootfs;
pub mod switchroot;

use crate::emergency::Policy;
use crate::{modules, sys, verity};
use anyhow::{bail, Context, Result};
use metalos_config::hostconfig::HostConfig;
use metalos_config::spec::type_guid;
use metalos_disk::blockdev::{self, Disk};
use metalos_disk::esp_partition::{EspHandle, FIRST_BOOT_FLAG};
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::oem::{OemContents, OemPartition};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The program name on the console.
pub const PROG: &str = "metalinit";
/// Where the rootfs is assembled before the switch.
const SYSROOT: &str = "/sysroot";
/// mkfs for ROOT, carried in the setup initrd with its libraries.
const MKFS_BTRFS: &str = "/usr/sbin/mkfs.btrfs";
/// The rootfs init (busybox init in the default image).
const ROOTFS_INIT: &str = "/sbin/init";

/// metalinit's `run` for [`crate::emergency::pid1_main`]: returns only on
/// failure (success ends in the rootfs init).
pub fn run(cmdline: &str, policy: &mut Policy) -> Result<()> {
    sys::mount_api_filesystems().context("mounting /proc, /sys, /dev, /run")?;
    sys::say(PROG, "started");
    modules::load_all().context("loading the initrd's kernel modules")?;
    blockdev::wait_for_disks(Duration::from_secs(10));
    let first_boot = provision::first_boot_requested(cmdline);
    let (disk, mut gpt, usr) = root_disk(cmdline)?;
    let esp = EspHandle::find(&disk, &gpt).context("the root disk has no ESP")?;
    let host_config = host_config(&esp, policy)?;
    let randomize = sys::cmdline_value(cmdline, "metalos.randomize_guid").is_some();
    prepare_disk(&disk, &mut gpt, randomize || first_boot)?;
    mount_root(&disk, &gpt)?;
    mount_usr_and_etc(cmdline, &disk, &usr)?;
    if let Some(h) = &host_config {
        identity::apply(h, first_boot, SYSROOT)?;
        netnames::rename_all(PROG, h);
        let n = networkd::write(h, Path::new(networkd::UNIT_DIR))
            .context("writing the HostConfig's network units")?;
        if n > 0 {
            sys::say(
                PROG,
                &format!(
                    "network: {n} static interface unit(s) in {}",
                    networkd::UNIT_DIR
                ),
            );
        }
    }
    if first_boot {
        let oem = oem_contents(&disk, &gpt)?;
        provision_first_boot(cmdline, host_config.as_ref(), &esp, oem.as_ref())?;
    } else {
        // Every boot: an id the platform crate does not know is FATAL
        // (the bootloader passes the OEM partition's id on the cmdline).
        let p = provision::platform(cmdline, None)?;
        sys::say(
            PROG,
            &format!("platform: {} ({})", p.platform.name(), p.source),
        );
    }
    sys::say(
        PROG,
        &format!("switching root to {SYSROOT}, exec {ROOTFS_INIT}"),
    );
    switchroot::switch_root(SYSROOT, ROOTFS_INIT)?;
    unreachable!("switch_root returns only errors")
}

/// The disk holding the `/usr` slot the bootloader chose (`metalos.usr=`),
/// which must also carry the disk GUID it handed over
/// (`metalos.root_disk=`): the disk, its table and the slot.
fn root_disk(cmdline: &str) -> Result<(Disk, Gpt, Partition)> {
    let usr_guid = sys::cmdline_uuid(cmdline, "metalos.usr")?;
    let disk_guid = sys::cmdline_uuid(cmdline, "metalos.root_disk")?;
    let hint = sys::cmdline_value(cmdline, "metalos.boot_disk");
    let (disk, _, usr) = blockdev::find_partition_on(&usr_guid, hint)
        .map_err(|e| anyhow::anyhow!("finding the /usr slot {usr_guid}: {e}"))?;
    let (gpt, _) = blockdev::read_gpt(&disk)?;
    if gpt.disk_guid != disk_guid {
        bail!(
            "the /usr partition {usr_guid} is on {} whose disk GUID {} is not {disk_guid}",
            disk.dev.display(),
            gpt.disk_guid
        );
    }
    sys::say(
        PROG,
        &format!(
            "root disk {} (disk GUID {disk_guid}), /usr slot {}",
            disk.dev.display(),
            usr.number
        ),
    );
    Ok((disk, gpt, usr))
}

/// The HostConfig on the root disk's ESP, if any; its emergency policy
/// applies from here on.
fn host_config(esp: &EspHandle, policy: &mut Policy) -> Result<Option<HostConfig>> {
    let host_config = esp.read_host_config()?;
    if let Some(h) = &host_config {
        policy.apply_host_config(h);
    }
    let found = if host_config.is_some() {
        "found"
    } else {
        "none on the ESP"
    };
    sys::say(PROG, &format!("HostConfig: {found}"));
    Ok(host_config)
}

/// With `first_boot_work` (a first boot, or `metalos.randomize_guid=`):
/// new GUIDs and ROOT grown, in `gpt` and on the disk, which the kernel
/// then re-reads.
fn prepare_disk(disk: &Disk, gpt: &mut Gpt, first_boot_work: bool) -> Result<()> {
    let dev_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)?;
    if !first_boot_work {
        return Ok(());
    }
    let size = metalos_disk::device::size(&dev_file)?;
    let changes = firstboot::prepare_disk(&dev_file, gpt, size)
        .context("first-boot partition table changes")?;
    if changes != Default::default() {
        sys::say(PROG, &format!("first boot: {changes:?}"));
        reread(&dev_file)?;
    }
    Ok(())
}

/// ROOT (formatted when blank) with its subvolumes and skeleton at
/// [`SYSROOT`], after a reset `metalos reset` staged.
fn mount_root(disk: &Disk, gpt: &Gpt) -> Result<()> {
    let root_type = type_guid("root-x86-64").expect("known");
    let root = gpt
        .partitions
        .iter()
        .find(|p| p.type_guid == root_type)
        .context("the root disk has no ROOT partition")?;
    let root_dev = blockdev::wait_for_partition(disk, root.number)?;
    if rootfs::is_blank(&root_dev)? {
        sys::say(
            PROG,
            &format!("formatting ROOT ({}) as btrfs", root_dev.display()),
        );
        if !sys::kernel_rng_ready() {
            // libuuid retries getrandom(2) for about 1 s per UUID before it
            // falls back to /dev/urandom: say why the format is slow.
            sys::say(
                PROG,
                "the kernel's random number generator is not seeded yet (no RDRAND or RNG device): mkfs.btrfs waits for it up to a second per UUID",
            );
        }
        rootfs::format(&root_dev, MKFS_BTRFS.as_ref(), "/run/metalos/rootfs")
            .context("formatting ROOT")?;
    }
    rootfs::mount_subvolumes(&root_dev, SYSROOT)?;
    rootfs::skeleton(SYSROOT)?;
    // Before the /etc overlay hides its upper dir.
    run_staged_reset()
}

/// A reset staged by `metalos reset`, if any.
fn run_staged_reset() -> Result<()> {
    let Some(s) = metalos_reset::execute(SYSROOT.as_ref()).context("running the staged reset")?
    else {
        return Ok(());
    };
    sys::say(
        PROG,
        &format!("reset: deleted {}, kept {}", s.deleted, s.kept),
    );
    for f in &s.failures {
        sys::say(PROG, &format!("reset: not removed: {f}"));
    }
    rootfs::skeleton(SYSROOT)?; // recreates the skeleton links and dirs it removed
    Ok(())
}

/// The `/usr` slot `usr` (through dm-verity when asked) and the `/etc`
/// overlay under [`SYSROOT`].
fn mount_usr_and_etc(cmdline: &str, disk: &Disk, usr: &Partition) -> Result<()> {
    let usr_dev = blockdev::wait_for_partition(disk, usr.number)?;
    let usr_dev = usr_device(cmdline, &usr_dev)?;
    sys::mount(
        &usr_dev.to_string_lossy(),
        &format!("{SYSROOT}/usr"),
        "squashfs",
        libc::MS_RDONLY,
        "",
    )
    .context("mounting /usr")?;
    rootfs::mount_etc_overlay(SYSROOT)?;
    Ok(())
}

/// What the root disk's OEM partition holds for provisioning (`None`: no
/// OEM partition, or a blank one). A damaged one is an error: provisioning
/// fails closed.
fn oem_contents(disk: &Disk, gpt: &Gpt) -> Result<Option<OemContents>> {
    let Some(oem) = OemPartition::find(disk, gpt) else {
        return Ok(None);
    };
    let contents = oem
        .read_contents()
        .map_err(|e| anyhow::anyhow!("{e} (provisioning reads its base configs and config.ign)"))?;
    if let Some(c) = &contents {
        sys::say(
            PROG,
            &format!(
                "OEM partition {}: {} base config(s){}",
                oem.number,
                c.base_configs.len(),
                if c.user_config.is_some() {
                    ", config.ign"
                } else {
                    ""
                }
            ),
        );
    }
    Ok(contents)
}

/// First-boot provisioning. Fails closed: an error goes to the emergency
/// action with the flag still on the ESP, so the next boot provisions again.
fn provision_first_boot(
    cmdline: &str,
    host_config: Option<&HostConfig>,
    esp: &EspHandle,
    oem: Option<&OemContents>,
) -> Result<()> {
    provision::run(cmdline, host_config, SYSROOT.as_ref(), oem)?;
    // Only the bootloader's `detected` comes from the ESP flag; an
    // explicit `metalos.first_boot=1` provisions without touching it.
    if sys::cmdline_value(cmdline, "metalos.first_boot") == Some("detected")
        && esp.exists(FIRST_BOOT_FLAG)
    {
        esp.remove(FIRST_BOOT_FLAG)
            .context("removing the first-boot flag")?;
        sys::say(PROG, "first boot complete: flag removed");
    }
    Ok(())
}

/// The device to mount as /usr: a dm-verity device over the slot when the
/// bootloader passed `metalos.verity=`, else the partition itself (a slot
/// from before dm-verity), said loudly.
fn usr_device(cmdline: &str, part: &Path) -> Result<PathBuf> {
    let Some(value) = sys::cmdline_value(cmdline, "metalos.verity") else {
        sys::say(
            PROG,
            &format!(
                "unverified: no metalos.verity= on the command line; mounting {} without dm-verity",
                part.display()
            ),
        );
        return Ok(part.to_owned());
    };
    let args = verity::VerityArgs::parse(value)?;
    let start = std::time::Instant::now();
    let dev = verity::setup("usr", part, &args).context("setting up dm-verity for /usr")?;
    sys::say(
        PROG,
        &format!(
            "verity: /usr on {} (root hash {}, {} data blocks, {} ms)",
            dev.display(),
            args.root_hash,
            args.data_blocks,
            start.elapsed().as_millis()
        ),
    );
    Ok(dev)
}

/// Re-reads the partition table; the kernel may still be probing the
/// disk, so EBUSY is retried briefly.
fn reread(dev: &std::fs::File) -> Result<()> {
    for _ in 0..20 {
        if blockdev::reread_partitions(dev).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    blockdev::reread_partitions(dev).context("re-reading the partition table")
}
