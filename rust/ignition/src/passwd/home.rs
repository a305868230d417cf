//! Home directories: useradd's `create_home` + skeleton copy, usermod's
//! `--move-home` (approximated), userdel's `--remove`, and Ignition's
//! SSH key fragment.

use super::fsview::Kind;
use super::Planner;
use crate::plan::{Attrs, Op};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

impl Planner<'_> {
    /// Whether `home` (a path inside the root) exists.
    pub(crate) fn home_exists(&self, home: &str) -> bool {
        let p = self.fs.resolve(Path::new(home));
        self.fs.kind(&p).is_some()
    }

    /// Plans a directory `p` (resolved) and records it.
    fn mkdir(&mut self, p: &Path, mode: u32, uid: u32, gid: u32) {
        self.ops.push(Op::Directory {
            path: p.to_path_buf(),
            attrs: Attrs { mode, uid, gid },
        });
        self.fs.created(p, Kind::Dir);
    }

    /// useradd `create_home`: when `home` does not exist, its missing
    /// parents (`0755` root:root), itself (`HOME_MODE`/umask, owned by
    /// the user) and a copy of the skeleton directory.
    pub(crate) fn create_home(&mut self, home: &str, uid: u32, gid: u32) {
        let target = self.fs.resolve(Path::new(home));
        if self.fs.kind(&target).is_some() {
            return;
        }
        let missing: Vec<PathBuf> = target
            .ancestors()
            .skip(1)
            .take_while(|a| self.fs.kind(a).is_none())
            .map(Path::to_path_buf)
            .collect();
        for dir in missing.iter().rev() {
            self.mkdir(dir, 0o755, 0, 0);
        }
        self.mkdir(&target, self.defs.home_mode(), uid, gid);
        let skel_in_root = self.dflt.skel.clone();
        let skel = self.fs.resolve(Path::new(&skel_in_root));
        if self.fs.kind(&skel) == Some(Kind::Dir) {
            self.copy_tree(&skel, &target, &skel_in_root, home, uid, gid);
        }
    }

    /// shadow-utils `copy_tree` of `src` into `dst` (both inside the
    /// root), everything owned by `uid:gid`, modes kept, symlinks into
    /// the skeleton retargeted into the home directory. Sorted by name.
    fn copy_tree(&mut self, src: &Path, dst: &Path, skel: &str, home: &str, uid: u32, gid: u32) {
        let Ok(rd) = std::fs::read_dir(self.fs.host(src)) else {
            return;
        };
        let mut names: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
        names.sort();
        for n in names {
            let (s, d) = (src.join(&n), dst.join(&n));
            let host = self.fs.host(&s);
            let Ok(m) = host.symlink_metadata() else {
                continue;
            };
            let ft = m.file_type();
            if ft.is_dir() {
                self.mkdir(&d, m.mode() & 0o7777, uid, gid);
                self.copy_tree(&s, &d, skel, home, uid, gid);
            } else if ft.is_symlink() {
                let Ok(t) = std::fs::read_link(&host) else {
                    continue;
                };
                let t = t.to_string_lossy().into_owned();
                let target = match t.strip_prefix(skel) {
                    Some(rest) => format!("{home}{rest}"),
                    None => t,
                };
                self.ops.push(Op::Symlink {
                    path: d.clone(),
                    target: target.into(),
                    uid,
                    gid,
                });
                self.fs.created(&d, Kind::Other);
            } else if ft.is_file() {
                let Ok(contents) = std::fs::read(&host) else {
                    continue;
                };
                self.ops.push(Op::WriteFile {
                    path: d.clone(),
                    contents,
                    attrs: Attrs {
                        mode: m.mode() & 0o7777,
                        uid,
                        gid,
                    },
                });
                self.fs.created(&d, Kind::Other);
            }
        }
    }

    /// usermod `--move-home` from `old` to `new`: only the new directory
    /// is planned (mode of the old one, owned by the user); the old one
    /// and its contents stay (no rename op exists).
    pub(crate) fn move_home(&mut self, old: &str, new: &str, uid: u32, gid: u32) {
        let old = self.fs.resolve(Path::new(old));
        if self.fs.kind(&old) != Some(Kind::Dir) {
            return;
        }
        let mode = self
            .fs
            .host(&old)
            .metadata()
            .map_or(self.defs.home_mode(), |m| m.mode() & 0o7777);
        let new = self.fs.resolve(Path::new(new));
        if self.fs.kind(new.parent().unwrap_or(Path::new("/"))) == Some(Kind::Dir) {
            self.mkdir(&new, mode, uid, gid);
        }
    }

    /// userdel `--remove`: the home directory (never `/`) and the mail
    /// spool `MAIL_DIR/NAME`, when they exist.
    pub(crate) fn remove_home(&mut self, name: &str, home: &str) {
        let mail_dir = self.defs.str("MAIL_DIR").unwrap_or("/var/mail").to_string();
        for p in [home.to_string(), format!("{mail_dir}/{name}")] {
            if p.is_empty() || !p.starts_with('/') {
                continue;
            }
            let r = self.fs.resolve(Path::new(&p));
            if r == Path::new("/") || self.fs.kind(&r).is_none() {
                continue;
            }
            self.ops.push(Op::Remove { path: r.clone() });
            self.fs.removed(&r);
        }
    }

    /// Ignition's `AuthorizeSSHKeys`: `~/.ssh/authorized_keys.d/ignition`
    /// with the keys joined by `\n` plus a final newline, `0600`; missing
    /// directories on the way are created `0700` (umask 077), everything
    /// owned by the user.
    pub(crate) fn write_ssh_keys(&mut self, name: &str, keys: &[String]) {
        let Some((uid, gid, home)) = self.db.user(name) else {
            return;
        };
        let mut text = keys.join("\n");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let dir = self
            .fs
            .resolve(&Path::new(&home).join(".ssh").join("authorized_keys.d"));
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|a| self.fs.kind(a).is_none())
            .map(Path::to_path_buf)
            .collect();
        for d in missing.iter().rev() {
            self.mkdir(d, 0o700, uid, gid);
        }
        let file = dir.join("ignition");
        self.ops.push(Op::WriteFile {
            path: file.clone(),
            contents: text.into_bytes(),
            attrs: Attrs {
                mode: 0o600,
                uid,
                gid,
            },
        });
        self.fs.created(&file, Kind::Other);
    }
}

