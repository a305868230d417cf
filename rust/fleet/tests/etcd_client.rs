//! The JSON-gateway client and the semaphores against a real etcd:
//! versions, compare-and-swap, prefixes, refusals, failover, and CAS
//! conflicts retried with a bound.

mod common;

use std::time::Duration;

use common::{free_port, EtcdProcess};
use metalos_fleet::etcd::{Compare, Etcd, EtcdError, Op};
use metalos_fleet::semaphore::{LockOutcome, RetryPolicy, Semaphores};

#[test]
fn kv_operations_and_versions() {
    let etcd = EtcdProcess::start();
    let c = etcd.client();
    assert_eq!(c.get("a/1").unwrap(), None);
    assert!(c.put_if_version("a/1", 0, b"one").unwrap());
    assert!(
        !c.put_if_version("a/1", 0, b"again").unwrap(),
        "present: version is 1"
    );
    let kv = c.get("a/1").unwrap().unwrap();
    assert_eq!((kv.value.as_slice(), kv.version), (&b"one"[..], 1));
    assert!(c.put_if_version("a/1", 1, b"uno").unwrap());
    assert_eq!(c.get("a/1").unwrap().unwrap().version, 2);
    c.put("a/2", b"").unwrap();
    c.put("a/\u{e9}", b"\xff\x00").unwrap();
    c.put("b", b"x").unwrap();
    let keys: Vec<String> = c
        .range_prefix("a/")
        .unwrap()
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(keys, ["a/1", "a/2", "a/\u{e9}"]);
    assert_eq!(c.get("a/\u{e9}").unwrap().unwrap().value, b"\xff\x00");
    assert_eq!(c.get("a/2").unwrap().unwrap().value, b"");
    // A txn runs all its operations or none.
    let ops = [
        Op::Delete { key: "a/1".into() },
        Op::Put {
            key: "a/3".into(),
            value: b"three".to_vec(),
        },
    ];
    let stale = Compare::Version {
        key: "b".into(),
        version: 7,
    };
    assert!(!c.txn(&[stale], &ops).unwrap());
    assert!(c.get("a/3").unwrap().is_none());
    let current = Compare::Version {
        key: "b".into(),
        version: 1,
    };
    assert!(c.txn(&[current], &ops).unwrap());
    assert!(c.get("a/1").unwrap().is_none());
    assert_eq!(c.delete("a/3").unwrap(), 1);
    assert_eq!(c.delete("a/3").unwrap(), 0);
}

#[test]
fn refusals_and_failover_name_the_endpoint_and_key() {
    let etcd = EtcdProcess::start();
    let c = etcd.client();
    // etcd 3.4 allows 128 operations per txn (--max-txn-ops).
    let ops: Vec<Op> = (0..200)
        .map(|i| Op::Delete {
            key: format!("k{i}"),
        })
        .collect();
    let e = c.txn(&[], &ops).unwrap_err();
    assert!(matches!(e, EtcdError::Rejected { status: 400, .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("etcd txn \"k0\" at {}: HTTP 400: ", etcd.url())),
        "{text}"
    );
    assert!(text.contains("too many operations"), "{text}");
    // A dead endpoint first: skipped, the live one answers; then kept.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let both = Etcd::new(&[dead, etcd.url()], Duration::from_secs(2)).unwrap();
    both.put("f", b"1").unwrap();
    assert_eq!(both.get("f").unwrap().unwrap().value, b"1");
}

#[test]
fn conflicts_are_retried_with_a_bound() {
    let etcd = EtcdProcess::start();
    let client = etcd.client();
    let race = |group: &str, retry: RetryPolicy| -> (usize, Vec<String>) {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = Semaphores::new(client.clone(), retry);
                let group = group.to_string();
                std::thread::spawn(move || {
                    let mut errors = Vec::new();
                    let mut granted = 0;
                    for i in 0..15 {
                        let id = format!("t{t}-{i}");
                        match s.lock(&group, &id, 1000, 0) {
                            Ok(LockOutcome::Granted) => granted += 1,
                            Ok(other) => errors.push(format!("{other:?}")),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                    (granted, errors)
                })
            })
            .collect();
        let mut total = (0, Vec::new());
        for t in threads {
            let (g, e) = t.join().unwrap();
            total.0 += g;
            total.1.extend(e);
        }
        total
    };
    let (granted, errors) = race("race", RetryPolicy::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(granted, 8 * 15);
    let sem = Semaphores::new(client.clone(), RetryPolicy::default());
    assert_eq!(sem.read("race").unwrap().unwrap().0.holders.len(), 8 * 15);
    // One try only: some of the racing writers lose.
    let mut seen = None;
    for round in 0..20 {
        let single = RetryPolicy {
            tries: 1,
            backoff: Duration::ZERO,
        };
        if let Some(e) = race(&format!("single{round}"), single).1.into_iter().next() {
            seen = Some(e);
            break;
        }
    }
    let e = seen.expect("no CAS conflict in 20 races of 8 writers");
    assert!(
        e.starts_with("semaphore com.coreos.airlock/groups/single")
            && e.ends_with("/v1/semaphore: changed by another writer on each of 1 tries"),
        "{e}"
    );
}
