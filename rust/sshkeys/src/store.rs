//! [`AuthorizedKeys`]: a user's key sets under the lock, their changes, and
//! the final rewrite of the fragments and of `authorized_keys`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{io_ctx, Error};
use crate::fsutil::{ensure_dir, remove_file, replace_file, sync_dir};
use crate::keyset::KeySet;
use crate::lock::Lock;
use crate::privs::become_user;
use crate::user::User;
use crate::{AUTHORIZED_KEYS, FRAGMENT_DIR, HEADER, IMPORTED_SET, LOCK_FILE};

/// What [`AuthorizedKeys::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The set was created or replaced.
    Added,
    /// No key lines were given: nothing was created (an empty set would
    /// mean "disabled").
    Empty,
    /// The set is disabled and `force` was not given: nothing changed.
    Disabled,
    /// The set exists and `replace` was false: nothing changed.
    Exists,
}

/// A user's key sets, read under the lock. Changes stay in memory until
/// [`AuthorizedKeys::commit`]; the lock is held until this is dropped.
#[derive(Debug)]
pub struct AuthorizedKeys {
    user: User,
    ssh_dir: PathBuf,
    sets: BTreeMap<String, KeySet>,
    changed: BTreeSet<String>,
    removed: BTreeSet<String>,
    _lock: Lock,
}

/// Checks a set name: not empty, no leading `.`, no `/`, no NUL.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.starts_with('.') {
        "starts with '.'"
    } else if name.contains('/') {
        "contains '/'"
    } else if name.contains('\0') {
        "contains NUL"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_string(),
        reason,
    })
}

impl AuthorizedKeys {
    /// Takes the lock `home/.authorized_keys.d.lock` (waiting for it) and
    /// reads the sets from `ssh_dir/authorized_keys.d` (`ssh_dir` defaults
    /// to `home/.ssh`). Without that directory, an existing
    /// `authorized_keys` is imported as the set `old_authorized_keys`.
    pub fn open(user: &User, ssh_dir: Option<&Path>) -> Result<AuthorizedKeys, Error> {
        let _as_user = become_user(user.uid, user.gid)?;
        let lock = Lock::acquire(&user.home.join(LOCK_FILE))?;
        let ssh_dir = ssh_dir.map_or_else(|| user.home.join(".ssh"), Path::to_path_buf);
        let mut keys = AuthorizedKeys {
            user: user.clone(),
            ssh_dir,
            sets: BTreeMap::new(),
            changed: BTreeSet::new(),
            removed: BTreeSet::new(),
            _lock: lock,
        };
        let dir = keys.fragment_dir();
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => keys.sets = read_fragments(&dir)?,
            Ok(_) => return Err(Error::NotADirectory(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let file = keys.authorized_keys_file();
                if let Some(text) = read_optional(&file)? {
                    keys.sets
                        .insert(IMPORTED_SET.to_string(), KeySet::parse(&text));
                    keys.changed.insert(IMPORTED_SET.to_string());
                }
            }
            Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
        }
        Ok(keys)
    }

    /// The user the keys belong to.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The ssh directory (`~/.ssh` unless overridden).
    pub fn ssh_dir(&self) -> &Path {
        &self.ssh_dir
    }

    /// `ssh_dir/authorized_keys.d`.
    pub fn fragment_dir(&self) -> PathBuf {
        self.ssh_dir.join(FRAGMENT_DIR)
    }

    /// `ssh_dir/authorized_keys`.
    pub fn authorized_keys_file(&self) -> PathBuf {
        self.ssh_dir.join(AUTHORIZED_KEYS)
    }

    /// All sets, sorted by name (byte order).
    pub fn sets(&self) -> &BTreeMap<String, KeySet> {
        &self.sets
    }

    /// The set called `name`.
    pub fn get(&self, name: &str) -> Option<&KeySet> {
        self.sets.get(name)
    }

    /// Adds `keys` as set `name`. An existing set is replaced only when
    /// `replace`; a disabled set only when `force` (and `replace`).
    pub fn add(
        &mut self,
        name: &str,
        keys: KeySet,
        replace: bool,
        force: bool,
    ) -> Result<AddOutcome, Error> {
        validate_name(name)?;
        if keys.is_disabled() {
            return Ok(AddOutcome::Empty);
        }
        if let Some(existing) = self.sets.get(name) {
            if existing.is_disabled() && !force {
                return Ok(AddOutcome::Disabled);
            }
            if !replace {
                return Ok(AddOutcome::Exists);
            }
        }
        self.put(name, keys);
        Ok(AddOutcome::Added)
    }

