//! Doing file work as the key owner: when running as root for another user,
//! the effective uid/gid (and the supplementary groups) are switched to the
//! user's, as update-ssh-keys does, so that files are created owned by the
//! user and root's rights are never used on paths the user controls.

use std::io;

use crate::error::Error;

/// Restores root's identity when dropped.
pub(crate) struct AsUser {
    saved: Option<Saved>,
}

struct Saved {
    egid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

/// Switches to `uid`/`gid` when the process runs as root and `uid` is not
/// root; otherwise does nothing (the process already is the user, or the
/// kernel's permission checks apply as they are).
pub(crate) fn become_user(uid: u32, gid: u32) -> Result<AsUser, Error> {
    // SAFETY: plain id queries.
    if unsafe { libc::geteuid() } != 0 || uid == 0 {
        return Ok(AsUser { saved: None });
    }
    let fail = |source| Error::SwitchUser { uid, gid, source };
    let saved = Saved {
        // SAFETY: plain id query.
        egid: unsafe { libc::getegid() },
        groups: groups().map_err(fail)?,
    };
    // SAFETY: set*id calls with plain integers; failures are checked and
    // everything done so far is undone by `AsUser::drop`.
    let guard = AsUser { saved: Some(saved) };
    check(unsafe { libc::setgroups(1, &gid) }).map_err(fail)?;
    check(unsafe { libc::setegid(gid) }).map_err(fail)?;
    check(unsafe { libc::seteuid(uid) }).map_err(fail)?;
    Ok(guard)
}

impl Drop for AsUser {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            // SAFETY: restoring the ids saved above; root's saved set-user-ID
            // makes seteuid(0) possible. Failure here would leave the process
            // unprivileged, which is safe.
            unsafe {
                libc::seteuid(0);
                libc::setegid(saved.egid);
                libc::setgroups(saved.groups.len(), saved.groups.as_ptr());
            }
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The supplementary groups of the process.
fn groups() -> io::Result<Vec<libc::gid_t>> {
    // SAFETY: getgroups(0, NULL) returns the count; the second call fills a
    // buffer of that size.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut groups = vec![0; n as usize];
    let n = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    groups.truncate(n as usize);
    Ok(groups)
}
