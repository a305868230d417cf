//! The agent's configuration: TOML drop-ins merged as Zincati merges its
//! own, from MetalOS's directories ([`CONFIG_DIRS`]).
//!
//! * Only `*.toml` files count (dotfiles are skipped). A file in a later
//!   directory replaces the file of the same name in an earlier one; a
//!   symlink to `/dev/null` masks the name (an empty file does too, in
//!   effect: it replaces the earlier file and sets nothing). Missing
//!   directories are fine.
//! * The surviving files are applied in lexicographic order of file name;
//!   a later file's value wins key by key, and tables merge.
//! * `[[updates.periodic.window]]` entries accumulate: every file's
//!   windows count, as in Zincati (`merge_fragments` appends each
//!   fragment's windows); a later file cannot remove an earlier window
//!   except by masking or replacing that file.
//! * Unknown keys are ignored, as in Zincati, with a warning naming the
//!   file and key ([`Loaded::warnings`]). A wrongly typed value is an
//!   error even when a later file overrides it.
//! * Values are checked after the merge (so a bad value a later file
//!   overrides does no harm); every error names the file that set the
//!   value and its key. Every value present is checked, also the windows
//!   and time zone when the strategy is not `periodic` (Zincati checks
//!   those only for `periodic`).
//! * As in Zincati, an empty `identity.group`, `identity.node_uuid` or
//!   `updates.strategy` means the default, so a later file can reset it.

mod merge;
mod scan;
mod validate;

use crate::window::{self, Schedule};
use metalos_contract::graph::{GRAPH_FILE, UPDATES_DIR};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The drop-in directories, lowest priority first: the OS image's
/// defaults, the administrator's, and the runtime's (not persistent).
/// This is the order Zincati documents (and systemd uses); Zincati's code
/// itself scans `/run` before `/etc`.
pub const CONFIG_DIRS: [&str; 3] = [
    "/usr/lib/metalos/update.d",
    "/etc/metalos/update.d",
    "/run/metalos/update.d",
];

/// The default `agent.timing.steady_interval_secs`.
pub const DEFAULT_STEADY_INTERVAL_SECS: u64 = 300;

/// The default `identity.group`.
pub const DEFAULT_GROUP: &str = "default";

/// The FleetLock URL variables [`Strategy::fleet_lock_base`] fills in.
/// `${stream}` (and anything else) is refused when the file is loaded:
/// MetalOS has channels, not streams.
pub const FLEET_LOCK_VARIABLES: [&str; 3] = ["group", "basearch", "platform"];

/// What `${platform}` becomes: Fedora CoreOS's id for bare metal.
pub const PLATFORM: &str = "metal";

/// Why the configuration could not be loaded. Every variant names the
/// file (or directory) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A drop-in directory exists but could not be listed.
    #[error("{}: cannot list the directory: {source}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A drop-in could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A drop-in is not valid TOML.
    #[error("{}: line {line}, column {column}: invalid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A key has a wrong type or value, or a needed key is missing.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The file that set the value (or the one that needs the
        /// missing key).
        path: PathBuf,
        /// The dotted key (`updates.periodic.window[0].days`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The result of [`load`].
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The merged, checked configuration.
    pub config: AgentConfig,
    /// Keys that were ignored and files that were skipped, one line each
    /// (`FILE: KEY: unknown key, ignored`).
    pub warnings: Vec<String>,
    /// The drop-ins applied, in the order applied.
    pub files: Vec<PathBuf>,
}

/// The agent's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// The release channel; `None`: the agent stays idle.
    pub channel: Option<Channel>,
    /// Time between update checks in the steady state.
    pub steady_interval: Duration,
    /// How the node identifies itself.
    pub identity: Identity,
    /// Whether and how updates are applied.
    pub updates: Updates,
}

