//! Safety under load: 200 concurrent clients on two server instances
//! sharing one etcd lock and unlock at random for a bounded time. The
//! clients themselves check that no more hosts hold a slot than there are
//! slots (a shared counter, incremented after a grant and decremented
//! before the release), and every client gets a slot at least once.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{base, fleetlock, serve, EtcdProcess};
use metalos_agent::fleetlock::FleetLock;

const CLIENTS: usize = 200;
const SLOTS: u64 = 5;
const LOAD_TIME: Duration = Duration::from_secs(20);
/// A client that has not had a slot by then fails the test.
const GIVE_UP: Duration = Duration::from_secs(120);

/// What the clients share.
#[derive(Default)]
struct Shared {
    /// Clients that believe they hold a slot now.
    in_slot: AtomicI64,
    /// The most seen at once.
    max_in_slot: AtomicI64,
    /// Refusals other than "full", by kind.
    errors: Mutex<BTreeMap<String, u64>>,
}

/// One client: lock at random through either server until the load time
/// is over and it has had a slot; its number of grants.
fn client(servers: &[FleetLock; 2], shared: &Shared, start: Instant) -> u64 {
    let mut grants = 0;
    while start.elapsed() < GIVE_UP && (grants == 0 || start.elapsed() < LOAD_TIME) {
        let server = &servers[fastrand::usize(0..2)];
        match server.pre_reboot() {
            Ok(()) => {
                grants += 1;
                let now = shared.in_slot.fetch_add(1, Ordering::SeqCst) + 1;
                shared.max_in_slot.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(fastrand::u64(10..60)));
                shared.in_slot.fetch_sub(1, Ordering::SeqCst);
                release(servers, shared);
            }
            Err(e) => {
                if e.kind() != "failed_lock_semaphore_full" {
                    *shared
                        .errors
                        .lock()
                        .unwrap()
                        .entry(e.kind().to_string())
                        .or_default() += 1;
                }
                std::thread::sleep(Duration::from_millis(fastrand::u64(20..200)));
            }
        }
    }
    grants
}

/// steady-state through either server until it succeeds.
fn release(servers: &[FleetLock; 2], shared: &Shared) {
    loop {
        match servers[fastrand::usize(0..2)].steady_state() {
            Ok(()) => return,
            Err(e) => {
                *shared
                    .errors
                    .lock()
                    .unwrap()
                    .entry(format!("unlock {}", e.kind()))
                    .or_default() += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn two_servers_never_grant_more_than_the_slots() {
    let etcd = EtcdProcess::start();
    let a = serve(&[etcd.url()], 1, &[("load", SLOTS)], 1);
    let b = serve(&[etcd.url()], 1, &[("load", SLOTS)], 1);
    let (url_a, url_b) = (base(&a), base(&b));
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let id = format!("host-{i:03}");
            let servers = [
                fleetlock(&url_a, &id, "load"),
                fleetlock(&url_b, &id, "load"),
            ];
            let shared = shared.clone();
            std::thread::spawn(move || client(&servers, &shared, start))
        })
        .collect();
    let grants: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = start.elapsed();
    let total: u64 = grants.iter().sum();
    let errors = shared.errors.lock().unwrap().clone();
    eprintln!(
        "{total} grants in {elapsed:.1?} ({:.0}/s), max {} at once, fewest per client {}, errors {errors:?}",
        total as f64 / elapsed.as_secs_f64(),
        shared.max_in_slot.load(Ordering::SeqCst),
        grants.iter().min().unwrap()
    );
    assert!(shared.max_in_slot.load(Ordering::SeqCst) <= SLOTS as i64);
    let starved: Vec<usize> = (0..CLIENTS).filter(|i| grants[*i] == 0).collect();
    assert!(
        starved.is_empty(),
        "clients without a slot after {GIVE_UP:?}: {starved:?}"
    );
    assert!(errors.is_empty(), "{errors:?}");
    // Everyone released: no holder and no holder-since key left.
    assert_eq!(
        etcd.etcdctl_get("com.coreos.airlock/groups/load/v1/semaphore"),
        format!(r#"{{"total_slots":{SLOTS},"holders":[]}}"#)
    );
    let held = etcd.etcdctl(&["get", "--prefix", "--keys-only", "metalos/fleet/held/"]);
    assert!(String::from_utf8_lossy(&held.stdout).trim().is_empty());
    a.stop();
    b.stop();
}
