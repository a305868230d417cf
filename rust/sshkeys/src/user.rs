//! The key owner: name, uid, gid and home directory, from the system's
//! passwd database (NSS) or from the `etc/passwd` of a root directory.

use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{io_ctx, Error};

/// A user whose keys are managed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory (the lock file lives here; the ssh dir defaults to
    /// `home/.ssh`).
    pub home: PathBuf,
}

impl User {
    /// Looks `name` up in the system passwd database (`getpwnam_r`).
    pub fn lookup(name: &str) -> Result<User, Error> {
        let cname = CString::new(name).map_err(|_| Error::UnknownUser(name.to_string()))?;
        // SAFETY: getpwnam_r with a valid C string and caller-owned buffers.
        getpw(|pwd, buf, len, result| unsafe {
            libc::getpwnam_r(cname.as_ptr(), pwd, buf, len, result)
        })?
        .ok_or_else(|| Error::UnknownUser(name.to_string()))
    }

    /// Looks `name` up in `root/etc/passwd`; the home directory is taken
    /// inside `root` (for working on a mounted root filesystem, and tests).
    pub fn lookup_in_root(root: &Path, name: &str) -> Result<User, Error> {
        let path = root.join("etc/passwd");
        let text =
            std::fs::read(&path).map_err(io_ctx(|| format!("reading {}", path.display())))?;
        let text = String::from_utf8(text).map_err(|_| Error::NotUtf8(path.clone()))?;
        let mut user =
            parse_passwd(&text, name)?.ok_or_else(|| Error::UnknownUser(name.to_string()))?;
        user.home = root.join(user.home.strip_prefix("/").unwrap_or(&user.home));
        Ok(user)
    }
}

/// Finds `name` in passwd(5) text (`name:pw:uid:gid:gecos:home:shell`).
pub fn parse_passwd(text: &str, name: &str) -> Result<Option<User>, Error> {
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&name) {
            continue;
        }
        let bad = |reason: &str| Error::BadPasswd {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        if fields.len() != 7 {
            return Err(bad("not 7 fields"));
        }
        let uid = fields[2].parse().map_err(|_| bad("bad uid"))?;
        let gid = fields[3].parse().map_err(|_| bad("bad gid"))?;
        if !fields[5].starts_with('/') {
            return Err(bad("home directory is not absolute"));
        }
        return Ok(Some(User {
            name: name.to_string(),
            uid,
            gid,
            home: PathBuf::from(fields[5]),
        }));
    }
    Ok(None)
}

/// The default user, as update-ssh-keys picks it: the current user's name,
/// or `core` when running as root or the current user is unknown.
pub fn default_user_name() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r with caller-owned buffers.
    let uid = unsafe { libc::getuid() };
    let me = getpw(|pwd, buf, len, result| unsafe { libc::getpwuid_r(uid, pwd, buf, len, result) });
    match me {
        Ok(Some(user)) if user.name != "root" => user.name,
        _ => "core".to_string(),
    }
}

/// Runs a `getpw*_r` call, growing the buffer on ERANGE.
fn getpw<F>(call: F) -> Result<Option<User>, Error>
where
    F: Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int,
{
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: zeroed passwd is a valid out-parameter; pointers in it
        // point into `buf`, which outlives their use below.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(Error::io(
                "reading the passwd database",
                std::io::Error::from_raw_os_error(rc),
            ));
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: on success pw_name and pw_dir are NUL-terminated strings in `buf`.
        let (name, home) = unsafe { (CStr::from_ptr(pwd.pw_name), CStr::from_ptr(pwd.pw_dir)) };
        return Ok(Some(User {
            name: name.to_string_lossy().into_owned(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            home: PathBuf::from(OsStr::from_bytes(home.to_bytes())),
        }));
    }
}