impl Default for AgentConfig {
    /// The configuration with no drop-ins: idle, immediate.
    fn default() -> Self {
        AgentConfig {
            channel: None,
            steady_interval: Duration::from_secs(DEFAULT_STEADY_INTERVAL_SECS),
            identity: Identity {
                group: DEFAULT_GROUP.to_string(),
                node_uuid: None,
                rollout_wariness: None,
            },
            updates: Updates {
                enabled: true,
                allow_downgrade: false,
                strategy: Strategy::Immediate,
            },
        }
    }
}

/// `[channel]`: where the release channel is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// `base_url`: the published tree's URL (`http://` or `https://`).
    pub base_url: String,
    /// `name`: the channel (a single path component).
    pub name: String,
}

impl Channel {
    /// The channel's graph: `BASE/updates/NAME/graph.json` (with or
    /// without a `/` at the end of the base URL).
    pub fn graph_url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        format!("{base}/{UPDATES_DIR}/{}/{GRAPH_FILE}", self.name)
    }
}

/// `[identity]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// `group`: the update group (default `default`).
    pub group: String,
    /// `node_uuid`: 32 lower-case hex digits; `None`: derived from the
    /// machine id ([`crate::identity::node_id`]).
    pub node_uuid: Option<String>,
    /// `rollout_wariness` in [0, 1]; `None`: derived from the node id
    /// ([`crate::identity::wariness`]).
    pub rollout_wariness: Option<f64>,
}

/// `[updates]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Updates {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `allow_downgrade` (default false).
    pub allow_downgrade: bool,
    /// `strategy` and its settings.
    pub strategy: Strategy,
}

/// When a staged update may reboot the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// `immediate` (the default): at once.
    Immediate,
    /// `periodic`: inside `[[updates.periodic.window]]`s.
    Periodic(Schedule),
    /// `fleet_lock`: once the FleetLock server grants the lock.
    FleetLock {
        /// `updates.fleet_lock.base_url`, possibly with `${group}`,
        /// `${basearch}` or `${platform}` in it.
        base_url: String,
    },
}

impl Strategy {
    /// The configuration name (`immediate`, `periodic`, `fleet_lock`),
    /// also the label of the `updates_strategy_mode` metric.
    pub fn label(&self) -> &'static str {
        match self {
            Strategy::Immediate => "immediate",
            Strategy::Periodic(_) => "periodic",
            Strategy::FleetLock { .. } => "fleet_lock",
        }
    }

    /// The FleetLock server's base URL for `group` (`None` unless the
    /// strategy is `fleet_lock`): `${group}` becomes `group`,
    /// `${basearch}` this build's architecture (`x86_64`, `aarch64`) and
    /// `${platform}` [`PLATFORM`], as Zincati fills in its templates.
    pub fn fleet_lock_base(&self, group: &str) -> Option<String> {
        let Strategy::FleetLock { base_url } = self else {
            return None;
        };
        let url = base_url
            .replace("${group}", group)
            .replace("${basearch}", std::env::consts::ARCH)
            .replace("${platform}", PLATFORM);
        Some(url)
    }
}

/// Loads the drop-ins in `dirs` (normally [`CONFIG_DIRS`], lowest
/// priority first); `time_zone = "localtime"` reads
/// [`window::LOCALTIME`].
pub fn load(dirs: &[&Path]) -> Result<Loaded, ConfigError> {
    load_with_localtime(dirs, Path::new(window::LOCALTIME))
}

/// [`load`], with `localtime` standing for `/etc/localtime`.
pub fn load_with_localtime(dirs: &[&Path], localtime: &Path) -> Result<Loaded, ConfigError> {
    let scanned = scan::scan(dirs)?;
    let mut warnings = scanned.warnings;
    let mut raw = merge::Raw::default();
    for path in &scanned.files {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        raw.apply(path, &text, &mut warnings)?;
    }
    let config = validate::validate(raw, localtime)?;
    Ok(Loaded {
        config,
        warnings,
        files: scanned.files,
    })
}

#[cfg(test)]
mod tests;
