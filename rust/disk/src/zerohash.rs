//! SHA-256 of data that is mostly zeros (disk images: holes, unwritten
//! partitions, the free space of a filesystem). [`Sha256Stream`] takes
//! bytes and runs of zero bytes; [`zeros_pair`] advances two independent
//! streams over zeros at once. The digests are plain SHA-256.
//!
//! Why: a zero block needs no message schedule (every message word is 0),
//! and with the x86 SHA extensions one stream is bound by the latency of
//! `sha256rnds2`, not its throughput: two independent streams interleaved
//! on one core cost little more than one (about 1.7× the bytes per second
//! on the machines measured). Data blocks and the final padding go through
//! `sha2`'s compression function.

use sha2::block_api::compress256;

/// Bytes per SHA-256 block.
const BLOCK: usize = 64;

/// The initial hash value (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The round constants (FIPS 180-4, 4.2.2): with an all-zero message
/// block, word `t` plus the message schedule is just `K[t]`.
#[cfg(target_arch = "x86_64")]
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// An incremental SHA-256 that also takes runs of zero bytes without
/// their bytes ([`Sha256Stream::update_zeros`]).
#[derive(Debug, Clone)]
pub struct Sha256Stream {
    state: [u32; 8],
    /// Bytes taken so far.
    len: u64,
    /// The pending partial block (`len % 64` bytes).
    buf: [u8; BLOCK],
}

impl Default for Sha256Stream {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256Stream {
    /// A stream that has taken nothing yet.
    pub fn new() -> Self {
        Self {
            state: H0,
            len: 0,
            buf: [0; BLOCK],
        }
    }

    /// Bytes taken so far.
    pub fn position(&self) -> u64 {
        self.len
    }

    fn pending(&self) -> usize {
        (self.len % BLOCK as u64) as usize
    }

    /// Takes `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        let p = self.pending();
        if p > 0 {
            let n = (BLOCK - p).min(data.len());
            self.buf[p..p + n].copy_from_slice(&data[..n]);
            self.len += n as u64;
            data = &data[n..];
            if self.pending() != 0 {
                return;
            }
            compress256(&mut self.state, &[self.buf]);
        }
        // Whole blocks, a batch at a time (compress256 takes arrays).
        let mut batch = [[0u8; BLOCK]; 16];
        let mut chunks = data.chunks_exact(BLOCK);
        loop {
            let mut n = 0;
            for (slot, chunk) in batch.iter_mut().zip(chunks.by_ref()) {
                slot.copy_from_slice(chunk);
                n += 1;
            }
            if n == 0 {
                break;
            }
            compress256(&mut self.state, &batch[..n]);
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.len += data.len() as u64;
    }

    /// Takes `n` zero bytes.
    pub fn update_zeros(&mut self, n: u64) {
        let rest = self.zero_head(n);
        zero_blocks(&mut self.state, rest / BLOCK as u64);
        self.zero_tail(rest);
    }

    /// Completes a pending partial block with zeros (at most `n`);
    /// returns how many of the `n` zeros are left.
    fn zero_head(&mut self, n: u64) -> u64 {
        let p = self.pending();
        if p == 0 {
            return n;
        }
        let k = ((BLOCK - p) as u64).min(n) as usize;
        self.buf[p..p + k].fill(0);
        self.len += k as u64;
        if self.pending() == 0 {
            compress256(&mut self.state, &[self.buf]);
        }
        n - k as u64
    }

    /// Accounts for `rest` zeros whose whole blocks were compressed; the
    /// remainder stays pending.
    fn zero_tail(&mut self, rest: u64) {
        self.len += rest;
        self.buf[..(rest % BLOCK as u64) as usize].fill(0);
    }

