//! `metalos-vm netboot BUNDLE`: a blank machine that PXE-boots a netboot
//! bundle — the way to try a bundle (and to time imaging) before a fleet
//! does.

use crate::boot::interact_or_expect;
use crate::options::{inputs_manifest, memory_mib};
use anyhow::{bail, Context, Result};
use clap::Args;
use metalos_config::ByteSize;
use metalos_vmtest::{Disk, Machine, Nic, Tools, UserNet};
use std::path::PathBuf;

/// Guest address of the bundle's HTTP server (the `--base-url` to build with).
const HTTP: &str = "10.0.2.100:80";

/// `metalos-vm netboot` arguments.
#[derive(Args)]
pub struct NetbootArgs {
    /// Netboot bundle directory (boot.ipxe, imaging.efi, blobs/, hosts/).
    pub bundle: PathBuf,
    /// The NIC's MAC address (selects hosts/<mac>.json).
    #[arg(long, default_value = "52:54:00:12:34:56")]
    pub mac: String,
    /// The machine's disk: kept after the run (created blank and sparse if
    /// missing). Default: a blank disk in the log directory.
    #[arg(long, value_name = "FILE")]
    pub disk: Option<PathBuf>,
    /// Size of a newly created disk.
    #[arg(long, value_name = "S", default_value = "3GiB")]
    pub disk_size: String,
    /// Exit 0 once the console prints a match of this regex.
    #[arg(long, value_name = "REGEX")]
    pub expect: Option<String>,
    /// Seconds to wait for --expect.
    #[arg(long, value_name = "S", default_value_t = 600)]
    pub timeout: u64,
    /// Guest memory: a size or a number of MiB.
    #[arg(long, value_name = "M", default_value = "1024")]
    pub memory: String,
    /// Inputs manifest to find OVMF and QEMU in.
    #[arg(long, value_name = "INPUTS.json")]
    pub inputs: Option<PathBuf>,
}

/// Runs `metalos-vm netboot`.
pub fn run(args: NetbootArgs) -> Result<()> {
    let bundle = std::path::absolute(&args.bundle)
        .with_context(|| format!("bundle {}", args.bundle.display()))?;
    if !bundle.join("boot.ipxe").is_file() {
        bail!(
            "{} is not a netboot bundle (no boot.ipxe)",
            bundle.display()
        );
    }
    let manifest = inputs_manifest(args.inputs.as_deref())?;
    let memory = memory_mib(&args.memory).with_context(|| format!("--memory {}", args.memory))?;
    let size = ByteSize::parse(&args.disk_size)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--disk-size {}", args.disk_size))?;
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let disk = args
        .disk
        .clone()
        .unwrap_or_else(|| scratch.path().join("disk.raw"));
    if !disk.exists() {
        let f =
            std::fs::File::create(&disk).with_context(|| format!("creating {}", disk.display()))?;
        f.set_len(size.0)
            .with_context(|| format!("sizing {}", disk.display()))?;
    }
    let net = UserNet::new()
        .tftp(&bundle, "boot.ipxe")
        .http_dir(HTTP, &bundle);
    let mut vm = Machine::builder("metalos-vm-netboot")
        .tools(Tools::find(manifest.as_ref()).context("looking for QEMU")?)
        .uefi()
        .memory_mib(memory)
        .disk(Disk::direct(&disk).bootindex(1))
        .nic(Nic::new(net).mac(&args.mac).bootindex(2))
        .echo_console(true)
        .build()
        .context("preparing the VM")?;
    eprintln!(
        "metalos vm: netbooting {} (MAC {}), disk {}, logs in {}",
        bundle.display(),
        args.mac,
        disk.display(),
        vm.dir().display()
    );
    let what = format!("netboot of {}", bundle.display());
    interact_or_expect(&mut vm, args.expect.as_deref(), args.timeout, &what)
}