/// usermod's `chown_tree` arguments: nodes owned by `old_uid` get
/// `new_uid` (when set), nodes in group `old_gid` get `new_gid`.
pub(crate) struct Chown {
    pub old_uid: u32,
    pub new_uid: Option<u32>,
    pub old_gid: u32,
    pub new_gid: Option<u32>,
}

impl Planner<'_> {
    /// usermod `--uid`/`--gid` without `--move-home`: when the home
    /// directory (on disk) is owned by the old or new uid, re-own its
    /// tree by rewriting each changed node with its mode and contents.
    pub(crate) fn chown_home(&mut self, home: &str, c: &Chown) {
        let dir = self.fs.resolve(Path::new(home));
        let Ok(m) = self.fs.host(&dir).symlink_metadata() else {
            return;
        };
        if !m.is_dir() || !(c.new_uid == Some(m.uid()) || m.uid() == c.old_uid) {
            return;
        }
        self.chown_tree(&dir, c);
        self.chown_node(&dir, c);
    }

    fn chown_tree(&mut self, dir: &Path, c: &Chown) {
        let Ok(rd) = std::fs::read_dir(self.fs.host(dir)) else {
            return;
        };
        let mut names: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
        names.sort();
        for n in names {
            let p = dir.join(n);
            if self
                .fs
                .host(&p)
                .symlink_metadata()
                .is_ok_and(|m| m.is_dir())
            {
                self.chown_tree(&p, c);
            }
            self.chown_node(&p, c);
        }
    }

    fn chown_node(&mut self, p: &Path, c: &Chown) {
        let host = self.fs.host(p);
        let Ok(m) = host.symlink_metadata() else {
            return;
        };
        let uid = c
            .new_uid
            .filter(|_| m.uid() == c.old_uid)
            .unwrap_or(m.uid());
        let gid = c
            .new_gid
            .filter(|_| m.gid() == c.old_gid)
            .unwrap_or(m.gid());
        if (uid, gid) == (m.uid(), m.gid()) {
            return;
        }
        let attrs = Attrs {
            mode: m.mode() & 0o7777,
            uid,
            gid,
        };
        let ft = m.file_type();
        let op = if ft.is_dir() {
            Op::Directory {
                path: p.to_path_buf(),
                attrs,
            }
        } else if ft.is_symlink() {
            let Ok(target) = std::fs::read_link(&host) else {
                return;
            };
            Op::Symlink {
                path: p.to_path_buf(),
                target,
                uid,
                gid,
            }
        } else if ft.is_file() {
            let Ok(contents) = std::fs::read(&host) else {
                return;
            };
            Op::WriteFile {
                path: p.to_path_buf(),
                contents,
                attrs,
            }
        } else {
            return;
        };
        self.ops.push(op);
    }
}
