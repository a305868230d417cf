//! The read-back reads what was written, only that, and all of it.

use super::tests::{expected, image, old_disk, MIB};
use super::*;
use std::os::unix::fs::FileExt;

/// The test image streamed onto an old disk (tables still held).
fn staged() -> (File, Staged) {
    let img = image(512);
    let disk = old_disk(12 * MIB);
    wipe_tables(&disk).unwrap();
    let staged = stream_image(&disk, &mut img.as_slice(), &expected(&img), &mut |_| {}).unwrap();
    (disk, staged)
}

#[test]
fn written_ranges_are_the_data_and_the_rest_was_zeroed() {
    let (_, staged) = staged();
    let ranges: Vec<_> = staged.written_ranges().collect();
    // Partition 1's pattern (1..3 MiB), then the 64 KiB block holding the marker.
    let marker = 4 * MIB + 12345;
    let block = marker / (64 << 10) * (64 << 10);
    assert_eq!(ranges, vec![MIB..3 * MIB, block..block + (64 << 10)]);
    assert_eq!(staged.bytes_written, 2 * MIB + (64 << 10));
    assert_eq!(staged.bytes_written + staged.bytes_zeroed, 6 * MIB);
}

#[test]
fn a_corrupted_written_byte_is_caught_and_its_extent_named() {
    let (disk, staged) = staged();
    // One byte of the marker block, well away from the pattern's extent.
    let at = 4 * MIB + 12345;
    let mut b = [0u8];
    disk.read_exact_at(&mut b, at).unwrap();
    disk.write_all_at(&[b[0] ^ 0x40], at).unwrap();
    let err = staged.verify(&disk).unwrap_err().to_string();
    let block = at / (64 << 10) * (64 << 10);
    assert!(err.starts_with("read-back verification failed"), "{err}");
    assert!(
        err.contains(&format!("bytes {block}..{}", block + (64 << 10))),
        "{err}"
    );
}

#[test]
fn a_zeroed_range_is_not_read_back() {
    let (disk, staged) = staged();
    // Junk where the image is zero and was zeroed, not written: the
    // read-back does not look there (the kernel zeroed it), so it passes.
    let at = 5 * MIB + 7;
    assert!(staged.written_ranges().all(|r| !r.contains(&at)));
    disk.write_all_at(b"not read back", at).unwrap();
    staged.verify(&disk).unwrap();
}

#[test]
fn a_failing_stream_is_the_error_and_stops_the_threads() {
    /// Gives `left` bytes of the image, then fails.
    struct Failing<'a> {
        data: &'a [u8],
        left: usize,
    }
    impl io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("connection reset"));
            }
            let n = buf.len().min(self.left).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.left -= n;
            Ok(n)
        }
    }
    let img = image(512);
    let disk = old_disk(12 * MIB);
    wipe_tables(&disk).unwrap();
    let mut src = Failing {
        data: &img,
        left: 5 * MIB as usize,
    };
    let err = stream_image(&disk, &mut src, &expected(&img), &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "reading the image stream: connection reset"
    );
}

#[test]
fn zero_detection_sees_every_byte() {
    let mut block = vec![0u8; (64 << 10) + 3];
    assert!(body::is_zero(&block));
    for at in [0, 255, 256, 4097, (64 << 10) + 2] {
        block[at] = 1;
        assert!(!body::is_zero(&block), "byte {at}");
        block[at] = 0;
    }
}
