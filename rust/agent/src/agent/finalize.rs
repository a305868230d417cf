//! The reboot decision: the strategy ([`Strategy`]) must allow it, and
//! logged-in users postpone it (at most 10 × 60 s, each time with a wall
//! message, as Zincati does); then the staged slot is activated and the
//! host reboots.

use super::{Agent, Outcome};
use crate::config::Strategy;
use crate::fleetlock::Api;
use crate::host::{Booted, Host};
use anyhow::{Context, Result};
use std::time::Duration;

/// Zincati's `MAX_FINALIZE_POSTPONEMENTS`.
pub const MAX_POSTPONEMENTS: u32 = 10;
/// The wait between postponements.
pub const POSTPONEMENT: Duration = Duration::from_secs(60);

impl<H: Host> Agent<H> {
    /// Reboots into the staged `version` if the strategy allows it now.
    pub(super) fn finalize(&mut self, booted: &Booted, version: &str, now: i64) -> Result<Outcome> {
        let allowed = self.strategy_allows(now);
        *self
            .metrics
            .can_finalize_responses
            .entry(allowed)
            .or_default() += 1;
        if !allowed {
            self.metrics.finalization_blocked_count += 1;
            self.postponements = 0;
            self.set_state("waiting-to-reboot", now);
            return Ok(Outcome::Wait);
        }
        let users = self.host.interactive_sessions();
        self.metrics.finalization_detected_active_users = users as u64;
        if users > 0 && self.postponements < MAX_POSTPONEMENTS {
            self.postponements += 1;
            self.metrics.postponed_finalizations_total += 1;
            let msg = format!(
                "MetalOS: this host reboots into version {version} soon; postponed {} of {MAX_POSTPONEMENTS} times ({users} users logged in)",
                self.postponements
            );
            println!("{msg}");
            self.host.broadcast(&msg);
            self.set_state("waiting-to-reboot", now);
            return Ok(Outcome::RetryIn(POSTPONEMENT));
        }
        self.metrics.finalization_attempts += 1;
        self.report(&booted.version, "rebooting", Some(version), None);
        let record = self.host.activate().context("activating the staged slot")?;
        self.state.activated = Some(self.activated_record(&record.version, booted));
        self.store.save(&self.state)?;
        let msg = format!("MetalOS: rebooting into version {} now", record.version);
        println!("{msg}");
        self.host.broadcast(&msg);
        self.set_state("rebooting", now);
        self.host.reboot()?;
        self.metrics.finalization_successes += 1;
        Ok(Outcome::Rebooting)
    }

    /// Immediate: yes. Periodic: inside a window. FleetLock: `pre-reboot`
    /// answered 200 (the slot is then held until `steady-state`).
    fn strategy_allows(&mut self, now: i64) -> bool {
        match &self.cfg.updates.strategy {
            Strategy::Immediate => true,
            Strategy::Periodic(schedule) => {
                let Ok(ts) = jiff::Timestamp::from_second(now) else {
                    return false;
                };
                let open = schedule.contains(ts);
                if !open {
                    let next = schedule
                        .next_opening(ts)
                        .map_or("never".into(), |t| t.to_string());
                    println!("outside the reboot windows; next opening {next}");
                }
                open
            }
            Strategy::FleetLock { .. } => self.take_lock(),
        }
    }

    fn take_lock(&mut self) -> bool {
        let Some(fl) = &self.fleetlock else {
            return false;
        };
        *self
            .metrics
            .fleet_lock_requests
            .entry("pre-reboot".into())
            .or_default() += 1;
        match fl.pre_reboot() {
            Ok(()) => {
                println!(
                    "FleetLock: reboot slot granted by {}",
                    fl.url(Api::PreReboot)
                );
                self.state.lock_held = true;
                if let Err(e) = self.store.save(&self.state) {
                    println!("warning: {e}");
                }
                true
            }
            Err(e) => {
                println!("FleetLock: no reboot slot: {e}");
                *self
                    .metrics
                    .fleet_lock_errors
                    .entry(("pre-reboot".into(), e.kind().to_string()))
                    .or_default() += 1;
                false
            }
        }
    }
}
