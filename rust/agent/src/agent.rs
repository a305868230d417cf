//! The update cycle (Zincati's state machine on MetalOS's slots):
//!
//! 1. after a reboot the agent tells a successful update from a rollback
//!    (a rolled-back version is denylisted);
//! 2. once the booted slot is marked good it reports `steady-state`
//!    (FleetLock, retried every cycle until it succeeds);
//! 3. every cycle it reads the channel's graph ([`graph`]), picks a target
//!    ([`crate::choose`]) and stages it into the inactive slot without
//!    making it bootable;
//! 4. when the strategy allows ([`finalize`]: at once, inside a window,
//!    or once FleetLock `pre-reboot` answers 200) and nobody is logged in
//!    (or after 10 postponements of 60 s), it activates the slot and
//!    reboots.
//!
//! [`Agent::cycle`] runs one pass and says when to run the next one; the
//! machine is behind [`crate::host::Host`].

mod finalize;
pub mod graph;
mod report;

use crate::choose::{choose, Choice, ChoiceContext};
use crate::config::{AgentConfig, Strategy};
use crate::fleetlock::FleetLock;
use crate::host::{Booted, Host};
use crate::metrics::Metrics;
use crate::state::{Activated, AgentState, StateStore};
use crate::status::AgentStatus;
use anyhow::{Context, Result};
use metalos_net::http::{HttpClient, HttpOptions};
use std::path::PathBuf;
use std::time::Duration;

/// Zincati's `MAX_DEPLOY_ATTEMPTS`: a target that fails to stage this many
/// times in a row is given up (denylisted).
pub const MAX_STAGE_ATTEMPTS: u32 = 12;

/// How often to look again while the booted slot awaits mark-good.
pub const MARK_GOOD_POLL: Duration = Duration::from_secs(10);

/// Where the agent keeps and shows its state.
#[derive(Debug, Clone)]
pub struct AgentPaths {
    /// Persistent state and the denylist ([`crate::state::STATE_DIR`]).
    pub state_dir: PathBuf,
    /// The status file ([`crate::status::STATUS_FILE`]).
    pub status_file: PathBuf,
    /// The metrics file ([`crate::metrics::METRICS_FILE`]).
    pub metrics_file: PathBuf,
    /// The system's signing key: when present, `graph.json.sig` must verify with it.
    pub signing_key: PathBuf,
}

impl Default for AgentPaths {
    fn default() -> Self {
        AgentPaths {
            state_dir: crate::state::STATE_DIR.into(),
            status_file: crate::status::STATUS_FILE.into(),
            metrics_file: crate::metrics::METRICS_FILE.into(),
            signing_key: metalos_contract::paths::UsrPath::SIGNING_KEY
                .on_host()
                .into(),
        }
    }
}

/// The agent: configuration, the machine, and what it has learnt so far.
pub struct Agent<H: Host> {
    cfg: AgentConfig,
    host: H,
    http: HttpClient,
    paths: AgentPaths,
    store: StateStore,
    state: AgentState,
    fleetlock: Option<FleetLock>,
    status: AgentStatus,
    metrics: Metrics,
    initialized: bool,
    steady_reported: bool,
    postponements: u32,
    /// The last report sent to the fleet server.
    last_report: Option<crate::fleetlock::Report>,
    /// `false` once the server said it has no report endpoint.
    reports_enabled: bool,
}

/// What a cycle did, for the loop (and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do until the next cycle.
    Wait,
    /// Run again after this (a postponed reboot).
    RetryIn(Duration),
    /// The host is rebooting into the update.
    Rebooting,
}

/// The agent's HTTP client: one try per request (the cycle is the retry),
/// the C library resolves names.
pub fn http_client() -> Result<HttpClient> {
    HttpClient::new(HttpOptions {
        system_resolver: true,
        attempts: 1,
        connect_timeout: Duration::from_secs(30),
        io_timeout: crate::fleetlock::RESPONSE_TIMEOUT,
        ..HttpOptions::default()
    })
    .context("setting up HTTP")
}

