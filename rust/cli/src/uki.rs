//! `metalos uki`.

use crate::output::{read, write_atomic};
use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use metalos_uki::{build_uki, UkiSections};
use std::path::PathBuf;

/// Arguments of `metalos uki`.
#[derive(Args)]
pub struct UkiArgs {
    /// systemd-stub EFI program (linuxx64.efi.stub).
    #[arg(long)]
    stub: PathBuf,
    /// Kernel (bzImage).
    #[arg(long)]
    kernel: PathBuf,
    /// Initrd.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// Kernel command line embedded in .cmdline.
    #[arg(long, default_value = "")]
    cmdline: String,
    /// os-release file embedded in .osrel.
    #[arg(long, value_name = "FILE")]
    os_release: Option<PathBuf>,
    /// Kernel release for .uname (default: read from the bzImage header).
    #[arg(long)]
    uname: Option<String>,
    /// Output EFI program.
    #[arg(short, long, value_name = "UKI.efi")]
    output: PathBuf,
}

/// Runs `metalos uki`.
pub fn run(args: UkiArgs, progress: &Progress) -> Result<()> {
    let stub = read(&args.stub, "stub")?;
    let kernel = read(&args.kernel, "kernel")?;
    let initrd = args
        .initrd
        .as_ref()
        .map(|p| read(p, "initrd"))
        .transpose()?;
    let osrel = args
        .os_release
        .as_ref()
        .map(|p| read(p, "os-release"))
        .transpose()?;
    let uname = args
        .uname
        .clone()
        .or_else(|| metalos_uki::bzimage_release(&kernel));
    let cmdline = (!args.cmdline.is_empty()).then_some(args.cmdline.as_bytes());
    let sections = UkiSections {
        linux: &kernel,
        initrd: initrd.as_deref(),
        cmdline,
        osrel: osrel.as_deref(),
        uname: uname.as_deref().map(str::as_bytes),
    };
    let uki = build_uki(&stub, &sections)
        .with_context(|| format!("cannot build a UKI from stub {}", args.stub.display()))?;
    write_atomic(&args.output, &uki)?;
    progress.step(&format!(
        "wrote {} ({} bytes)",
        args.output.display(),
        uki.len()
    ));
    Ok(())
}
