//! FleetLock protocol conformance against a real etcd: every error case
//! with its status and kind (raw HTTP for the malformed requests), the
//! well-formed ones through the update agent's FleetLock client.

mod common;

use common::{base, fleetlock, kind_of, raw, report_body, send_report, serve, EtcdProcess};
use metalos_agent::fleetlock::FleetLockError;
use metalos_fleet::kind::Kind;

const H: (&str, &str) = ("fleet-lock-protocol", "true");

/// method, path, headers, body, the kind expected.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [u8], Kind);

fn lock_body(id: &str, group: &str) -> String {
    serde_json::json!({"client_params": {"id": id, "group": group}}).to_string()
}

#[test]
fn error_cases_answer_their_status_and_kind() {
    let etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 1, &[], 1);
    let addr = server.addr();
    let ok = lock_body("n1", "default");
    let big = vec![b' '; 70 * 1024];
    let report_bad_state = report_body("n1", "default", "v1", None, "odd", None);
    let report_no_booted = report_body("n1", "default", "", None, "steady", None);
    let report_empty_target = report_body("n1", "default", "v1", Some(""), "staged", None);
    #[rustfmt::skip]
    let table: Vec<Case> = vec![
        ("GET", "/v1/pre-reboot", vec![H], ok.as_bytes(), Kind::MethodNotAllowed),
        ("PUT", "/v1/steady-state", vec![H], ok.as_bytes(), Kind::MethodNotAllowed),
        ("DELETE", "/metalos/v1/report", vec![H], b"", Kind::MethodNotAllowed),
        ("POST", "/metrics", vec![], b"", Kind::MethodNotAllowed),
        ("POST", "/-/healthy", vec![], b"", Kind::MethodNotAllowed),
        ("POST", "/v1/unknown", vec![H], ok.as_bytes(), Kind::NotFound),
        ("GET", "/", vec![], b"", Kind::NotFound),
        ("POST", "/v1/pre-reboot", vec![], ok.as_bytes(), Kind::MissingHeader),
        ("POST", "/v1/steady-state", vec![("fleet-lock-protocol", "false")], ok.as_bytes(), Kind::MissingHeader),
        ("POST", "/metalos/v1/report", vec![], ok.as_bytes(), Kind::MissingHeader),
        ("POST", "/v1/pre-reboot", vec![H], b"not json", Kind::DecodeError),
        ("POST", "/v1/pre-reboot", vec![H], b"{}", Kind::DecodeError),
        ("POST", "/v1/pre-reboot", vec![H], br#"{"client_params":"n1"}"#, Kind::DecodeError),
        ("POST", "/v1/steady-state", vec![H], &big, Kind::DecodeError),
        ("POST", "/metalos/v1/report", vec![H], report_bad_state.as_bytes(), Kind::DecodeError),
        ("POST", "/v1/pre-reboot", vec![H], br#"{"client_params":{"id":"","group":"default"}}"#, Kind::InvalidClientParams),
        ("POST", "/v1/pre-reboot", vec![H], br#"{"client_params":{"id":"n1","group":""}}"#, Kind::InvalidClientParams),
        ("POST", "/v1/steady-state", vec![H], br#"{"client_params":{"id":"n1","group":"a_b"}}"#, Kind::InvalidClientParams),
        ("POST", "/v1/pre-reboot", vec![H], br#"{"client_params":{"id":"n1","group":"a/b"}}"#, Kind::InvalidClientParams),
        ("POST", "/v1/pre-reboot", vec![H], br#"{"client_params":{"group":"default"}}"#, Kind::InvalidClientParams),
        ("POST", "/metalos/v1/report", vec![H], report_no_booted.as_bytes(), Kind::InvalidReport),
        ("POST", "/metalos/v1/report", vec![H], report_empty_target.as_bytes(), Kind::InvalidReport),
    ];
    for (method, path, headers, body, want) in table {
        let (status, answer) = raw(addr, method, path, &headers, body);
        let case = format!(
            "{method} {path} {headers:?} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        assert_eq!(status, want.status(), "{case}: {answer}");
        assert_eq!(kind_of(&answer), want.as_str(), "{case}");
    }
    // Nothing above took a slot.
    assert_eq!(
        etcd.etcdctl_get("com.coreos.airlock/groups/default/v1/semaphore"),
        ""
    );
    let (status, body) = raw(addr, "GET", "/-/healthy", &[], b"");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    server.stop();
}

#[test]
fn well_formed_requests_follow_the_protocol() {
    let etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 1, &[("pair", 2)], 1);
    let url = base(&server);
    let (a, b) = (
        fleetlock(&url, "a", "default"),
        fleetlock(&url, "b", "default"),
    );
    a.pre_reboot().unwrap();
    a.pre_reboot().unwrap(); // re-entrant
    match b.pre_reboot().unwrap_err() {
        FleetLockError::Refused { status, kind, .. } => {
            assert_eq!((status, kind.as_str()), (423, Kind::SemaphoreFull.as_str()));
        }
        e => panic!("{e}"),
    }
    b.steady_state().unwrap(); // a non-holder's release is success
    a.steady_state().unwrap();
    a.steady_state().unwrap(); // unbalanced calls too
    b.pre_reboot().unwrap();
    // Groups are separate buckets with their own slots.
    for id in ["p1", "p2"] {
        fleetlock(&url, id, "pair").pre_reboot().unwrap();
    }
    let e = fleetlock(&url, "p3", "pair").pre_reboot().unwrap_err();
    assert_eq!(e.kind(), "failed_lock_semaphore_full");
    assert_eq!(
        etcd.etcdctl_get("com.coreos.airlock/groups/pair/v1/semaphore"),
        r#"{"total_slots":2,"holders":["p1","p2"]}"#
    );
    // Reports are stored with the time seen.
    let (status, _) = send_report(
        &url,
        &report_body("b", "default", "v1", Some("v2"), "staged", None),
    );
    assert_eq!(status, 200);
    let stored: serde_json::Value =
        serde_json::from_str(&etcd.etcdctl_get("metalos/fleet/hosts/b")).unwrap();
    assert_eq!(stored["group"], "default");
    assert_eq!(stored["target"], "v2");
    assert_eq!(stored["state"], "staged");
    assert!(stored["last_seen"].as_u64().unwrap() > 1_700_000_000);
    server.stop();
}

#[test]
fn etcd_faults_fail_closed() {
    let etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 1, &[], 1);
    let url = base(&server);
    // A value that is not a semaphore: internal_error, nothing granted.
    etcd.etcdctl(&[
        "put",
        "com.coreos.airlock/groups/broken/v1/semaphore",
        "garbage",
    ]);
    let e = fleetlock(&url, "n1", "broken").pre_reboot().unwrap_err();
    assert!(
        matches!(e, FleetLockError::Refused { status: 500, .. }),
        "{e}"
    );
    assert_eq!(e.kind(), "internal_error");
    // A server whose etcd endpoints are all dead.
    let dead = serve(
        &[format!("http://127.0.0.1:{}", common::free_port())],
        1,
        &[],
        1,
    );
    let dead_url = base(&dead);
    for result in [
        fleetlock(&dead_url, "n1", "default").pre_reboot(),
        fleetlock(&dead_url, "n1", "default").steady_state(),
    ] {
        let e = result.unwrap_err();
        assert!(
            matches!(e, FleetLockError::Refused { status: 503, .. }),
            "{e}"
        );
        assert_eq!(e.kind(), "etcd_unavailable");
    }
    let (status, body) = send_report(
        &dead_url,
        &report_body("n1", "default", "v1", None, "steady", None),
    );
    assert_eq!((status, kind_of(&body).as_str()), (503, "etcd_unavailable"));
    // A dead endpoint listed first is skipped.
    let dead_first = serve(
        &[
            format!("http://127.0.0.1:{}", common::free_port()),
            etcd.url(),
        ],
        1,
        &[],
        1,
    );
    fleetlock(&base(&dead_first), "n2", "default")
        .pre_reboot()
        .unwrap();
    for s in [server, dead, dead_first] {
        s.stop();
    }
}

#[test]
fn metrics_show_requests_slots_and_holders() {
    let etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 1, &[("workers", 3)], 1);
    let url = base(&server);
    fleetlock(&url, "w1", "workers").pre_reboot().unwrap();
    fleetlock(&url, "d1", "default").pre_reboot().unwrap();
    let _ = fleetlock(&url, "d2", "default").pre_reboot();
    let _ = raw(server.addr(), "POST", "/v1/pre-reboot", &[], b"{}");
    let (status, text) = raw(server.addr(), "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    for line in [
        "metalos_fleet_requests_total{endpoint=\"pre-reboot\",kind=\"ok\"} 2",
        "metalos_fleet_requests_total{endpoint=\"pre-reboot\",kind=\"failed_lock_semaphore_full\"} 1",
        "metalos_fleet_requests_total{endpoint=\"pre-reboot\",kind=\"missing_header\"} 1",
        "metalos_fleet_config_slots{group=\"\"} 1",
        "metalos_fleet_config_slots{group=\"workers\"} 3",
        "metalos_fleet_semaphore_slots{group=\"workers\"} 3",
        "metalos_fleet_semaphore_holders{group=\"workers\"} 1",
        "metalos_fleet_semaphore_holders{group=\"default\"} 1",
        "metalos_fleet_halted_releases 0",
        "metalos_fleet_etcd_up 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
    server.stop();
}