impl<H: Host> Agent<H> {
    /// An agent for `cfg` on `host`; `node_id` is the FleetLock id.
    pub fn new(cfg: AgentConfig, host: H, node_id: String, paths: AgentPaths) -> Result<Self> {
        let http = http_client()?;
        let store = StateStore::new(&paths.state_dir);
        let state = store.load()?;
        let group = cfg.identity.group.clone();
        let fleetlock = match cfg.updates.strategy.fleet_lock_base(&group) {
            Some(base) => Some(FleetLock::new(&base, &node_id, &group, http.clone())?),
            None => None,
        };
        let wariness = crate::identity::wariness(cfg.identity.rollout_wariness, &node_id);
        let status = AgentStatus {
            state: "starting".into(),
            node_id,
            group: group.clone(),
            channel: cfg
                .channel
                .as_ref()
                .map(|c| format!("{} at {}", c.name, c.base_url)),
            strategy: cfg.updates.strategy.label().into(),
            rollout_wariness: wariness,
            ..AgentStatus::default()
        };
        let metrics = Metrics {
            updates_enabled: cfg.updates.enabled,
            allow_downgrade: cfg.updates.allow_downgrade,
            strategy: cfg.updates.strategy.label().into(),
            periodic_schedule_length_minutes: match &cfg.updates.strategy {
                Strategy::Periodic(s) => Some(s.total_minutes_per_week()),
                _ => None,
            },
            rollout_wariness: wariness,
            ..Metrics::default()
        };
        Ok(Agent {
            cfg,
            host,
            http,
            paths,
            store,
            state,
            fleetlock,
            status,
            metrics,
            initialized: false,
            steady_reported: false,
            postponements: 0,
            last_report: None,
            reports_enabled: true,
        })
    }

    /// The machine (tests inspect what was done to it).
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The machine, mutable (tests change it between cycles).
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// The status as of the last cycle.
    pub fn status(&self) -> &AgentStatus {
        &self.status
    }

    /// The metrics as of the last cycle.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The configured interval between cycles, ±10 % jitter.
    pub fn next_interval(&self) -> Duration {
        let base = self.cfg.steady_interval.as_secs_f64();
        let jitter = random_fraction() * 0.2 - 0.1;
        Duration::from_secs_f64((base * (1.0 + jitter)).max(1.0))
    }

    /// One pass of the cycle at `now` (Unix seconds). Errors are logged,
    /// kept as `last_error`, and the next cycle tries again.
    pub fn cycle(&mut self, now: i64) -> Outcome {
        let outcome = match self.cycle_inner(now) {
            Ok(o) => {
                self.status.last_error = None;
                o
            }
            Err(e) => {
                let text = format!("{e:#}");
                println!("error: {text}");
                self.status.last_error = Some(text);
                Outcome::Wait
            }
        };
        self.status.lock_held = self.state.lock_held;
        self.status.denylist = self
            .store
            .denylisted()
            .map(|d| d.into_iter().collect())
            .unwrap_or_default();
        self.status.updated = now;
        self.publish_status();
        outcome
    }

    fn set_state(&mut self, state: &str, now: i64) {
        if self.status.state != state {
            println!("state: {state}");
            self.status.state = state.to_string();
            self.metrics.latest_state_change_timestamp = now;
        }
    }

    fn cycle_inner(&mut self, now: i64) -> Result<Outcome> {
        let booted = self.host.booted()?;
        self.status.booted_version = Some(booted.version.clone());
        let channel_name = self.cfg.channel.as_ref().map(|c| c.name.clone());
        self.metrics.os_info = (
            booted.version.clone(),
            channel_name.unwrap_or_default(),
            self.cfg.identity.group.clone(),
        );
        if (!self.initialized && !self.initialize(&booted)?) || !booted.good {
            self.set_state("waiting-for-mark-good", now);
            return Ok(Outcome::RetryIn(MARK_GOOD_POLL));
        }
        if !self.cfg.updates.enabled {
            // As Zincati: with updates off, not even steady-state is sent.
            self.set_state("disabled", now);
            return Ok(Outcome::Wait);
        }
        if !self.steady_reported {
            self.set_state("reporting-steady", now);
            self.report_steady()?;
        }
        if self.cfg.channel.is_none() {
            self.set_state("idle", now);
            return Ok(Outcome::Wait);
        }
        self.check_and_update(&booted, now)
    }

