use super::*;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// One piece of a stream: bytes, or that many zeros.
#[derive(Debug, Clone)]
enum Piece {
    Data(Vec<u8>),
    Zeros(u64),
}

fn pieces() -> impl Strategy<Value = Vec<Piece>> {
    let piece = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Piece::Data),
        (0u64..700).prop_map(Piece::Zeros),
    ];
    proptest::collection::vec(piece, 0..12)
}

fn expected(pieces: &[Piece]) -> String {
    let mut h = Sha256::new();
    for p in pieces {
        match p {
            Piece::Data(d) => h.update(d),
            Piece::Zeros(n) => h.update(vec![0u8; *n as usize]),
        }
    }
    hex(&h.finalize())
}

fn feed(s: &mut Sha256Stream, p: &Piece) {
    match p {
        Piece::Data(d) => s.update(d),
        Piece::Zeros(n) => s.update_zeros(*n),
    }
}

#[test]
fn known_digests() {
    assert_eq!(
        Sha256Stream::new().finalize_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let mut s = Sha256Stream::new();
    s.update(b"abc");
    assert_eq!(
        s.finalize_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn long_zero_runs_match_sha2() {
    for n in [1u64 << 20, (1 << 20) + 55, (3 << 20) + 64 * 7 + 9] {
        let mut s = Sha256Stream::new();
        s.update(b"x");
        s.update_zeros(n);
        let mut h = Sha256::new();
        h.update(b"x");
        h.update(vec![0u8; n as usize]);
        assert_eq!(s.finalize_hex(), hex(&h.finalize()), "{n} zeros");
    }
}

#[test]
fn portable_and_accelerated_zero_blocks_agree() {
    let mut a = H0;
    a[3] ^= 0xdead_beef;
    let mut b = a;
    let mut c = H0;
    let mut d = H0;
    zero_blocks_portable(&mut a, 37);
    zero_blocks(&mut b, 37);
    zero_blocks_portable(&mut c, 5);
    let mut e = H0;
    zero_blocks_pair(&mut d, &mut e, 5);
    assert_eq!(a, b);
    assert_eq!(c, d);
    assert_eq!(c, e);
}

proptest! {
    #[test]
    fn stream_matches_sha2(pieces in pieces()) {
        let mut s = Sha256Stream::new();
        for p in &pieces {
            feed(&mut s, p);
        }
        let len: u64 = pieces.iter().map(|p| match p {
            Piece::Data(d) => d.len() as u64,
            Piece::Zeros(n) => *n,
        }).sum();
        prop_assert_eq!(s.position(), len);
        prop_assert_eq!(s.finalize_hex(), expected(&pieces));
    }

    #[test]
    fn pairs_match_sha2(a in pieces(), b in pieces(), runs in proptest::collection::vec(0u64..2000, 0..4)) {
        let (mut sa, mut sb) = (Sha256Stream::new(), Sha256Stream::new());
        let (mut ea, mut eb) = (a.clone(), b.clone());
        for p in &a {
            feed(&mut sa, p);
        }
        for p in &b {
            feed(&mut sb, p);
        }
        for n in runs {
            zeros_pair(&mut sa, &mut sb, n);
            ea.push(Piece::Zeros(n));
            eb.push(Piece::Zeros(n));
        }
        prop_assert_eq!(sa.finalize_hex(), expected(&ea));
        prop_assert_eq!(sb.finalize_hex(), expected(&eb));
    }
}
