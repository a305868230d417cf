//! Prometheus text metrics, written to `/run/metalos/update-agent.prom`
//! after every cycle (temp file + rename) for node_exporter's textfile
//! collector. The set follows Zincati's (`zincati_*`), renamed
//! `metalos_*`; docs/fleet-updates.md lists them.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Where the agent writes its metrics.
pub const METRICS_FILE: &str = "/run/metalos/update-agent.prom";

/// The agent's counters and gauges.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Unix time of the last graph check.
    pub last_refresh_timestamp: i64,
    /// Unix time of the last state change.
    pub latest_state_change_timestamp: i64,
    /// `[updates] enabled`.
    pub updates_enabled: bool,
    /// `[updates] allow_downgrade`.
    pub allow_downgrade: bool,
    /// The strategy's name.
    pub strategy: String,
    /// Minutes per week inside the periodic windows (periodic only).
    pub periodic_schedule_length_minutes: Option<u32>,
    /// Times the strategy was asked whether to reboot, by answer.
    pub can_finalize_responses: BTreeMap<bool, u64>,
    /// Activations tried / done.
    pub finalization_attempts: u64,
    /// Activations that led to a reboot.
    pub finalization_successes: u64,
    /// Times the strategy refused the reboot.
    pub finalization_blocked_count: u64,
    /// Reboots postponed for logged-in users.
    pub postponed_finalizations_total: u64,
    /// Users logged in at the last finalization.
    pub finalization_detected_active_users: u64,
    /// FleetLock requests by API.
    pub fleet_lock_requests: BTreeMap<String, u64>,
    /// FleetLock errors by (API, kind).
    pub fleet_lock_errors: BTreeMap<(String, String), u64>,
    /// Graph checks.
    pub update_checks_total: u64,
    /// Failed graph checks by kind.
    pub update_checks_errors: BTreeMap<String, u64>,
    /// Nodes in the last graph.
    pub graph_nodes_count: u64,
    /// Edges in the last graph.
    pub graph_edges_count: u64,
    /// Update targets left out at the last check (throttled, denylisted, …).
    pub ignored_update_targets: u64,
    /// The booted release is a dead end.
    pub booted_release_is_deadend: bool,
    /// Running version, channel and group.
    pub os_info: (String, String, String),
    /// The host's rollout wariness.
    pub rollout_wariness: f64,
    /// Staging attempts / failures.
    pub stage_attempts: u64,
    /// Failed staging attempts.
    pub stage_failures: u64,
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: name (after `metalos_`), help, type, samples.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(String, String)>,
}

fn family(
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    value: impl ToString,
) -> Family {
    Family {
        name,
        help,
        kind,
        samples: vec![(String::new(), value.to_string())],
    }
}

fn labelled(
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(String, String)>,
) -> Family {
    Family {
        name,
        help,
        kind,
        samples,
    }
}

