//! The MetalOS fleet server (`metalos fleet serve`, docs/fleet-server.md):
//! FleetLock reboot slots kept in etcd in airlock's format, host reports,
//! and the automatic halt of a release that fails on the fleet.
//!
//! * [`config`] — the settings: TOML file and command-line overrides
//! * [`etcd`] — an etcd v3 client over the JSON gateway (several endpoints)
//! * [`keys`] — the keys kept in etcd and their escaping
//! * [`semaphore`] — airlock-compatible counting semaphores, CAS retried
//! * [`hosts`] — host reports, halts of failing releases, resume
//! * [`kind`] — the fixed set of error kinds and their HTTP statuses
//! * [`server`] — the HTTP server: routes, metrics, worker threads
//! * [`admin`] — operator actions (unlock, resume) and their log in etcd
//! * [`status`] — the whole state for `metalos fleet status`

pub mod admin;
pub mod config;
pub mod etcd;
pub mod hosts;
pub mod keys;
pub mod kind;
pub mod semaphore;
pub mod server;
pub mod status;
