//! The operator's actions on the fleet state (`metalos fleet unlock`,
//! `metalos fleet resume`) and their log in etcd: each action and each
//! automatic halt appends an entry under [`keys::LOG_PREFIX`], which
//! `metalos fleet status` shows.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::etcd::{Etcd, EtcdError};
use crate::hosts::{Hosts, HostsError};
use crate::keys;
use crate::semaphore::{RetryPolicy, SemaphoreError, Semaphores, UnlockOutcome};

/// Why an admin action or reading the fleet state failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// etcd failed.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// A semaphore could not be read or changed.
    #[error(transparent)]
    Semaphore(#[from] SemaphoreError),
    /// Reports or halts could not be read or changed.
    #[error(transparent)]
    Hosts(#[from] HostsError),
    /// A log entry could not be read.
    #[error("{key}: stored log entry unreadable: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// One entry of the admin log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Unix seconds.
    pub at: u64,
    /// `unlock`, `resume` or `halt`.
    pub action: String,
    /// What was done, e.g. `released n1 from group default`.
    pub detail: String,
    /// Who: `user@host` for the CLI, `metalos fleet serve@host` for a halt.
    pub by: String,
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Appends `entry` to the log (key: unix nanoseconds plus a random
/// suffix, so entries sort by time and never collide).
pub fn log(etcd: &Etcd, entry: &LogEntry) -> Result<(), EtcdError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let key = format!("{}{nanos:020}-{:08x}", keys::LOG_PREFIX, fastrand::u32(..));
    etcd.put(
        &key,
        &serde_json::to_vec(entry).expect("log entries serialise"),
    )
}

/// The last `n` log entries, oldest first.
pub fn recent_log(etcd: &Etcd, n: usize) -> Result<Vec<LogEntry>, AdminError> {
    let all = etcd.range_prefix(keys::LOG_PREFIX)?;
    let skip = all.len().saturating_sub(n);
    all.into_iter()
        .skip(skip)
        .map(|kv| {
            serde_json::from_slice(&kv.value).map_err(|e| AdminError::Corrupt {
                key: kv.key.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Releases `id`'s slot in `group` (a holder that will not come back),
/// keeping the group's slot count; logged as done `by`.
pub fn unlock(
    etcd: &Arc<Etcd>,
    group: &str,
    id: &str,
    by: &str,
) -> Result<UnlockOutcome, AdminError> {
    let semaphores = Semaphores::new(etcd.clone(), RetryPolicy::default());
    let outcome = semaphores.unlock(group, id, None)?;
    let detail = match outcome {
        UnlockOutcome::Released => format!("released {id} from group {group}"),
        UnlockOutcome::NotHeld => format!("{id} held no slot in group {group}"),
    };
    log(
        etcd,
        &LogEntry {
            at: unix_now(),
            action: "unlock".into(),
            detail,
            by: by.to_string(),
        },
    )?;
    Ok(outcome)
}

/// Lifts the halt of `version`; logged as done `by`. Whether it was
/// halted.
pub fn resume(etcd: &Arc<Etcd>, version: &str, by: &str) -> Result<bool, AdminError> {
    let was = Hosts::new(etcd.clone()).resume(version, unix_now())?;
    let detail = if was {
        format!("lifted the halt of {version}")
    } else {
        format!("{version} was not halted; earlier failures no longer count")
    };
    log(
        etcd,
        &LogEntry {
            at: unix_now(),
            action: "resume".into(),
            detail,
            by: by.to_string(),
        },
    )?;
    Ok(was)
}
