//! `metalos update agent`: the update agent's front end — load the
//! drop-ins, derive the node id, run the cycle ([`metalos_agent::agent`]),
//! or show what the running agent is doing (`--status`).

use anyhow::{Context, Result};
use metalos_agent::agent::{Agent, AgentPaths};
use metalos_agent::config::{self, CONFIG_DIRS};
use metalos_agent::host::SystemHost;
use metalos_agent::status::{AgentStatus, STATUS_FILE};
use std::path::{Path, PathBuf};

/// `metalos update agent` arguments.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// Show what the running agent is doing (its status file) and exit.
    #[arg(long)]
    pub status: bool,
    /// With --status: print JSON.
    #[arg(long, requires = "status")]
    pub json: bool,
    /// Run one cycle and exit (reboots if the strategy allows one).
    #[arg(long, conflicts_with = "status")]
    pub once: bool,
    /// Read the drop-ins from these directories instead of
    /// /usr/lib/metalos/update.d, /etc/metalos/update.d and
    /// /run/metalos/update.d (lowest priority first).
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dirs: Vec<PathBuf>,
    /// Only load and check the configuration, print it, and exit.
    #[arg(long, conflicts_with_all = ["status", "once"])]
    pub check_config: bool,
}

/// Runs `metalos update agent`.
pub fn run(args: AgentArgs) -> Result<()> {
    if args.status {
        let status = AgentStatus::read(Path::new(STATUS_FILE))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print!("{}", status.describe());
        }
        return Ok(());
    }
    let dirs: Vec<PathBuf> = if args.config_dirs.is_empty() {
        CONFIG_DIRS.iter().map(PathBuf::from).collect()
    } else {
        args.config_dirs.clone()
    };
    let dir_refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let loaded = config::load(&dir_refs)?;
    for w in &loaded.warnings {
        println!("warning: {w}");
    }
    let files: Vec<String> = loaded
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    println!(
        "configuration: {}",
        if files.is_empty() {
            "defaults (no drop-ins)".into()
        } else {
            files.join(", ")
        }
    );
    if args.check_config {
        println!("{:#?}", loaded.config);
        return Ok(());
    }
    let node_id = metalos_agent::identity::node_id(
        loaded.config.identity.node_uuid.as_deref(),
        Path::new("/etc/machine-id"),
    )
    .context("the node id")?;
    let mut agent = Agent::new(loaded.config, SystemHost, node_id, AgentPaths::default())?;
    let s = agent.status();
    println!(
        "node id {} (group {}), wariness {:.6}, strategy {}, channel {}",
        s.node_id,
        s.group,
        s.rollout_wariness,
        s.strategy,
        s.channel.as_deref().unwrap_or("none (idle)")
    );
    agent.run(args.once);
    Ok(())
}
