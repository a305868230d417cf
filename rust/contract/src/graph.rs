//! A release channel's update graph: `DEST/updates/NAME/graph.json`,
//! written by `metalos release publish` and read by the update agent.
//!
//! The shape is Cincinnati's (the protocol Fedora CoreOS's Zincati reads):
//!
//! ```json
//! {"nodes": [{"version": "1.0", "payload": "1.0/", "metadata": {…}}, …],
//!  "edges": [[0, 1], …]}
//! ```
//!
//! `payload` is the bundle directory's URL relative to `graph.json`;
//! `edges` are index pairs `[from, to]` into `nodes`. Metadata values are
//! strings, under MetalOS's own key prefix ([`meta`]). Versions are
//! unique. A rollout is throttled on the host ([`Rollout::throttling`]
//! against the host's wariness), so any static HTTP server serves a channel.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// File name of the graph in a channel directory.
pub const GRAPH_FILE: &str = "graph.json";
/// Its detached signature (signed builds).
pub const GRAPH_SIGNATURE_FILE: &str = "graph.json.sig";
/// Directory of the channels in a served tree: `DEST/updates/NAME/`.
pub const UPDATES_DIR: &str = "updates";

/// Metadata keys (all values are strings).
pub mod meta {
    /// Publish order: 0, 1, 2, … (higher is newer; never a downgrade to a lower one).
    pub const AGE_INDEX: &str = "org.metalos.releases.age_index";
    /// `"true"`: the release rolls out gradually (the three keys below).
    pub const ROLLOUT: &str = "org.metalos.updates.rollout";
    /// Rollout start, seconds since the Unix epoch.
    pub const START_EPOCH: &str = "org.metalos.updates.start_epoch";
    /// Fraction of hosts (0–1) eligible at the start.
    pub const START_VALUE: &str = "org.metalos.updates.start_value";
    /// Minutes from the start to every host; absent: `start_value` forever.
    pub const DURATION_MINUTES: &str = "org.metalos.updates.duration_minutes";
    /// `"true"`: older hosts reach later releases only through this one.
    pub const BARRIER: &str = "org.metalos.updates.barrier";
    /// Why it is a barrier (shown to operators).
    pub const BARRIER_REASON: &str = "org.metalos.updates.barrier_reason";
    /// `"true"`: hosts on this release get no update from the graph.
    pub const DEADEND: &str = "org.metalos.updates.deadend";
    /// Why it is a dead end.
    pub const DEADEND_REASON: &str = "org.metalos.updates.deadend_reason";
    /// `"true"`: withdrawn (`metalos release withdraw`): no edges lead into it.
    pub const WITHDRAWN: &str = "org.metalos.release.withdrawn";
    /// sha256 of the release's `bundle.json` (what the channel vouches for).
    pub const BUNDLE_SHA256: &str = "org.metalos.bundle.sha256";
}

/// `graph.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// Releases, in publish order.
    pub nodes: Vec<Node>,
    /// Update paths, `[from, to]` indexes into `nodes`.
    pub edges: Vec<[usize; 2]>,
}

/// One release of a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Image version (VERSION_ID of its os-release).
    pub version: String,
    /// The bundle directory, relative to `graph.json` (ends in `/`).
    pub payload: String,
    /// [`meta`] keys and values.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A gradual rollout: which fraction of hosts may start a release now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollout {
    /// Start, seconds since the Unix epoch.
    pub start_epoch: i64,
    /// Fraction eligible at the start (0–1).
    pub start_value: f64,
    /// Minutes until every host is eligible; `None`: `start_value` forever.
    pub duration_minutes: Option<u64>,
}

impl Rollout {
    /// The fraction of hosts eligible at `now` (seconds since the epoch):
    /// 0 before the start, then `start_value` rising linearly to 1 at the
    /// end (`start_value` forever without a duration). A host whose
    /// wariness is above it does not start the release yet.
    pub fn throttling(&self, now: i64) -> f64 {
        if now < self.start_epoch {
            return 0.0;
        }
        let start = self.start_value.clamp(0.0, 1.0);
        match self.duration_minutes {
            None | Some(0) => start,
            Some(minutes) => {
                let elapsed = (now - self.start_epoch) as f64;
                let total = minutes as f64 * 60.0;
                (start + (1.0 - start) * elapsed / total).min(1.0)
            }
        }
    }
}

impl Node {
    fn flag(&self, key: &str) -> bool {
        self.metadata.get(key).is_some_and(|v| v == "true")
    }

