//! The bundle's `/usr` image on its way into a slot. It is verified before
//! the slot is touched: a local image of at most [`IN_MEMORY_MAX`] bytes is
//! read into memory and hashed once ([`load`], while the disk's key is
//! looked up), and the slot is written from those bytes; a larger or a
//! downloaded image is a local file verified by streaming it. Either way
//! the slot is written with one final sync and read back from the medium
//! ([`write_and_read_back`]): compared byte for byte with the verified
//! bytes in memory, or hashed against bundle.json for a file (which may
//! have changed since it was verified).

use crate::fault::{armed, fault_point};
use anyhow::{bail, Context, Result};
use metalos_contract::update::BundleFile;
use metalos_disk::medium::{start_writeback, MediumReader};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Largest `/usr` image held in memory (real ones are tens to a few
/// hundred MiB); a larger one is streamed from its file.
pub const IN_MEMORY_MAX: u64 = 256 << 20;
/// Bytes read, written or hashed per call; the read-back of a chunk
/// starts once it is written.
const CHUNK: usize = 2 << 20;

/// A file read into memory with its sha256, not yet compared with
/// anything.
pub struct Loaded {
    bytes: Vec<u8>,
    sha256: String,
}

/// The verified `/usr` image.
pub enum VerifiedUsr {
    /// Its bytes, whose size and sha256 are bundle.json's.
    Memory(Vec<u8>),
    /// A local file that had bundle.json's size and sha256 when it was
    /// read.
    File(PathBuf),
}

/// Reads `path` into memory and hashes it, when it is a file of at most
/// [`IN_MEMORY_MAX`] bytes. `None` otherwise, and on any error: the caller
/// then verifies the file by streaming it, which reports what is wrong.
/// One thread reads while another hashes what is read.
pub fn load(path: &Path) -> Option<Loaded> {
    let f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len > IN_MEMORY_MAX {
        return None;
    }
    let mut bytes = vec![0u8; len as usize];
    let sha256 = std::thread::scope(|s| {
        let (read, to_hash) = mpsc::channel::<&[u8]>();
        let hasher = s.spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in to_hash {
                hasher.update(chunk);
            }
            hex::encode(hasher.finalize())
        });
        let mut complete = true;
        for (i, chunk) in bytes.chunks_mut(CHUNK).enumerate() {
            if f.read_exact_at(chunk, (i * CHUNK) as u64).is_err() {
                complete = false;
                break;
            }
            let _ = read.send(chunk);
        }
        drop(read);
        let sha256 = hasher.join().expect("hashing does not panic");
        complete.then_some(sha256)
    })?;
    Some(Loaded { bytes, sha256 })
}

impl Loaded {
    /// The bytes, when their size and sha256 are `usr`'s (the same errors
    /// as [`crate::source::BundleSource::copy_verified`] otherwise).
    pub fn verify(self, usr: &BundleFile) -> Result<VerifiedUsr> {
        let len = self.bytes.len() as u64;
        if len != usr.size {
            bail!(
                "{}: the server/file has {len} bytes, bundle.json says {}",
                usr.file,
                usr.size
            );
        }
        if self.sha256 != usr.sha256 {
            bail!(
                "{}: sha256 {} does not match bundle.json ({})",
                usr.file,
                self.sha256,
                usr.sha256
            );
        }
        Ok(VerifiedUsr::Memory(self.bytes))
    }
}

/// Writes `image` (`usr.size` bytes) at `offset` of `dev` (the disk at
/// `path`), syncs once, and reads it back from the medium; `slot` names
/// the slot in messages. The read-back follows the write chunk by chunk
/// (in another thread), so reading the medium overlaps writing the rest;
/// it is complete before this returns.
pub fn write_and_read_back(
    dev: &File,
    path: &Path,
    offset: u64,
    image: &VerifiedUsr,
    usr: &BundleFile,
    slot: &str,
) -> Result<()> {
    let (written, progress) = mpsc::channel();
    let mismatch = std::thread::scope(|s| {
        let checker = s.spawn(move || read_back(path, offset, image, usr, progress));
        let wrote = write_image(dev, offset, image, usr.size, &written)
            .and_then(|()| dev.sync_all().context("syncing the slot"));
        drop(written);
        let checked = checker.join().expect("the read-back does not panic");
        wrote.and(checked)
    })?;
    if let Some(what) = mismatch {
        bail!("read-back of {slot} {what}; the slot stays disabled");
    }
    Ok(())
}

