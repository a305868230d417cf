//! MetalOS VM test harness: boots artifacts under QEMU (+ OVMF) the way a
//! machine would and lets tests assert on the serial console and run
//! commands in the guest — a small Rust counterpart of the NixOS test
//! driver. Used by the VM tests (`tests/`) and by `metalos-vm`.
//!
//! ```no_run
//! use metalos_vmtest::{Disk, Machine};
//! use std::time::Duration;
//! # fn main() -> Result<(), metalos_vmtest::VmError> {
//! let mut m = Machine::builder("my_test")      // logs: <target>/vmtest-logs/my_test/machine/
//!     .disk(Disk::overlay("out/default/disk.img")) // the image itself is never written
//!     .build()?;                                // UEFI (OVMF) by default
//! m.start()?;
//! let caps = m.wait_for_console(r"metalos: slot (\w)", Duration::from_secs(120))?;
//! assert_eq!(caps[1], "A");
//! m.crash()?;                                   // SIGKILL, like a power cut
//! m.restart()?;                                 // same overlays, same OVMF VARS
//! # Ok(()) }
//! ```
//!
//! Modules:
//!
//! * [`machine`] — [`Machine`], [`MachineBuilder`]: start, `wait_for_console`,
//!   `send_console`, `run`/`succeed` (agent), `wait_for_shutdown`, `crash`,
//!   `restart`, `shutdown`, `run_interactive`.
//! * [`config`] — [`Disk`] (overlay or direct, virtio-blk or NVMe, 4K
//!   blocks), [`Nic`] + [`UserNet`] (`restrict=on`, TFTP, loopback-only
//!   forwards), [`Accel`] (TCG; KVM with `METALOS_VM_ACCEL=kvm`).
//! * [`netns`] — [`NetnsLab`]: the privileged tier, a NIC on a bridge in an
//!   anonymous network namespace with dnsmasq (DHCP, PXE/HTTP Boot answers),
//!   HTTP and HTTPS servers (root only).
//! * [`agent`] — the guest command protocol over the second serial port.
//! * [`guest`] — [`guest::GuestInitrd`]: busybox test initrds with module closures.
//! * [`paths`] — workspace, log directory, inputs manifest, QEMU/OVMF and
//!   host program lookup.
//! * [`slots`] — the `flock` semaphore limiting concurrent VMs (`METALOS_VM_JOBS`).
//! * [`qcow2`] — qcow2 overlays over raw images, written without `qemu-img`.
//! * [`error`] — [`VmError`]; machine errors carry the console tail and log paths.
//! * `quote` (internal) — shell quoting and QEMU option escaping
//!   ([`config::escape`]).
//! * `qmp`, `stream` (internal) — the QMP client; console and agent
//!   streams with their logs.
//!
//! QEMU always runs with `-nodefaults` (no implicit NIC, display or disk)
//! and TCG unless `METALOS_VM_ACCEL=kvm`. See `docs/vm-tests.md`.

#![warn(missing_docs)]

pub mod agent;
pub mod config;
pub mod error;
pub mod guest;
pub mod machine;
pub mod netns;
pub mod paths;
pub mod qcow2;
mod qmp;
mod quote;
pub mod slots;
mod stream;

pub use config::{Accel, Boot, Disk, DiskInterface, GuestFwd, HostFwd, Nic, UserNet};
pub use error::{ConsoleContext, Result, VmError};
pub use machine::{Captures, Machine, MachineBuilder, TCG_CPU};
pub use netns::NetnsLab;
pub use paths::Tools;
