//! Executing a staged reset in metalinit, with ROOT's subvolumes mounted
//! below the sysroot and the `/etc` overlay not yet mounted.

use crate::ere::Matcher;
use crate::fsutil::{read_if_exists, remove_if_exists};
use crate::layout::{ETC_UPPER, KEEP_FILE, MACHINE_ID_FILE};
use crate::walk::{walk, Entry, Visitor};
use crate::ResetError;
use std::path::Path;

/// What a reset did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries removed.
    pub deleted: usize,
    /// Entries left: matched by the keep regex, or directories that still
    /// hold kept entries.
    pub kept: usize,
    /// Removals that failed (ignored, as Flatcar does): `path: error`.
    pub failures: Vec<String>,
    /// `/etc/machine-id` was restored from the kept id.
    pub machine_id_kept: bool,
}

/// Runs the reset staged below `sysroot`, if any (`Ok(None)` otherwise).
///
/// Every walked entry (see [`crate::walk`]) whose system path does not
/// match the staged regex is removed: files, symlinks, devices and overlay
/// whiteouts with `unlink`, directories with `rmdir` (a directory that
/// still holds something stays). Errors are counted, never fatal. Then
/// `/etc/machine-id` (in the overlay's upper directory) is removed, or
/// rewritten with the id kept by `--keep-machine-id`, and the staged files
/// are removed. Only an unreadable or invalid regex, or failing to remove
/// the staged regex, is an error.
pub fn execute(sysroot: &Path) -> Result<Option<Summary>, ResetError> {
    let keep_file = sysroot.join(KEEP_FILE);
    let Some(bytes) = read_if_exists(&keep_file)? else {
        return Ok(None);
    };
    let regex = String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_string();
    let mut run = Run::default();
    if !regex.is_empty() {
        let keep = Matcher::new(&regex)?;
        walk(sysroot, &keep, &mut run);
    }
    let mut s = run.0;
    let machine_id = sysroot.join(ETC_UPPER).join("machine-id");
    let kept_id = sysroot.join(MACHINE_ID_FILE);
    let result = match read_if_exists(&kept_id) {
        Ok(Some(id)) => {
            s.machine_id_kept = true;
            std::fs::write(&machine_id, &id)
                .map_err(|e| ResetError::io("writing", &machine_id, e))
                .and_then(|()| remove_if_exists(&kept_id).map(drop))
        }
        Ok(None) => remove_if_exists(&machine_id).map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        s.failures.push(e.to_string());
    }
    remove_if_exists(&keep_file)?;
    // SAFETY: plain syscall.
    unsafe { libc::sync() };
    Ok(Some(s))
}

#[derive(Default)]
struct Run(Summary);

impl Visitor for Run {
    fn visit(&mut self, e: &Entry) -> bool {
        if e.keep {
            self.0.kept += 1;
            return true;
        }
        let res = if e.is_dir {
            std::fs::remove_dir(e.host)
        } else {
            std::fs::remove_file(e.host)
        };
        match res {
            Ok(()) => {
                self.0.deleted += 1;
                false
            }
            Err(err) if e.is_dir && err.raw_os_error() == Some(libc::ENOTEMPTY) => {
                self.0.kept += 1;
                true
            }
            Err(err) => {
                self.error(e.system, err);
                true
            }
        }
    }

    fn error(&mut self, path: &Path, err: std::io::Error) {
        self.0.failures.push(format!("{}: {err}", path.display()));
    }
}
