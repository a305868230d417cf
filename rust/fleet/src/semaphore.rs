//! Reboot slots: one airlock-compatible counting semaphore per group in
//! etcd, changed only by compare-and-swap on the key's version.
//!
//! The key is [`keys::semaphore`], its value `{"total_slots": N,
//! "holders": [ids, sorted]}` exactly as airlock writes it, so airlock and
//! MetalOS servers can share a cluster. Unlike airlock:
//!
//! * a CAS conflict is retried here (up to [`RetryPolicy::tries`], with a
//!   small jittered pause) instead of failing the request;
//! * the configured slot count is written on the next request whenever
//!   etcd's differs (airlock writes it only when creating the key);
//! * each grant also records when the holder took its slot under
//!   [`keys::held`], in the same transaction (for `metalos fleet status`);
//!   releasing deletes it. Holders written by airlock have no such key.
//!
//! Lowering the slots below the number of holders keeps every holder; no
//! one new gets in until enough have left.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::etcd::{Compare, Etcd, EtcdError, Op};
use crate::keys;

/// The semaphore value, field order as airlock's (Go's `json.Marshal` of
/// `{TotalSlots uint64; Holders []string}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Semaphore {
    /// How many hosts may hold a slot at once.
    pub total_slots: u64,
    /// The ids holding a slot, sorted (`null` reads as none).
    #[serde(deserialize_with = "null_as_empty")]
    pub holders: Vec<String>,
}

/// When a holder took its slot (value of [`keys::held`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldSince {
    /// Unix seconds of the grant.
    pub since: u64,
}

/// What a lock request ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// The id now holds a slot.
    Granted,
    /// The id already held a slot (re-entrant).
    AlreadyHeld,
    /// Every slot is taken.
    Full {
        /// The slots (after this request's update, if any).
        total_slots: u64,
        /// The holders.
        holders: Vec<String>,
    },
}

/// What an unlock request ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockOutcome {
    /// The id held a slot and no longer does.
    Released,
    /// The id held no slot (success too, per the protocol).
    NotHeld,
}

/// Why a lock or unlock failed.
#[derive(Debug, thiserror::Error)]
pub enum SemaphoreError {
    /// etcd failed.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// Other writers changed the key on every try.
    #[error("semaphore {key}: changed by another writer on each of {tries} tries")]
    Conflict {
        /// The semaphore key.
        key: String,
        /// Tries made.
        tries: u32,
    },
    /// The stored value is not a semaphore.
    #[error("semaphore {key}: stored value is not {{\"total_slots\", \"holders\"}}: {reason}")]
    Corrupt {
        /// The semaphore key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// How often and how fast CAS conflicts are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries per request, including the first (default 64: 16 ran out
    /// under 200 clients on two servers on a loaded 2-core machine, and a
    /// `conflict` answer only makes the host ask again later).
    pub tries: u32,
    /// Upper bound of the first pause; doubled per try up to 16× (default
    /// 5 ms). Each pause is uniformly random below its bound.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            tries: 64,
            backoff: Duration::from_millis(5),
        }
    }
}

/// The semaphores of every group in one etcd cluster.
#[derive(Debug, Clone)]
pub struct Semaphores {
    etcd: Arc<Etcd>,
    retry: RetryPolicy,
}

/// One try's decision: the writes (empty: none) and the outcome if they
/// succeed.
struct Plan<T> {
    ops: Vec<Op>,
    outcome: T,
}

impl Semaphores {
    /// The semaphores in `etcd`, conflicts retried per `retry`.
    pub fn new(etcd: Arc<Etcd>, retry: RetryPolicy) -> Self {
        Semaphores { etcd, retry }
    }

    /// The semaphore of `group` and its key's version, `None` when absent.
    pub fn read(&self, group: &str) -> Result<Option<(Semaphore, u64)>, SemaphoreError> {
        let key = keys::semaphore(group);
        let Some(kv) = self.etcd.get(&key)? else {
            return Ok(None);
        };
        let sem = parse(&key, &kv.value)?;
        Ok(Some((sem, kv.version)))
    }

    /// Takes a slot in `group` for `id` (re-entrant); `slots` is the
    /// configured count, written if etcd's differs. `now` (unix seconds)
    /// is recorded as the holder's start.
    pub fn lock(
        &self,
        group: &str,
        id: &str,
        slots: u64,
        now: u64,
    ) -> Result<LockOutcome, SemaphoreError> {
        self.with_retries(group, |current| plan_lock(group, id, slots, now, current))
    }

