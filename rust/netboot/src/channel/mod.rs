//! Release channels: `metalos release publish|withdraw|list`.
//!
//! A channel is an update graph ([`metalos_contract::graph`], Cincinnati's
//! shape) that update agents poll, and the update bundles it names, in
//! the same served tree as `metalos netboot publish`:
//!
//! ```text
//! DEST/blobs/sha256/<hex>                    usr.img, bootloader.efi (shared with netboot releases)
//! DEST/updates/NAME/graph.json -> current/graph.json          fixed links: what hosts fetch
//! DEST/updates/NAME/graph.json.sig -> current/graph.json.sig  (signed channels)
//! DEST/updates/NAME/current -> graphs/<id>   the served graph version (swapped by rename)
//! DEST/updates/NAME/graphs/<id>/graph.json(.sig)   <id>: 16 hex of sha256(graph.json + .sig)
//! DEST/updates/NAME/<version>/bundle.json(.sig)    the bundle's manifest, verbatim
//! DEST/updates/NAME/<version>/usr.img -> ../../../blobs/sha256/<hex>   (each bundle file)
//! ```
//!
//! A node's payload is `<version>/`, relative to the graph's URL: an
//! agent reads `<payload>bundle.json` and the files it lists there.
//!
//! Publishing, in order, each step crash-safe: read and check everything
//! (bundle files against `bundle.json`, signatures against `--keys`, the
//! existing graph, the new graph); copy missing blobs (temp + rename);
//! write `<version>/` (temp directory + rename); write the new graph
//! version; swap `current`. A graph and its signature live in one
//! directory, so the one rename switches both: a reader never sees a
//! graph with another graph's signature on disk (over HTTP, a reader
//! that fetches the two across a switch sees a mismatch and retries).
//! Until the swap hosts see the previous graph; releases are never
//! removed (`metalos netboot publish`'s gc keeps their blobs).
//! Publishing the same thing twice writes nothing.
//!
//! Modules:
//!
//! * [`edit`] — Graph edits without I/O: edges, rollouts, withdrawal, the listing;
//! * [`error`] — Errors of channel operations;
//! * [`input`] — The bundle given to `publish`, checked; safe channel and version names;
//! * [`store`] — The channel directory: graph versions, release directories, blobs.

pub mod edit;
pub mod error;
pub mod input;
pub mod store;

pub use edit::{Change, ReleaseInfo, RolloutFlags};
pub use error::{ChannelError, Result};
pub use store::referenced_blobs;

use edit::NewRelease;
use metalos_contract::graph::Rollout;
use metalos_signing::{Signature, SigningKey};
use std::path::Path;

/// The points [`publish_release`] reports to its fault hook, in order.
pub const STEPS: &[&str] = &["blobs", "release", "graph", "links", "switch"];

/// How to publish a release.
pub struct ReleaseOptions<'a> {
    /// The channel (`--channel`).
    pub channel: &'a str,
    /// Signs the graph (`--keys`); required for signed bundles and channels.
    pub key: Option<&'a SigningKey>,
    /// `--rollout-*`.
    pub rollout: RolloutFlags,
    /// `--barrier`.
    pub barrier: bool,
    /// Now (seconds since the epoch): the rollout start when a rollout
    /// option is given without `--rollout-start`.
    pub now: i64,
    /// Called after each step of [`STEPS`] (tests stop the process there).
    pub fault: &'a dyn Fn(&str),
    /// Progress lines.
    pub progress: &'a dyn Fn(&str),
}

/// What [`publish_release`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseReport {
    /// The version published.
    pub version: String,
    /// Added, updated (rollout) or unchanged in the graph.
    pub change: Change,
    /// Whether a new graph is served (`false`: it was already).
    pub switched: bool,
    /// Blobs copied into DEST.
    pub blobs_copied: usize,
    /// The release's rollout now (`None`: open to every host).
    pub rollout: Option<Rollout>,
    /// Whether the served graph is signed.
    pub signed: bool,
}

