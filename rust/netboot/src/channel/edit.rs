//! Edits of a channel's graph, without I/O: adding a release (its edges
//! under barrier and dead-end rules), updating one's rollout, withdrawing
//! one, and the per-release summary `metalos release list` prints.

use super::error::{ChannelError, Result};
use metalos_contract::graph::{meta, Graph, Node, Rollout};
use serde::Serialize;
use std::path::Path;

/// The `--rollout-*` options (`None`: not given).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RolloutFlags {
    /// `--rollout-start`, seconds since the Unix epoch.
    pub start_epoch: Option<i64>,
    /// `--rollout-minutes`.
    pub minutes: Option<u64>,
    /// `--rollout-start-value`.
    pub start_value: Option<f64>,
}

impl RolloutFlags {
    /// `true` when no rollout option was given.
    pub fn is_empty(&self) -> bool {
        *self == RolloutFlags::default()
    }

    /// Refuses a start value outside 0–1 and a zero duration.
    pub fn check(&self) -> Result<()> {
        if let Some(v) = self.start_value {
            if !(0.0..=1.0).contains(&v) {
                return Err(ChannelError::Option {
                    option: "--rollout-start-value",
                    reason: format!("{v} is not a fraction from 0 to 1"),
                });
            }
        }
        if self.minutes == Some(0) {
            return Err(ChannelError::Option {
                option: "--rollout-minutes",
                reason: "must be at least 1 (leave it out for a fixed fraction)".into(),
            });
        }
        Ok(())
    }

    /// The rollout these options set, `None` when none was given. A field
    /// left out comes from `existing` (the release's current rollout, so a
    /// republish can widen a rollout without restarting it), else the
    /// defaults: start `now`, start value 0, no duration.
    pub fn resolve(&self, existing: Option<Rollout>, now: i64) -> Option<Rollout> {
        if self.is_empty() {
            return None;
        }
        Some(Rollout {
            start_epoch: self
                .start_epoch
                .or(existing.map(|r| r.start_epoch))
                .unwrap_or(now),
            start_value: self
                .start_value
                .or(existing.map(|r| r.start_value))
                .unwrap_or(0.0),
            duration_minutes: self.minutes.or(existing.and_then(|r| r.duration_minutes)),
        })
    }
}

/// A release to add to (or update in) a graph.
#[derive(Debug, Clone)]
pub struct NewRelease<'a> {
    /// `bundle.json`'s version.
    pub version: &'a str,
    /// sha256 of `bundle.json`.
    pub bundle_sha256: &'a str,
    /// `--barrier`.
    pub barrier: bool,
    /// The `--rollout-*` options.
    pub rollout: RolloutFlags,
}

/// What [`add_release`] did to the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new node with its edges.
    Added,
    /// An existing node's rollout changed.
    Updated,
    /// Nothing.
    Unchanged,
}

/// Adds `rel` to `graph`, or updates its rollout when the version is
/// already there with the same `bundle.json` (its edges stay). Returns
/// what changed and the release's rollout afterwards. `path` (the graph
/// file) and `now` are for messages and the default rollout start.
pub fn add_release(
    graph: &mut Graph,
    rel: &NewRelease<'_>,
    now: i64,
    path: &Path,
) -> Result<(Change, Option<Rollout>)> {
    rel.rollout.check()?;
    if let Some(i) = graph.find(rel.version) {
        return update_release(&mut graph.nodes[i], rel, now, path);
    }
    let sources = edge_sources(graph, rel.barrier);
    let age = graph.nodes.iter().map(|n| n.age_index() + 1).max();
    let mut node = Node {
        version: rel.version.to_string(),
        payload: format!("{}/", rel.version),
        metadata: Default::default(),
    };
    let m = &mut node.metadata;
    m.insert(meta::AGE_INDEX.into(), age.unwrap_or(0).to_string());
    m.insert(meta::BUNDLE_SHA256.into(), rel.bundle_sha256.into());
    if rel.barrier {
        m.insert(meta::BARRIER.into(), "true".into());
    }
    let rollout = rel.rollout.resolve(None, now);
    if let Some(r) = &rollout {
        set_rollout(&mut node, r);
    }
    let to = graph.nodes.len();
    graph.nodes.push(node);
    graph
        .edges
        .extend(sources.into_iter().map(|from| [from, to]));
    Ok((Change::Added, rollout))
}

