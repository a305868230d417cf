//! `GET /metrics` in the Prometheus text format: requests by endpoint and
//! kind (counted here), slots and holders per group and the halted
//! releases (read from etcd at each scrape, so every instance shows the
//! whole cluster's state).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use super::State;
use crate::admin;
use crate::status::read_groups;

/// Request counters of one server instance.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (endpoint, kind) → requests answered.
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Metrics {
    /// Counts one answer of `endpoint` with `kind` (`ok` for success).
    pub fn count(&self, endpoint: &'static str, kind: &'static str) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry((endpoint, kind)).or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, state: &State) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "metalos_fleet_requests_total",
            "counter",
            "Requests answered, by endpoint and kind (ok: success).",
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((endpoint, kind), n) in requests {
            let _ = writeln!(
                out,
                "metalos_fleet_requests_total{{endpoint=\"{endpoint}\",kind=\"{kind}\"}} {n}"
            );
        }
        header(
            &mut out,
            "metalos_fleet_config_slots",
            "gauge",
            "Slots configured per listed group; group=\"\" is the default.",
        );
        let _ = writeln!(
            out,
            "metalos_fleet_config_slots{{group=\"\"}} {}",
            state.config.default_slots
        );
        for (group, slots) in &state.config.groups {
            let _ = writeln!(
                out,
                "metalos_fleet_config_slots{{group=\"{}\"}} {slots}",
                escape(group)
            );
        }
        let up = etcd_state(&mut out, state);
        header(
            &mut out,
            "metalos_fleet_etcd_up",
            "gauge",
            "1 if etcd answered this scrape.",
        );
        let _ = writeln!(out, "metalos_fleet_etcd_up {}", u8::from(up));
        out
    }
}

/// Slots, holders and halts from etcd; whether etcd answered.
fn etcd_state(out: &mut String, state: &State) -> bool {
    let groups = match read_groups(&state.etcd, admin::unix_now()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("metrics: {e}");
            return false;
        }
    };
    let halts = match state.hosts.halts() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("metrics: {e}");
            return false;
        }
    };
    header(
        out,
        "metalos_fleet_semaphore_slots",
        "gauge",
        "Slots per group as stored in etcd.",
    );
    for g in &groups {
        let _ = writeln!(
            out,
            "metalos_fleet_semaphore_slots{{group=\"{}\"}} {}",
            escape(&g.group),
            g.total_slots
        );
    }
    header(
        out,
        "metalos_fleet_semaphore_holders",
        "gauge",
        "Slots held per group.",
    );
    for g in &groups {
        let _ = writeln!(
            out,
            "metalos_fleet_semaphore_holders{{group=\"{}\"}} {}",
            escape(&g.group),
            g.holders.len()
        );
    }
    header(
        out,
        "metalos_fleet_halted_releases",
        "gauge",
        "Releases halted now.",
    );
    let _ = writeln!(out, "metalos_fleet_halted_releases {}", halts.len());
    header(
        out,
        "metalos_fleet_release_halted",
        "gauge",
        "1 per halted release.",
    );
    for h in &halts {
        let _ = writeln!(
            out,
            "metalos_fleet_release_halted{{version=\"{}\"}} 1",
            escape(&h.version)
        );
    }
    true
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
