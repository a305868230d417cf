//! Executes a write plan with an undo log, so that a failure part-way
//! leaves the root exactly as it was.
//!
//! Before an op first touches a path, the journal records what was there:
//! nothing (undo = remove what we created), an existing directory whose
//! attributes change (undo = restore them), or any other node, which is
//! moved aside to a hidden sibling (`.NAME.metalos-undo-N`, same directory
//! hence same filesystem, so the rename cannot fail for EXDEV). Commit
//! deletes the moved-aside nodes and syncs the filesystem; rollback undoes
//! the records in reverse order.
//!
//! A power loss between the first write and commit leaves the moved-aside
//! nodes in place; metalinit re-runs provisioning on the next boot (the
//! first-boot flag is removed only after commit).

use crate::error::{Error, Result};
use crate::plan::{Attrs, Op};
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What was at a path before the journal first touched it.
enum Undo {
    Absent(PathBuf),
    Attrs(PathBuf, Attrs),
    Moved { path: PathBuf, backup: PathBuf },
}

/// The undo log of one apply.
pub struct Journal {
    root: PathBuf,
    undo: Vec<Undo>,
    seen: std::collections::BTreeSet<PathBuf>,
    counter: usize,
    /// Test hook: fail (as an I/O error) before executing op number N.
    fail_before: Option<usize>,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |e| Error::io(context, e)
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL")
}

fn lchown(p: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::lchown(cstr(p).as_ptr(), uid, gid) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn set_attrs(p: &Path, a: Attrs) -> std::io::Result<()> {
    lchown(p, a.uid, a.gid)?;
    // chown clears setuid/setgid, so chmod comes second.
    fs::set_permissions(p, fs::Permissions::from_mode(a.mode))
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Journal {
    /// A journal for `root`; `fail_before` injects a failure (tests).
    pub fn new(root: &Path, fail_before: Option<usize>) -> Journal {
        Journal {
            root: root.to_path_buf(),
            undo: Vec::new(),
            seen: Default::default(),
            counter: 0,
            fail_before,
        }
    }

    /// The host path of a path inside the root.
    pub fn host(&self, inside: &Path) -> PathBuf {
        self.root.join(inside.strip_prefix("/").unwrap_or(inside))
    }

    /// Executes `ops` in order; on error rolls back everything and returns
    /// the error. On success commits (drops backups, syncs).
    pub fn run(mut self, ops: &[Op]) -> Result<()> {
        for (i, op) in ops.iter().enumerate() {
            let r = if self.fail_before == Some(i) {
                Err(Error::io(
                    format!("{} (injected failure)", op.path().display()),
                    std::io::Error::other("injected"),
                ))
            } else {
                self.exec(op)
            };
            if let Err(e) = r {
                self.rollback();
                return Err(e);
            }
        }
        self.commit()
    }

    fn backup_name(&mut self, p: &Path) -> PathBuf {
        self.counter += 1;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        p.with_file_name(format!(".{name}.metalos-undo-{}", self.counter))
    }

    /// Records `p`'s state; moves it aside unless `keep_dir` and it is a
    /// directory (whose attributes are recorded instead).
    fn save(&mut self, p: &Path, keep_dir: bool) -> Result<()> {
        if self.seen.contains(p) {
            // Already recorded; a second op on the same path replaces what
            // the first one created.
            if !keep_dir {
                remove_any(p).map_err(io(format!("removing {}", p.display())))?;
            }
            return Ok(());
        }
        self.seen.insert(p.to_path_buf());
        match fs::symlink_metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.undo.push(Undo::Absent(p.to_path_buf()));
            }
            Err(e) => return Err(Error::io(format!("inspecting {}", p.display()), e)),
            Ok(m) if keep_dir && m.is_dir() => {
                let attrs = Attrs {
                    mode: m.mode() & 0o7777,
                    uid: m.uid(),
                    gid: m.gid(),
                };
                self.undo.push(Undo::Attrs(p.to_path_buf(), attrs));
            }
            Ok(_) => {
                let backup = self.backup_name(p);
                fs::rename(p, &backup).map_err(io(format!("moving {} aside", p.display())))?;
                self.undo.push(Undo::Moved {
                    path: p.to_path_buf(),
                    backup,
                });
            }
        }
        Ok(())
    }

    fn exec(&mut self, op: &Op) -> Result<()> {
        let p = self.host(op.path());
        match op {
            Op::WriteFile {
                contents, attrs, ..
            } => {
                self.save(&p, false)?;
                write_file(&p, contents, *attrs).map_err(io(format!("writing {}", p.display())))
            }
            Op::Directory { attrs, .. } => {
                self.save(&p, true)?;
                if fs::symlink_metadata(&p).is_err() {
                    fs::create_dir(&p).map_err(io(format!("creating {}", p.display())))?;
                }
                set_attrs(&p, *attrs).map_err(io(format!("setting owner/mode of {}", p.display())))
            }
            Op::Symlink {
                target, uid, gid, ..
            } => {
                self.save(&p, false)?;
                std::os::unix::fs::symlink(target, &p)
                    .and_then(|_| lchown(&p, *uid, *gid))
                    .map_err(io(format!("creating symlink {}", p.display())))
            }
            Op::HardLink { target, .. } => {
                self.save(&p, false)?;
                let t = self.host(target);
                fs::hard_link(&t, &p).map_err(io(format!(
                    "creating hard link {} to {}",
                    p.display(),
                    t.display()
                )))
            }
            Op::Remove { .. } => self.save(&p, false),
        }
    }

    fn rollback(mut self) {
        while let Some(u) = self.undo.pop() {
            // Best effort: every step is attempted even if one fails.
            match u {
                Undo::Absent(p) => {
                    let _ = remove_any(&p);
                }
                Undo::Attrs(p, a) => {
                    let _ = set_attrs(&p, a);
                }
                Undo::Moved { path, backup } => {
                    let _ = remove_any(&path);
                    let _ = fs::rename(&backup, &path);
                }
            }
        }
    }

    fn commit(self) -> Result<()> {
        for u in &self.undo {
            if let Undo::Moved { backup, .. } = u {
                remove_any(backup).map_err(io(format!("removing {}", backup.display())))?;
            }
        }
        let dir =
            fs::File::open(&self.root).map_err(io(format!("opening {}", self.root.display())))?;
        // SAFETY: a valid open descriptor.
        if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) } != 0 {
            return Err(Error::io(
                "syncing the root filesystem",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
}

fn write_file(p: &Path, contents: &[u8], attrs: Attrs) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)?;
    f.write_all(contents)?;
    std::os::unix::fs::fchown(&f, Some(attrs.uid), Some(attrs.gid))?;
    f.set_permissions(fs::Permissions::from_mode(attrs.mode))?;
    f.sync_all()
}
