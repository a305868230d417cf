//! [`Machine`]: one QEMU virtual machine and the operations a test performs
//! on it. Built with [`MachineBuilder`] (from [`Machine::builder`]).
//!
//! # Channels
//!
//! The harness creates Unix sockets in a private temp directory and QEMU
//! connects to them as a client at startup, so nothing races:
//!
//! * `console.sock` — the first serial port (`ttyS0`, also OVMF's console).
//!   A thread appends everything to `console.log` and an in-memory buffer.
//! * `agent.sock` — the second serial port (`ttyS1`), for the command agent
//!   (see [`crate::agent`]), when enabled; logged to `agent.log`.
//! * `qmp.sock` — QMP, for `quit` and the ACPI power button.
//!
//! # Files
//!
//! Everything a machine writes is in its directory
//! `<logs>/<test>/<machine>/` (see [`crate::paths`]), emptied when the
//! machine is built: `console.log` (every boot, with a separator line per
//! boot), `qemu.log` (QEMU's command line and its stdout/stderr),
//! `agent.log`, `OVMF_VARS.fd` (the private variable store) and
//! `disk<N>.qcow2` overlays (removed when the machine is dropped, unless
//! the test is failing); with NICs on a [`NetnsLab`](crate::NetnsLab)
//! also `netns-setup.sh` and the lab's server logs (see [`crate::netns`]).
//!
//! # Lifetime
//!
//! QEMU is killed when the [`Machine`] is dropped (also while unwinding from
//! a panic), and — through `PR_SET_PDEATHSIG` — when the thread that started
//! it exits, so it never outlives the test. Start a machine from the thread
//! that owns it. While QEMU runs the machine holds one slot of the global
//! VM limit ([`crate::slots`]).
//!
//! # Source files
//!
//! `spec` (what the builder records), `builder` ([`MachineBuilder`] and
//! the preparation of the machine directory), `state` ([`Machine`] and what
//! it reports), `qemu_args` (QEMU's command line), `launch` (the process:
//! namespace launcher, parent-death signal, logged command line),
//! `sockets` (the harness sockets), `start` and `stop` (QEMU's lifecycle),
//! `console` (console matching, typing, and the guest agent).

mod builder;
mod console;
mod launch;
mod qemu_args;
mod sockets;
mod spec;
mod start;
mod state;
mod stop;
#[cfg(test)]
mod tests;

pub use builder::MachineBuilder;
pub use console::Captures;
pub use qemu_args::TCG_CPU;
pub use state::Machine;
