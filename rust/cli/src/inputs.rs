//! `metalos inputs …`.

use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Subcommand;
use metalos_config::InputsManifest;
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
    /// Write an inputs manifest from NAME=PATH pairs (what Nix does with
    /// store paths; also used for locally built static binaries).
    Manifest {
        /// Output manifest file.
        #[arg(short, long, value_name = "INPUTS.json")]
        output: PathBuf,
        /// Inputs as NAME=PATH (files or directories).
        #[arg(value_name = "NAME=PATH", required = true)]
        entries: Vec<String>,
    },
}

/// Loads and merges manifests (none → empty).
pub fn load_all(paths: &[PathBuf]) -> Result<InputsManifest> {
    let mut all = InputsManifest::new();
    for p in paths {
        let m = InputsManifest::load(p)?;
        all.merge(m).map_err(|name| {
            anyhow::anyhow!(
                "input {name:?} is defined by more than one manifest (last: {})",
                p.display()
            )
        })?;
    }
    Ok(all)
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
        InputsCommand::Manifest { output, entries } => {
            let mut manifest = InputsManifest::new();
            for e in &entries {
                let (name, path) = e
                    .split_once('=')
                    .with_context(|| format!("{e:?} is not NAME=PATH"))?;
                let entry = InputsManifest::describe(std::path::Path::new(path))
                    .with_context(|| format!("input {name}: cannot read {path}"))?;
                manifest.inputs.insert(name.to_string(), entry);
            }
            let text = serde_json::to_string_pretty(&manifest)? + "\n";
            crate::output::write_atomic(&output, text.as_bytes())?;
            progress.step(&format!(
                "wrote {} ({} inputs)",
                output.display(),
                manifest.inputs.len()
            ));
            Ok(())
        }
    }
}
