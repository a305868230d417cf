//! The fleet's state as `metalos fleet status` shows it: per group the
//! slots and holders (with how long each has held), per host its last
//! report, the halted releases with the reports behind them, and the end
//! of the admin log.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::admin::{recent_log, AdminError, LogEntry};
use crate::etcd::Etcd;
use crate::hosts::{HaltRecord, HostRecord, Hosts};
use crate::keys;
use crate::semaphore::{self, HeldSince};

/// Log entries shown.
const LOG_ENTRIES: usize = 10;

/// Everything `metalos fleet status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    /// Unix seconds when read.
    pub now: u64,
    /// Groups with a semaphore in etcd, by name.
    pub groups: Vec<GroupStatus>,
    /// Hosts that reported, by id.
    pub hosts: Vec<HostStatus>,
    /// Halted releases, by version.
    pub halted: Vec<HaltRecord>,
    /// The last admin log entries, oldest first.
    pub log: Vec<LogEntry>,
}

/// A group's semaphore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    /// The group.
    pub group: String,
    /// Its slots as stored in etcd.
    pub total_slots: u64,
    /// Its holders, sorted.
    pub holders: Vec<HolderStatus>,
}

/// A holder of a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderStatus {
    /// The host id.
    pub id: String,
    /// Unix seconds of the grant; `None` when not recorded (a grant by
    /// airlock).
    pub since: Option<u64>,
    /// Seconds held, when `since` is known.
    pub held_secs: Option<u64>,
}

/// A host's last report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    /// The host id.
    pub id: String,
    /// Its record.
    #[serde(flatten)]
    pub record: HostRecord,
}

/// Every group's semaphore in `etcd` at `now` (unix seconds).
pub fn read_groups(etcd: &Etcd, now: u64) -> Result<Vec<GroupStatus>, AdminError> {
    let mut since: BTreeMap<(String, String), u64> = BTreeMap::new();
    for kv in etcd.range_prefix(keys::HELD_PREFIX)? {
        let parsed = serde_json::from_slice::<HeldSince>(&kv.value);
        if let (Some(parts), Ok(h)) = (keys::held_parts(&kv.key), parsed) {
            since.insert(parts, h.since);
        }
    }
    let mut groups = Vec::new();
    for kv in etcd.range_prefix(keys::SEMAPHORE_PREFIX)? {
        let Some(group) = keys::semaphore_group(&kv.key) else {
            continue;
        };
        let sem = semaphore::parse(&kv.key, &kv.value)?;
        let holders = sem
            .holders
            .into_iter()
            .map(|id| {
                let since = since.get(&(group.clone(), id.clone())).copied();
                HolderStatus {
                    held_secs: since.map(|s| now.saturating_sub(s)),
                    since,
                    id,
                }
            })
            .collect();
        groups.push(GroupStatus {
            group,
            total_slots: sem.total_slots,
            holders,
        });
    }
    Ok(groups)
}

impl FleetStatus {
    /// Reads the whole state from `etcd` at `now` (unix seconds).
    pub fn read(etcd: &std::sync::Arc<Etcd>, now: u64) -> Result<Self, AdminError> {
        let hosts = Hosts::new(etcd.clone());
        Ok(FleetStatus {
            now,
            groups: read_groups(etcd, now)?,
            hosts: hosts
                .all()?
                .into_iter()
                .map(|(id, record)| HostStatus { id, record })
                .collect(),
            halted: hosts.halts()?,
            log: recent_log(etcd, LOG_ENTRIES)?,
        })
    }

    /// The state as text for people.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        self.describe_groups(&mut out);
        self.describe_hosts(&mut out);
        self.describe_halts(&mut out);
        if !self.log.is_empty() {
            out.push_str("admin log (latest last):\n");
            for e in &self.log {
                let _ = writeln!(
                    out,
                    "  {}  {:<6}  {}  (by {})",
                    utc(e.at),
                    e.action,
                    e.detail,
                    e.by
                );
            }
        }
        out
    }

    fn describe_groups(&self, out: &mut String) {
        if self.groups.is_empty() {
            out.push_str("groups: none yet (no lock request so far)\n");
            return;
        }
        out.push_str("groups:\n");
        for g in &self.groups {
            let _ = writeln!(
                out,
                "  {}: {} of {} slots held",
                g.group,
                g.holders.len(),
                g.total_slots
            );
            for h in &g.holders {
                let held = match (h.since, h.held_secs) {
                    (Some(since), Some(secs)) => {
                        format!("held for {} (since {})", duration(secs), utc(since))
                    }
                    _ => "held since an unknown time (granted by airlock?)".to_string(),
                };
                let _ = writeln!(out, "    {}  {held}", h.id);
            }
        }
    }

    fn describe_hosts(&self, out: &mut String) {
        if self.hosts.is_empty() {
            out.push_str("hosts: none reported\n");
            return;
        }
        out.push_str("hosts:\n");
        for h in &self.hosts {
            let r = &h.record;
            let _ = writeln!(
                out,
                "  {}  group {}  booted {}  target {}  {}  last seen {} ago{}",
                h.id,
                r.group,
                r.booted,
                r.target.as_deref().unwrap_or("-"),
                r.state.as_str(),
                duration(self.now.saturating_sub(r.last_seen)),
                r.error
                    .as_deref()
                    .map(|e| format!("\n      last error: {e}"))
                    .unwrap_or_default(),
            );
        }
    }

    fn describe_halts(&self, out: &mut String) {
        if self.halted.is_empty() {
            out.push_str("halted releases: none\n");
            return;
        }
        out.push_str("halted releases (metalos fleet resume VERSION lifts one):\n");
        for h in &self.halted {
            let _ = writeln!(
                out,
                "  {}  since {}: {} host(s) failed it (halt after {})",
                h.version,
                utc(h.since),
                h.reports.len(),
                h.halt_after
            );
            for r in &h.reports {
                let _ = writeln!(
                    out,
                    "    {} (group {}, back on {}) {} at {}{}",
                    r.id,
                    r.group,
                    r.booted,
                    r.state.as_str(),
                    utc(r.changed),
                    r.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// `1h 02m 03s`, `4m 05s`, `6s`.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_611_231), "2026-12-07T02:40:31Z");
        assert_eq!(duration(6), "6s");
        assert_eq!(duration(245), "4m 05s");
        assert_eq!(duration(3723), "1h 02m 03s");
    }
}
