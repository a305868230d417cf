//! `metalos inspect`.

use anyhow::{bail, Context, Result};
use clap::Args;
use metalos_image::inspect::{inspect_disk, looks_like_disk, render_disk};
use std::path::PathBuf;

/// Arguments of `metalos inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// A disk image.
    path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `metalos inspect`.
pub fn run(args: InspectArgs) -> Result<()> {
    let file = std::fs::File::open(&args.path)
        .with_context(|| format!("cannot open {}", args.path.display()))?;
    if !looks_like_disk(&file) {
        bail!(
            "{}: not a recognised artifact (expected a GPT disk image)",
            args.path.display()
        );
    }
    let report = inspect_disk(&file)
        .with_context(|| format!("{}: cannot read the partition table", args.path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_disk(&report));
    }
    Ok(())
}
