//! airlock compatibility: a semaphore written as airlock writes it (here
//! with `etcdctl`, independent of the server's client) is read and
//! honoured, and what the server writes has airlock's exact shape.

mod common;

use common::{base, fleetlock, serve, EtcdProcess};
use metalos_fleet::status::FleetStatus;

const KEY: &str = "com.coreos.airlock/groups/default/v1/semaphore";

#[test]
fn an_airlock_semaphore_is_honoured_and_kept_in_airlocks_shape() {
    let etcd = EtcdProcess::start();
    etcd.etcdctl(&["put", KEY, r#"{"total_slots":2,"holders":["a","b"]}"#]);
    let server = serve(&[etcd.url()], 2, &[], 1);
    let url = base(&server);
    let version = |etcd: &EtcdProcess| etcd.client().get(KEY).unwrap().unwrap().version;
    let before = version(&etcd);
    let e = fleetlock(&url, "c", "default").pre_reboot().unwrap_err();
    assert_eq!(e.kind(), "failed_lock_semaphore_full", "{e}");
    fleetlock(&url, "a", "default").pre_reboot().unwrap(); // airlock's holder, re-entrant
    assert_eq!(
        version(&etcd),
        before,
        "a refusal or a re-entrant lock writes nothing"
    );
    fleetlock(&url, "a", "default").steady_state().unwrap();
    assert_eq!(
        etcd.etcdctl_get(KEY),
        r#"{"total_slots":2,"holders":["b"]}"#
    );
    fleetlock(&url, "c", "default").pre_reboot().unwrap();
    assert_eq!(
        etcd.etcdctl_get(KEY),
        r#"{"total_slots":2,"holders":["b","c"]}"#
    );
    // Holders granted by airlock have no recorded start; ours do.
    let status = FleetStatus::read(&etcd.client(), metalos_fleet::admin::unix_now()).unwrap();
    let holders = &status.groups[0].holders;
    assert_eq!((holders[0].id.as_str(), holders[0].since), ("b", None));
    assert_eq!(holders[1].id, "c");
    assert!(holders[1].since.is_some());
    assert!(
        status.describe().contains("b  held since an unknown time"),
        "{}",
        status.describe()
    );
    server.stop();
}

#[test]
fn go_nil_holders_and_sorted_writes() {
    let etcd = EtcdProcess::start();
    etcd.etcdctl(&["put", KEY, r#"{"total_slots":3,"holders":null}"#]);
    let server = serve(&[etcd.url()], 3, &[], 1);
    let url = base(&server);
    for id in ["zeta", "mu", "alpha"] {
        fleetlock(&url, id, "default").pre_reboot().unwrap();
    }
    assert_eq!(
        etcd.etcdctl_get(KEY),
        r#"{"total_slots":3,"holders":["alpha","mu","zeta"]}"#
    );
    // A new group's key is created in airlock's shape on the first request.
    fleetlock(&url, "n1", "fresh").steady_state().unwrap();
    assert_eq!(
        etcd.etcdctl_get("com.coreos.airlock/groups/fresh/v1/semaphore"),
        ""
    );
    fleetlock(&url, "n1", "fresh").pre_reboot().unwrap();
    fleetlock(&url, "n1", "fresh").steady_state().unwrap();
    assert_eq!(
        etcd.etcdctl_get("com.coreos.airlock/groups/fresh/v1/semaphore"),
        r#"{"total_slots":3,"holders":[]}"#
    );
    server.stop();
}

#[test]
fn configured_slots_reach_etcd_on_the_next_request() {
    let etcd = EtcdProcess::start();
    // airlock created the key with 1 slot; the configuration now says 3.
    etcd.etcdctl(&["put", KEY, r#"{"total_slots":1,"holders":["a"]}"#]);
    let three = serve(&[etcd.url()], 3, &[], 1);
    fleetlock(&base(&three), "x", "default")
        .steady_state()
        .unwrap();
    assert_eq!(
        etcd.etcdctl_get(KEY),
        r#"{"total_slots":3,"holders":["a"]}"#
    );
    fleetlock(&base(&three), "b", "default")
        .pre_reboot()
        .unwrap();
    fleetlock(&base(&three), "c", "default")
        .pre_reboot()
        .unwrap();
    three.stop();
    // Lowered below the holder count: every holder stays, nobody new gets
    // in until enough have left.
    let one = serve(&[etcd.url()], 1, &[], 1);
    let url = base(&one);
    let e = fleetlock(&url, "d", "default").pre_reboot().unwrap_err();
    assert_eq!(e.kind(), "failed_lock_semaphore_full");
    assert_eq!(
        etcd.etcdctl_get(KEY),
        r#"{"total_slots":1,"holders":["a","b","c"]}"#
    );
    for id in ["a", "b"] {
        fleetlock(&url, id, "default").steady_state().unwrap();
        assert!(fleetlock(&url, "d", "default").pre_reboot().is_err());
    }
    fleetlock(&url, "c", "default").steady_state().unwrap();
    fleetlock(&url, "d", "default").pre_reboot().unwrap();
    assert_eq!(
        etcd.etcdctl_get(KEY),
        r#"{"total_slots":1,"holders":["d"]}"#
    );
    one.stop();
}
