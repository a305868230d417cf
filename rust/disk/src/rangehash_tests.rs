use super::*;
use crate::sparse::write_sparse;
use sha2::{Digest, Sha256};

fn plain(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A 10 MiB sparse file with some data, and its bytes.
fn sample() -> (File, Vec<u8>) {
    let f = tempfile::tempfile().unwrap();
    f.set_len(10 << 20).unwrap();
    write_sparse(&f, &[9u8; 70000], (3 << 20) + 17).unwrap();
    write_sparse(&f, &[7u8; 5000], 8 << 20).unwrap();
    let mut all = vec![0u8; 10 << 20];
    f.read_exact_at(&mut all, 0).unwrap();
    (f, all)
}

const RANGES: [(u64, u64); 5] = [
    (0, 10 << 20),
    (1 << 20, 4 << 20),
    ((3 << 20) + 20, 100),
    (5 << 20, 1 << 20),
    (4096, (8 << 20) + 3),
];

#[test]
fn ranges_match_plain_hashes() {
    let (f, all) = sample();
    let mut buf = vec![0u8; 4096];
    for (off, len) in RANGES {
        let mut r = RangeHash::new(off, len);
        r.run(&f, &mut buf).unwrap();
        let want = plain(&all[off as usize..(off + len) as usize]);
        assert_eq!(r.finalize_hex(), want, "range {off}+{len}");
    }
}

#[test]
fn a_growing_limit_gives_the_same_digest() {
    let (f, all) = sample();
    let mut buf = vec![0u8; 1 << 20];
    let mut r = RangeHash::new(0, 10 << 20);
    for limit in [0, 1 << 20, (3 << 20) + 40, 9 << 20, 10 << 20] {
        while r.position() < limit {
            r.take_data(&f, limit, &mut buf).unwrap();
            let z = r.zeros_ahead();
            r.take_zeros(z);
            assert!(r.position() <= limit);
        }
    }
    assert!(r.is_done());
    assert_eq!(r.finalize_hex(), plain(&all));
}

#[test]
fn pairs_and_marks_match_plain_hashes() {
    let (f, all) = sample();
    let mut h = PairHasher::new(&f);
    for (i, (off, len)) in RANGES.iter().enumerate() {
        h.add(
            i,
            RangeHash::new(*off, *len).with_marks(&[len / 3, 4096, *len]),
        );
    }
    h.add(
        99,
        RangeHash::zeros(3 << 20).with_marks(&[1 << 20, 100, 5 << 20]),
    );
    let mut done = h.finish().unwrap();
    done.sort_by_key(|(k, _)| *k);
    for ((i, r), (off, len)) in done.iter().zip(RANGES) {
        let d = r.clone().digests();
        let at = |l: u64| plain(&all[off as usize..(off + l) as usize]);
        let mut marks: Vec<u64> = [len / 3, 4096, len]
            .into_iter()
            .filter(|m| *m <= len)
            .collect();
        marks.sort_unstable();
        marks.dedup();
        let mut want: Vec<String> = marks.iter().map(|m| at(*m)).collect();
        want.push(at(len));
        assert_eq!(d, want, "range {i}");
    }
    let (k, zeros) = done.pop().unwrap();
    assert_eq!(k, 99);
    let z = |n: usize| plain(&vec![0u8; n]);
    assert_eq!(zeros.digests(), vec![z(100), z(1 << 20), z(3 << 20)]);
}