    /// After a reboot: did the update the agent activated stay? Returns
    /// `false` while that cannot be told yet (the trial boot is not
    /// marked good).
    fn initialize(&mut self, booted: &Booted) -> Result<bool> {
        let Some(a) = self.state.activated.clone() else {
            self.initialized = true;
            return Ok(true);
        };
        if a.boot_id == booted.boot_id {
            // Activated, but the reboot never happened (agent restarted).
            println!(
                "version {} was activated in this boot; it boots next",
                a.version
            );
            self.initialized = true;
            return Ok(true);
        }
        if booted.version == a.version {
            if !booted.good {
                return Ok(false);
            }
            println!("updated: now running {} (was {})", a.version, a.from);
            self.state.failures.remove(&a.version);
            self.state.keep_lock_after_rollback = false;
        } else {
            println!(
                "rollback: version {} did not stay (running {} again); it is denylisted and never staged again",
                a.version, booted.version
            );
            self.store.deny(
                &a.version,
                &format!("rolled back to {} after its trial boot", booted.version),
            )?;
            self.report(&booted.version, "rolled-back", Some(&a.version), None);
            if self.fleetlock.is_some() && self.state.lock_held {
                println!(
                    "keeping the FleetLock slot: the rollout stops at this host until an operator releases it"
                );
                self.state.keep_lock_after_rollback = true;
            }
        }
        self.state.activated = None;
        self.store.save(&self.state)?;
        self.initialized = true;
        Ok(true)
    }

    /// FleetLock `steady-state` (releasing a slot held since the reboot),
    /// unless a rollback keeps it held on purpose.
    fn report_steady(&mut self) -> Result<()> {
        let Some(fl) = &self.fleetlock else {
            self.steady_reported = true;
            return Ok(());
        };
        if self.state.keep_lock_after_rollback {
            self.steady_reported = true;
            return Ok(());
        }
        let booted = self.status.booted_version.clone().unwrap_or_default();
        *self
            .metrics
            .fleet_lock_requests
            .entry("steady-state".into())
            .or_default() += 1;
        if let Err(e) = fl.steady_state() {
            *self
                .metrics
                .fleet_lock_errors
                .entry(("steady-state".into(), e.kind().to_string()))
                .or_default() += 1;
            return Err(e).context("reporting steady state (retried next cycle)");
        }
        println!(
            "FleetLock: steady-state reported to {}",
            fl.url(crate::fleetlock::Api::SteadyState)
        );
        self.steady_reported = true;
        if self.state.lock_held {
            self.state.lock_held = false;
            self.store.save(&self.state)?;
        }
        self.report(&booted, "steady", None, None);
        Ok(())
    }

    /// Reads the graph, picks the target, stages it, reboots when allowed.
    fn check_and_update(&mut self, booted: &Booted, now: i64) -> Result<Outcome> {
        let channel = self.cfg.channel.clone().expect("checked by the caller");
        let graph = self.fetch_graph(&channel, now)?;
        let denylist = self.store.denylisted()?;
        let ctx = ChoiceContext {
            wariness: self.status.rollout_wariness,
            now,
            denylist: &denylist,
            allow_downgrade: self.cfg.updates.allow_downgrade,
        };
        let choice = choose(&graph.graph, &booted.version, &ctx);
        self.metrics.booted_release_is_deadend = matches!(choice, Choice::DeadEnd { .. });
        let (version, payload) = match choice {
            Choice::NotInGraph => {
                self.status.target_version = None;
                self.set_state("not-in-graph", now);
                return Ok(Outcome::Wait);
            }
            Choice::DeadEnd { reason } => {
                println!(
                    "version {} is a dead end: {}",
                    booted.version,
                    reason.as_deref().unwrap_or("no reason given")
                );
                self.status.target_version = None;
                self.set_state("dead-end", now);
                return Ok(Outcome::Wait);
            }
            Choice::NoUpdate { ignored } => {
                self.log_ignored(&ignored);
                self.status.target_version = None;
                self.set_state("no-update", now);
                return Ok(Outcome::Wait);
            }
            Choice::Update {
                version,
                payload,
                ignored,
            } => {
                self.log_ignored(&ignored);
                (version, payload)
            }
        };
        self.status.target_version = Some(version.clone());
        let url = graph.payload_url(&payload);
        if !self.ensure_staged(&version, &url, now)? {
            return Ok(Outcome::Wait);
        }
        self.finalize(booted, &version, now)
    }

