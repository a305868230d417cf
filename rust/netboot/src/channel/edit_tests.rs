use super::*;

const PATH: &str = "updates/stable/graph.json";

fn rel(version: &str, barrier: bool) -> NewRelease<'_> {
    NewRelease {
        version,
        bundle_sha256: "aa",
        barrier,
        rollout: RolloutFlags::default(),
    }
}

fn add(g: &mut Graph, version: &str, barrier: bool) -> Change {
    add_release(g, &rel(version, barrier), 0, Path::new(PATH))
        .unwrap()
        .0
}

/// Edges as version pairs, sorted.
fn edges(g: &Graph) -> Vec<(String, String)> {
    let mut v: Vec<_> = g
        .edges
        .iter()
        .map(|[f, t]| (g.nodes[*f].version.clone(), g.nodes[*t].version.clone()))
        .collect();
    v.sort();
    v
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_release_reaches_every_later_one_without_barriers() {
    let mut g = Graph::default();
    for v in ["1", "2", "3"] {
        assert_eq!(add(&mut g, v, false), Change::Added);
    }
    assert_eq!(edges(&g), pairs(&[("1", "2"), ("1", "3"), ("2", "3")]));
    let ages: Vec<u64> = g.nodes.iter().map(Node::age_index).collect();
    assert_eq!(ages, [0, 1, 2]);
    assert_eq!(g.nodes[2].payload, "3/");
    assert_eq!(g.nodes[2].metadata[meta::BUNDLE_SHA256], "aa");
    g.check().unwrap();
}

#[test]
fn releases_before_a_barrier_reach_later_ones_only_through_it() {
    let mut g = Graph::default();
    add(&mut g, "1", false);
    add(&mut g, "2", false);
    add(&mut g, "3", true);
    add(&mut g, "4", false);
    add(&mut g, "5", false);
    assert_eq!(
        edges(&g),
        pairs(&[
            ("1", "2"),
            ("1", "3"),
            ("2", "3"),
            ("3", "4"),
            ("3", "5"),
            ("4", "5"),
        ])
    );
    // A second barrier gets edges from every older release.
    add(&mut g, "6", true);
    let into6: Vec<_> = edges(&g).into_iter().filter(|(_, t)| t == "6").collect();
    assert_eq!(
        into6,
        pairs(&[("1", "6"), ("2", "6"), ("3", "6"), ("4", "6"), ("5", "6")])
    );
    add(&mut g, "7", false);
    let into7: Vec<_> = edges(&g).into_iter().filter(|(_, t)| t == "7").collect();
    assert_eq!(into7, pairs(&[("6", "7")]));
}

#[test]
fn dead_ends_get_no_edges_out() {
    let mut g = Graph::default();
    add(&mut g, "1", false);
    add(&mut g, "2", false);
    g.nodes[1]
        .metadata
        .insert(meta::DEADEND.into(), "true".into());
    add(&mut g, "3", false);
    add(&mut g, "4", true);
    assert!(edges(&g).iter().all(|(f, _)| f != "2"), "{:?}", edges(&g));
}

#[test]
fn withdrawn_releases_lose_edges_in_but_keep_edges_out() {
    let mut g = Graph::default();
    add(&mut g, "1", false);
    add(&mut g, "2", false);
    let path = Path::new(PATH);
    assert!(withdraw(&mut g, "2", path).unwrap());
    assert!(edges(&g).is_empty());
    assert!(g.nodes[1].is_withdrawn());
    assert!(!withdraw(&mut g, "2", path).unwrap(), "already withdrawn");
    add(&mut g, "3", false);
    assert_eq!(edges(&g), pairs(&[("1", "3"), ("2", "3")]));
    let e = withdraw(&mut g, "9", path).unwrap_err().to_string();
    assert!(e.contains(PATH) && e.contains("\"9\""), "{e}");
}

#[test]
fn republishing_widens_the_rollout_and_keeps_edges() {
    let mut g = Graph::default();
    add(&mut g, "1", false);
    let path = Path::new(PATH);
    let mut r = rel("2", false);
    r.rollout = RolloutFlags {
        start_epoch: Some(1000),
        minutes: None,
        start_value: Some(0.1),
    };
    let (c, rollout) = add_release(&mut g, &r, 5, path).unwrap();
    assert_eq!(c, Change::Added);
    assert_eq!(rollout.unwrap().throttling(99_999), 0.1);
    let edges_before = g.edges.clone();
    // Same options: nothing changes.
    assert_eq!(
        add_release(&mut g, &r, 7, path).unwrap().0,
        Change::Unchanged
    );
    // No rollout option: the rollout stays.
    assert_eq!(add(&mut g, "2", false), Change::Unchanged);
    // Widen: only the start value is given, the start stays 1000.
    r.rollout = RolloutFlags {
        start_value: Some(1.0),
        ..Default::default()
    };
    let (c, rollout) = add_release(&mut g, &r, 7, path).unwrap();
    assert_eq!(c, Change::Updated);
    assert_eq!(rollout.unwrap().start_epoch, 1000);
    assert_eq!(g.nodes[1].metadata[meta::START_VALUE], "1");
    assert_eq!(g.nodes[1].throttling(1000), 1.0);
    assert_eq!(g.edges, edges_before);
    assert_eq!(g.nodes.len(), 2);
}

#[test]
fn the_rollout_start_defaults_to_now() {
    let mut g = Graph::default();
    let mut r = rel("1", false);
    r.rollout.minutes = Some(60);
    let (_, rollout) = add_release(&mut g, &r, 4242, Path::new(PATH)).unwrap();
    let rollout = rollout.unwrap();
    assert_eq!(
        (
            rollout.start_epoch,
            rollout.start_value,
            rollout.duration_minutes
        ),
        (4242, 0.0, Some(60))
    );
    let m = &g.nodes[0].metadata;
    assert_eq!(m[meta::ROLLOUT], "true");
    assert_eq!(m[meta::START_EPOCH], "4242");
    assert_eq!(m[meta::START_VALUE], "0");
    assert_eq!(m[meta::DURATION_MINUTES], "60");
    assert!(g.nodes[0].throttling(4242 + 1800) > 0.49);
}

#[test]
fn versions_are_immutable_and_barriers_are_set_at_first_publish() {
    let mut g = Graph::default();
    add(&mut g, "1", false);
    let path = Path::new(PATH);
    let mut other = rel("1", false);
    other.bundle_sha256 = "bb";
    let e = add_release(&mut g, &other, 0, path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("immutable") && e.contains("bb"), "{e}");
    let e = add_release(&mut g, &rel("1", true), 0, path)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--barrier"), "{e}");
    add(&mut g, "2", true);
    assert_eq!(add(&mut g, "2", false), Change::Unchanged, "barrier sticks");
    assert!(g.nodes[1].is_barrier());
}

#[test]
fn rollout_options_are_checked() {
    let mut g = Graph::default();
    let path = Path::new(PATH);
    for (flags, option) in [
        (
            RolloutFlags {
                start_value: Some(1.5),
                ..Default::default()
            },
            "--rollout-start-value",
        ),
        (
            RolloutFlags {
                start_value: Some(f64::NAN),
                ..Default::default()
            },
            "--rollout-start-value",
        ),
        (
            RolloutFlags {
                minutes: Some(0),
                ..Default::default()
            },
            "--rollout-minutes",
        ),
    ] {
        let mut r = rel("1", false);
        r.rollout = flags;
        let e = add_release(&mut g, &r, 0, path).unwrap_err().to_string();
        assert!(e.starts_with(option), "{e}");
    }
    assert!(g.nodes.is_empty());
}

#[test]
fn the_listing_shows_edges_flags_and_rollout() {
    let mut g = Graph::default();
    add(&mut g, "1", false);
    let mut r = rel("2", true);
    r.rollout = RolloutFlags {
        start_epoch: Some(0),
        minutes: Some(10),
        start_value: Some(0.5),
    };
    add_release(&mut g, &r, 0, Path::new(PATH)).unwrap();
    add(&mut g, "3", false);
    let list = releases(&g, 300);
    assert_eq!(list[0].edges_out, ["2"]);
    assert_eq!(list[1].edges_in, ["1"]);
    assert_eq!(list[1].edges_out, ["3"]);
    assert!(list[1].barrier && !list[1].withdrawn);
    assert!((list[1].rollout_fraction - 0.75).abs() < 1e-9);
    assert_eq!(list[1].rollout_duration_minutes, Some(10));
    assert_eq!(list[2].rollout_fraction, 1.0);
    assert_eq!(list[2].rollout_start_epoch, None);
}
