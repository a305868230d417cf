//! `metalos uki`.

use crate::output::{read, write_atomic};
use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use metalos_uki::UkiInputs;
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
    let inputs = UkiInputs {
        kernel: read(&args.kernel, "kernel")?,
        initrd: args
            .initrd
            .as_ref()
            .map(|p| read(p, "initrd"))
            .transpose()?,
        cmdline: args.cmdline.clone(),
        osrel: args
            .os_release
            .as_ref()
            .map(|p| read(p, "os-release"))
            .transpose()?,
        uname: args.uname.clone(),
    };
    let uki = inputs
        .build(&stub)
        .with_context(|| format!("cannot build a UKI from stub {}", args.stub.display()))?;
    write_atomic(&args.output, &uki)?;
    progress.step(&format!(
        "wrote {} ({} bytes)",
        args.output.display(),
        uki.len()
    ));
    Ok(())
}
