//! `metalos provision validate|apply`: Ignition configs offline.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use metalos_ignition::apply::{
    apply_configs, merge_parsed, parse_inputs, prepare, ApplyOptions, Input,
};
use metalos_ignition::resource::HttpFetcher;
use metalos_ignition::Error;
use std::path::PathBuf;
use std::sync::Arc;

/// `metalos provision …`.
#[derive(Subcommand)]
pub enum ProvisionCommand {
    /// Check Ignition configs (spec 3.0.0-3.5.0, 2.x translated) like
    /// ignition-validate: errors and warnings with JSON paths; exit 1 on
    /// any error. Several configs are also checked merged, in order.
    Validate(ValidateArgs),
    /// Apply Ignition configs to a root directory (offline: image builds
    /// and tests). Configs merge in the order given (base first, the user
    /// config last). Every resource is fetched and verified and every
    /// change planned before the first write; on any error DIR is left as
    /// it was.
    Apply(ApplyArgs),
}

/// Arguments of `metalos provision validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// Config files (`-` = standard input).
    #[arg(required = true, value_name = "CONFIG")]
    configs: Vec<PathBuf>,
    /// Unknown keys are errors, not warnings.
    #[arg(long)]
    strict: bool,
    /// Also fetch every resource (data: URLs and http(s)) and check hashes.
    #[arg(long)]
    fetch: bool,
}

/// Arguments of `metalos provision apply`.
#[derive(Args)]
pub struct ApplyArgs {
    /// Root directory to provision.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Config files, merged in order (`-` = standard input).
    #[arg(required = true, value_name = "CONFIG")]
    configs: Vec<PathBuf>,
    /// Unknown keys are errors, not warnings.
    #[arg(long)]
    strict: bool,
    /// PEM bundle of trusted roots for https (default: built-in Mozilla roots).
    #[arg(long, value_name = "PEM")]
    ca_bundle: Option<PathBuf>,
}

/// Runs a `provision` subcommand.
pub fn run(cmd: ProvisionCommand) -> Result<()> {
    match cmd {
        ProvisionCommand::Validate(a) => validate(a),
        ProvisionCommand::Apply(a) => apply(a),
    }
}

fn read_inputs(paths: &[PathBuf]) -> Result<Vec<Input>> {
    paths
        .iter()
        .map(|p| {
            let bytes = if p.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                    .context("reading standard input")?;
                b
            } else {
                std::fs::read(p).with_context(|| format!("reading {}", p.display()))?
            };
            Ok(Input {
                name: p.display().to_string(),
                bytes,
            })
        })
        .collect()
}

fn fetcher(ca: Option<PathBuf>) -> Result<Arc<dyn metalos_ignition::resource::Fetcher>> {
    Ok(Arc::new(
        HttpFetcher::new(ca, None).context("setting up HTTP")?,
    ))
}

/// Prints every error line and fails with a count.
fn report(e: Error) -> anyhow::Error {
    match e {
        Error::Invalid(r) => {
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            for i in &r.errors {
                eprintln!("error: {i}");
            }
            anyhow::anyhow!("{} error(s)", r.errors.len())
        }
        other => anyhow::anyhow!(other),
    }
}

fn validate(a: ValidateArgs) -> Result<()> {
    let inputs = read_inputs(&a.configs)?;
    let options = ApplyOptions {
        strict: a.strict,
        fetcher: if a.fetch { Some(fetcher(None)?) } else { None },
        ..Default::default()
    };
    let parsed = parse_inputs(&inputs, &options).map_err(report)?;
    for p in &parsed {
        for w in &p.report.warnings {
            eprintln!("warning: {w}");
        }
    }
    let merged = merge_parsed(&parsed);
    if !merged.is_ok() {
        return Err(report(Error::Invalid(merged)));
    }
    if a.fetch {
        let prepared = prepare(&inputs, parsed, &options).map_err(report)?;
        eprintln!(
            "fetched and verified {} config(s) and {} file(s)",
            prepared.sources.len(),
            prepared.files.len()
        );
    }
    eprintln!("{} config(s) valid", inputs.len());
    Ok(())
}

fn apply(a: ApplyArgs) -> Result<()> {
    if !a.root.is_dir() {
        bail!("--root {}: not a directory", a.root.display());
    }
    let inputs = read_inputs(&a.configs)?;
    let options = ApplyOptions {
        strict: a.strict,
        fetcher: Some(fetcher(a.ca_bundle)?),
        ..Default::default()
    };
    let r = apply_configs(&a.root, &inputs, &options).map_err(report)?;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "provisioned {}: {} change(s)",
        a.root.display(),
        r.changed.len()
    );
    for c in &r.changed {
        println!("{c}");
    }
    Ok(())
}
