//! What the agent remembers across restarts and reboots, under
//! `/var/lib/metalos/update-agent/`:
//!
//! * `state.json` — the update it activated (to tell a successful update
//!   from a rollback after the reboot), failed staging attempts per
//!   target, and whether it holds a FleetLock slot;
//! * `denylist` — versions never to stage again, one per line with the
//!   reason after a tab (operators may edit it; `#` starts a comment).
//!
//! Both are written to a temporary file and renamed into place.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The default state directory.
pub const STATE_DIR: &str = "/var/lib/metalos/update-agent";

/// Failed errors reading or writing the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// `state.json` is not valid.
    #[error("{path}: {reason} (move it away to start afresh)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// An update the agent made the next boot and rebooted into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activated {
    /// The version activated.
    pub version: String,
    /// The version that was running then.
    pub from: String,
    /// `/proc/sys/kernel/random/boot_id` of the boot that activated it:
    /// the same boot id later means the reboot has not happened yet.
    pub boot_id: String,
}

/// `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    /// Set between activation and the first check after the reboot.
    #[serde(default)]
    pub activated: Option<Activated>,
    /// Failed staging attempts in a row, per target version.
    #[serde(default)]
    pub failures: BTreeMap<String, u32>,
    /// The FleetLock slot taken for a reboot is still held (released by
    /// `steady-state` once the booted slot is good).
    #[serde(default)]
    pub lock_held: bool,
    /// After a rollback the slot is kept on purpose: the rollout stops at
    /// this host until an operator releases it or a later update succeeds.
    #[serde(default)]
    pub keep_lock_after_rollback: bool,
}

/// The state directory's two files.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// The store in `dir` (created on the first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The denylist file.
    pub fn denylist_path(&self) -> PathBuf {
        self.dir.join("denylist")
    }

    /// Reads `state.json` (default when absent).
    pub fn load(&self) -> Result<AgentState, StateError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StateError::Invalid {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AgentState::default()),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Writes `state.json`.
    pub fn save(&self, state: &AgentState) -> Result<(), StateError> {
        let mut text = serde_json::to_vec_pretty(state).expect("state serialises");
        text.push(b'\n');
        write_atomic(&self.state_path(), &text)
    }

    /// The denylisted versions (empty when the file is absent).
    pub fn denylist(&self) -> Result<BTreeMap<String, String>, StateError> {
        let path = self.denylist_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (v, why) = l.split_once('\t').unwrap_or((l, ""));
                (v.trim().to_string(), why.trim().to_string())
            })
            .collect())
    }

    /// The denylisted versions, as a set.
    pub fn denylisted(&self) -> Result<BTreeSet<String>, StateError> {
        Ok(self.denylist()?.into_keys().collect())
    }

    /// Adds `version` to the denylist with `reason`.
    pub fn deny(&self, version: &str, reason: &str) -> Result<(), StateError> {
        let mut list = self.denylist()?;
        list.insert(version.to_string(), reason.replace(['\n', '\t'], " "));
        let mut text =
            String::from("# versions the update agent never stages again (version<TAB>reason)\n");
        for (v, why) in &list {
            text.push_str(&format!("{v}\t{why}\n"));
        }
        write_atomic(&self.denylist_path(), text.as_bytes())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().expect("state files live in a directory");
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_denylist_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("agent"));
        assert_eq!(store.load().unwrap(), AgentState::default());
        assert!(store.denylisted().unwrap().is_empty());
        let mut s = AgentState::default();
        s.failures.insert("3".into(), 2);
        s.activated = Some(Activated {
            version: "3".into(),
            from: "2".into(),
            boot_id: "b".into(),
        });
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
        store.deny("3", "rolled back\tonce").unwrap();
        store.deny("4", "").unwrap();
        let list = store.denylist().unwrap();
        assert_eq!(list["3"], "rolled back once");
        assert_eq!(store.denylisted().unwrap().len(), 2);
    }

    #[test]
    fn a_broken_state_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), "{").unwrap();
        let e = StateStore::new(dir.path()).load().unwrap_err().to_string();
        assert!(e.contains("state.json"), "{e}");
    }
}