fn flag(v: bool) -> u8 {
    u8::from(v)
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let all = self
            .agent_families()
            .into_iter()
            .chain(self.strategy_families())
            .chain(self.channel_families());
        for f in all {
            let _ = writeln!(
                o,
                "# HELP metalos_{} {}\n# TYPE metalos_{} {}",
                f.name, f.help, f.name, f.kind
            );
            for (labels, value) in f.samples {
                let _ = writeln!(o, "metalos_{}{labels} {value}", f.name);
            }
        }
        o
    }

    fn agent_families(&self) -> Vec<Family> {
        vec![
            family(
                "update_agent_last_refresh_timestamp",
                "Unix time of the last channel check.",
                "gauge",
                self.last_refresh_timestamp,
            ),
            family(
                "update_agent_latest_state_change_timestamp",
                "Unix time of the last state change.",
                "gauge",
                self.latest_state_change_timestamp,
            ),
            family(
                "update_agent_updates_enabled",
                "Whether updates are enabled.",
                "gauge",
                flag(self.updates_enabled),
            ),
            family(
                "update_agent_updates_allow_downgrade",
                "Whether downgrades are allowed.",
                "gauge",
                flag(self.allow_downgrade),
            ),
            family(
                "update_agent_finalization_attempts",
                "Activations tried.",
                "counter",
                self.finalization_attempts,
            ),
            family(
                "update_agent_finalization_successes",
                "Activations followed by a reboot.",
                "counter",
                self.finalization_successes,
            ),
            family(
                "update_agent_finalization_blocked_count",
                "Reboots the strategy refused.",
                "counter",
                self.finalization_blocked_count,
            ),
            family(
                "update_agent_postponed_finalizations_total",
                "Reboots postponed for logged-in users.",
                "counter",
                self.postponed_finalizations_total,
            ),
            family(
                "update_agent_finalization_detected_active_users",
                "Interactive sessions at the last reboot decision.",
                "gauge",
                self.finalization_detected_active_users,
            ),
            family(
                "update_stage_attempts_total",
                "Staging attempts.",
                "counter",
                self.stage_attempts,
            ),
            family(
                "update_stage_failures_total",
                "Failed staging attempts.",
                "counter",
                self.stage_failures,
            ),
        ]
    }

    fn strategy_families(&self) -> Vec<Family> {
        let mut v = vec![
            labelled(
                "updates_strategy_mode",
                "The update strategy in use.",
                "gauge",
                vec![(
                    format!("{{strategy=\"{}\"}}", label(&self.strategy)),
                    "1".into(),
                )],
            ),
            labelled(
                "updates_strategy_can_finalize_responses",
                "Strategy answers to 'may the host reboot now?'.",
                "counter",
                self.can_finalize_responses
                    .iter()
                    .map(|(k, v)| (format!("{{allowed=\"{k}\"}}"), v.to_string()))
                    .collect(),
            ),
            labelled(
                "strategy_fleet_lock_requests_total",
                "FleetLock requests.",
                "counter",
                self.fleet_lock_requests
                    .iter()
                    .map(|(api, v)| (format!("{{api=\"{}\"}}", label(api)), v.to_string()))
                    .collect(),
            ),
            labelled(
                "strategy_fleet_lock_errors_total",
                "Failed FleetLock requests.",
                "counter",
                self.fleet_lock_errors
                    .iter()
                    .map(|((api, kind), v)| {
                        (
                            format!("{{api=\"{}\",kind=\"{}\"}}", label(api), label(kind)),
                            v.to_string(),
                        )
                    })
                    .collect(),
            ),
        ];
        if let Some(m) = self.periodic_schedule_length_minutes {
            v.push(family(
                "updates_strategy_periodic_schedule_length_minutes",
                "Minutes per week inside the reboot windows.",
                "gauge",
                m,
            ));
        }
        v
    }

    fn channel_families(&self) -> Vec<Family> {
        let (version, channel, group) = &self.os_info;
        let os_info = format!(
            "{{os_version=\"{}\",channel=\"{}\",group=\"{}\"}}",
            label(version),
            label(channel),
            label(group)
        );
        vec![
            family(
                "channel_update_checks_total",
                "Channel graph checks.",
                "counter",
                self.update_checks_total,
            ),
            labelled(
                "channel_update_checks_errors_total",
                "Failed channel graph checks.",
                "counter",
                self.update_checks_errors
                    .iter()
                    .map(|(k, v)| (format!("{{kind=\"{}\"}}", label(k)), v.to_string()))
                    .collect(),
            ),
            family(
                "channel_graph_nodes_count",
                "Releases in the last graph.",
                "gauge",
                self.graph_nodes_count,
            ),
            family(
                "channel_graph_edges_count",
                "Update paths in the last graph.",
                "gauge",
                self.graph_edges_count,
            ),
            family(
                "channel_ignored_update_targets",
                "Targets left out at the last check.",
                "gauge",
                self.ignored_update_targets,
            ),
            family(
                "channel_booted_release_is_deadend",
                "The booted release is a dead end.",
                "gauge",
                flag(self.booted_release_is_deadend),
            ),
            labelled(
                "identity_os_info",
                "The running version, channel and group.",
                "gauge",
                vec![(os_info, "1".into())],
            ),
            family(
                "identity_rollout_wariness",
                "The host's rollout wariness.",
                "gauge",
                format!("{:.6}", self.rollout_wariness),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_escaped_and_one_help_per_metric() {
        let mut m = Metrics::default();
        m.fleet_lock_errors
            .insert(("pre-reboot".into(), "lock_held".into()), 2);
        m.os_info = ("1\"x".into(), "stable".into(), "default".into());
        let text = m.render();
        assert!(text.contains(
            "metalos_strategy_fleet_lock_errors_total{api=\"pre-reboot\",kind=\"lock_held\"} 2"
        ));
        assert!(text.contains("os_version=\"1\\\"x\""));
        let helps = text.lines().filter(|l| l.starts_with("# HELP")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(helps, types);
    }
}