    fn log_ignored(&mut self, ignored: &[crate::choose::Ignored]) {
        self.metrics.ignored_update_targets = ignored.len() as u64;
        for i in ignored {
            println!("not taking version {}: {:?}", i.version, i.why);
        }
    }

    /// Stages `version` unless the inactive slot already holds it.
    /// Returns whether it is staged now.
    fn ensure_staged(&mut self, version: &str, url: &str, now: i64) -> Result<bool> {
        let staged = self.host.staged()?;
        self.status.staged_version = staged.as_ref().map(|s| s.version.clone());
        if staged.is_some_and(|s| s.version == version) {
            return Ok(true);
        }
        self.set_state("staging", now);
        println!("staging version {version} from {url} (the slot stays disabled until the reboot is allowed)");
        self.metrics.stage_attempts += 1;
        match self.host.stage(url) {
            Ok(s) => {
                self.state.failures.remove(version);
                self.store.save(&self.state)?;
                self.status.staged_version = Some(s.version);
                self.set_state("staged", now);
                let booted = self.status.booted_version.clone().unwrap_or_default();
                self.report(&booted, "staged", Some(version), None);
                Ok(true)
            }
            Err(e) => {
                self.metrics.stage_failures += 1;
                let n = self.state.failures.entry(version.to_string()).or_default();
                *n += 1;
                let n = *n;
                if n >= MAX_STAGE_ATTEMPTS {
                    println!("giving up on version {version} after {n} failed attempts");
                    let booted = self.status.booted_version.clone().unwrap_or_default();
                    self.report(&booted, "failed", Some(version), Some(format!("{e:#}")));
                    self.store.deny(
                        version,
                        &format!("{n} failed staging attempts; last: {e:#}"),
                    )?;
                    self.state.failures.remove(version);
                }
                self.store.save(&self.state)?;
                Err(e.context(format!(
                    "staging version {version} (attempt {n} of {MAX_STAGE_ATTEMPTS})"
                )))
            }
        }
    }

    fn publish_status(&self) {
        let write = |path: &std::path::Path, bytes: &[u8]| {
            if let Err(e) = write_atomic(path, bytes) {
                println!("warning: writing {}: {e}", path.display());
            }
        };
        let mut json = serde_json::to_vec_pretty(&self.status).expect("status serialises");
        json.push(b'\n');
        write(&self.paths.status_file, &json);
        write(&self.paths.metrics_file, self.metrics.render().as_bytes());
    }

    fn activated_record(&self, version: &str, booted: &Booted) -> Activated {
        Activated {
            version: version.to_string(),
            from: booted.version.clone(),
            boot_id: booted.boot_id.clone(),
        }
    }
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A fraction in [0, 1) from the process's random hasher seed.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

impl<H: Host> Agent<H> {
    /// Runs cycles until the host reboots (or after one with `once`).
    pub fn run(&mut self, once: bool) {
        loop {
            let outcome = self.cycle(unix_now());
            if once {
                return;
            }
            let wait = match outcome {
                Outcome::Wait => self.next_interval(),
                Outcome::RetryIn(d) => d,
                // systemd stops the agent on the way down.
                Outcome::Rebooting => Duration::from_secs(600),
            };
            std::thread::sleep(wait);
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
