//! A machine-wide limit on concurrently running VMs, shared by every test
//! binary (and `metalos-vm`), implemented with `flock(2)` on slot files.
//!
//! There are `N` slot files `/tmp/metalos-vmtest-slots/slot-<i>.lock`
//! (`N` = `$METALOS_VM_JOBS`, default: the number of CPUs). Starting a VM
//! takes an exclusive non-blocking `flock` on the first free slot, polling
//! every 200 ms while all are taken; the lock is released when the QEMU
//! process has stopped ([`Slot`] dropped) — or by the kernel when the test
//! process dies, so a crashed test never leaks a slot. `flock` locks belong
//! to the open file description, so threads of one test binary exclude each
//! other exactly like separate processes do.
//!
//! Time spent waiting for a slot does not count against any boot timeout:
//! timeouts start once QEMU runs.

use crate::error::{Result, VmError};
use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Directory of the slot files.
pub const SLOTS_DIR: &str = "/tmp/metalos-vmtest-slots";

/// The concurrency limit: `$METALOS_VM_JOBS` if it is a positive integer,
/// else the number of CPUs.
pub fn jobs() -> usize {
    std::env::var("METALOS_VM_JOBS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    _file: File,
    /// Index of the slot.
    pub index: usize,
}

/// Takes a slot, waiting as long as needed. `on_wait` is called once if
/// every slot is taken at first (to log that the VM is queued).
pub fn acquire(on_wait: &mut dyn FnMut(usize)) -> Result<Slot> {
    let dir = PathBuf::from(SLOTS_DIR);
    std::fs::create_dir_all(&dir).map_err(VmError::io(format!("creating {}", dir.display())))?;
    // Let other users share the directory.
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777));
    let n = jobs();
    let mut waited = false;
    let start = Instant::now();
    loop {
        for index in 0..n {
            let path = dir.join(format!("slot-{index}.lock"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(VmError::io(format!("opening {}", path.display())))?;
            // SAFETY: flock on a valid open descriptor.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Slot { _file: file, index });
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(VmError::Io {
                    what: format!("locking {}", path.display()),
                    source: err,
                });
            }
        }
        if !waited {
            on_wait(n);
            waited = true;
        }
        if start.elapsed() > Duration::from_secs(24 * 3600) {
            return Err(VmError::Config("waited a day for a VM slot".into()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_exclusive_and_released_on_drop() {
        // Hold every slot, check the next acquire waits, then free one.
        let n = jobs();
        let held: Vec<Slot> = (0..n).map(|_| acquire(&mut |_| {}).unwrap()).collect();
        let mut indices: Vec<usize> = held.iter().map(|s| s.index).collect();
        indices.sort();
        indices.dedup();
        assert_eq!(indices.len(), n, "each holder has its own slot");
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let mut told = false;
            let s = acquire(&mut |_| told = true).unwrap();
            tx.send((s.index, told)).unwrap();
        });
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            rx.try_recv().is_err(),
            "acquire must wait while all slots are held"
        );
        let freed = held[0].index;
        drop(held);
        let (index, told) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(told);
        assert!(index < n && (index == freed || n > 1));
        t.join().unwrap();
    }
}
