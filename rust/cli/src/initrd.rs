//! `metalos initrd`.

use crate::output::{read, source_date_epoch, write_atomic};
use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use metalos_config::Resolver;
use metalos_initrd::{build, BuildOptions, InitrdSpec};
use std::path::PathBuf;

/// Arguments of `metalos initrd`.
#[derive(Args)]
pub struct InitrdArgs {
    /// Initrd spec (TOML, see docs/initrd-spec.md).
    spec: PathBuf,
    /// Inputs manifest (JSON) for `{ input = … }` sources; repeatable.
    #[arg(long, value_name = "INPUTS.json")]
    inputs: Vec<PathBuf>,
    /// Output file (cpio newc, optionally zstd-compressed).
    #[arg(short, long, value_name = "INITRD")]
    output: PathBuf,
}

/// Runs `metalos initrd`.
pub fn run(args: InitrdArgs, progress: &Progress) -> Result<()> {
    let text = String::from_utf8(read(&args.spec, "initrd spec")?)
        .with_context(|| format!("{} is not UTF-8", args.spec.display()))?;
    let spec = InitrdSpec::from_toml(&text)
        .with_context(|| format!("invalid initrd spec {}", args.spec.display()))?;
    let inputs = crate::inputs::load_all(&args.inputs)?;
    let base = args.spec.parent().map(PathBuf::from).unwrap_or_default();
    let resolver = Resolver::new(base, inputs);
    progress.step("collecting files, libraries and modules; writing the archive");
    let options = BuildOptions {
        mtime: source_date_epoch()?.unwrap_or(0),
        cache: None,
    };
    let bytes = build(&spec, &resolver, &options)
        .with_context(|| format!("building the initrd from {} failed", args.spec.display()))?;
    write_atomic(&args.output, &bytes)?;
    progress.step(&format!(
        "wrote {} ({} bytes)",
        args.output.display(),
        bytes.len()
    ));
    Ok(())
}
