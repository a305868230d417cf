//! The manifest's sha256 of the image and of each partition, computed
//! while the partitions are being written. One thread hashes the whole
//! disk, following the partitions in disk order as each becomes final;
//! another hashes the partitions, two at a time so that their holes are
//! hashed together ([`metalos_disk::rangehash`]); the empty partitions
//! (never written: all zeros) come from one run of zeros.
//!
//! Why: hashing a 1 GiB image (twice: the disk and its partitions) costs
//! more than writing it; overlapped with the writes, and on two threads,
//! it is hidden behind them as far as the machine allows.

use crate::layout::Placement;
use metalos_disk::rangehash::{PairHasher, RangeHash};
use std::fs::File;
use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::{Scope, ScopedJoinHandle};

/// Tells the hashing threads that a partition is final.
#[derive(Clone)]
pub(crate) struct Ready {
    whole: Sender<usize>,
    parts: Sender<usize>,
}

impl Ready {
    /// `placements[index]` is written and will not change.
    pub(crate) fn partition(&self, index: usize) {
        // A thread that stopped (on an I/O error) reports it on join.
        let _ = self.whole.send(index);
        let _ = self.parts.send(index);
    }
}

/// The two hashing threads of a build.
pub(crate) struct Hashing<'scope> {
    ready: Ready,
    whole: ScopedJoinHandle<'scope, io::Result<String>>,
    parts: ScopedJoinHandle<'scope, io::Result<Vec<String>>>,
}

/// One partition as the hashing threads see it.
#[derive(Clone, Copy)]
struct Part {
    offset: u64,
    size: u64,
    /// Never written: all zeros.
    empty: bool,
}

impl<'scope> Hashing<'scope> {
    /// Starts hashing `disk` (`size` bytes): every byte outside the
    /// `placements` must be final already (the GPT is written first).
    /// `empty[i]` says that `placements[i]` is never written.
    pub(crate) fn start(
        scope: &'scope Scope<'scope, '_>,
        disk: &'scope File,
        size: u64,
        placements: &[Placement],
        empty: &[bool],
    ) -> Self {
        let parts: Vec<Part> = placements
            .iter()
            .zip(empty)
            .map(|(p, e)| Part {
                offset: p.offset,
                size: p.size,
                empty: *e,
            })
            .collect();
        let (whole_tx, whole_rx) = channel();
        let (parts_tx, parts_rx) = channel();
        let whole_parts = parts.clone();
        Hashing {
            ready: Ready {
                whole: whole_tx,
                parts: parts_tx,
            },
            whole: scope.spawn(move || hash_whole(disk, size, &whole_parts, whole_rx)),
            parts: scope.spawn(move || hash_parts(disk, &parts, parts_rx)),
        }
    }

    /// A handle for the threads that write the partitions.
    pub(crate) fn ready(&self) -> Ready {
        self.ready.clone()
    }

    /// Waits for the digests: the whole disk's, and each partition's in
    /// placement order. Every partition must have been reported ready.
    pub(crate) fn finish(self) -> io::Result<(String, Vec<String>)> {
        drop(self.ready);
        let whole = self.whole.join().expect("disk hashing thread");
        let parts = self.parts.join().expect("partition hashing thread");
        Ok((whole?, parts?))
    }
}

fn unfinished() -> io::Error {
    io::Error::other("the image was not completed")
}

/// The whole disk's sha256, hashed up to the first partition that is not
/// final yet, then waiting for it.
fn hash_whole(
    disk: &File,
    size: u64,
    parts: &[Part],
    ready: Receiver<usize>,
) -> io::Result<String> {
    let mut is_ready: Vec<bool> = parts.iter().map(|_| false).collect();
    let mut range = RangeHash::new(0, size);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let limit = parts
            .iter()
            .zip(&is_ready)
            .filter(|(_, r)| !**r)
            .map(|(p, _)| p.offset)
            .min()
            .unwrap_or(size);
        while range.position() < limit {
            range.take_data(disk, limit, &mut buf)?;
            range.take_zeros(range.zeros_ahead());
        }
        if range.is_done() {
            return Ok(range.finalize_hex());
        }
        is_ready[ready.recv().map_err(|_| unfinished())?] = true;
        while let Ok(i) = ready.try_recv() {
            is_ready[i] = true;
        }
    }
}

/// Which digest a hashed range gives.
enum Key {
    /// The partition with this index.
    Part(usize),
    /// The empty partitions.
    Zeros,
}

/// Each partition's sha256, hashed as the partitions become final.
fn hash_parts(disk: &File, parts: &[Part], ready: Receiver<usize>) -> io::Result<Vec<String>> {
    let mut hasher = PairHasher::new(disk);
    let zero_sizes: Vec<u64> = parts.iter().filter(|p| p.empty).map(|p| p.size).collect();
    if let Some(max) = zero_sizes.iter().max() {
        hasher.add(Key::Zeros, RangeHash::zeros(*max).with_marks(&zero_sizes));
    }
    let mut waiting = parts.iter().filter(|p| !p.empty).count();
    loop {
        while let Ok(i) = ready.try_recv() {
            waiting -= add_part(&mut hasher, parts, i);
        }
        // A range alone waits for a partner while more are coming: hashed
        // together, two ranges cost little more than one.
        if hasher.queued() >= 2 || (waiting == 0 && !hasher.is_idle()) {
            hasher.step()?;
        } else if waiting > 0 {
            let i = ready.recv().map_err(|_| unfinished())?;
            waiting -= add_part(&mut hasher, parts, i);
        } else {
            break;
        }
    }
    collect_digests(parts, hasher.finish()?)
}

/// Queues partition `i` unless it is empty (hashed as zeros); returns
/// how many partitions it queued.
fn add_part(hasher: &mut PairHasher<Key>, parts: &[Part], i: usize) -> usize {
    let p = parts[i];
    if p.empty {
        return 0;
    }
    hasher.add(Key::Part(i), RangeHash::new(p.offset, p.size));
    1
}

/// Each partition's digest from the hashed ranges.
fn collect_digests(parts: &[Part], done: Vec<(Key, RangeHash)>) -> io::Result<Vec<String>> {
    let mut out: Vec<Option<String>> = parts.iter().map(|_| None).collect();
    for (key, range) in done {
        match key {
            Key::Part(i) => out[i] = Some(range.finalize_hex()),
            Key::Zeros => {
                // One digest per distinct size, ascending, then the largest.
                let mut sizes: Vec<u64> =
                    parts.iter().filter(|p| p.empty).map(|p| p.size).collect();
                sizes.sort_unstable();
                sizes.dedup();
                let digests = range.digests();
                for (i, p) in parts.iter().enumerate().filter(|(_, p)| p.empty) {
                    let at = sizes.binary_search(&p.size).expect("a mark per size");
                    out[i] = Some(digests[at].clone());
                }
            }
        }
    }
    out.into_iter().map(|d| d.ok_or_else(unfinished)).collect()
}
