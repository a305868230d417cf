//! Host reports and the automatic halt of failing releases (Nebraska's
//! "stop if an update fails").
//!
//! * Each report (`POST /metalos/v1/report`) replaces the host's record
//!   under [`keys::host`]; `changed` keeps the time the booted version,
//!   target, state or error last changed, `last_seen` the time of the
//!   report.
//! * When `halt_after` distinct hosts have reported `rolled-back` or
//!   `failed` for a target version, the version is halted: a
//!   [`HaltRecord`] under [`keys::halted`] lists those reports. `pre-reboot`
//!   from a host whose last report targets a halted version is refused.
//! * `resume` deletes the halt and writes a [`ResumeRecord`] under
//!   [`keys::resumed`]: from then on only failures that *changed* after the
//!   resume count (a host re-sending its old `rolled-back` report does not
//!   halt the release again; a host that tries the version again and fails
//!   does). "After" compares etcd revisions, not clocks: the resume's is
//!   its key's `mod_revision`, a report's the revision of the write that
//!   changed it ([`HostRecord::changed_revision`]), so clock skew between
//!   servers and the admin's machine does not matter.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::etcd::{Compare, Etcd, EtcdError, Op};
use crate::keys;

/// A host's update state, as its agent reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostState {
    /// Running the booted version, nothing staged.
    Steady,
    /// The target is staged, waiting for a reboot slot.
    Staged,
    /// Rebooting into the target.
    Rebooting,
    /// Booted the target, failed its checks and went back to `booted`.
    RolledBack,
    /// The update to the target failed otherwise.
    Failed,
}

impl HostState {
    /// Whether the state counts against its target for the halt.
    pub fn is_failure(self) -> bool {
        matches!(self, HostState::RolledBack | HostState::Failed)
    }

    /// The protocol name (`rolled-back`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Steady => "steady",
            HostState::Staged => "staged",
            HostState::Rebooting => "rebooting",
            HostState::RolledBack => "rolled-back",
            HostState::Failed => "failed",
        }
    }
}

/// What a host reports (the body of `/metalos/v1/report` without
/// `client_params`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The version running.
    pub booted: String,
    /// The version it is updating to (or failed to update to).
    pub target: Option<String>,
    /// Its state.
    pub state: HostState,
    /// The last error, if any.
    pub error: Option<String>,
}

/// A host's stored record (value of [`keys::host`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Its FleetLock group.
    pub group: String,
    /// The version running.
    pub booted: String,
    /// The version it is updating to.
    pub target: Option<String>,
    /// Its state.
    pub state: HostState,
    /// The last error.
    pub error: Option<String>,
    /// Unix seconds of the last report.
    pub last_seen: u64,
    /// Unix seconds of the last change of booted, target, state or error.
    pub changed: u64,
    /// The etcd revision of that change, when it was an earlier write than
    /// the one that stored this value (`None`: this value's own
    /// `mod_revision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_revision: Option<u64>,
}

/// One report that caused a halt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaltReport {
    /// The host.
    pub id: String,
    /// Its group.
    pub group: String,
    /// The version it runs.
    pub booted: String,
    /// `rolled-back` or `failed`.
    pub state: HostState,
    /// Its error.
    pub error: Option<String>,
    /// Unix seconds when it reported this state.
    pub changed: u64,
}

/// A halted release (value of [`keys::halted`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaltRecord {
    /// The halted version.
    pub version: String,
    /// Unix seconds of the halt.
    pub since: u64,
    /// The threshold that was reached.
    pub halt_after: u32,
    /// The failure reports counted.
    pub reports: Vec<HaltReport>,
}

/// The last resume of a version (value of [`keys::resumed`]); failures
/// written at or before the key's `mod_revision` no longer count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeRecord {
    /// Unix seconds of the resume (for people).
    pub at: u64,
}

/// Why reading or writing reports failed.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    /// etcd failed.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// A stored value could not be read.
    #[error("{key}: stored value unreadable: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The reports and halts in one etcd cluster.
#[derive(Debug, Clone)]
pub struct Hosts {
    etcd: Arc<Etcd>,
}

impl Hosts {
    /// The reports and halts in `etcd`.
    pub fn new(etcd: Arc<Etcd>) -> Self {
        Hosts { etcd }
    }

    /// Stores `report` from host `id` in `group` at `now` (unix seconds)
    /// and halts its target when `halt_after` hosts have failed it; the
    /// halt this report caused, if any.
    pub fn report(
        &self,
        id: &str,
        group: &str,
        report: &Report,
        now: u64,
        halt_after: u32,
    ) -> Result<Option<HaltRecord>, HostsError> {
        let key = keys::host(id);
        let previous = self
            .etcd
            .get(&key)?
            .map(|kv| {
                Ok::<_, HostsError>((decode::<HostRecord>(&key, &kv.value)?, kv.mod_revision))
            })
            .transpose()?;
        let same = previous.as_ref().is_some_and(|(p, _)| {
            p.booted == report.booted
                && p.target == report.target
                && p.state == report.state
                && p.error == report.error
        });
        let (changed, changed_revision) = match &previous {
            Some((p, revision)) if same => {
                (p.changed, Some(p.changed_revision.unwrap_or(*revision)))
            }
            _ => (now, None),
        };
        let record = HostRecord {
            group: group.to_string(),
            booted: report.booted.clone(),
            target: report.target.clone(),
            state: report.state,
            error: report.error.clone(),
            last_seen: now,
            changed,
            changed_revision,
        };
        self.etcd.put(&key, &to_json(&record))?;
        match (&record.target, record.state.is_failure()) {
            (Some(version), true) => self.maybe_halt(version, now, halt_after),
            _ => Ok(None),
        }
    }

