//! `metalos build`.

use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::Args;
use metalos_config::spec::{HostConfigSpec, ImageSpec};
use metalos_config::Resolver;
use metalos_config::Source;
use metalos_image::{build, BuildOptions};
use std::path::PathBuf;

/// Arguments of `metalos build`.
#[derive(Args)]
pub struct BuildArgs {
    /// Image spec (TOML), e.g. images/default.toml.
    spec: PathBuf,
    /// Inputs manifest (JSON) written by `metalos inputs fetch`, `metalos
    /// inputs manifest` or Nix. Repeat to combine manifests (names must not clash).
    #[arg(long, value_name = "INPUTS.json")]
    inputs: Vec<PathBuf>,
    /// HostConfig (JSON) to store on the ESP instead of the spec's default.
    #[arg(long, value_name = "HOST-CONFIG.json")]
    host_config: Option<PathBuf>,
    /// Output directory; receives disk.img and manifest.json.
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
    /// Also write a netboot bundle to OUT/netboot, served at this URL
    /// (as `metalos netboot build --image OUT --base-url URL`).
    #[arg(long, value_name = "URL")]
    netboot_base_url: Option<String>,
    /// HostConfig for the netboot bundle: MAC=HOSTCONFIG.json (repeatable;
    /// needs --netboot-base-url).
    #[arg(long, value_name = "MAC=HOSTCONFIG", requires = "netboot_base_url")]
    netboot_host: Vec<String>,
    /// Key directory (`metalos keys generate`) overriding the spec's
    /// `[signing] keys`: sign the update bundle (and netboot) manifests, put
    /// signing.pub into /usr and the initrds (docs/signing.md).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// Keep compressed initrds in DIR (created if missing) and reuse them
    /// when the same archive is built again: rebuilding an image whose
    /// initrds did not change skips their zstd -19 pass (most of a build's
    /// time). Entries are named by their content; DIR may be shared by
    /// builds and deleted at any time. The image is bit-identical either way.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

/// Runs `metalos build`.
pub fn run(args: BuildArgs, progress: &Progress) -> Result<()> {
    let mut spec = ImageSpec::load(&args.spec)
        .with_context(|| format!("invalid image spec {}", args.spec.display()))?;
    if let Some(url) = &args.netboot_base_url {
        // Fail on a bad --netboot-* argument before spending time on the image.
        metalos_netboot::cmdline::normalize_base_url(url)?;
        for h in &args.netboot_host {
            metalos_netboot::HostArg::parse(h)?;
        }
    }
    let inputs = crate::inputs::load_all(&args.inputs)?;
    if let Some(path) = &args.host_config {
        let abs = std::path::absolute(path).with_context(|| format!("{}", path.display()))?;
        let file = Some(abs.display().to_string());
        spec.host_config = Some(HostConfigSpec {
            default: Source {
                file,
                ..Default::default()
            },
        });
    }
    let base = args.spec.parent().map(PathBuf::from).unwrap_or_default();
    let resolver = Resolver::new(base, inputs);
    let source_date_epoch = crate::output::source_date_epoch()?;
    let step = |s: &str| progress.step(s);
    let options = BuildOptions {
        out_dir: args.out.clone(),
        source_date_epoch,
        progress: &step,
        signing_keys: args.keys.clone(),
        cache_dir: args.cache_dir.clone(),
    };
    // The netboot bundle is signed with the image's keys.
    let keys = args.keys.clone().or_else(|| {
        spec.signing
            .as_ref()
            .map(|s| resolver.base_dir.join(&s.keys))
    });
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
    if let Some(url) = &args.netboot_base_url {
        let out = args.out.join("netboot");
        crate::netboot::build(
            &args.out,
            url,
            &args.netboot_host,
            &out,
            keys.as_deref(),
            progress,
        )?;
    }
    Ok(())
}
