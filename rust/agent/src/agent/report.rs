//! Reports to a MetalOS fleet server (`metalos/v1/report`, next to the
//! FleetLock endpoints): the host's state on every change, so the server
//! can show the fleet and halt a release that rolls back. Best effort: a
//! failed report is logged and the cycle goes on; a server without the
//! endpoint (404: airlock, poseidon) is not asked again.

use super::Agent;
use crate::fleetlock::{Api, FleetLockError, Report};
use crate::host::Host;

impl<H: Host> Agent<H> {
    /// Sends `state` unless it is what was sent last.
    pub(super) fn report(
        &mut self,
        booted: &str,
        state: &str,
        target: Option<&str>,
        error: Option<String>,
    ) {
        let Some(fl) = &self.fleetlock else {
            return;
        };
        if !self.reports_enabled {
            return;
        }
        let report = Report {
            booted: booted.to_string(),
            target: target.map(str::to_string),
            state: state.to_string(),
            error,
        };
        if self.last_report.as_ref() == Some(&report) {
            return;
        }
        *self
            .metrics
            .fleet_lock_requests
            .entry(Api::Report.as_str().into())
            .or_default() += 1;
        match fl.report(&report) {
            Ok(()) => {
                println!("reported {state} to {}", fl.url(Api::Report));
                self.last_report = Some(report);
            }
            Err(FleetLockError::Refused { status: 404, .. }) => {
                println!("the FleetLock server has no metalos/v1/report (not a MetalOS fleet server): not reporting");
                self.reports_enabled = false;
            }
            Err(e) => {
                println!("report failed (retried at the next change): {e}");
                *self
                    .metrics
                    .fleet_lock_errors
                    .entry((Api::Report.as_str().into(), e.kind().to_string()))
                    .or_default() += 1;
            }
        }
    }
}