    /// Deletes set `name`; returns it if it existed.
    pub fn remove(&mut self, name: &str) -> Result<Option<KeySet>, Error> {
        validate_name(name)?;
        let old = self.sets.remove(name);
        if old.is_some() {
            self.changed.remove(name);
            self.removed.insert(name.to_string());
        }
        Ok(old)
    }

    /// Disables set `name` (an empty fragment), creating it if needed;
    /// returns the keys it had.
    pub fn disable(&mut self, name: &str) -> Result<Option<KeySet>, Error> {
        validate_name(name)?;
        let old = self.sets.get(name).cloned();
        self.put(name, KeySet::disabled());
        Ok(old)
    }

    fn put(&mut self, name: &str, keys: KeySet) {
        self.sets.insert(name.to_string(), keys);
        self.removed.remove(name);
        self.changed.insert(name.to_string());
    }

    /// The `authorized_keys` contents: [`crate::HEADER`], then the valid keys
    /// of the enabled sets, sets by name, keys in order.
    pub fn render(&self) -> String {
        let mut out = format!("{HEADER}\n");
        for key in self.sets.values().flat_map(KeySet::keys) {
            out.push_str(key.line());
            out.push('\n');
        }
        out
    }

    /// Writes the changed and deleted fragments (temp file, fsync, rename;
    /// then fsync of the directory), then regenerates `authorized_keys` the
    /// same way. With no sets at all, fails with [`Error::NoKeysFound`] and
    /// leaves `authorized_keys` as it was. Returns the `authorized_keys` path.
    pub fn commit(&mut self) -> Result<PathBuf, Error> {
        self.write(false)
    }

    /// [`AuthorizedKeys::commit`], but with no sets at all `authorized_keys`
    /// is rewritten with only [`crate::HEADER`]: for agents whose set was the
    /// last one and was removed (a key deleted from a cloud's metadata must
    /// stop working).
    pub fn commit_allowing_no_keys(&mut self) -> Result<PathBuf, Error> {
        self.write(true)
    }

    fn write(&mut self, allow_empty: bool) -> Result<PathBuf, Error> {
        let _as_user = become_user(self.user.uid, self.user.gid)?;
        let dir = self.fragment_dir();
        ensure_dir(&dir)?;
        if !self.changed.is_empty() || !self.removed.is_empty() {
            for name in &self.removed {
                remove_file(&dir, name)?;
            }
            for name in &self.changed {
                replace_file(&dir, name, self.sets[name].to_fragment().as_bytes())?;
            }
            sync_dir(&dir)?;
            self.changed.clear();
            self.removed.clear();
        }
        if self.sets.is_empty() && !allow_empty {
            return Err(Error::NoKeysFound(dir));
        }
        replace_file(&self.ssh_dir, AUTHORIZED_KEYS, self.render().as_bytes())?;
        sync_dir(&self.ssh_dir)?;
        Ok(self.authorized_keys_file())
    }
}

/// Reads every fragment of `dir`. Names starting with `.` (temp and editor
/// files) are skipped; a directory or special file is an error.
fn read_fragments(dir: &Path) -> Result<BTreeMap<String, KeySet>, Error> {
    let ctx = || format!("reading {}", dir.display());
    let mut sets = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io_ctx(ctx))? {
        let path = entry.map_err(io_ctx(ctx))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(Error::NotUtf8(path));
        };
        if name.starts_with('.') {
            continue;
        }
        let name = name.to_string();
        let meta = fs::metadata(&path).map_err(io_ctx(|| format!("reading {}", path.display())))?;
        if meta.is_dir() {
            return Err(Error::NestedDirectory(path));
        }
        if !meta.is_file() {
            return Err(Error::NotAFile(path));
        }
        let text = read_optional(&path)?.ok_or_else(|| {
            Error::io(
                format!("reading {}", path.display()),
                io::ErrorKind::NotFound.into(),
            )
        })?;
        sets.insert(name, KeySet::parse(&text));
    }
    Ok(sets)
}

/// Reads a UTF-8 file; `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::NotUtf8(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}
