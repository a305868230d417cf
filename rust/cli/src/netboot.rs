//! `metalos netboot build|publish|serve` (`image-write` is
//! [`crate::netboot_image`]).

use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use metalos_netboot::{build_bundle, publish, BundleOptions, HostArg, PublishOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `metalos netboot …`.
#[derive(Subcommand)]
pub enum NetbootCommand {
    /// Write a netboot bundle (boot.ipxe, imaging.efi, blobs/sha256/<hex>,
    /// hosts/<mac>.json, manifest.json) from a `metalos build` output.
    Build(BuildArgs),
    /// Copy a bundle into a served tree: immutable blobs, the entry points
    /// (boot.ipxe, imaging.efi, manifest.json, hosts/) switched atomically,
    /// the newest N releases kept, unreferenced blobs removed.
    Publish(PublishArgs),
    /// Serve a directory over HTTP/1.1 (GET/HEAD) for development and tests.
    Serve(ServeArgs),
    /// Image a block device or a disk-sized file from a bundle's image blob
    /// as metalimage does (stream, decompress, write with the tables last,
    /// read back); the HostConfig is not stored.
    ImageWrite(crate::netboot_image::ImageWriteArgs),
}

/// Arguments of `metalos netboot build`.
#[derive(Args)]
pub struct BuildArgs {
    /// A finished `metalos build` output (disk.img, manifest.json, artifacts/imaging.efi).
    #[arg(long, value_name = "DIR")]
    image: PathBuf,
    /// URL the bundle (or the tree it is published into) is served at,
    /// e.g. http://10.0.2.100; every URL in boot.ipxe and imaging.efi starts with it.
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// HostConfig for a machine: MAC (aa:bb:… or aa-bb-…) = HostConfig JSON file.
    /// Stored as hosts/<aa-bb-cc-dd-ee-ff>.json. Repeat for more machines.
    #[arg(long = "host", value_name = "MAC=HOSTCONFIG")]
    hosts: Vec<String>,
    /// Bundle directory to write (replaced if it exists).
    #[arg(long, value_name = "BUNDLE")]
    out: PathBuf,
    /// Key directory (`metalos keys generate`): sign manifest.json into
    /// manifest.json.sig (docs/signing.md); with DIR/db.key + db.crt,
    /// imaging.efi is Secure Boot signed again after its command line is
    /// replaced (docs/secure-boot.md).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
}

/// Arguments of `metalos netboot publish`.
#[derive(Args)]
pub struct PublishArgs {
    /// Bundle written by `metalos netboot build`.
    bundle: PathBuf,
    /// Served tree (created if missing); serve it at the bundle's base URL.
    dest: PathBuf,
    /// Releases to keep (the newest N, including the one published).
    #[arg(long, value_name = "N", default_value_t = 3)]
    keep: usize,
}

/// Arguments of `metalos netboot serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Directory to serve (a bundle or a published tree).
    dir: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: String,
}

/// Runs `metalos netboot …`.
pub fn run(cmd: NetbootCommand, progress: &Progress) -> Result<()> {
    match cmd {
        NetbootCommand::Build(a) => build(
            &a.image,
            &a.base_url,
            &a.hosts,
            &a.out,
            a.keys.as_deref(),
            progress,
        ),
        NetbootCommand::Publish(a) => run_publish(a, progress),
        NetbootCommand::Serve(a) => serve(a),
        NetbootCommand::ImageWrite(a) => crate::netboot_image::run(a, progress),
    }
}

/// Writes a bundle; shared with `metalos build --netboot-base-url`.
pub fn build(
    image: &Path,
    base_url: &str,
    hosts: &[String],
    out: &Path,
    keys: Option<&Path>,
    progress: &Progress,
) -> Result<()> {
    let key = keys
        .map(|dir| {
            metalos_signing::KeyDir::open(dir)
                .and_then(|kd| kd.signing_key())
                .with_context(|| format!("loading the signing key of {}", dir.display()))
        })
        .transpose()?;
    let db = keys
        .map(|dir| metalos_image::secureboot::load_db(dir, "--keys"))
        .transpose()?
        .flatten();
    let hosts = hosts
        .iter()
        .map(|h| HostArg::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    let step = |s: &str| progress.step(s);
    let opts = BundleOptions {
        image_dir: image,
        base_url,
        hosts: &hosts,
        out,
        signing_key: key.as_ref(),
        secure_boot: db.as_ref(),
    };
    let m = build_bundle(&opts, &step).with_context(|| {
        format!(
            "netboot bundle from {} failed; nothing was written to {}",
            image.display(),
            out.display()
        )
    })?;
    progress.step(&format!(
        "wrote {} ({} files, image blob {} MiB, {}){}",
        out.display(),
        m.files.len() + 1 + usize::from(key.is_some()),
        m.image.compressed_size >> 20,
        m.image.blob,
        match &key {
            Some(k) => format!(", signed by {}", k.verifying_key().fingerprint()),
            None => ", unsigned".into(),
        }
    ));
    Ok(())
}

fn run_publish(a: PublishArgs, progress: &Progress) -> Result<()> {
    let step = |s: &str| progress.step(s);
    let fault = |s: &str| metalos_update::fault::fault_point(&format!("publish:{s}"));
    let opts = PublishOptions {
        keep: a.keep,
        fault: &fault,
        progress: &step,
    };
    let r = publish(&a.bundle, &a.dest, &opts).with_context(|| {
        format!(
            "publishing {} into {} failed; the previously published release is still served",
            a.bundle.display(),
            a.dest.display()
        )
    })?;
    progress.step(&format!(
        "{} release {} in {} ({} blob(s) copied; removed {} release(s), {} blob(s))",
        if r.switched {
            "published"
        } else {
            "already serving"
        },
        r.release,
        a.dest.display(),
        r.blobs_copied,
        r.releases_removed.len(),
        r.blobs_removed
    ));
    Ok(())
}

fn serve(a: ServeArgs) -> Result<()> {
    if !a.dir.is_dir() {
        anyhow::bail!("{} is not a directory", a.dir.display());
    }
    let listener = std::net::TcpListener::bind(&a.listen)
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    // Printed on stdout (even with -q) so scripts and tests can read the port.
    println!("serving {} at http://{addr}/", a.dir.display());
    let log: metalos_netboot::serve::Log = Arc::new(|line: &str| eprintln!("{line}"));
    metalos_netboot::serve::serve(listener, a.dir.clone(), log)
        .with_context(|| format!("serving {}", a.dir.display()))
}
