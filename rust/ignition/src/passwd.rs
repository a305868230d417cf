//! `passwd.users[]` and `passwd.groups[]` applied natively, with the
//! semantics Ignition gets from shadow-utils (`groupadd`/`groupmod`/
//! `groupdel`, `useradd`/`usermod`/`userdel --remove`, all `--root ROOT`),
//! as Debian's shadow-utils 4.13 implements them.
//!
//! [`plan`] reads the target root and returns the [`Op`]s that
//! [`crate::journal`] executes later; nothing is written here.
//!
//! Behaviour (Ignition order: all groups, then each user in turn):
//! * The four account files keep every line they had byte-exact (unknown
//!   and NIS lines included); changed entries are re-serialised, new ones
//!   appended (before the first NIS `+`/`-` line), every line ends in `\n`.
//!   Missing files are treated as empty and created (root-owned, `0644`
//!   for passwd/group, `0640` group `shadow` for shadow/gshadow); existing
//!   files keep their mode and owner. Only files whose bytes change are
//!   written.
//! * Ids are allocated like `find_new_uid`/`find_new_gid` (after the
//!   highest used id in `UID_MIN..=UID_MAX`, system ids downward from
//!   `SYS_*_MAX`), a user private group gets gid = uid when free.
//! * New users get shadow `NAME:PASS:NOW:MIN:MAX:WARN:INACTIVE::`
//!   (aging fields empty for system users), password `*` unless a hash is
//!   given; a home directory (`HOME_MODE` or `0777 & ~UMASK`, missing
//!   parents `0755` root) filled from the skeleton directory.
//! * `sshAuthorizedKeys` go to `~/.ssh/authorized_keys.d/ignition`
//!   (`0600`, missing directories `0700`, all owned by the user).
//!
//! Divergences from running the tools (documented, deliberate):
//! * `usermod --move-home` cannot rename: the new home directory is
//!   created (mode of the old one, owned by the user) and the old one is
//!   left in place, contents included.
//! * `usermod --uid/--gid` re-owns the home tree (`chown_tree`) by
//!   rewriting each changed node: hard links inside it are split.
//! * The skeleton is copied completely (Debian's useradd 4.13 with
//!   `--root` silently stops at the first subdirectory).
//! * Defaults when `/etc/default/useradd` is silent are Debian's: shell
//!   `/bin/bash`, `GROUP` 100.
//! * No `passwd-`/`group-`/… backup files, no `.pwd.lock`, no
//!   lastlog/faillog, no mail spool creation, no `/etc/subuid`/`subgid`.
//! * Hard links and special files in the skeleton are not reproduced
//!   (each hard link becomes its own file; fifos/devices are skipped).

mod alloc;
mod db;
mod defs;
mod fsview;
mod groups;
mod home;
mod users;

#[cfg(test)]
mod tests;

use crate::config::{Group, User};
use crate::error::{Error, Result};
use crate::plan::{Attrs, Op};
use std::path::{Path, PathBuf};

/// The planned changes of the `passwd` section.
#[derive(Debug, Clone)]
pub struct PasswdPlan {
    /// Account files first, then home directories, skeleton copies, SSH
    /// key fragments and removals, in the order Ignition performs them.
    pub ops: Vec<Op>,
    db: db::Db,
}

impl PasswdPlan {
    /// Uid of user `name` after the changes.
    pub fn uid_of(&self, name: &str) -> Option<u32> {
        self.db.user(name).map(|u| u.0)
    }

    /// Gid of group `name` after the changes.
    pub fn gid_of(&self, name: &str) -> Option<u32> {
        self.db.gid(name)
    }

    /// `(uid, primary gid, home)` of user `name` after the changes.
    pub fn user(&self, name: &str) -> Option<(u32, u32, PathBuf)> {
        self.db
            .user(name)
            .map(|(uid, gid, home)| (uid, gid, PathBuf::from(home)))
    }
}

