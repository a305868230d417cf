//! The exclusive `flock` on `~/.authorized_keys.d.lock`, shared with
//! update-ssh-keys and the Go authorized_keys_d library.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::Error;

/// A held lock; released when dropped (the file is closed).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Creates `path` (mode 0600) if needed and waits for an exclusive lock.
    pub fn acquire(path: &Path) -> Result<Lock, Error> {
        Lock::take(path, libc::LOCK_EX)?.ok_or_else(|| {
            Error::io(
                format!("locking {}", path.display()),
                io::ErrorKind::WouldBlock.into(),
            )
        })
    }

    /// Like [`Lock::acquire`] but returns `None` instead of waiting.
    pub fn try_acquire(path: &Path) -> Result<Option<Lock>, Error> {
        Lock::take(path, libc::LOCK_EX | libc::LOCK_NB)
    }

    fn take(path: &Path, op: libc::c_int) -> Result<Option<Lock>, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| Error::io(format!("creating lock file {}", path.display()), e))?;
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(Some(Lock { _file: file }));
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(Error::io(format!("locking {}", path.display()), err)),
            }
        }
    }
}
