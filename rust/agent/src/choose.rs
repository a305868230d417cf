//! Picking the update target from a channel's graph (Zincati's rules on
//! a Cincinnati-shaped [`Graph`], with throttling done on the host).
//!
//! [`choose`] finds the booted release, takes the releases its edges lead
//! to, drops those this host must not take now, and picks the newest
//! (highest age index). Every dropped target is reported ([`Ignored`]) so
//! the agent can log the decision and count `ignored_update_targets`.

use std::collections::BTreeSet;

use metalos_contract::graph::{meta, Graph, Node};

/// What [`choose`] needs besides the graph.
#[derive(Debug, Clone, Copy)]
pub struct ChoiceContext<'a> {
    /// The host's rollout wariness, 0.0 (canary, eager) to 1.0 (cautious).
    /// Out-of-range values are clamped; NaN counts as 1.0.
    pub wariness: f64,
    /// Now, in seconds since the Unix epoch (for rollout throttling).
    pub now: i64,
    /// Versions never to update to (e.g. releases that were rolled back).
    pub denylist: &'a BTreeSet<String>,
    /// Allow targets whose age index is not above the booted one's.
    pub allow_downgrade: bool,
}

/// The outcome of [`choose`].
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// The booted version is not a node of the graph: no update.
    NotInGraph,
    /// The booted release is a dead end ([`meta::DEADEND`]): no update.
    DeadEnd {
        /// [`meta::DEADEND_REASON`], when the channel gave one.
        reason: Option<String>,
    },
    /// No target may be taken now.
    NoUpdate {
        /// The targets dropped, and why.
        ignored: Vec<Ignored>,
    },
    /// Update to this release.
    Update {
        /// Its version.
        version: String,
        /// Its payload (bundle directory relative to `graph.json`).
        payload: String,
        /// The other targets dropped, and why.
        ignored: Vec<Ignored>,
    },
}

/// A target of the booted release that was dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    /// The target's version.
    pub version: String,
    /// Why it was dropped.
    pub why: IgnoreReason,
}

/// Why a target was dropped. When several apply, the first in this order
/// is reported: the permanent reasons, then [`IgnoreReason::Throttled`],
/// which therefore means "will be taken once the rollout reaches this host".
#[derive(Debug, Clone, PartialEq)]
pub enum IgnoreReason {
    /// Withdrawn from the channel ([`meta::WITHDRAWN`]).
    Withdrawn,
    /// In [`ChoiceContext::denylist`].
    Denylisted,
    /// Its age index is not above the booted release's (and downgrades are
    /// not allowed).
    Downgrade,
    /// A barrier release lies between the booted release and it: the host
    /// must go through the barrier first.
    BehindBarrier,
    /// The rollout has not reached this host's wariness yet.
    Throttled {
        /// The release's throttling now (below the host's wariness).
        throttling: f64,
    },
}

/// Picks the update target for a host running `booted` (a version).
///
/// Rules: a booted version absent from the graph gives
/// [`Choice::NotInGraph`], a dead end [`Choice::DeadEnd`]. The candidates
/// are the targets of the booted release's edges; a candidate is dropped
/// when withdrawn, denylisted, not newer than the booted release (unless
/// `allow_downgrade`), behind a barrier, or throttled (its throttling at
/// `now` is below the wariness, so a 0.0-wariness canary takes a release
/// even before its rollout starts). Of the rest the highest age index
/// wins (ties: the later node in the graph).
pub fn choose(graph: &Graph, booted: &str, ctx: &ChoiceContext) -> Choice {
    let Some(from) = graph.find(booted) else {
        return Choice::NotInGraph;
    };
    let booted_node = &graph.nodes[from];
    if booted_node.is_deadend() {
        return Choice::DeadEnd {
            reason: booted_node.metadata.get(meta::DEADEND_REASON).cloned(),
        };
    }
    let wariness = clamp_wariness(ctx.wariness);
    let targets: BTreeSet<usize> = graph.targets(from).collect();
    let mut ignored = Vec::new();
    let mut best: Option<&Node> = None;
    for to in targets {
        let node = &graph.nodes[to];
        match ignore_reason(graph, booted_node, node, ctx, wariness) {
            Some(why) => ignored.push(Ignored {
                version: node.version.clone(),
                why,
            }),
            // Targets come in node order, so `>=` lets the later node win a tie.
            None if best.is_none_or(|b| node.age_index() >= b.age_index()) => best = Some(node),
            None => {}
        }
    }
    match best {
        Some(node) => Choice::Update {
            version: node.version.clone(),
            payload: node.payload.clone(),
            ignored,
        },
        None => Choice::NoUpdate { ignored },
    }
}

