//! `metalos metadata`: the metadata agent (afterburn's `multi`, Flatcar's
//! coreos-metadata): attributes, SSH keys and host name from the
//! platform's metadata; see docs/platforms.md.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args};
use metalos_platform::metadata::{
    apply_ssh_keys, fetch_metadata, write_attributes, write_hostname, Provider, SshKeysOutcome,
    Wanted,
};
use metalos_platform::{dmi_from_sysfs, platform_id, FetchContext, Log};
use metalos_sshkeys::User;

/// Arguments of `metalos metadata`.
#[derive(Args)]
#[command(group(ArgGroup::new("platform").required(true).args(["provider", "cmdline"])))]
pub struct MetadataArgs {
    /// The platform: aws (or ec2), openstack (config drive, else the metadata
    /// service) or openstack-metadata (the metadata service only).
    #[arg(long, value_name = "ID")]
    provider: Option<String>,
    /// Take the platform from the kernel command line (metalos.oem.id=,
    /// flatcar.oem.id=, coreos.oem.id=, ignition.platform.id=).
    #[arg(long)]
    cmdline: bool,
    /// Write afterburn's AFTERBURN_* attribute lines to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    attributes: Option<PathBuf>,
    /// Write the platform's SSH keys to ~USER/.ssh/authorized_keys.d/coreos-metadata
    /// (deleted when there are none) and regenerate ~USER/.ssh/authorized_keys.
    #[arg(long = "ssh-keys", value_name = "USER")]
    ssh_keys: Option<String>,
    /// Write the host name to FILE (nothing when the platform has none).
    #[arg(long, value_name = "FILE")]
    hostname: Option<PathBuf>,
    /// Only check that the platform has a metadata provider (aws,
    /// openstack): exit 0 if so, else 1 without fetching anything (the
    /// units' ExecCondition=, which resolves the platform id exactly as
    /// provisioning does).
    #[arg(long, conflicts_with_all = ["attributes", "ssh_keys", "hostname"])]
    check: bool,
    /// Tests only: the metadata service's base URL instead of http://169.254.169.254.
    #[arg(long, hide = true, value_name = "URL")]
    metadata_url: Option<String>,
    /// Tests only: the kernel command line file instead of /proc/cmdline.
    #[arg(long, hide = true, value_name = "FILE")]
    cmdline_file: Option<PathBuf>,
    /// Tests only: where sysfs is instead of /sys (config drives, DMI).
    #[arg(long, hide = true, value_name = "DIR")]
    sysfs: Option<PathBuf>,
    /// Tests only: where device nodes are instead of /dev.
    #[arg(long, hide = true, value_name = "DIR")]
    dev: Option<PathBuf>,
}

/// Runs `metalos metadata`.
pub fn run(args: MetadataArgs) -> Result<()> {
    if args.check {
        match provider(&args) {
            Ok(p) => {
                println!("the platform's metadata provider: {p}");
                return Ok(());
            }
            Err(e) => {
                println!("no metadata provider: {e:#}");
                std::process::exit(1);
            }
        }
    }
    let provider = provider(&args)?;
    let mut ctx = FetchContext::new()?;
    // afterburn's bound: its retry count, not a deadline.
    ctx.deadline = None;
    ctx.log = Log::new(|line| eprintln!("metalos metadata: {line}"));
    if let Some(url) = &args.metadata_url {
        ctx.metadata_url = url.trim_end_matches('/').to_string();
    }
    if let Some(sysfs) = &args.sysfs {
        ctx.sysfs = sysfs.clone();
    }
    if let Some(dev) = &args.dev {
        ctx.dev = dev.clone();
    }
    let wanted = Wanted {
        attributes: args.attributes.is_some(),
        ssh_keys: args.ssh_keys.is_some(),
        hostname: args.hostname.is_some(),
    };
    let metadata = fetch_metadata(provider, &ctx, wanted)
        .with_context(|| format!("failed to fetch the {provider} metadata"))?;
    if let Some(path) = &args.attributes {
        write_attributes(path, &metadata.attributes)?;
        println!(
            "wrote {} attributes from {} to {}",
            metadata.attributes.len(),
            metadata.source,
            path.display()
        );
    }
    if let Some(name) = &args.ssh_keys {
        let user = User::lookup(name)?;
        match apply_ssh_keys(&user, &metadata.ssh_keys)? {
            SshKeysOutcome::Wrote { fragment, keys } => {
                println!(
                    "wrote {keys} ssh authorized keys for user {name} to {}",
                    fragment.display()
                )
            }
            SshKeysOutcome::Removed { fragment } => println!(
                "removed ssh authorized keys file for user {name}: {} (the platform has no keys)",
                fragment.display()
            ),
            SshKeysOutcome::Nothing => println!("the platform has no ssh keys for user {name}"),
        }
    }
    if let (Some(path), Some(name)) = (&args.hostname, &metadata.hostname) {
        write_hostname(path, name)?;
        println!("wrote hostname {name} to {}", path.display());
    }
    Ok(())
}

/// The provider from `--provider`, or from the kernel command line.
fn provider(args: &MetadataArgs) -> Result<Provider> {
    if let Some(name) = &args.provider {
        return Ok(Provider::parse(name)?);
    }
    let file = args
        .cmdline_file
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc/cmdline"));
    let cmdline = std::fs::read_to_string(&file)
        .with_context(|| format!("failed to read {}", file.display()))?;
    let id = platform_id(&cmdline, None, &dmi_from_sysfs)?;
    Ok(Provider::for_platform(id.platform)?)
}