    /// Releases `id`'s slot in `group`, if it holds one. `slots`, when
    /// given, is the configured count, written if etcd's differs (`None`:
    /// keep etcd's, as for an admin's unlock). An absent key is left
    /// absent.
    pub fn unlock(
        &self,
        group: &str,
        id: &str,
        slots: Option<u64>,
    ) -> Result<UnlockOutcome, SemaphoreError> {
        self.with_retries(group, |current| {
            let Some(mut sem) = current else {
                return Plan {
                    ops: Vec::new(),
                    outcome: UnlockOutcome::NotHeld,
                };
            };
            let mut changed = false;
            if let Some(slots) = slots.filter(|s| *s != sem.total_slots) {
                sem.total_slots = slots;
                changed = true;
            }
            let mut ops = Vec::new();
            let outcome = match sem.holders.binary_search_by(|h| h.as_str().cmp(id)) {
                Ok(at) => {
                    sem.holders.remove(at);
                    changed = true;
                    ops.push(Op::Delete {
                        key: keys::held(group, id),
                    });
                    UnlockOutcome::Released
                }
                Err(_) => UnlockOutcome::NotHeld,
            };
            if changed {
                ops.insert(
                    0,
                    Op::Put {
                        key: keys::semaphore(group),
                        value: to_json(&sem),
                    },
                );
            }
            Plan { ops, outcome }
        })
    }

    /// Reads the semaphore, lets `decide` plan the writes and applies them
    /// compared on the version read; retries on a conflict.
    fn with_retries<T>(
        &self,
        group: &str,
        mut decide: impl FnMut(Option<Semaphore>) -> Plan<T>,
    ) -> Result<T, SemaphoreError> {
        let key = keys::semaphore(group);
        let tries = self.retry.tries.max(1);
        for attempt in 0..tries {
            let (current, version) = match self.etcd.get(&key)? {
                Some(kv) => (Some(parse(&key, &kv.value)?), kv.version),
                None => (None, 0),
            };
            let plan = decide(current);
            if plan.ops.is_empty() {
                return Ok(plan.outcome);
            }
            let compare = Compare::Version {
                key: key.clone(),
                version,
            };
            if self.etcd.txn(&[compare], &plan.ops)? {
                return Ok(plan.outcome);
            }
            if attempt + 1 < tries {
                thread::sleep(self.pause(attempt));
            }
        }
        Err(SemaphoreError::Conflict { key, tries })
    }

    /// A random pause below `backoff × 2^min(attempt, 4)`.
    fn pause(&self, attempt: u32) -> Duration {
        let bound = self.retry.backoff.saturating_mul(1 << attempt.min(4));
        let micros = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX).max(1);
        Duration::from_micros(fastrand::u64(0..micros))
    }
}

/// What a lock try writes, given the semaphore read (`None`: absent).
fn plan_lock(
    group: &str,
    id: &str,
    slots: u64,
    now: u64,
    current: Option<Semaphore>,
) -> Plan<LockOutcome> {
    let resized = current.as_ref().is_none_or(|s| s.total_slots != slots);
    let mut sem = current.unwrap_or(Semaphore {
        total_slots: slots,
        holders: Vec::new(),
    });
    sem.total_slots = slots;
    let put = |sem: &Semaphore| Op::Put {
        key: keys::semaphore(group),
        value: to_json(sem),
    };
    match sem.holders.binary_search_by(|h| h.as_str().cmp(id)) {
        Ok(_) => Plan {
            ops: resized.then(|| put(&sem)).into_iter().collect(),
            outcome: LockOutcome::AlreadyHeld,
        },
        Err(_) if sem.holders.len() as u64 >= sem.total_slots => Plan {
            ops: resized.then(|| put(&sem)).into_iter().collect(),
            outcome: LockOutcome::Full {
                total_slots: sem.total_slots,
                holders: sem.holders.clone(),
            },
        },
        Err(at) => {
            sem.holders.insert(at, id.to_string());
            let since = serde_json::to_vec(&HeldSince { since: now }).expect("serialises");
            let held = Op::Put {
                key: keys::held(group, id),
                value: since,
            };
            Plan {
                ops: vec![put(&sem), held],
                outcome: LockOutcome::Granted,
            }
        }
    }
}

/// The semaphore stored at `key`.
pub fn parse(key: &str, value: &[u8]) -> Result<Semaphore, SemaphoreError> {
    serde_json::from_slice(value).map_err(|e| SemaphoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// The value airlock would write: compact JSON, `holders` sorted.
pub fn to_json(sem: &Semaphore) -> Vec<u8> {
    serde_json::to_vec(sem).expect("a semaphore serialises")
}

/// Go writes a nil slice as `null`.
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_airlocks() {
        let sem = Semaphore {
            total_slots: 2,
            holders: vec!["a".into(), "b".into()],
        };
        assert_eq!(to_json(&sem), br#"{"total_slots":2,"holders":["a","b"]}"#);
        assert_eq!(
            parse("k", br#"{"total_slots":2,"holders":["a","b"]}"#).unwrap(),
            sem
        );
        let nil = parse("k", br#"{"total_slots":1,"holders":null}"#).unwrap();
        assert!(nil.holders.is_empty());
        let e = parse("com.coreos.airlock/groups/g/v1/semaphore", b"{}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("semaphore com.coreos.airlock/groups/g/v1/semaphore: "),
            "{e}"
        );
    }

    #[test]
    fn pauses_stay_below_their_bound() {
        let etcd =
            Arc::new(Etcd::new(&["http://127.0.0.1:1".into()], Duration::from_secs(1)).unwrap());
        let s = Semaphores::new(etcd, RetryPolicy::default());
        for attempt in 0..20 {
            let bound = Duration::from_millis(5) * (1 << attempt.min(4));
            assert!(s.pause(attempt) < bound);
        }
    }
}
