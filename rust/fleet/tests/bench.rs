//! Benchmark (not a timed test; `bench/fleet-lock.sh` runs it in release
//! mode): FleetLock lock + unlock round trips per second against one
//! server on the one-node etcd here, with p50/p99 latency of a round trip,
//! for one client and for 8 concurrent clients in one group of 8 slots.

mod common;

use std::time::{Duration, Instant};

use common::{base, fleetlock, serve, EtcdProcess};

const ROUNDS: usize = 300;
const WARMUP: usize = 20;

/// `ROUNDS` lock + unlock round trips by `id`; the latency of each.
fn round_trips(url: &str, id: &str) -> Vec<Duration> {
    let client = fleetlock(url, id, "bench");
    for _ in 0..WARMUP {
        client.pre_reboot().unwrap();
        client.steady_state().unwrap();
    }
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            client.pre_reboot().unwrap();
            client.steady_state().unwrap();
            t.elapsed()
        })
        .collect()
}

fn report(label: &str, mut latencies: Vec<Duration>, wall: Duration) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: {} round trips in {wall:.2?}: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        latencies.len() as f64 / wall.as_secs_f64(),
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
    );
}

#[test]
#[ignore = "benchmark: bench/fleet-lock.sh"]
fn lock_unlock_round_trips() {
    let etcd = EtcdProcess::start();
    let server = serve(&[etcd.url()], 8, &[], 1);
    let url = base(&server);
    let start = Instant::now();
    let one = round_trips(&url, "solo");
    report("1 client", one, start.elapsed());
    let start = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || round_trips(&url, &format!("c{i}")))
        })
        .collect();
    let all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    report("8 clients, 8 slots", all, start.elapsed());
    server.stop();
}