    /// The digest of everything taken.
    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let p = self.pending();
        let mut block = [0u8; BLOCK];
        block[..p].copy_from_slice(&self.buf[..p]);
        block[p] = 0x80;
        if p >= BLOCK - 8 {
            compress256(&mut self.state, &[block]);
            block = [0; BLOCK];
        }
        block[BLOCK - 8..].copy_from_slice(&bits.to_be_bytes());
        compress256(&mut self.state, &[block]);
        let mut out = [0u8; 32];
        for (o, word) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// The digest as lower-case hex.
    pub fn finalize_hex(self) -> String {
        self.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Takes `n` zero bytes into both `a` and `b`, interleaving the two
/// where the CPU allows it.
pub fn zeros_pair(a: &mut Sha256Stream, b: &mut Sha256Stream, n: u64) {
    let (ra, rb) = (a.zero_head(n), b.zero_head(n));
    let (ba, bb) = (ra / BLOCK as u64, rb / BLOCK as u64);
    let both = ba.min(bb);
    zero_blocks_pair(&mut a.state, &mut b.state, both);
    zero_blocks(&mut a.state, ba - both);
    zero_blocks(&mut b.state, bb - both);
    a.zero_tail(ra);
    b.zero_tail(rb);
}

/// Whether the SHA extensions can be used.
#[cfg(target_arch = "x86_64")]
fn sha_ni() -> bool {
    std::arch::is_x86_feature_detected!("sha") && std::arch::is_x86_feature_detected!("sse4.1")
}

/// Compresses `count` zero blocks into `state`.
fn zero_blocks(state: &mut [u32; 8], count: u64) {
    #[cfg(target_arch = "x86_64")]
    if sha_ni() {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { shani::zero_blocks(state, count) };
        return;
    }
    zero_blocks_portable(state, count);
}

/// [`zero_blocks`] on two states at once.
fn zero_blocks_pair(a: &mut [u32; 8], b: &mut [u32; 8], count: u64) {
    #[cfg(target_arch = "x86_64")]
    if sha_ni() {
        // SAFETY: as in `zero_blocks`.
        unsafe { shani::zero_blocks_pair(a, b, count) };
        return;
    }
    zero_blocks_portable(a, count);
    zero_blocks_portable(b, count);
}

/// [`zero_blocks`] through `sha2`'s compression function.
fn zero_blocks_portable(state: &mut [u32; 8], count: u64) {
    static ZEROS: [[u8; BLOCK]; 64] = [[0; BLOCK]; 64];
    let mut left = count;
    while left > 0 {
        let n = left.min(ZEROS.len() as u64) as usize;
        compress256(state, &ZEROS[..n]);
        left -= n as u64;
    }
}

/// Zero blocks with the x86 SHA extensions. They keep the eight state
/// words in two registers, `ABEF` and `CDGH` (A in the top lane), and
/// `sha256rnds2` does two rounds with the two low lanes of its third
/// operand as message word plus constant.
#[cfg(target_arch = "x86_64")]
mod shani {
    use super::K;
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_set_epi32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
        _mm_storeu_si128,
    };

    type State = (__m128i, __m128i);

    #[target_feature(enable = "sha,sse4.1")]
    fn load(s: &[u32; 8]) -> State {
        let w = |i: usize| s[i] as i32;
        (
            _mm_set_epi32(w(0), w(1), w(4), w(5)),
            _mm_set_epi32(w(2), w(3), w(6), w(7)),
        )
    }

    #[target_feature(enable = "sha,sse4.1")]
    fn store(s: &mut [u32; 8], (abef, cdgh): State) {
        let (mut x, mut y) = ([0u32; 4], [0u32; 4]);
        // SAFETY: each destination is 16 writable bytes (unaligned store).
        unsafe {
            _mm_storeu_si128(x.as_mut_ptr().cast(), abef);
            _mm_storeu_si128(y.as_mut_ptr().cast(), cdgh);
        }
        // Lanes low to high: x = F E B A, y = H G D C.
        *s = [x[3], x[2], y[3], y[2], x[1], x[0], y[1], y[0]];
    }

    /// The round constants four to a register, low lane first.
    #[target_feature(enable = "sha,sse4.1")]
    fn constants() -> [__m128i; 16] {
        let k = |i: usize| K[i] as i32;
        std::array::from_fn(|r| _mm_set_epi32(k(4 * r + 3), k(4 * r + 2), k(4 * r + 1), k(4 * r)))
    }

    #[target_feature(enable = "sha,sse4.1")]
    pub(super) fn zero_blocks(state: &mut [u32; 8], count: u64) {
        let k = constants();
        let (mut abef, mut cdgh) = load(state);
        for _ in 0..count {
            let (a0, c0) = (abef, cdgh);
            for wk in k {
                cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
                abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32::<0x0E>(wk));
            }
            abef = _mm_add_epi32(abef, a0);
            cdgh = _mm_add_epi32(cdgh, c0);
        }
        store(state, (abef, cdgh));
    }

    #[target_feature(enable = "sha,sse4.1")]
    pub(super) fn zero_blocks_pair(a: &mut [u32; 8], b: &mut [u32; 8], count: u64) {
        let k = constants();
        let (mut abef, mut cdgh) = load(a);
        let (mut abef2, mut cdgh2) = load(b);
        for _ in 0..count {
            let (a0, c0, a1, c1) = (abef, cdgh, abef2, cdgh2);
            for wk in k {
                let hi = _mm_shuffle_epi32::<0x0E>(wk);
                cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
                cdgh2 = _mm_sha256rnds2_epu32(cdgh2, abef2, wk);
                abef = _mm_sha256rnds2_epu32(abef, cdgh, hi);
                abef2 = _mm_sha256rnds2_epu32(abef2, cdgh2, hi);
            }
            abef = _mm_add_epi32(abef, a0);
            cdgh = _mm_add_epi32(cdgh, c0);
            abef2 = _mm_add_epi32(abef2, a1);
            cdgh2 = _mm_add_epi32(cdgh2, c1);
        }
        store(a, (abef, cdgh));
        store(b, (abef2, cdgh2));
    }
}

#[cfg(test)]
#[path = "zerohash_tests.rs"]
mod tests;
