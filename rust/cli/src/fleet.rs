//! `metalos fleet serve|status|unlock|resume`: the fleet server on etcd
//! and its admin commands (docs/fleet-server.md, [`metalos_fleet`]).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use metalos_fleet::admin;
use metalos_fleet::config::{split_urls, FileConfig, FleetConfig, Overrides};
use metalos_fleet::etcd::{Etcd, DEFAULT_TIMEOUT};
use metalos_fleet::semaphore::UnlockOutcome;
use metalos_fleet::server::Server;
use metalos_fleet::status::FleetStatus;

/// `metalos fleet …`.
#[derive(Subcommand)]
pub enum FleetCommand {
    /// Serve FleetLock (POST /v1/pre-reboot, /v1/steady-state), host
    /// reports (POST /metalos/v1/report), /metrics and /-/healthy, with
    /// all state in etcd (airlock-compatible semaphores).
    Serve(ServeArgs),
    /// Show per group the slots and holders (how long each has held), per
    /// host its last report, the halted releases and the admin log.
    Status(StatusArgs),
    /// Release a holder's slot (a host that will not come back); logged in etcd.
    Unlock(UnlockArgs),
    /// Lift the halt of a release; logged in etcd. Failures reported before
    /// the resume no longer count toward halting it again.
    Resume(ResumeArgs),
}

/// Arguments of `metalos fleet serve`; each flag overrides the file's setting.
#[derive(Args)]
pub struct ServeArgs {
    /// TOML file with the same settings (listen, etcd, default_slots,
    /// halt_after, [[group]] name/slots).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:3333.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// etcd client URLs, comma-separated (tried in turn).
    #[arg(long, value_name = "URL[,URL…]")]
    etcd: Option<String>,
    /// Slots of groups not given with --group or in the file (default 1).
    #[arg(long, value_name = "N")]
    default_slots: Option<u64>,
    /// A group's slot count (repeatable).
    #[arg(long = "group", value_name = "NAME=SLOTS")]
    groups: Vec<String>,
    /// Distinct hosts reporting rolled-back or failed for a version that
    /// halt it (default 1).
    #[arg(long, value_name = "N")]
    halt_after: Option<u32>,
}

/// Arguments of `metalos fleet status`.
#[derive(Args)]
pub struct StatusArgs {
    /// etcd client URLs, comma-separated.
    #[arg(long, value_name = "URL[,URL…]")]
    etcd: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `metalos fleet unlock`.
#[derive(Args)]
pub struct UnlockArgs {
    /// etcd client URLs, comma-separated.
    #[arg(long, value_name = "URL[,URL…]")]
    etcd: String,
    /// The FleetLock group.
    #[arg(long, value_name = "G")]
    group: String,
    /// The holder's id.
    id: String,
}

/// Arguments of `metalos fleet resume`.
#[derive(Args)]
pub struct ResumeArgs {
    /// etcd client URLs, comma-separated.
    #[arg(long, value_name = "URL[,URL…]")]
    etcd: String,
    /// The halted version.
    // Its own id: `version` is taken by the global --version flag.
    #[arg(id = "release_version", value_name = "VERSION")]
    version: String,
}

/// Runs `metalos fleet …`.
pub fn run(cmd: FleetCommand) -> Result<()> {
    match cmd {
        FleetCommand::Serve(args) => serve(args),
        FleetCommand::Status(args) => {
            let status = FleetStatus::read(&etcd(&args.etcd)?, admin::unix_now())?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status.describe());
            }
            Ok(())
        }
        FleetCommand::Unlock(args) => {
            let by = who();
            match admin::unlock(&etcd(&args.etcd)?, &args.group, &args.id, &by)? {
                UnlockOutcome::Released => println!(
                    "released {} from group {} (logged as by {by})",
                    args.id, args.group
                ),
                UnlockOutcome::NotHeld => println!(
                    "{} held no slot in group {} (logged as by {by})",
                    args.id, args.group
                ),
            }
            Ok(())
        }
        FleetCommand::Resume(args) => {
            let by = who();
            if admin::resume(&etcd(&args.etcd)?, &args.version, &by)? {
                println!("lifted the halt of {} (logged as by {by})", args.version);
            } else {
                println!(
                    "{} was not halted; failures reported so far no longer count (logged as by {by})",
                    args.version
                );
            }
            Ok(())
        }
    }
}

/// Loads the settings and serves until stopped.
fn serve(args: ServeArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let overrides = Overrides {
        listen: args.listen,
        etcd: args.etcd,
        default_slots: args.default_slots,
        groups: args.groups,
        halt_after: args.halt_after,
    };
    let config = FleetConfig::resolve(file, &overrides)?;
    let summary = format!(
        "etcd {}, default slots {}, groups {:?}, halt after {}",
        config.etcd.join(","),
        config.default_slots,
        config.groups,
        config.halt_after
    );
    let server = Server::start(config).context("starting the fleet server")?;
    eprintln!(
        "metalos fleet serve on http://{} ({summary})",
        server.addr()
    );
    server.wait();
    Ok(())
}

/// A client of the etcd cluster at `urls` (comma-separated).
fn etcd(urls: &str) -> Result<Arc<Etcd>> {
    Ok(Arc::new(Etcd::new(&split_urls(urls), DEFAULT_TIMEOUT)?))
}

/// `user@host` for the admin log.
fn who() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| {
            use std::os::unix::fs::MetadataExt;
            let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
            format!("uid {uid}")
        });
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}