/// Republishing: same `bundle.json` required; the rollout options replace
/// the rollout's fields they name; a barrier stays a barrier.
fn update_release(
    node: &mut Node,
    rel: &NewRelease<'_>,
    now: i64,
    path: &Path,
) -> Result<(Change, Option<Rollout>)> {
    let published = node.metadata.get(meta::BUNDLE_SHA256);
    if published.map(String::as_str) != Some(rel.bundle_sha256) {
        return Err(ChannelError::Immutable {
            version: rel.version.to_string(),
            path: path.to_owned(),
            published: published.cloned().unwrap_or_else(|| "(none)".into()),
            given: rel.bundle_sha256.to_string(),
        });
    }
    if rel.barrier && !node.is_barrier() {
        // Later releases already have edges that bypass it.
        return Err(ChannelError::Option {
            option: "--barrier",
            reason: format!(
                "version {:?} is published without being a barrier; a release becomes \
                 a barrier only when first published (publish a new version with --barrier)",
                rel.version
            ),
        });
    }
    let before = node.clone();
    if let Some(r) = rel.rollout.resolve(node.rollout(), now) {
        set_rollout(node, &r);
    }
    let change = if *node == before {
        Change::Unchanged
    } else {
        Change::Updated
    };
    Ok((change, node.rollout()))
}

/// The releases a new release gets an edge from: every release from the
/// newest barrier on (older ones reach it through that barrier), or every
/// release when the new one is itself a barrier; never a dead end.
/// Withdrawn releases keep getting edges out.
fn edge_sources(graph: &Graph, barrier: bool) -> Vec<usize> {
    let floor = match barrier {
        true => 0,
        false => graph
            .nodes
            .iter()
            .filter(|n| n.is_barrier())
            .map(Node::age_index)
            .max()
            .unwrap_or(0),
    };
    (0..graph.nodes.len())
        .filter(|&i| graph.nodes[i].age_index() >= floor && !graph.nodes[i].is_deadend())
        .collect()
}

/// Writes the rollout keys ([`meta::ROLLOUT`] and its fields).
fn set_rollout(node: &mut Node, r: &Rollout) {
    let m = &mut node.metadata;
    m.insert(meta::ROLLOUT.into(), "true".into());
    m.insert(meta::START_EPOCH.into(), r.start_epoch.to_string());
    // `{}` on f64 prints the shortest text that parses back exactly.
    m.insert(meta::START_VALUE.into(), format!("{}", r.start_value));
    match r.duration_minutes {
        Some(d) => m.insert(meta::DURATION_MINUTES.into(), d.to_string()),
        None => m.remove(meta::DURATION_MINUTES),
    };
}

/// Withdraws `version`: removes the edges into it and marks it
/// [`meta::WITHDRAWN`] (later publishes add no edges into it; its own
/// outgoing edges stay). Returns `false` when it already was withdrawn.
pub fn withdraw(graph: &mut Graph, version: &str, path: &Path) -> Result<bool> {
    let i = graph
        .find(version)
        .ok_or_else(|| ChannelError::NotInGraph {
            version: version.to_string(),
            path: path.to_owned(),
        })?;
    let edges_before = graph.edges.len();
    graph.edges.retain(|[_, to]| *to != i);
    let was = graph.nodes[i].is_withdrawn();
    graph.nodes[i]
        .metadata
        .insert(meta::WITHDRAWN.into(), "true".into());
    Ok(!was || graph.edges.len() != edges_before)
}

/// One release as `metalos release list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseInfo {
    /// The version.
    pub version: String,
    /// [`meta::AGE_INDEX`].
    pub age_index: u64,
    /// [`meta::BARRIER`].
    pub barrier: bool,
    /// [`meta::DEADEND`].
    pub deadend: bool,
    /// [`meta::WITHDRAWN`].
    pub withdrawn: bool,
    /// Versions with an edge into this one, in publish order.
    pub edges_in: Vec<String>,
    /// Versions this one has an edge to, in publish order.
    pub edges_out: Vec<String>,
    /// Rollout start (seconds since the epoch), when it has a rollout.
    pub rollout_start_epoch: Option<i64>,
    /// Rollout start value, when it has a rollout.
    pub rollout_start_value: Option<f64>,
    /// Rollout duration, when it has one.
    pub rollout_duration_minutes: Option<u64>,
    /// [`Rollout::throttling`] at the time asked for (1 without a rollout).
    pub rollout_fraction: f64,
}

/// Every release of `graph` in publish order, with its rollout fraction at `now`.
pub fn releases(graph: &Graph, now: i64) -> Vec<ReleaseInfo> {
    let versions = |mut ix: Vec<usize>| {
        ix.sort_unstable();
        ix.dedup();
        ix.into_iter()
            .map(|i| graph.nodes[i].version.clone())
            .collect::<Vec<_>>()
    };
    graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let into = graph.edges.iter().filter(|e| e[1] == i).map(|e| e[0]);
            let rollout = n.rollout();
            ReleaseInfo {
                version: n.version.clone(),
                age_index: n.age_index(),
                barrier: n.is_barrier(),
                deadend: n.is_deadend(),
                withdrawn: n.is_withdrawn(),
                edges_in: versions(into.collect()),
                edges_out: versions(graph.targets(i).collect()),
                rollout_start_epoch: rollout.map(|r| r.start_epoch),
                rollout_start_value: rollout.map(|r| r.start_value),
                rollout_duration_minutes: rollout.and_then(|r| r.duration_minutes),
                rollout_fraction: n.throttling(now),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