    /// Halts `version` if enough hosts failed it since its last resume and
    /// it is not halted yet; the new halt.
    fn maybe_halt(
        &self,
        version: &str,
        now: u64,
        halt_after: u32,
    ) -> Result<Option<HaltRecord>, HostsError> {
        let halt_key = keys::halted(version);
        if self.etcd.get(&halt_key)?.is_some() {
            return Ok(None);
        }
        let resumed_revision = self
            .etcd
            .get(&keys::resumed(version))?
            .map_or(0, |kv| kv.mod_revision);
        let reports: Vec<HaltReport> = self
            .list_with_revisions::<HostRecord>(keys::HOSTS_PREFIX)?
            .into_iter()
            .filter(|(_, h, revision)| {
                h.target.as_deref() == Some(version)
                    && h.state.is_failure()
                    && h.changed_revision.unwrap_or(*revision) > resumed_revision
            })
            .map(|(id, h, _)| HaltReport {
                id,
                group: h.group,
                booted: h.booted,
                state: h.state,
                error: h.error,
                changed: h.changed,
            })
            .collect();
        if reports.len() < halt_after.max(1) as usize {
            return Ok(None);
        }
        let halt = HaltRecord {
            version: version.to_string(),
            since: now,
            halt_after,
            reports,
        };
        let written = self.etcd.put_if_version(&halt_key, 0, &to_json(&halt))?;
        Ok(written.then_some(halt))
    }

    /// The last report of host `id`.
    pub fn get(&self, id: &str) -> Result<Option<HostRecord>, HostsError> {
        self.read(&keys::host(id))
    }

    /// Every host's last report, by id.
    pub fn all(&self) -> Result<Vec<(String, HostRecord)>, HostsError> {
        self.list(keys::HOSTS_PREFIX)
    }

    /// The halt of the version host `id` last reported as its target, if
    /// that version is halted.
    pub fn halted_target(&self, id: &str) -> Result<Option<HaltRecord>, HostsError> {
        match self.get(id)?.and_then(|h| h.target) {
            Some(version) => self.halt(&version),
            None => Ok(None),
        }
    }

    /// The halt of `version`, if halted.
    pub fn halt(&self, version: &str) -> Result<Option<HaltRecord>, HostsError> {
        self.read(&keys::halted(version))
    }

    /// Every halted release, by version.
    pub fn halts(&self) -> Result<Vec<HaltRecord>, HostsError> {
        Ok(self
            .list::<HaltRecord>(keys::HALTED_PREFIX)?
            .into_iter()
            .map(|(_, h)| h)
            .collect())
    }

    /// Lifts the halt of `version` at `now`: deletes it and records the
    /// resume (also when it was not halted); whether it was halted.
    pub fn resume(&self, version: &str, now: u64) -> Result<bool, HostsError> {
        let halt_key = keys::halted(version);
        let was = self.etcd.get(&halt_key)?.is_some();
        let marker = to_json(&ResumeRecord { at: now });
        let ops = [
            Op::Delete { key: halt_key },
            Op::Put {
                key: keys::resumed(version),
                value: marker,
            },
        ];
        self.etcd.txn(&[] as &[Compare], &ops)?;
        Ok(was)
    }

    /// The value at `key`, decoded.
    fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, HostsError> {
        self.etcd
            .get(key)?
            .map(|kv| decode(key, &kv.value))
            .transpose()
    }

    /// Every value under `prefix`, decoded, with the unescaped name after
    /// the prefix.
    fn list<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, HostsError> {
        Ok(self
            .list_with_revisions(prefix)?
            .into_iter()
            .map(|(name, value, _)| (name, value))
            .collect())
    }

    /// [`Hosts::list`] with each key's `mod_revision`.
    fn list_with_revisions<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T, u64)>, HostsError> {
        let mut out = Vec::new();
        for kv in self.etcd.range_prefix(prefix)? {
            let name = keys::name_after(&kv.key, prefix).unwrap_or_else(|| kv.key.clone());
            out.push((name, decode(&kv.key, &kv.value)?, kv.mod_revision));
        }
        Ok(out)
    }
}

/// `value` decoded as JSON, errors naming `key`.
fn decode<T: serde::de::DeserializeOwned>(key: &str, value: &[u8]) -> Result<T, HostsError> {
    serde_json::from_slice(value).map_err(|e| HostsError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Compact JSON of a record.
fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_use_the_protocol_names() {
        for (s, name) in [
            (HostState::Steady, "steady"),
            (HostState::Staged, "staged"),
            (HostState::Rebooting, "rebooting"),
            (HostState::RolledBack, "rolled-back"),
            (HostState::Failed, "failed"),
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{name}\""));
            assert_eq!(s.as_str(), name);
        }
        assert!(HostState::RolledBack.is_failure() && HostState::Failed.is_failure());
        assert!(!HostState::Rebooting.is_failure());
    }

    #[test]
    fn reports_decode_with_nulls() {
        let r: Report =
            serde_json::from_str(r#"{"booted":"v2","target":null,"state":"steady","error":null}"#)
                .unwrap();
        assert_eq!(r.target, None);
        assert!(serde_json::from_str::<Report>(
            r#"{"booted":"v2","target":null,"state":"odd","error":null}"#
        )
        .is_err());
    }
}
