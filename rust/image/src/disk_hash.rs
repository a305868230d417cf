//! The manifest's sha256 of the image and of each partition. The whole
//! disk is hashed on a thread of its own while the partitions are being
//! written, following them in disk order as each becomes final; the
//! partitions are hashed once all are written, two at a time so that
//! their holes are hashed together ([`metalos_disk::rangehash`]), and the
//! empty ones (never written: all zeros) from one run of zeros.
//!
//! Why: the whole disk's digest is one chain of 1 GiB (for the default
//! image) through SHA-256, the longest piece of the build. Started early
//! and left a core to itself, it hides most of the other work.

use crate::layout::Placement;
use metalos_disk::rangehash::{PairHasher, RangeHash};
use std::fs::File;
use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::{Scope, ScopedJoinHandle};

/// Tells the whole-disk thread that a partition is final.
#[derive(Clone)]
pub(crate) struct Ready(Sender<usize>);

impl Ready {
    /// `placements[index]` is written and will not change.
    pub(crate) fn partition(&self, index: usize) {
        // A thread that stopped (on an I/O error) reports it on join.
        let _ = self.0.send(index);
    }
}

/// The thread hashing the whole disk.
pub(crate) struct WholeDisk<'scope> {
    ready: Ready,
    thread: ScopedJoinHandle<'scope, io::Result<String>>,
}

impl<'scope> WholeDisk<'scope> {
    /// Starts hashing `disk` (`size` bytes): every byte outside the
    /// `placements` must be final already (the GPT is written first).
    pub(crate) fn start(
        scope: &'scope Scope<'scope, '_>,
        disk: &'scope File,
        size: u64,
        placements: &[Placement],
    ) -> Self {
        let offsets: Vec<u64> = placements.iter().map(|p| p.offset).collect();
        let (tx, rx) = channel();
        WholeDisk {
            ready: Ready(tx),
            thread: scope.spawn(move || hash_whole(disk, size, &offsets, rx)),
        }
    }

    /// A handle for the threads that write the partitions.
    pub(crate) fn ready(&self) -> Ready {
        self.ready.clone()
    }

    /// Waits for the digest. Every partition must have been reported.
    pub(crate) fn finish(self) -> io::Result<String> {
        drop(self.ready);
        self.thread.join().expect("disk hashing thread")
    }
}

/// Hashes up to the first partition that is not final yet, then waits
/// for it. `offsets[i]` is where partition `i` starts.
fn hash_whole(
    disk: &File,
    size: u64,
    offsets: &[u64],
    ready: Receiver<usize>,
) -> io::Result<String> {
    let mut is_ready = vec![false; offsets.len()];
    let mut range = RangeHash::new(0, size);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let limit = offsets
            .iter()
            .zip(&is_ready)
            .filter(|(_, r)| !**r)
            .map(|(o, _)| *o)
            .min()
            .unwrap_or(size);
        while range.position() < limit {
            range.take_data(disk, limit, &mut buf)?;
            range.take_zeros(range.zeros_ahead());
        }
        if range.is_done() {
            return Ok(range.finalize_hex());
        }
        let unfinished = || io::Error::other("the image was not completed");
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

/// Each partition's sha256, in placement order; `empty[i]` says that
/// `placements[i]` was never written.
pub(crate) fn partition_digests(
    disk: &File,
    placements: &[Placement],
    empty: &[bool],
) -> io::Result<Vec<String>> {
    let mut hasher = PairHasher::new(disk);
    // One digest per distinct size of empty partition, ascending.
    let mut zero_sizes: Vec<u64> = placements
        .iter()
        .zip(empty)
        .filter(|(_, e)| **e)
        .map(|(p, _)| p.size)
        .collect();
    zero_sizes.sort_unstable();
    zero_sizes.dedup();
    if let Some(max) = zero_sizes.last() {
        hasher.add(Key::Zeros, RangeHash::zeros(*max).with_marks(&zero_sizes));
    }
    for (i, (p, e)) in placements.iter().zip(empty).enumerate() {
        if !e {
            hasher.add(Key::Part(i), RangeHash::new(p.offset, p.size));
        }
    }
    let mut out = vec![String::new(); placements.len()];
    for (key, range) in hasher.finish()? {
        match key {
            Key::Part(i) => out[i] = range.finalize_hex(),
            Key::Zeros => {
                let digests = range.digests();
                for (i, (p, e)) in placements.iter().zip(empty).enumerate() {
                    if *e {
                        let at = zero_sizes.binary_search(&p.size).expect("a mark per size");
                        out[i] = digests[at].clone();
                    }
                }
            }
        }
    }
    Ok(out)
}
