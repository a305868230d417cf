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

/// The kernel release stored in a bzImage's setup header
/// (`kernel_version` pointer at 0x20e), e.g. `6.1.0-28-cloud-amd64`.
pub fn bzimage_release(kernel: &[u8]) -> Option<String> {
    if kernel.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*kernel.get(0x20e)?, *kernel.get(0x20f)?]) as usize + 0x200;
    let text = kernel.get(ptr..ptr.checked_add(256)?.min(kernel.len()))?;
    let end = text.iter().position(|b| *b == 0 || *b == b' ')?;
    std::str::from_utf8(&text[..end])
        .ok()
        .map(str::to_string)
        .filter(|s| !s.is_empty())
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
    let uname = args.uname.clone().or_else(|| bzimage_release(&kernel));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_from_setup_header() {
        let mut k = vec![0u8; 0x1000];
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x20e..0x210].copy_from_slice(&0x300u16.to_le_bytes());
        k[0x500..0x520].copy_from_slice(b"6.1.0-9-cloud-amd64 (debian) #1\0");
        assert_eq!(bzimage_release(&k).as_deref(), Some("6.1.0-9-cloud-amd64"));
        assert_eq!(bzimage_release(&[0u8; 16]), None);
    }
}