    /// [`meta::AGE_INDEX`] (checked by [`Graph::parse`]).
    pub fn age_index(&self) -> u64 {
        self.metadata
            .get(meta::AGE_INDEX)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// [`meta::BARRIER`].
    pub fn is_barrier(&self) -> bool {
        self.flag(meta::BARRIER)
    }

    /// [`meta::DEADEND`].
    pub fn is_deadend(&self) -> bool {
        self.flag(meta::DEADEND)
    }

    /// [`meta::WITHDRAWN`].
    pub fn is_withdrawn(&self) -> bool {
        self.flag(meta::WITHDRAWN)
    }

    /// The rollout, when [`meta::ROLLOUT`] is set (checked by [`Graph::parse`]).
    pub fn rollout(&self) -> Option<Rollout> {
        self.rollout_checked().ok().flatten()
    }

    fn rollout_checked(&self) -> Result<Option<Rollout>, String> {
        if !self.flag(meta::ROLLOUT) {
            return Ok(None);
        }
        let get = |key: &str| self.metadata.get(key).map(String::as_str);
        let start_epoch = get(meta::START_EPOCH)
            .ok_or(format!("{} is missing", meta::START_EPOCH))?
            .parse::<i64>()
            .map_err(|e| format!("{}: {e}", meta::START_EPOCH))?;
        let start_value = match get(meta::START_VALUE) {
            None => 0.0,
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|f| (0.0..=1.0).contains(f))
                .ok_or(format!(
                    "{}: {v:?} is not a number from 0 to 1",
                    meta::START_VALUE
                ))?,
        };
        let duration_minutes = get(meta::DURATION_MINUTES)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|e| format!("{}: {v:?}: {e}", meta::DURATION_MINUTES))
            })
            .transpose()?;
        Ok(Some(Rollout {
            start_epoch,
            start_value,
            duration_minutes,
        }))
    }

    /// The fraction of hosts that may start this release at `now`: 1
    /// without a rollout.
    pub fn throttling(&self, now: i64) -> f64 {
        self.rollout().map_or(1.0, |r| r.throttling(now))
    }
}

impl Graph {
    /// Parses and checks `graph.json` text: unique versions, edges inside
    /// `nodes`, numeric age indexes and rollout values. Errors name the
    /// node or edge.
    pub fn parse(text: &str) -> Result<Graph, String> {
        let g: Graph = serde_json::from_str(text).map_err(|e| format!("graph.json: {e}"))?;
        g.check()?;
        Ok(g)
    }

    /// The checks of [`Graph::parse`].
    pub fn check(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let at = format!("graph.json: nodes[{i}] (version {:?})", n.version);
            if n.version.is_empty() || !seen.insert(n.version.as_str()) {
                return Err(format!("{at}: versions must be non-empty and unique"));
            }
            if let Some(v) = n.metadata.get(meta::AGE_INDEX) {
                v.parse::<u64>()
                    .map_err(|e| format!("{at}: {}: {v:?}: {e}", meta::AGE_INDEX))?;
            }
            n.rollout_checked().map_err(|e| format!("{at}: {e}"))?;
        }
        for (i, [from, to]) in self.edges.iter().enumerate() {
            if *from >= self.nodes.len() || *to >= self.nodes.len() || from == to {
                return Err(format!(
                    "graph.json: edges[{i}] = [{from}, {to}] does not join two of the {} nodes",
                    self.nodes.len()
                ));
            }
        }
        Ok(())
    }

    /// The node index of `version`.
    pub fn find(&self, version: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.version == version)
    }

    /// Indexes of the releases an edge leads to from `from`.
    pub fn targets(&self, from: usize) -> impl Iterator<Item = usize> + '_ {
        self.edges
            .iter()
            .filter(move |[f, _]| *f == from)
            .map(|[_, t]| *t)
    }

    /// Writes the graph as pretty JSON with a final newline (deterministic).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a graph serialises");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(version: &str, meta: &[(&str, &str)]) -> Node {
        Node {
            version: version.into(),
            payload: format!("{version}/"),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn throttling_rises_from_the_start_value_to_one() {
        let r = Rollout {
            start_epoch: 1000,
            start_value: 0.2,
            duration_minutes: Some(10),
        };
        assert_eq!(r.throttling(999), 0.0);
        assert_eq!(r.throttling(1000), 0.2);
        assert!((r.throttling(1300) - 0.6).abs() < 1e-9);
        assert_eq!(r.throttling(1600), 1.0);
        assert_eq!(r.throttling(99_999), 1.0);
        let forever = Rollout {
            duration_minutes: None,
            ..r
        };
        assert_eq!(forever.throttling(99_999), 0.2);
    }

    #[test]
    fn a_node_without_rollout_is_open_to_all() {
        assert_eq!(node("1", &[]).throttling(0), 1.0);
    }

    #[test]
    fn parse_names_the_bad_node_or_edge() {
        let dup = r#"{"nodes":[{"version":"1","payload":"1/"},{"version":"1","payload":"x/"}],"edges":[]}"#;
        assert!(Graph::parse(dup).unwrap_err().contains("nodes[1]"));
        let edge = r#"{"nodes":[{"version":"1","payload":"1/"}],"edges":[[0,3]]}"#;
        assert!(Graph::parse(edge).unwrap_err().contains("edges[0]"));
        let g = Graph {
            nodes: vec![node(
                "1",
                &[(meta::ROLLOUT, "true"), (meta::START_VALUE, "2")],
            )],
            edges: vec![],
        };
        let e = Graph::parse(&g.to_json()).unwrap_err();
        assert!(e.contains(meta::START_EPOCH), "{e}");
    }

    #[test]
    fn round_trips() {
        let g = Graph {
            nodes: vec![
                node("1", &[(meta::AGE_INDEX, "0")]),
                node("2", &[(meta::AGE_INDEX, "1"), (meta::BARRIER, "true")]),
            ],
            edges: vec![[0, 1]],
        };
        let back = Graph::parse(&g.to_json()).unwrap();
        assert_eq!(back, g);
        assert!(back.nodes[1].is_barrier());
        assert_eq!(back.targets(0).collect::<Vec<_>>(), vec![1]);
    }
}
