//! The automatic halt: a scripted host rolls back from v3, v3 is halted,
//! a host whose last report targets v3 is refused with `release_halted`,
//! and `resume` lets it through.

mod common;

use common::{base, fleetlock, kind_of, report_body, send_report, serve, EtcdProcess};
use metalos_agent::fleetlock::FleetLockError;
use metalos_fleet::admin;
use metalos_fleet::status::FleetStatus;

/// Sends a report and expects 200; the answer's JSON.
fn report(
    url: &str,
    id: &str,
    booted: &str,
    target: Option<&str>,
    state: &str,
    error: Option<&str>,
) -> serde_json::Value {
    let (status, body) = send_report(
        url,
        &report_body(id, "default", booted, target, state, error),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// n1's whole failed attempt at `target`: staged, rebooting, rolled back.
fn fail_attempt(url: &str, id: &str, target: &str) -> serde_json::Value {
    report(url, id, "v2", Some(target), "staged", None);
    fleetlock(url, id, "default").pre_reboot().unwrap();
    report(url, id, "v2", Some(target), "rebooting", None);
    let answer = report(
        url,
        id,
        "v2",
        Some(target),
        "rolled-back",
        Some("health check failed"),
    );
    fleetlock(url, id, "default").steady_state().unwrap();
    answer
}

#[test]
fn a_rollback_halts_the_release_until_resumed() {
    let etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 1, &[], 1);
    let url = base(&server);
    let answer = fail_attempt(&url, "n1", "v3");
    assert_eq!(answer["halted"], "v3", "{answer}");
    let halt: serde_json::Value =
        serde_json::from_str(&etcd.etcdctl_get("metalos/fleet/halted/v3")).unwrap();
    assert_eq!(halt["reports"][0]["id"], "n1");
    assert_eq!(halt["reports"][0]["state"], "rolled-back");
    assert_eq!(halt["reports"][0]["error"], "health check failed");

    // n2 has v3 staged: refused, so it never boots into it.
    report(&url, "n2", "v2", Some("v3"), "staged", None);
    match fleetlock(&url, "n2", "default").pre_reboot().unwrap_err() {
        FleetLockError::Refused {
            status,
            kind,
            value,
            ..
        } => {
            assert_eq!((status, kind.as_str()), (409, "release_halted"));
            assert!(value.contains("v3"), "{value}");
        }
        e => panic!("{e}"),
    }
    // Other targets are not affected.
    report(&url, "n3", "v2", Some("v4"), "staged", None);
    fleetlock(&url, "n3", "default").pre_reboot().unwrap();
    fleetlock(&url, "n3", "default").steady_state().unwrap();

    let status = FleetStatus::read(&etcd.client(), admin::unix_now()).unwrap();
    assert_eq!(status.halted.len(), 1);
    let text = status.describe();
    assert!(text.contains("v3  since "), "{text}");
    assert!(
        text.contains("n1 (group default, back on v2) rolled-back at "),
        "{text}"
    );
    assert!(text.contains("halt    halted v3: failed on n1"), "{text}");
    let (_, metrics) = common::raw(server.addr(), "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains("metalos_fleet_release_halted{version=\"v3\"} 1"),
        "{metrics}"
    );

    assert!(admin::resume(&etcd.client(), "v3", "tester@here").unwrap());
    fleetlock(&url, "n2", "default").pre_reboot().unwrap();
    fleetlock(&url, "n2", "default").steady_state().unwrap();
    // n1 sending its old report again does not halt v3 again ...
    report(
        &url,
        "n1",
        "v2",
        Some("v3"),
        "rolled-back",
        Some("health check failed"),
    );
    assert_eq!(etcd.etcdctl_get("metalos/fleet/halted/v3"), "");
    // ... a new failed attempt does.
    assert_eq!(fail_attempt(&url, "n1", "v3")["halted"], "v3");
    server.stop();
}

#[test]
fn halt_after_counts_distinct_hosts() {
    let etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 5, &[], 2);
    let url = base(&server);
    report(
        &url,
        "n1",
        "v2",
        Some("v5"),
        "failed",
        Some("staging: bad signature"),
    );
    report(
        &url,
        "n1",
        "v2",
        Some("v5"),
        "failed",
        Some("staging: bad signature again"),
    );
    assert_eq!(
        etcd.etcdctl_get("metalos/fleet/halted/v5"),
        "",
        "one host is not enough"
    );
    report(&url, "n2", "v2", Some("v5"), "staged", None);
    fleetlock(&url, "n2", "default").pre_reboot().unwrap();
    let answer = report(&url, "n3", "v2", Some("v5"), "rolled-back", None);
    assert_eq!(answer["halted"], "v5");
    // n2 already holds a slot but must not reboot into v5 now.
    let e = fleetlock(&url, "n2", "default").pre_reboot().unwrap_err();
    assert_eq!(e.kind(), "release_halted");
    // A host that is back to steady (no target) is not refused.
    report(&url, "n2", "v2", None, "steady", None);
    fleetlock(&url, "n2", "default").pre_reboot().unwrap();
    // Resuming a version that is not halted is harmless.
    assert!(!admin::resume(&etcd.client(), "v9", "tester@here").unwrap());
    let (status, body) = send_report(
        &url,
        "{\"client_params\":{\"id\":\"n4\",\"group\":\"default\"}}",
    );
    assert_eq!((status, kind_of(&body).as_str()), (400, "decode_error"));
    server.stop();
}