/// A power-loss test may pause halfway through the write, with the first
/// half synced.
fn mid_write(dev: &File) -> Result<()> {
    if armed("mid-write") {
        dev.sync_all()?;
        fault_point("mid-write");
    }
    Ok(())
}

/// Where the bytes written come from.
enum Source<'a> {
    Memory(&'a [u8]),
    File {
        file: File,
        path: &'a Path,
        buf: Vec<u8>,
    },
}

impl<'a> Source<'a> {
    fn open(image: &'a VerifiedUsr) -> Result<Self> {
        Ok(match image {
            VerifiedUsr::Memory(bytes) => Source::Memory(bytes),
            VerifiedUsr::File(path) => Source::File {
                file: File::open(path).with_context(|| format!("opening {}", path.display()))?,
                path,
                buf: vec![0u8; CHUNK],
            },
        })
    }

    /// `n` bytes (at most [`CHUNK`]) at `at`.
    fn chunk(&mut self, at: u64, n: usize) -> Result<&[u8]> {
        match self {
            Source::Memory(bytes) => Ok(&bytes[at as usize..at as usize + n]),
            Source::File { file, path, buf } => {
                file.read_exact_at(&mut buf[..n], at)
                    .with_context(|| format!("reading {} (it ended early?)", path.display()))?;
                Ok(&buf[..n])
            }
        }
    }
}

/// Writes the image chunk by chunk, starting each chunk's writeback and
/// sending how many bytes are written so far.
fn write_image(
    dev: &File,
    offset: u64,
    image: &VerifiedUsr,
    size: u64,
    written: &mpsc::Sender<u64>,
) -> Result<()> {
    let mut source = Source::open(image)?;
    let mut done = 0u64;
    let mut paused = false;
    while done < size {
        let n = (size - done).min(CHUNK as u64) as usize;
        dev.write_all_at(source.chunk(done, n)?, offset + done)
            .context("writing the slot")?;
        start_writeback(dev, offset + done, n as u64).context("writing the slot")?;
        done += n as u64;
        if !paused && done >= size / 2 {
            paused = true;
            mid_write(dev)?;
        }
        let _ = written.send(done);
    }
    Ok(())
}

/// How the bytes read back are checked.
enum Check<'a> {
    /// Byte for byte against the verified image.
    Same {
        bytes: &'a [u8],
        pos: usize,
        first_difference: Option<u64>,
    },
    /// Hashed, for bundle.json's sha256.
    Hash(Sha256),
}

impl Check<'_> {
    fn feed(&mut self, chunk: &[u8]) {
        match self {
            Check::Same {
                bytes,
                pos,
                first_difference,
            } => {
                let want = &bytes[*pos..*pos + chunk.len()];
                if first_difference.is_none() && chunk != want {
                    let i = chunk.iter().zip(want).position(|(a, b)| a != b);
                    *first_difference = i.map(|i| (*pos + i) as u64);
                }
                *pos += chunk.len();
            }
            Check::Hash(h) => h.update(chunk),
        }
    }

    /// What is wrong, if anything.
    fn finish(self, usr: &BundleFile) -> Option<String> {
        match self {
            Check::Same {
                first_difference, ..
            } => first_difference.map(|at| format!("differs from the verified image at byte {at}")),
            Check::Hash(h) => {
                let back = hex::encode(h.finalize());
                (back != usr.sha256)
                    .then(|| format!("gives sha256 {back}, expected {}", usr.sha256))
            }
        }
    }
}

