//! `metalos build`.

use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use metalos_config::spec::ImageSpec;
use metalos_config::{InputsManifest, Resolver};
use metalos_image::{build, BuildOptions};
use std::path::PathBuf;

/// Arguments of `metalos build`.
#[derive(Args)]
pub struct BuildArgs {
    /// Image spec (TOML), e.g. images/default.toml.
    spec: PathBuf,
    /// Inputs manifest (JSON) written by `metalos inputs fetch` or by Nix.
    #[arg(long, value_name = "INPUTS.json")]
    inputs: Option<PathBuf>,
    /// Output directory; receives disk.img and manifest.json.
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `metalos build`.
pub fn run(args: BuildArgs, progress: &Progress) -> Result<()> {
    let spec = ImageSpec::load(&args.spec)
        .with_context(|| format!("invalid image spec {}", args.spec.display()))?;
    let inputs = match &args.inputs {
        Some(path) => InputsManifest::load(path)?,
        None => InputsManifest::new(),
    };
    let base = args.spec.parent().map(PathBuf::from).unwrap_or_default();
    let resolver = Resolver::new(base, inputs);
    let source_date_epoch = crate::output::source_date_epoch()?;
    let step = |s: &str| progress.step(s);
    let options = BuildOptions {
        out_dir: args.out.clone(),
        source_date_epoch,
        progress: &step,
    };
    let manifest = build(&spec, &resolver, &options).with_context(|| {
        format!(
            "building {} failed; nothing was written to {}",
            args.spec.display(),
            args.out.display()
        )
    })?;
    progress.step(&format!(
        "wrote {} ({} MiB, sha256 {})",
        args.out.join(&manifest.disk.file).display(),
        manifest.disk.size >> 20,
        &manifest.disk.sha256[..16]
    ));
    Ok(())
}
