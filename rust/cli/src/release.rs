//! `metalos release publish|withdraw|list`: release channels in a served
//! tree (docs/fleet-updates.md, [`metalos_netboot::channel`]).

use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use metalos_netboot::channel::{
    list_releases, publish_release, withdraw_release, Change, ReleaseInfo, ReleaseOptions,
    RolloutFlags,
};
use metalos_signing::SigningKey;
use std::path::{Path, PathBuf};

/// `metalos release …`.
#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Publish an update bundle (the update/ directory of a `metalos build`
    /// output) into a channel of a served tree: blobs under
    /// DEST/blobs/sha256/, the release under DEST/updates/NAME/<version>/,
    /// and an edge to it in DEST/updates/NAME/graph.json. Publishing a
    /// version again with the same bundle.json updates its rollout.
    Publish(PublishArgs),
    /// Withdraw a release: no update path leads to it any more (hosts
    /// already on it keep updating from it).
    Withdraw(WithdrawArgs),
    /// List a channel's releases: age, barrier/dead end/withdrawn, update
    /// paths in and out, and the fraction of hosts its rollout admits now.
    List(ListArgs),
}

/// Arguments of `metalos release publish`.
#[derive(Args)]
pub struct PublishArgs {
    /// The update bundle directory (bundle.json, usr.img, bootloader.efi, bundle.json.sig).
    bundle: PathBuf,
    /// Served tree (created if missing); the same DEST as `metalos netboot publish`.
    dest: PathBuf,
    /// The channel (e.g. stable): DEST/updates/NAME/.
    #[arg(long, value_name = "NAME")]
    channel: String,
    /// Key directory (`metalos keys generate`): signs graph.json into
    /// graph.json.sig. Required for a signed bundle or channel.
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// Roll out gradually from this time (RFC 3339, e.g. 2026-12-07T10:00:00Z);
    /// default with another --rollout-* option: the release's current start, else now.
    #[arg(long, value_name = "RFC3339")]
    rollout_start: Option<String>,
    /// Minutes from the rollout start until every host may update.
    #[arg(long, value_name = "N")]
    rollout_minutes: Option<u64>,
    /// Fraction of hosts (0–1) that may update at the rollout start (default 0).
    #[arg(long, value_name = "F")]
    rollout_start_value: Option<f64>,
    /// Make the release a barrier: every older release gets an update path to
    /// it, and later releases are reachable from older ones only through it.
    #[arg(long)]
    barrier: bool,
}

/// Arguments of `metalos release withdraw`.
#[derive(Args)]
pub struct WithdrawArgs {
    /// The served tree.
    dest: PathBuf,
    /// The channel.
    #[arg(long, value_name = "NAME")]
    channel: String,
    /// The version to withdraw.
    // Its own id: `version` is taken by the global --version flag.
    #[arg(id = "release_version", value_name = "VERSION")]
    version: String,
    /// Key directory: re-signs graph.json (required when the channel is signed).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
}

/// Arguments of `metalos release list`.
#[derive(Args)]
pub struct ListArgs {
    /// The served tree.
    dest: PathBuf,
    /// The channel.
    #[arg(long, value_name = "NAME")]
    channel: String,
    /// Print JSON (an object with `signed` and `releases`).
    #[arg(long)]
    json: bool,
}

/// Runs `metalos release …`.
pub fn run(cmd: ReleaseCommand, progress: &Progress) -> Result<()> {
    match cmd {
        ReleaseCommand::Publish(a) => publish(a, progress),
        ReleaseCommand::Withdraw(a) => withdraw(a, progress),
        ReleaseCommand::List(a) => list(a),
    }
}

