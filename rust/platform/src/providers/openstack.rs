//! `openstack`: a config drive (label `config-2` or `CONFIG-2`, ISO 9660 or
//! FAT, read in place) raced against the metadata service, as Ignition
//! does: the first source that answers wins and stops the other. A drive
//! without `openstack/latest/user_data`, or a metadata 404, is an answer
//! ("no config"); a metadata failure leaves the drive search going until
//! the deadline (Ignition waits for ever), then both reasons are reported.
//! Ignition's extra IPv6 link-local metadata URLs are not tried.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{UserConfig, USER_DATA_LIMIT};
use crate::configdrive::{self, LABELS};
use crate::fetch::{fetch, Cancel, FetchContext, Got, Request, Rules};
use crate::PlatformError;

/// The user data on the drive and under the metadata service.
pub(crate) const USER_DATA: &str = "openstack/latest/user_data";

/// What a racer reports.
enum Report {
    Answer(Option<UserConfig>),
    Failed(String),
}

pub(super) fn user_config(ctx: &FetchContext) -> Result<Option<UserConfig>, PlatformError> {
    let cancel = Cancel::default();
    let (tx, rx) = mpsc::channel();
    for racer in [
        drive_racer as fn(&FetchContext, &Cancel) -> Report,
        metadata_racer,
    ] {
        let (ctx, cancel, tx) = (ctx.clone(), cancel.clone(), tx.clone());
        thread::spawn(move || drop(tx.send(racer(&ctx, &cancel))));
    }
    drop(tx);
    let mut reasons = Vec::new();
    let outcome = loop {
        let report = match ctx.deadline {
            Some(d) => rx
                .recv_timeout(d.saturating_duration_since(Instant::now()))
                .ok(),
            None => rx.recv().ok(),
        };
        match report {
            Some(Report::Answer(config)) => break Ok(config),
            Some(Report::Failed(reason)) => {
                ctx.log.line(&format!("openstack: {reason}"));
                reasons.push(reason);
            }
            // Every racer failed, or the deadline passed.
            None => break Err(()),
        }
    };
    cancel.cancel();
    outcome.map_err(|()| {
        // Racers stop at the deadline too: take the reasons they give
        // while stopping.
        while let Ok(Report::Failed(reason)) = rx.recv_timeout(Duration::from_secs(1)) {
            reasons.push(reason);
        }
        no_source(&reasons)
    })
}

fn no_source(reasons: &[String]) -> PlatformError {
    let mut reasons = reasons.to_vec();
    if !reasons.iter().any(|r| r.contains("config drive")) {
        reasons.push(format!(
            "no config drive labelled {} appeared in time",
            LABELS.join(" or ")
        ));
    }
    PlatformError::NoSource {
        platform: "openstack",
        reasons: reasons.join("; "),
    }
}

/// Looks for the drive every `drive_poll` until found, the deadline or
/// the race is decided.
fn drive_racer(ctx: &FetchContext, cancel: &Cancel) -> Report {
    loop {
        if let Some(drive) = configdrive::find(&ctx.sysfs, &ctx.dev) {
            let source = format!("{}:{USER_DATA}", drive.device.display());
            return match drive.read(USER_DATA, USER_DATA_LIMIT) {
                Ok(Some(data)) => Report::Answer(Some(UserConfig { data, source })),
                Ok(None) => {
                    ctx.log.line(&format!(
                        "openstack: config drive {} has no {USER_DATA}: no config",
                        drive.device.display()
                    ));
                    Report::Answer(None)
                }
                Err(e) => Report::Failed(e.to_string()),
            };
        }
        if ctx.expired() || !cancel.sleep(ctx.drive_poll, ctx.deadline) {
            return Report::Failed(format!(
                "no config drive labelled {} under {}",
                LABELS.join(" or "),
                ctx.sysfs.join("class/block").display()
            ));
        }
    }
}

/// `GET {metadata}/openstack/latest/user_data` with Ignition's retries.
fn metadata_racer(ctx: &FetchContext, cancel: &Cancel) -> Report {
    let url = ctx.url(&format!("/{USER_DATA}"));
    match fetch(
        ctx,
        Rules::Ignition,
        Request::get(&url, &[], USER_DATA_LIMIT),
        cancel,
    ) {
        Ok(Got::Body(data)) => Report::Answer(Some(UserConfig { data, source: url })),
        Ok(Got::NotFound) => {
            ctx.log
                .line(&format!("openstack: GET {url}: 404: no user data"));
            Report::Answer(None)
        }
        Err(e) => Report::Failed(format!("metadata service: {e}")),
    }
}
