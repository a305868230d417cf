//! What the agent is doing, for `metalos update agent --status`: written
//! by the running agent to `/run/metalos/update-agent.json` after every
//! cycle (temp file + rename), read back by the status command.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where the running agent writes its status.
pub const STATUS_FILE: &str = "/run/metalos/update-agent.json";

/// The agent's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// What it is doing: `idle` (no channel), `disabled`,
    /// `waiting-for-mark-good`, `reporting-steady`, `no-update`,
    /// `not-in-graph`, `dead-end`, `staged`, `waiting-to-reboot`,
    /// `rebooting`, `error`.
    pub state: String,
    /// The FleetLock / node id.
    pub node_id: String,
    /// The FleetLock group.
    pub group: String,
    /// The channel followed (`NAME at URL`), if any.
    pub channel: Option<String>,
    /// The strategy: immediate, periodic or fleet_lock.
    pub strategy: String,
    /// The host's rollout wariness.
    pub rollout_wariness: f64,
    /// The running version.
    pub booted_version: Option<String>,
    /// The update the graph offers this host, if any.
    pub target_version: Option<String>,
    /// The version waiting in the inactive slot, if any.
    pub staged_version: Option<String>,
    /// Unix time of the last channel check.
    pub last_check: Option<i64>,
    /// The last error, if the last cycle failed.
    pub last_error: Option<String>,
    /// The agent holds a FleetLock reboot slot.
    pub lock_held: bool,
    /// Versions never staged again.
    pub denylist: Vec<String>,
    /// Unix time this status was written.
    pub updated: i64,
}

impl AgentStatus {
    /// Human-readable lines.
    pub fn describe(&self) -> String {
        let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let last_check = self.last_check.map_or("never".into(), |t| {
            jiff::Timestamp::from_second(t).map_or(t.to_string(), |ts| ts.to_string())
        });
        format!(
            "state:      {}\nchannel:    {}\nstrategy:   {}\nnode id:    {} (group {}, wariness {:.6})\n\
             booted:     {}\ntarget:     {}\nstaged:     {}\nlast check: {}\nlast error: {}\n\
             lock held:  {}\ndenylist:   {}\n",
            self.state,
            or(&self.channel),
            self.strategy,
            self.node_id,
            self.group,
            self.rollout_wariness,
            or(&self.booted_version),
            or(&self.target_version),
            or(&self.staged_version),
            last_check,
            or(&self.last_error),
            if self.lock_held { "yes" } else { "no" },
            if self.denylist.is_empty() {
                "-".to_string()
            } else {
                self.denylist.join(", ")
            },
        )
    }

    /// Reads the status file the running agent writes.
    pub fn read(path: &Path) -> anyhow::Result<AgentStatus> {
        use anyhow::Context;
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "reading {} (is metalos-update-agent.service running?)",
                path.display()
            )
        })?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
    }
}
