//! The MetalOS in-initrd runtime and its three PID-1 programs. Everything
//! here runs as (or for) PID 1 in a tiny initrd: no shell, no udev, no
//! libc beyond a static binary. Disks, partitions, gptprio slots and the
//! ESP read in place are `metalos_disk` ([`metalos_disk::blockdev`],
//! [`metalos_disk::slots`], [`metalos_disk::esp_partition`]).
//!
//! Each program's stages (`src/bin/*` only call their `run`):
//! * [`bootloader`] — `metalos-bootloader`, PID 1 of the bootloader UKI:
//!   finds the boot disk, chooses the `/usr` slot and boots it;
//! * [`metalinit`] — `metalinit`, PID 1 of the setup initrd: first-boot disk
//!   work, ROOT, `/usr`, identity, provisioning, switch-root;
//! * [`metalimage`] — `metalimage`, PID 1 of the imaging initrd: network,
//!   HostConfig, the image written to disk, then the slot boot.
//!
//! Shared by them:
//! * [`sys`] — mounts, the kernel command line, console output;
//! * [`modules`] — loads kernel modules (with dependencies) from the initrd;
//! * [`efivar`] — reads what systemd-stub exported (LoaderDevicePartUUID);
//! * [`slotboot`] — boots a slot (metalos-bootloader and metalimage):
//!   [`slotverify`] checks its descriptor (and the whole slot when
//!   dm-verity is unavailable), [`slotread`] copies its payload out through
//!   dm-verity, [`kexec`] starts the kernel;
//! * [`oemid`] — the platform id for the slot kernel (`metalos.oem.id=`):
//!   HostConfig `oem-id`, else the OEM partition's `oem-release`;
//! * [`verity`] — sets up (and removes) dm-verity over a `/usr` slot;
//! * [`emergency`] — the defined failure path and every program's `main`.

pub mod bootloader;
pub mod efivar;
pub mod emergency;
pub mod kexec;
pub mod metalimage;
pub mod metalinit;
pub mod modules;
pub mod oemid;
pub mod slotboot;
pub mod slotread;
pub mod slotverify;
pub mod sys;
pub mod verity;
