//! Faults: etcd killed during the load and restarted on the same data
//! directory (no grant while it is down, no double grant after, nothing
//! lost), and a holder that never comes back (shown by `status`, freed by
//! `unlock`).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{base, fleetlock, serve, EtcdProcess};
use metalos_agent::fleetlock::{FleetLock, FleetLockError};
use metalos_fleet::admin;
use metalos_fleet::semaphore::UnlockOutcome;
use metalos_fleet::status::FleetStatus;

const CLIENTS: usize = 30;
const SLOTS: u64 = 3;
const KEY: &str = "com.coreos.airlock/groups/faults/v1/semaphore";

#[derive(Default)]
struct Shared {
    /// etcd is dead (set after it exited, cleared before it restarts).
    down: AtomicBool,
    stop: AtomicBool,
    in_slot: AtomicI64,
    max_in_slot: AtomicI64,
    /// Grants to requests sent while etcd was down.
    grants_while_down: AtomicI64,
    /// (status, kind) of answers to requests sent while etcd was down.
    answers_while_down: Mutex<BTreeMap<(u16, String), u64>>,
}

fn client(fl: &FleetLock, shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        let sent_down = shared.down.load(Ordering::SeqCst);
        let result = fl.pre_reboot();
        if sent_down {
            let key = match &result {
                Ok(()) => (200, "granted".to_string()),
                Err(FleetLockError::Refused { status, kind, .. }) => (*status, kind.clone()),
                Err(e) => (0, e.kind().to_string()),
            };
            *shared
                .answers_while_down
                .lock()
                .unwrap()
                .entry(key)
                .or_default() += 1;
        }
        match result {
            Ok(()) => {
                if sent_down {
                    shared.grants_while_down.fetch_add(1, Ordering::SeqCst);
                }
                let now = shared.in_slot.fetch_add(1, Ordering::SeqCst) + 1;
                shared.max_in_slot.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(fastrand::u64(5..40)));
                shared.in_slot.fetch_sub(1, Ordering::SeqCst);
                while fl.steady_state().is_err() {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(fastrand::u64(10..80))),
        }
    }
    // Like an agent starting up: release whatever the server may hold for
    // us (a grant whose answer was lost when etcd died).
    while fl.steady_state().is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn etcd_killed_during_load_grants_nothing_and_loses_nothing() {
    let mut etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 1, &[("faults", SLOTS)], 1);
    let url = base(&server);
    fleetlock(&url, "survivor", "faults").pre_reboot().unwrap();
    let shared = Arc::new(Shared::default());
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let fl = fleetlock(&url, &format!("host-{i:02}"), "faults");
            let shared = shared.clone();
            std::thread::spawn(move || client(&fl, &shared))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    etcd.kill();
    shared.down.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(3));
    shared.down.store(false, Ordering::SeqCst);
    etcd.restart();
    // The holder from before the outage is still there.
    let holders = etcd.etcdctl_get(KEY);
    assert!(holders.contains("\"survivor\""), "{holders}");
    std::thread::sleep(Duration::from_secs(3));
    shared.stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let answers = shared.answers_while_down.lock().unwrap().clone();
    eprintln!("answers while etcd was down: {answers:?}");
    assert_eq!(
        shared.grants_while_down.load(Ordering::SeqCst),
        0,
        "{answers:?}"
    );
    assert!(
        !answers.is_empty(),
        "no request was sent while etcd was down"
    );
    for (status, kind) in answers.keys() {
        assert!(*status >= 500, "{status} {kind}");
    }
    assert!(shared.max_in_slot.load(Ordering::SeqCst) <= SLOTS as i64);
    // Everyone released but the survivor, which never asked to.
    assert_eq!(
        etcd.etcdctl_get(KEY),
        format!(r#"{{"total_slots":{SLOTS},"holders":["survivor"]}}"#)
    );
    server.stop();
}

#[test]
fn a_holder_that_never_returns_is_shown_and_unlocked() {
    let etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 1, &[], 1);
    let url = base(&server);
    fleetlock(&url, "ghost", "default").pre_reboot().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let e = fleetlock(&url, "next", "default").pre_reboot().unwrap_err();
    assert_eq!(e.kind(), "failed_lock_semaphore_full");

    let client = etcd.client();
    let status = FleetStatus::read(&client, admin::unix_now()).unwrap();
    let holder = &status.groups[0].holders[0];
    assert_eq!(holder.id, "ghost");
    assert!(holder.held_secs.unwrap() >= 1, "{holder:?}");
    let text = status.describe();
    assert!(text.contains("default: 1 of 1 slots held"), "{text}");
    assert!(text.contains("ghost  held for "), "{text}");
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["groups"][0]["holders"][0]["id"], "ghost");

    let outcome = admin::unlock(&client, "default", "ghost", "ops@console").unwrap();
    assert_eq!(outcome, UnlockOutcome::Released);
    assert_eq!(etcd.etcdctl_get("metalos/fleet/held/default/ghost"), "");
    fleetlock(&url, "next", "default").pre_reboot().unwrap();
    let status = FleetStatus::read(&client, admin::unix_now()).unwrap();
    let entry = status.log.last().unwrap();
    assert_eq!(entry.action, "unlock");
    assert_eq!(entry.detail, "released ghost from group default");
    assert_eq!(entry.by, "ops@console");
    // Unlocking someone who holds nothing is fine too, and logged.
    let outcome = admin::unlock(&client, "default", "ghost", "ops@console").unwrap();
    assert_eq!(outcome, UnlockOutcome::NotHeld);
    server.stop();
}
