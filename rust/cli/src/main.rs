//! The `metalos` command: one module per subcommand (`build`, `initrd`,
//! `uki`, `inspect`, `update`, `netboot` with `netboot_image` for
//! `netboot image-write`, `release`, `fleet`, `provision`, `ssh_keys`,
//! `metadata`, `reset`, `keys`, `inputs`; `vm` only runs the separate
//! `metalos-vm` binary), plus `output` (writing artifacts safely) and
//! `progress` (per-step progress lines).
//! `src/bin/metalos-vm/` is the `metalos-vm` binary: the QEMU harness and
//! the VM scenarios, kept out of this binary, which ships in every image.

mod build;
mod fleet;
mod initrd;
mod inputs;
mod inspect;
mod keys;
mod metadata;
mod netboot;
mod netboot_image;
mod output;
mod progress;
mod provision;
mod release;
mod reset;
mod ssh_keys;
mod uki;
mod update;
mod update_agent;
mod vm;

use clap::{Parser, Subcommand};

/// MetalOS: build, inspect and boot bare-metal Linux images.
#[derive(Parser)]
#[command(name = "metalos", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Print only errors (no progress lines).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a GPT disk image (disk.img + manifest.json) from an image spec.
    Build(build::BuildArgs),
    /// Build an initrd (cpio newc + zstd) from an initrd spec.
    Initrd(initrd::InitrdArgs),
    /// Bundle a Unified Kernel Image: systemd-stub + kernel + initrd + cmdline.
    Uki(uki::UkiArgs),
    /// Describe a disk image (partitions, gptprio, ESP, /usr), a UKI (sections) or an initrd (entries).
    Inspect(inspect::InspectArgs),
    /// Boot disk images in QEMU + OVMF (console on the terminal, or --expect REGEX):
    /// runs the `metalos-vm` binary (not shipped in images) with these arguments.
    Vm(vm::VmArgs),
    /// A/B updates on a running host: stage, status, mark-good, rollback.
    #[command(subcommand)]
    Update(update::UpdateCommand),
    /// Netboot bundles: build (iPXE script, imaging UKI, image blob, HostConfigs),
    /// publish into a served tree, serve over HTTP.
    #[command(subcommand)]
    Netboot(netboot::NetbootCommand),
    /// Release channels: publish update bundles into a served tree, withdraw, list.
    #[command(subcommand)]
    Release(release::ReleaseCommand),
    /// The fleet server on etcd: FleetLock reboot slots, host reports, automatic
    /// halts of failing releases (serve), and its admin commands (status, unlock, resume).
    #[command(subcommand)]
    Fleet(fleet::FleetCommand),
    /// Ignition configs: validate them, apply them to a root directory.
    #[command(subcommand)]
    Provision(provision::ProvisionCommand),
    /// SSH keys: merge ~/.ssh/authorized_keys.d/* into authorized_keys (update-ssh-keys).
    SshKeys(ssh_keys::SshKeysArgs),
    /// The metadata agent (afterburn, Flatcar's coreos-metadata): afterburn's
    /// attributes, SSH keys and host name from the platform's metadata (aws, openstack).
    Metadata(metadata::MetadataArgs),
    /// Selective reset (flatcar-reset): delete everything on ROOT but --keep-paths at the next boot, then provision again.
    Reset(reset::ResetArgs),
    /// Operator keys: generate the signing key (ed25519, signs update and
    /// netboot manifests) and the Secure Boot PK/KEK/db (docs/signing.md).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage build inputs (kernel, systemd-stub, busybox, OVMF).
    #[command(subcommand)]
    Inputs(inputs::InputsCommand),
}

fn main() {
    let cli = Cli::parse();
    let progress = progress::Progress::new(cli.quiet);
    let result = match cli.command {
        Command::Build(args) => build::run(args, &progress),
        Command::Initrd(args) => initrd::run(args, &progress),
        Command::Uki(args) => uki::run(args, &progress),
        Command::Inspect(args) => inspect::run(args),
        Command::Inputs(cmd) => inputs::run(cmd, &progress),
        Command::Keys(cmd) => keys::run(cmd, &progress),
        Command::Vm(args) => vm::run(args),
        Command::Update(cmd) => update::run(cmd, &progress),
        Command::Netboot(cmd) => netboot::run(cmd, &progress),
        Command::Release(cmd) => release::run(cmd, &progress),
        Command::Fleet(cmd) => fleet::run(cmd),
        Command::Provision(cmd) => provision::run(cmd),
        Command::Reset(args) => reset::run(args),
        Command::SshKeys(args) => ssh_keys::run(args),
        Command::Metadata(args) => metadata::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