/// The account files, in the order their ops are emitted.
const FILES: [&str; 4] = ["passwd", "shadow", "group", "gshadow"];

/// Plans `groups` then `users` against the root directory `root`.
/// `now_days` (days since the epoch) is the shadow "last change" of new
/// users and of changed passwords.
pub fn plan(root: &Path, users: &[User], groups: &[Group], now_days: u64) -> Result<PasswdPlan> {
    let fs = fsview::FsView::new(root);
    // Reads follow symlinks inside the root only (never onto the host).
    let read = |rel: &str| -> Result<String> {
        let path = fs.host(&fs.resolve(&Path::new("/").join(rel)));
        match std::fs::read(&path) {
            Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    };
    let originals: Vec<String> = FILES
        .iter()
        .map(|f| read(&format!("etc/{f}")))
        .collect::<Result<_>>()?;
    let db = db::Db::parse(&originals[0], &originals[1], &originals[2], &originals[3]);
    let orig = db.clone();
    let mut p = Planner {
        fs: fsview::FsView::new(root),
        db,
        defs: defs::LoginDefs::parse(&read("etc/login.defs")?),
        dflt: defs::UseraddDefaults::parse(&read("etc/default/useradd")?),
        now_days,
        ops: Vec::new(),
    };
    for (i, g) in groups.iter().enumerate() {
        p.ensure_group(&format!("passwd.groups[{i}]"), g)?;
    }
    for (i, u) in users.iter().enumerate() {
        p.ensure_user(&format!("passwd.users[{i}]"), u)?;
    }
    let mut ops = Vec::new();
    for name in FILES {
        let (table, before) = match name {
            "passwd" => (&p.db.passwd, &orig.passwd),
            "shadow" => (&p.db.shadow, &orig.shadow),
            "group" => (&p.db.group, &orig.group),
            _ => (&p.db.gshadow, &orig.gshadow),
        };
        if table == before {
            continue;
        }
        let contents = table.render();
        // Written in the (resolved) /etc, replacing a symlink there as
        // shadow-utils does; attributes come from what it pointed at.
        let inside = p.fs.resolve(Path::new("/etc")).join(name);
        let current = p.fs.host(&p.fs.resolve(&inside));
        ops.push(Op::WriteFile {
            path: inside,
            contents,
            attrs: file_attrs(&current, name, &p.db)?,
        });
    }
    ops.extend(p.ops);
    Ok(PasswdPlan { ops, db: p.db })
}

/// Mode and owner of a rewritten account file: the existing file's, else
/// `0644` root (passwd, group) or `0640` root:shadow (shadow, gshadow).
fn file_attrs(path: &Path, name: &str, db: &db::Db) -> Result<Attrs> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(Attrs {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = name == "shadow" || name == "gshadow";
            Ok(Attrs {
                mode: if secret { 0o640 } else { 0o644 },
                uid: 0,
                gid: if secret {
                    db.gid("shadow").unwrap_or(0)
                } else {
                    0
                },
            })
        }
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// State while planning.
struct Planner<'a> {
    fs: fsview::FsView<'a>,
    db: db::Db,
    defs: defs::LoginDefs,
    dflt: defs::UseraddDefaults,
    now_days: u64,
    ops: Vec<Op>,
}

/// Rejects values shadow-utils refuses in a `:`-separated field.
fn check_field(path: &str, what: &str, value: &str) -> Result<()> {
    if value.contains([':', '\n']) {
        return Err(Error::apply(path, format!("invalid {what} '{value}'")));
    }
    Ok(())
}

/// Rejects names shadow-utils would refuse or that would corrupt a file.
fn check_name(path: &str, what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.starts_with('-')
        || name == "."
        || name == ".."
        || name.contains([':', ',', '\n', '/', ' ', '\t'])
    {
        return Err(Error::apply(path, format!("invalid {what} name '{name}'")));
    }
    Ok(())
}
