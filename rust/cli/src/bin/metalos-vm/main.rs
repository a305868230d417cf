//! The `metalos-vm` command: boots MetalOS images under QEMU + OVMF with
//! the VM harness (`metalos-vmtest`, see docs/vm-tests.md). It is a
//! separate binary so that the `metalos` binary shipped inside every image
//! carries no QEMU harness; `metalos vm …` runs it.
//!
//! Modules: `boot` (`metalos-vm boot`, and running a machine until a
//! console match), `check` (the acceptance scenarios), `netboot` (a blank
//! machine netbooting a bundle), `options` (argument parsing shared by
//! them).

mod boot;
mod check;
mod netboot;
mod options;

use clap::{Parser, Subcommand};

/// MetalOS VM tools: boot images and bundles under QEMU + OVMF, run the
/// acceptance scenarios.
#[derive(Parser)]
#[command(name = "metalos-vm", version, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: VmCommand,
}

/// `metalos-vm` subcommands.
#[derive(Subcommand)]
enum VmCommand {
    /// Boot a disk image under OVMF (UEFI) with QEMU.
    ///
    /// Without --expect the serial console is this terminal (QEMU's
    /// `-serial mon:stdio -nographic`; `Ctrl-a x` quits, `Ctrl-a c` toggles
    /// the monitor). With --expect the console is shown as it arrives and
    /// the command exits 0 as soon as REGEX appears, or non-zero with the
    /// console tail after --timeout. The image is never modified unless
    /// --persist: the VM writes to a qcow2 overlay in the log directory.
    Boot(boot::BootArgs),
    /// Run an acceptance scenario against built images (what `nix flake
    /// check` runs): exits 0 with PASS, or non-zero naming the failed step.
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Netboot a blank machine from a netboot bundle (`metalos netboot
    /// build`): the bundle is served over QEMU's TFTP (boot.ipxe) and HTTP
    /// at 10.0.2.100, so build it with `--base-url http://10.0.2.100`.
    Netboot(netboot::NetbootArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        VmCommand::Boot(args) => boot::run(args),
        VmCommand::Check(cmd) => check::run(cmd),
        VmCommand::Netboot(args) => netboot::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
