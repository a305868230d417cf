//! The MetalOS update agent (`metalos update agent`): a host follows a
//! release channel by itself, Zincati's model on MetalOS's A/B slots
//! (docs/fleet-updates.md).
//!
//! * [`config`] — TOML drop-ins from `/usr/lib`, `/etc` and
//!   `/run/metalos/update.d/`, merged by file name;
//! * [`identity`] — the node id (systemd app-specific machine id) and the
//!   rollout wariness derived from it;
//! * [`choose`] — picking the update target from a channel's graph;
//! * [`window`] — periodic reboot windows (time zones, DST);
//! * [`fleetlock`] — the FleetLock client (`pre-reboot`, `steady-state`);
//! * [`state`] — what survives restarts and reboots (the denylist);
//! * [`host`] — the machine: booted slot, stage, activate, reboot;
//! * [`agent`] — the cycle that ties these together;
//! * [`status`], [`metrics`] — `--status` and Prometheus text.

pub mod agent;
pub mod choose;
pub mod config;
pub mod fleetlock;
pub mod host;
pub mod identity;
pub mod metrics;
pub mod state;
pub mod status;
pub mod window;
