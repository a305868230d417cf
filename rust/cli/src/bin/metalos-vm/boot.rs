//! `metalos-vm boot IMAGE`: a disk image under QEMU + OVMF, with the
//! console on this terminal or until it prints a match.

use crate::options::{inputs_manifest, memory_mib};
use anyhow::{bail, Context, Result};
use clap::Args;
use metalos_config::ByteSize;
use metalos_vmtest::{Disk, Machine, Tools};
use std::path::PathBuf;
use std::time::Duration;

/// `metalos-vm boot` arguments.
#[derive(Args)]
pub struct BootArgs {
    /// Raw disk image (e.g. out/default/disk.img).
    pub image: PathBuf,
    /// Exit 0 once the console prints a match of this regex.
    #[arg(long, value_name = "REGEX")]
    pub expect: Option<String>,
    /// Seconds to wait for --expect.
    #[arg(long, value_name = "S", default_value_t = 300)]
    pub timeout: u64,
    /// Guest memory: a size (`2GiB`, `512MiB`) or a number of MiB.
    #[arg(long, value_name = "M", default_value = "1024")]
    pub memory: String,
    /// Grow the overlay's virtual disk size to this size (`8GiB`), e.g. to
    /// exercise first-boot growing of ROOT.
    #[arg(long, value_name = "S", conflicts_with = "persist")]
    pub disk_size: Option<String>,
    /// Let the VM write to the image itself instead of an overlay.
    #[arg(long)]
    pub persist: bool,
    /// Inputs manifest to find OVMF (and QEMU) in (default:
    /// $METALOS_INPUTS or .cache/inputs/inputs.json if present, else the
    /// system's /usr/share/OVMF and qemu-system-x86_64).
    #[arg(long, value_name = "INPUTS.json")]
    pub inputs: Option<PathBuf>,
}

/// Runs `metalos-vm boot`.
pub fn run(args: BootArgs) -> Result<()> {
    if !args.image.is_file() {
        bail!("disk image {} does not exist", args.image.display());
    }
    let manifest = inputs_manifest(args.inputs.as_deref())?;
    let tools = Tools::find(manifest.as_ref()).context("looking for QEMU")?;
    let memory = memory_mib(&args.memory).with_context(|| format!("--memory {}", args.memory))?;
    let mut disk = if args.persist {
        Disk::direct(&args.image)
    } else {
        Disk::overlay(&args.image)
    };
    if let Some(size) = &args.disk_size {
        let size = ByteSize::parse(size)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--disk-size {size}"))?;
        disk = disk.grow_to(size.0);
    }
    let name = args
        .image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk".into());
    let mut vm = Machine::builder("metalos-vm")
        .name(&name)
        .tools(tools)
        .uefi()
        .memory_mib(memory)
        .disk(disk.bootindex(1))
        .echo_console(true)
        .build()
        .with_context(|| format!("preparing a VM for {}", args.image.display()))?;
    eprintln!("metalos vm: logs and overlay in {}", vm.dir().display());

    let what = args.image.display().to_string();
    interact_or_expect(&mut vm, args.expect.as_deref(), args.timeout, &what)
}

/// Runs `vm` with the console on this terminal, or (with `expect`) until
/// the console prints a match, failing after `timeout` seconds.
pub(crate) fn interact_or_expect(
    vm: &mut Machine,
    expect: Option<&str>,
    timeout: u64,
    what: &str,
) -> Result<()> {
    let Some(pattern) = expect else {
        let status = vm.run_interactive().context("running QEMU")?;
        if !status.success() {
            bail!(
                "QEMU exited with {status} (see {})",
                vm.qemu_log().display()
            );
        }
        return Ok(());
    };
    vm.start().context("starting QEMU")?;
    let caps = vm
        .wait_for_console(pattern, Duration::from_secs(timeout))
        .with_context(|| format!("{what} did not print /{pattern}/ within {timeout}s"))?;
    eprintln!("\nmetalos vm: matched {:?}", caps[0]);
    vm.shutdown().context("stopping QEMU")?;
    Ok(())
}
