//! `metalinit`: PID 1 of the setup initrd. Finds the root disk by the GUIDs
//! the bootloader handed over, does the first-boot work (new disk GUID,
//! grow + format ROOT), mounts ROOT, the `/usr` slot (through dm-verity
//! when the bootloader passed `metalos.verity=`) and the `/etc`
//! overlay, applies the HostConfig identity and NIC names, provisions
//! (Ignition configs, first boot only; see `metalos_boot::provision`), and
//! switch-roots into the rootfs init.

use anyhow::{bail, Context, Result};
use metalos_boot::emergency::{pid1_main, Policy};
use metalos_boot::esp::{EspHandle, FIRST_BOOT_FLAG};
use metalos_boot::{
    blockdev, firstboot, modules, netnames, provision, rootfs, switchroot, sys, verity,
};
use metalos_config::hostconfig::HostConfig;
use metalos_config::spec::type_guid;
use std::time::Duration;

const PROG: &str = "metalinit";
const SYSROOT: &str = "/sysroot";
/// mkfs for ROOT, carried in the setup initrd with its libraries.
const MKFS_BTRFS: &str = "/usr/sbin/mkfs.btrfs";
/// The rootfs init (busybox init in the default image).
const ROOTFS_INIT: &str = "/sbin/init";

fn main() {
    pid1_main(PROG, run);
}

fn run(cmdline: &str, policy: &mut Policy) -> Result<()> {
    sys::mount_api_filesystems().context("mounting /proc, /sys, /dev, /run")?;
    sys::say(PROG, "started");
    modules::load_all().context("loading the initrd's kernel modules")?;
    blockdev::wait_for_disks(Duration::from_secs(10));
    let usr_guid = sys::cmdline_uuid(cmdline, "metalos.usr")?;
    let disk_guid = sys::cmdline_uuid(cmdline, "metalos.root_disk")?;
    let first_boot = provision::first_boot_requested(cmdline);

    // The disk holding the chosen /usr slot must also carry the disk GUID we were given.
    let hint = sys::cmdline_value(cmdline, "metalos.boot_disk");
    let (disk, _, usr) = blockdev::find_partition_on(&usr_guid, hint)
        .map_err(|e| anyhow::anyhow!("finding the /usr slot {usr_guid}: {e}"))?;
    let (mut gpt, _) = blockdev::read_gpt(&disk)?;
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
    let esp = EspHandle::find(&disk, &gpt).context("the root disk has no ESP")?;
    let host_config: Option<HostConfig> = esp.read_host_config()?;
    if let Some(h) = &host_config {
        policy.apply_host_config(h);
    }

    sys::say(
        PROG,
        &format!(
            "HostConfig: {}",
            if host_config.is_some() {
                "found"
            } else {
                "none on the ESP"
            }
        ),
    );
    let dev_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)?;
    if sys::cmdline_value(cmdline, "metalos.randomize_guid").is_some() || first_boot {
        let size = blockdev::device_size(&dev_file)?;
        let changes = firstboot::prepare_disk(&dev_file, &mut gpt, size)
            .context("first-boot partition table changes")?;
        if changes != Default::default() {
            sys::say(PROG, &format!("first boot: {changes:?}"));
            reread(&dev_file)?;
        }
    }
    let root_type = type_guid("root-x86-64").expect("known");
    let root = gpt
        .partitions
        .iter()
        .find(|p| p.type_guid == root_type)
        .context("the root disk has no ROOT partition")?
        .clone();
    let root_dev = blockdev::wait_for_partition(&disk, root.number)?;
    if rootfs::is_blank(&root_dev)? {
        sys::say(
            PROG,
            &format!("formatting ROOT ({}) as btrfs", root_dev.display()),
        );
        rootfs::format(&root_dev, MKFS_BTRFS.as_ref(), "/run/metalos/rootfs")
            .context("formatting ROOT")?;
    }
    rootfs::mount_subvolumes(&root_dev, SYSROOT)?;
    rootfs::skeleton(SYSROOT)?;
    // A reset staged by `metalos reset`: before the /etc overlay hides its upper dir.
    if let Some(s) = metalos_reset::execute(SYSROOT.as_ref()).context("running the staged reset")? {
        sys::say(
            PROG,
            &format!("reset: deleted {}, kept {}", s.deleted, s.kept),
        );
        for f in &s.failures {
            sys::say(PROG, &format!("reset: not removed: {f}"));
        }
        rootfs::skeleton(SYSROOT)?; // recreates the skeleton links and dirs it removed
    }
    let usr_dev = blockdev::wait_for_partition(&disk, usr.number)?;
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
    if let Some(h) = &host_config {
        apply_identity(h, first_boot)?;
        rename_nics(h);
    }
    if first_boot {
        // Fails closed: an error goes to the emergency action with the
        // flag still on the ESP, so the next boot provisions again.
        provision::run(cmdline, host_config.as_ref(), SYSROOT.as_ref())?;
        // Only the bootloader's `detected` comes from the ESP flag; an
        // explicit `metalos.first_boot=1` provisions without touching it.
        if sys::cmdline_value(cmdline, "metalos.first_boot") == Some("detected")
            && esp.exists(FIRST_BOOT_FLAG)
        {
            esp.remove(FIRST_BOOT_FLAG)
                .context("removing the first-boot flag")?;
            sys::say(PROG, "first boot complete: flag removed");
        }
    }
    sys::say(
        PROG,
        &format!("switching root to {SYSROOT}, exec {ROOTFS_INIT}"),
    );
    switchroot::switch_root(SYSROOT, ROOTFS_INIT)?;
    unreachable!("switch_root returns only errors")
}

/// The device to mount as /usr: a dm-verity device over the slot when the
/// bootloader passed `metalos.verity=`, else the partition itself (a slot
/// from before dm-verity), said loudly.
fn usr_device(cmdline: &str, part: &std::path::Path) -> Result<std::path::PathBuf> {
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

fn reread(dev: &std::fs::File) -> Result<()> {
    // The kernel may still be probing the disk; retry briefly on EBUSY.
    for _ in 0..20 {
        if blockdev::reread_partitions(dev).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    blockdev::reread_partitions(dev).context("re-reading the partition table")
}

/// systemd in the rootfs (the server image); busybox images have none.
const SYSTEMD: &str = "/usr/lib/systemd/systemd";

fn apply_identity(h: &HostConfig, first_boot: bool) -> Result<()> {
    let etc = format!("{SYSROOT}/etc");
    write_if_changed(
        &format!("{etc}/hostname"),
        &format!("{}\n", h.identity.hostname),
    )?;
    // On a first boot into systemd, `uninitialized` makes systemd treat the
    // boot as its first: it applies the presets provisioning wrote (as on
    // Flatcar) and takes the id from `systemd.machine_id=`, which
    // metalos-bootloader puts on the command line.
    let systemd_first_boot =
        first_boot && std::path::Path::new(&format!("{SYSROOT}{SYSTEMD}")).exists();
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

fn rename_nics(h: &HostConfig) {
    for iface in &h.network.interfaces {
        let mac = iface.mac.to_string();
        match netnames::name_for_mac(&mac) {
            Some(cur) => match netnames::rename(&cur, &iface.name) {
                Ok(()) => sys::say(PROG, &format!("NIC {mac}: {cur} -> {}", iface.name)),
                Err(e) => sys::say(
                    PROG,
                    &format!("NIC {mac}: cannot rename {cur} to {}: {e}", iface.name),
                ),
            },
            None => sys::say(PROG, &format!("NIC {mac} ({}) not present", iface.name)),
        }
    }
}
