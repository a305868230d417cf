//! `metalos inputs …`.

use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

/// `metalos inputs` subcommands.
#[derive(Subcommand)]
pub enum InputsCommand {
    /// Download the Debian packages providing the inputs (kernel, modules,
    /// systemd-stub, busybox, OVMF) with `apt-get download`, unpack them
    /// with `dpkg-deb -x` (nothing is installed) and write DIR/inputs.json.
    Fetch {
        /// Cache directory.
        #[arg(long, default_value = ".cache/inputs")]
        dir: PathBuf,
    },
}

/// Runs an `inputs` subcommand.
pub fn run(cmd: InputsCommand, progress: &Progress) -> Result<()> {
    match cmd {
        InputsCommand::Fetch { dir } => {
            let step = |s: &str| progress.step(s);
            let manifest = metalos_inputs::fetch(&dir, &step)
                .with_context(|| format!("fetching inputs into {} failed", dir.display()))?;
            for (name, entry) in &manifest.inputs {
                progress.step(&format!(
                    "{name}: {} ({})",
                    entry.path.display(),
                    &entry.sha256[..16]
                ));
            }
            println!("{}", dir.join(metalos_inputs::MANIFEST_NAME).display());
            Ok(())
        }
    }
}
