//! The MetalOS in-initrd runtime. Everything here runs as (or for) PID 1 in
//! a tiny initrd: no shell, no udev, no libc beyond a static binary.
//!
//! * [`sys`] mounts and console output;
//! * [`modules`] loads kernel modules (with dependencies) from the initrd;
//! * [`blockdev`] finds disks and partitions and reads their GPT;
//! * [`efivar`] reads what systemd-stub exported (LoaderDevicePartUUID);
//! * [`esp`] reads the HostConfig and first-boot flag from the ESP in place;
//! * [`slots`] chooses the `/usr` slot by gptprio and counts tries down;
//! * [`kexec`] starts a kernel; [`slotboot`] mounts a slot and kexecs its payload
//!   after [`slotverify`] checked it; [`verity`] sets up dm-verity for `/usr`;
//! * [`firstboot`] randomizes GUIDs and grows ROOT; [`rootfs`] formats and
//!   mounts it; [`netnames`] renames NICs; [`switchroot`] hands over;
//! * [`emergency`] the defined failure path.

pub mod blockdev;
pub mod efivar;
pub mod emergency;
pub mod esp;
pub mod firstboot;
pub mod imaging;
pub mod kexec;
pub mod modules;
pub mod netnames;
pub mod provision;
pub mod rootfs;
pub mod slotboot;
pub mod slots;
pub mod slotverify;
pub mod switchroot;
pub mod sys;
pub mod verity;
