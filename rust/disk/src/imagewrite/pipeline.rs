//! The stream through three threads and a few fixed buffers: the reader
//! fills a buffer from the stream (decompression happens there when the
//! stream is a decoder), the writer (the calling thread) puts it on the
//! disk, the hasher adds it to the stream's sha256 and hands the buffer
//! back to the reader. Each stage works on a different buffer at once.

use super::{io_err, Result, CHUNK};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::thread;

/// Buffers in flight (memory: `BUFFERS * CHUNK`).
const BUFFERS: usize = 4;

/// A filled buffer: its first `len` bytes are the stream's next bytes.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

/// Feeds the whole of `src`, in order, to `write` (on the calling thread)
/// and returns the stream's sha256. A failed read ends the stream with
/// that error; a failed `write` stops the reader and the hasher and is
/// returned.
pub(super) fn run(
    src: &mut (dyn Read + Send),
    write: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<[u8; 32]> {
    let (full_tx, full_rx) = sync_channel::<Chunk>(BUFFERS);
    let (hash_tx, hash_rx) = sync_channel::<Chunk>(BUFFERS);
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(BUFFERS);
    thread::scope(|s| {
        let reader = s.spawn(move || read_chunks(src, full_tx, free_rx));
        let hasher = s.spawn(move || hash_chunks(hash_rx, free_tx));
        let written = write_chunks(full_rx, hash_tx, write);
        let read = reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let digest = hasher
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // The writer's error first: after it the reader only saw a closed channel.
        written?;
        read.map_err(io_err("reading the image stream"))?;
        Ok(digest)
    })
}

/// The writer: each chunk to `write`, then to the hasher. Returning
/// closes both channels, which stops the other two threads.
fn write_chunks(
    full: Receiver<Chunk>,
    to_hash: SyncSender<Chunk>,
    write: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    for chunk in full {
        write(&chunk.buf[..chunk.len])?;
        if to_hash.send(chunk).is_err() {
            break;
        }
    }
    Ok(())
}

/// The hasher: the stream's sha256; buffers go back to the reader.
fn hash_chunks(to_hash: Receiver<Chunk>, free: SyncSender<Vec<u8>>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for chunk in to_hash {
        hasher.update(&chunk.buf[..chunk.len]);
        // The reader may have stopped; the buffer is then dropped.
        let _ = free.send(chunk.buf);
    }
    hasher.finalize().into()
}

/// The reader: fills buffers (at most [`BUFFERS`], reused) until the
/// stream ends or the writer stops taking them.
fn read_chunks(
    src: &mut (dyn Read + Send),
    full: SyncSender<Chunk>,
    free: Receiver<Vec<u8>>,
) -> io::Result<()> {
    let mut allocated = 0;
    loop {
        let mut buf = match free.try_recv() {
            Ok(buf) => buf,
            Err(TryRecvError::Empty) if allocated < BUFFERS => {
                allocated += 1;
                vec![0u8; CHUNK]
            }
            Err(TryRecvError::Empty) => match free.recv() {
                Ok(buf) => buf,
                Err(_) => return Ok(()),
            },
            Err(TryRecvError::Disconnected) => return Ok(()),
        };
        let len = fill(src, &mut buf)?;
        if len == 0 || full.send(Chunk { buf, len }).is_err() {
            return Ok(());
        }
    }
}

/// Fills `buf` from `src` unless the stream ends; returns the bytes read.
fn fill(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