/// Reads each written range back from the medium as `written` reports it;
/// what is wrong with the whole, if anything.
fn read_back(
    path: &Path,
    offset: u64,
    image: &VerifiedUsr,
    usr: &BundleFile,
    written: mpsc::Receiver<u64>,
) -> Result<Option<String>> {
    let mut reader = MediumReader::open(path)
        .with_context(|| format!("opening {} to read the slot back", path.display()))?;
    let mut check = match image {
        VerifiedUsr::Memory(bytes) => Check::Same {
            bytes,
            pos: 0,
            first_difference: None,
        },
        VerifiedUsr::File(_) => Check::Hash(Sha256::new()),
    };
    let mut done = 0u64;
    for upto in written {
        reader
            .read(offset + done, upto - done, &mut |b| check.feed(b))
            .with_context(|| format!("reading back {}", path.display()))?;
        done = upto;
    }
    if done != usr.size {
        bail!("the write stopped after {done} of {} bytes", usr.size);
    }
    Ok(check.finish(usr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_file(bytes: &[u8]) -> BundleFile {
        BundleFile {
            file: "usr.img".into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }

    fn image(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 13 % 241) as u8).collect()
    }

    #[test]
    fn a_loaded_image_is_checked_against_bundle_json() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("usr.img");
        let bytes = image(9 << 20);
        std::fs::write(&p, &bytes).unwrap();
        let good = bundle_file(&bytes);
        assert!(
            matches!(load(&p).unwrap().verify(&good), Ok(VerifiedUsr::Memory(b)) if b == bytes)
        );
        let mut other = bytes.clone();
        other[5] ^= 1;
        let e = load(&p)
            .unwrap()
            .verify(&bundle_file(&other))
            .err()
            .unwrap();
        assert!(format!("{e}").contains("does not match bundle.json"), "{e}");
        let e = load(&p)
            .unwrap()
            .verify(&bundle_file(&bytes[1..]))
            .err()
            .unwrap();
        assert!(format!("{e}").contains("bytes, bundle.json says"), "{e}");
        assert!(load(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn both_kinds_are_written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (disk, src) = (dir.path().join("disk"), dir.path().join("usr.img"));
        let bytes = image((5 << 20) + 4097);
        std::fs::write(&src, &bytes).unwrap();
        let usr = bundle_file(&bytes);
        for (n, img) in [
            VerifiedUsr::Memory(bytes.clone()),
            VerifiedUsr::File(src.clone()),
        ]
        .iter()
        .enumerate()
        {
            std::fs::write(&disk, vec![0xa5; 8 << 20]).unwrap();
            let dev = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&disk)
                .unwrap();
            write_and_read_back(&dev, &disk, 1 << 20, img, &usr, "slot 3").unwrap();
            let on_disk = std::fs::read(&disk).unwrap();
            assert_eq!(on_disk[1 << 20..(1 << 20) + bytes.len()], bytes[..], "{n}");
            assert_eq!(on_disk[(1 << 20) - 1], 0xa5);
            assert_eq!(on_disk[(1 << 20) + bytes.len()], 0xa5);
        }
    }

    #[test]
    fn a_medium_that_differs_is_named() {
        let bytes = image(3 << 20);
        let mut check = Check::Same {
            bytes: &bytes,
            pos: 0,
            first_difference: None,
        };
        let mut back = bytes.clone();
        back[(2 << 20) + 5] ^= 0xff;
        back[(2 << 20) + 9] ^= 0xff;
        for chunk in back.chunks(1 << 20) {
            check.feed(chunk);
        }
        let what = check.finish(&bundle_file(&bytes)).unwrap();
        assert!(
            what.contains(&format!("at byte {}", (2 << 20) + 5)),
            "{what}"
        );
        let mut hash = Check::Hash(Sha256::new());
        hash.feed(&back);
        let what = hash.finish(&bundle_file(&bytes)).unwrap();
        assert!(what.contains("gives sha256"), "{what}");
    }
}