/// Publishes the update bundle at `bundle` into channel `opts.channel` of
/// `dest` (see the module docs). Everything is checked before DEST is
/// touched; a failed check leaves DEST as it was.
pub fn publish_release(
    bundle: &Path,
    dest: &Path,
    opts: &ReleaseOptions<'_>,
) -> Result<ReleaseReport> {
    let mut channel = store::load(dest, opts.channel)?;
    (opts.progress)(&format!("verifying {}", bundle.display()));
    let bundle = input::load_bundle(bundle)?;
    check_keys(&bundle, &channel, opts.key)?;
    let graph_path = channel.graph_path();
    let listed = channel.graph.find(bundle.version()).is_some();
    let rel = NewRelease {
        version: bundle.version(),
        bundle_sha256: &bundle.sha256,
        barrier: opts.barrier,
        rollout: opts.rollout,
    };
    let (change, rollout) = edit::add_release(&mut channel.graph, &rel, opts.now, &graph_path)?;
    channel
        .graph
        .check()
        .map_err(|reason| ChannelError::Graph {
            path: graph_path.clone(),
            reason,
        })?;

    let blobs_copied = store::copy_blobs(dest, &bundle, opts.progress)?;
    (opts.fault)("blobs");
    crate::fsutil::create_dir(&channel.dir)?;
    store::write_release_dir(&channel.dir, &bundle, listed)?;
    (opts.fault)("release");
    let switched = store::write_graph(&channel.dir, &channel.graph, opts.key, opts.fault)?;
    if switched {
        (opts.progress)(&format!("serving {}", graph_path.display()));
    }
    store::remove_leftovers(&channel.dir)?;
    Ok(ReleaseReport {
        version: bundle.version().to_string(),
        change,
        switched,
        blobs_copied,
        rollout,
        signed: opts.key.is_some(),
    })
}

/// The signing rules: a signed bundle or channel needs `--keys`; with
/// `--keys` the bundle must be signed by that key (hosts of a signed build
/// refuse unsigned bundles), and so must the channel's current graph.
fn check_keys(
    bundle: &input::Bundle,
    channel: &store::Channel,
    key: Option<&SigningKey>,
) -> Result<()> {
    let sig_path = bundle.dir.join(input::BUNDLE_SIGNATURE);
    let refuse = |path: &Path, reason: &str| ChannelError::Signature {
        path: path.to_owned(),
        reason: reason.to_string(),
    };
    let Some(key) = key else {
        if bundle.signature.is_some() {
            return Err(refuse(
                &sig_path,
                "the bundle is signed: pass --keys DIR, whose signing key signs the channel's \
                 graph.json (hosts of a signed build verify it)",
            ));
        }
        return check_unsigned_channel(channel);
    };
    let Some(sig) = &bundle.signature else {
        return Err(refuse(
            &bundle.dir.join(metalos_contract::update::BUNDLE_MANIFEST),
            "is not signed (no bundle.json.sig), but --keys makes a signed channel, \
             whose hosts refuse unsigned bundles",
        ));
    };
    let public = key.verifying_key();
    Signature::from_file_bytes(sig)
        .and_then(|s| metalos_signing::verify(&public, &bundle.bytes, &s))
        .map_err(|e| refuse(&sig_path, &format!("{e}: not signed by the key in --keys")))?;
    if channel.signed {
        channel.verify_signature(&public)?;
    }
    Ok(())
}

fn check_unsigned_channel(channel: &store::Channel) -> Result<()> {
    match channel.signed {
        true => Err(ChannelError::Signature {
            path: channel.signature_path(),
            reason: "the channel is signed: pass --keys DIR to sign its new graph".into(),
        }),
        false => Ok(()),
    }
}

/// Withdraws `version` from `channel` of `dest`: no edges lead into it
/// any more (hosts already on it keep theirs out). The graph is re-signed
/// with `key`, which a signed channel requires. Returns `false` when it
/// was already withdrawn (nothing written).
pub fn withdraw_release(
    dest: &Path,
    channel: &str,
    version: &str,
    key: Option<&SigningKey>,
    fault: &dyn Fn(&str),
) -> Result<bool> {
    let mut ch = existing(dest, channel)?;
    match key {
        Some(k) if ch.signed => ch.verify_signature(&k.verifying_key())?,
        Some(_) => {}
        None => check_unsigned_channel(&ch)?,
    }
    let graph_path = ch.graph_path();
    let changed = edit::withdraw(&mut ch.graph, version, &graph_path)?;
    // A first --keys on an unsigned channel signs it, even when unchanged.
    let sign_now = key.is_some() && !ch.signed;
    if !changed && !sign_now {
        return Ok(false);
    }
    store::write_graph(&ch.dir, &ch.graph, key, fault)
}

/// The channel's releases with their rollout fraction at `now`, and
/// whether its graph is signed.
pub fn list_releases(dest: &Path, channel: &str, now: i64) -> Result<(Vec<ReleaseInfo>, bool)> {
    let ch = existing(dest, channel)?;
    Ok((edit::releases(&ch.graph, now), ch.signed))
}

fn existing(dest: &Path, channel: &str) -> Result<store::Channel> {
    let ch = store::load(dest, channel)?;
    if !ch.exists {
        return Err(ChannelError::UnknownChannel {
            channel: channel.to_string(),
            path: ch.graph_path(),
        });
    }
    Ok(ch)
}

#[cfg(test)]
mod tests;