fn load_key(keys: Option<&Path>) -> Result<Option<SigningKey>> {
    keys.map(|dir| {
        metalos_signing::KeyDir::open(dir)
            .and_then(|kd| kd.signing_key())
            .with_context(|| format!("--keys: loading the signing key of {}", dir.display()))
    })
    .transpose()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Seconds since the epoch as RFC 3339 (UTC).
fn rfc3339(epoch: i64) -> String {
    jiff::Timestamp::from_second(epoch).map_or_else(|_| format!("@{epoch}"), |t| t.to_string())
}

fn parse_start(text: &str) -> Result<i64> {
    let t: jiff::Timestamp = text.parse().with_context(|| {
        format!("--rollout-start {text:?}: not an RFC 3339 time such as 2026-12-07T10:00:00Z")
    })?;
    Ok(t.as_second())
}

fn publish(a: PublishArgs, progress: &Progress) -> Result<()> {
    let key = load_key(a.keys.as_deref())?;
    let rollout = RolloutFlags {
        start_epoch: a.rollout_start.as_deref().map(parse_start).transpose()?,
        minutes: a.rollout_minutes,
        start_value: a.rollout_start_value,
    };
    let step = |s: &str| progress.step(s);
    let fault = |s: &str| metalos_update::fault::fault_point(&format!("release:{s}"));
    let opts = ReleaseOptions {
        channel: &a.channel,
        key: key.as_ref(),
        rollout,
        barrier: a.barrier,
        now: now(),
        fault: &fault,
        progress: &step,
    };
    let r = publish_release(&a.bundle, &a.dest, &opts).with_context(|| {
        format!(
            "publishing {} into channel {:?} of {} failed; the channel's previous graph is still served",
            a.bundle.display(),
            a.channel,
            a.dest.display()
        )
    })?;
    let what = match (r.change, r.switched) {
        (Change::Added, _) => "published new release",
        (Change::Updated, _) => "updated the rollout of release",
        (Change::Unchanged, true) => "re-signed the graph with release",
        (Change::Unchanged, false) => "already published: release",
    };
    println!(
        "{what} {} in channel {:?} of {} ({} blob(s) copied; graph {})",
        r.version,
        a.channel,
        a.dest.display(),
        r.blobs_copied,
        match &key {
            Some(k) => format!("signed by {}", k.verifying_key().fingerprint()),
            None => "unsigned".into(),
        }
    );
    match r.rollout {
        None => println!("rollout: none (every host may update)"),
        Some(ro) => println!(
            "rollout: start {} (epoch {}), start value {}, {}; now {}",
            rfc3339(ro.start_epoch),
            ro.start_epoch,
            ro.start_value,
            ro.duration_minutes
                .map_or("no end".into(), |m| format!("all hosts after {m} minutes")),
            percent(ro.throttling(now()))
        ),
    }
    Ok(())
}

fn withdraw(a: WithdrawArgs, progress: &Progress) -> Result<()> {
    let key = load_key(a.keys.as_deref())?;
    let fault = |s: &str| metalos_update::fault::fault_point(&format!("release:{s}"));
    let changed = withdraw_release(&a.dest, &a.channel, &a.version, key.as_ref(), &fault)
        .with_context(|| {
            format!(
                "withdrawing {} from channel {:?} of {} failed; nothing changed",
                a.version,
                a.channel,
                a.dest.display()
            )
        })?;
    progress.step(&match changed {
        true => format!("withdrew {} from channel {:?}", a.version, a.channel),
        false => format!("{} was already withdrawn from {:?}", a.version, a.channel),
    });
    Ok(())
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

fn list(a: ListArgs) -> Result<()> {
    let (releases, signed) = list_releases(&a.dest, &a.channel, now())
        .with_context(|| format!("listing channel {:?} of {}", a.channel, a.dest.display()))?;
    if a.json {
        let doc = serde_json::json!({ "signed": signed, "releases": releases });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "channel {:?} in {} ({}, {} release(s))",
        a.channel,
        a.dest.display(),
        if signed { "signed" } else { "unsigned" },
        releases.len()
    );
    for r in &releases {
        println!("{}", line(r));
    }
    Ok(())
}

/// One release: `VERSION  age N  FLAGS  rollout P%  from: …  to: …`.
fn line(r: &ReleaseInfo) -> String {
    let flags: Vec<&str> = [
        (r.barrier, "barrier"),
        (r.deadend, "deadend"),
        (r.withdrawn, "withdrawn"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let join = |v: &[String]| match v.is_empty() {
        true => "-".to_string(),
        false => v.join(","),
    };
    format!(
        "{}\tage {}\t{}\trollout {}\tfrom: {}\tto: {}",
        r.version,
        r.age_index,
        if flags.is_empty() {
            "-".to_string()
        } else {
            flags.join(",")
        },
        percent(r.rollout_fraction),
        join(&r.edges_in),
        join(&r.edges_out)
    )
}