/// The wariness as compared: within 0–1, NaN as the most cautious.
fn clamp_wariness(wariness: f64) -> f64 {
    if wariness.is_nan() {
        1.0
    } else {
        wariness.clamp(0.0, 1.0)
    }
}

/// Why `target` may not be taken from `booted` now (`None`: it may).
fn ignore_reason(
    graph: &Graph,
    booted: &Node,
    target: &Node,
    ctx: &ChoiceContext,
    wariness: f64,
) -> Option<IgnoreReason> {
    if target.is_withdrawn() {
        return Some(IgnoreReason::Withdrawn);
    }
    if ctx.denylist.contains(&target.version) {
        return Some(IgnoreReason::Denylisted);
    }
    if !ctx.allow_downgrade && target.age_index() <= booted.age_index() {
        return Some(IgnoreReason::Downgrade);
    }
    if barrier_between(graph, booted.age_index(), target.age_index()) {
        return Some(IgnoreReason::BehindBarrier);
    }
    let throttling = target.throttling(ctx.now);
    if throttling < wariness {
        return Some(IgnoreReason::Throttled { throttling });
    }
    None
}

/// Whether a barrier's age index lies strictly between `a` and `b` (either
/// order). The channel's edges normally already route through barriers;
/// this guards against a graph that does not. Withdrawn barriers count
/// too: skipping one would skip whatever it exists to do.
fn barrier_between(graph: &Graph, a: u64, b: u64) -> bool {
    let (low, high) = (a.min(b), a.max(b));
    graph
        .nodes
        .iter()
        .filter(|n| n.is_barrier())
        .any(|n| (low + 1..high).contains(&n.age_index()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node with age index `age` and extra metadata.
    fn node(version: &str, age: u64, extra: &[(&str, &str)]) -> Node {
        let mut metadata: std::collections::BTreeMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        metadata.insert(meta::AGE_INDEX.into(), age.to_string());
        Node {
            version: version.into(),
            payload: format!("{version}/"),
            metadata,
        }
    }

    /// Nodes `1`, `2`, … (age 0, 1, …) with edges from the first to all others.
    fn fan_out(extras: &[&[(&str, &str)]]) -> Graph {
        let nodes: Vec<Node> = extras
            .iter()
            .enumerate()
            .map(|(i, extra)| node(&(i + 1).to_string(), i as u64, extra))
            .collect();
        let edges = (1..nodes.len()).map(|to| [0, to]).collect();
        Graph { nodes, edges }
    }

    fn ctx(denylist: &BTreeSet<String>) -> ChoiceContext<'_> {
        ChoiceContext {
            wariness: 0.5,
            now: 10_000,
            denylist,
            allow_downgrade: false,
        }
    }

    fn update(version: &str, ignored: Vec<Ignored>) -> Choice {
        Choice::Update {
            version: version.into(),
            payload: format!("{version}/"),
            ignored,
        }
    }

    fn ignored(version: &str, why: IgnoreReason) -> Ignored {
        Ignored {
            version: version.into(),
            why,
        }
    }

    const ROLLING: [(&str, &str); 4] = [
        (meta::ROLLOUT, "true"),
        (meta::START_EPOCH, "10000"),
        (meta::START_VALUE, "0"),
        (meta::DURATION_MINUTES, "100"),
    ];

    #[test]
    fn picks_the_highest_age_index_among_the_targets() {
        let none = BTreeSet::new();
        let g = fan_out(&[&[], &[], &[], &[]]);
        assert_eq!(choose(&g, "1", &ctx(&none)), update("4", vec![]));
        // Only edge targets count: node 4 is newer but not reachable from 2.
        let g = Graph {
            edges: vec![[1, 2], [0, 3]],
            ..g
        };
        assert_eq!(choose(&g, "2", &ctx(&none)), update("3", vec![]));
        assert_eq!(
            choose(&g, "3", &ctx(&none)),
            Choice::NoUpdate { ignored: vec![] }
        );
    }

    #[test]
    fn an_age_index_tie_goes_to_the_later_node() {
        let none = BTreeSet::new();
        let mut g = fan_out(&[&[], &[], &[]]);
        g.nodes[1]
            .metadata
            .insert(meta::AGE_INDEX.into(), "2".into());
        g.edges = vec![[0, 2], [0, 1], [0, 2]];
        assert_eq!(choose(&g, "1", &ctx(&none)), update("3", vec![]));
    }

    #[test]
    fn a_booted_version_outside_the_graph_gets_nothing() {
        let none = BTreeSet::new();
        let g = fan_out(&[&[], &[]]);
        assert_eq!(choose(&g, "9", &ctx(&none)), Choice::NotInGraph);
    }

    #[test]
    fn a_dead_end_gets_nothing_and_says_why() {
        let none = BTreeSet::new();
        let reason = [(meta::DEADEND, "true"), (meta::DEADEND_REASON, "bad disk")];
        let g = fan_out(&[&reason, &[]]);
        let expected = Choice::DeadEnd {
            reason: Some("bad disk".into()),
        };
        assert_eq!(choose(&g, "1", &ctx(&none)), expected);
        let g = fan_out(&[&[(meta::DEADEND, "true")], &[]]);
        assert_eq!(
            choose(&g, "1", &ctx(&none)),
            Choice::DeadEnd { reason: None }
        );
    }

    #[test]
    fn withdrawn_targets_are_dropped() {
        let none = BTreeSet::new();
        let g = fan_out(&[&[], &[], &[(meta::WITHDRAWN, "true")]]);
        let dropped = vec![ignored("3", IgnoreReason::Withdrawn)];
        assert_eq!(choose(&g, "1", &ctx(&none)), update("2", dropped));
    }

    #[test]
    fn denylisted_targets_are_dropped() {
        let deny: BTreeSet<String> = ["3".to_string()].into();
        let g = fan_out(&[&[], &[], &[]]);
        let dropped = vec![ignored("3", IgnoreReason::Denylisted)];
        assert_eq!(choose(&g, "1", &ctx(&deny)), update("2", dropped));
    }

    #[test]
    fn older_or_equal_targets_are_downgrades_unless_allowed() {
        let none = BTreeSet::new();
        let mut g = fan_out(&[&[], &[], &[]]);
        // Booted "3" (age 2) has edges to "1" (age 0) and "2" (age 2).
        g.nodes[1]
            .metadata
            .insert(meta::AGE_INDEX.into(), "2".into());
        g.edges = vec![[2, 0], [2, 1]];
        let dropped = vec![
            ignored("1", IgnoreReason::Downgrade),
            ignored("2", IgnoreReason::Downgrade),
        ];
        let expected = Choice::NoUpdate { ignored: dropped };
        assert_eq!(choose(&g, "3", &ctx(&none)), expected);
        let allow = ChoiceContext {
            allow_downgrade: true,
            ..ctx(&none)
        };
        assert_eq!(choose(&g, "3", &allow), update("2", vec![]));
    }

    #[test]
    fn targets_past_a_barrier_are_dropped() {
        let none = BTreeSet::new();
        let g = fan_out(&[&[], &[(meta::BARRIER, "true")], &[]]);
        let dropped = vec![ignored("3", IgnoreReason::BehindBarrier)];
        assert_eq!(choose(&g, "1", &ctx(&none)), update("2", dropped));
        // From the barrier itself the way is open.
        let g = Graph {
            edges: vec![[1, 2]],
            ..g
        };
        assert_eq!(choose(&g, "2", &ctx(&none)), update("3", vec![]));
    }

    #[test]
    fn a_withdrawn_barrier_still_blocks() {
        let none = BTreeSet::new();
        let barrier = [(meta::BARRIER, "true"), (meta::WITHDRAWN, "true")];
        let g = fan_out(&[&[], &barrier, &[]]);
        let dropped = vec![
            ignored("2", IgnoreReason::Withdrawn),
            ignored("3", IgnoreReason::BehindBarrier),
        ];
        let expected = Choice::NoUpdate { ignored: dropped };
        assert_eq!(choose(&g, "1", &ctx(&none)), expected);
    }

    #[test]
    fn throttled_targets_wait_for_the_rollout() {
        let none = BTreeSet::new();
        let g = fan_out(&[&[], &[], &ROLLING]);
        // Half way through: throttling 0.5, equal to the wariness: taken.
        let half = ChoiceContext {
            now: 10_000 + 50 * 60,
            ..ctx(&none)
        };
        assert_eq!(choose(&g, "1", &half), update("3", vec![]));
        // Earlier: below the wariness, so the older release is taken.
        let early = ChoiceContext {
            now: 10_000 + 20 * 60,
            ..ctx(&none)
        };
        let Choice::Update {
            version, ignored, ..
        } = choose(&g, "1", &early)
        else {
            panic!("expected an update");
        };
        assert_eq!(version, "2");
        let [Ignored { version, why }] = ignored.as_slice() else {
            panic!("expected one ignored target: {ignored:?}");
        };
        assert_eq!(version, "3");
        assert!(
            matches!(why, IgnoreReason::Throttled { throttling } if (throttling - 0.2).abs() < 1e-9)
        );
    }

    #[test]
    fn a_canary_takes_a_rollout_before_it_starts() {
        let none = BTreeSet::new();
        let g = fan_out(&[&[], &ROLLING]);
        let canary = ChoiceContext {
            wariness: 0.0,
            now: 0,
            ..ctx(&none)
        };
        assert_eq!(choose(&g, "1", &canary), update("2", vec![]));
        let barely = ChoiceContext {
            wariness: 0.000_001,
            ..canary
        };
        let dropped = vec![ignored("2", IgnoreReason::Throttled { throttling: 0.0 })];
        assert_eq!(
            choose(&g, "1", &barely),
            Choice::NoUpdate { ignored: dropped }
        );
    }

    #[test]
    fn wariness_out_of_range_is_clamped() {
        let none = BTreeSet::new();
        // A rollout at 1.0 (over) is open even to wariness above 1.
        let g = fan_out(&[&[], &ROLLING]);
        let done = ChoiceContext {
            wariness: 7.0,
            now: 10_000 + 100 * 60,
            ..ctx(&none)
        };
        assert_eq!(choose(&g, "1", &done), update("2", vec![]));
        let nan = ChoiceContext {
            wariness: f64::NAN,
            now: 10_000 + 99 * 60,
            ..done
        };
        assert!(matches!(
            choose(&g, "1", &nan),
            Choice::NoUpdate { ref ignored } if ignored.len() == 1
        ));
    }

    #[test]
    fn the_first_reason_in_order_is_reported() {
        let deny: BTreeSet<String> = ["2".to_string()].into();
        let g = fan_out(&[&[], &[(meta::WITHDRAWN, "true")]]);
        let dropped = vec![ignored("2", IgnoreReason::Withdrawn)];
        let expected = Choice::NoUpdate { ignored: dropped };
        assert_eq!(choose(&g, "1", &ctx(&deny)), expected);
    }
}
