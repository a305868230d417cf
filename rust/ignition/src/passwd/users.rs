//! `passwd.users[]`: `useradd`, `usermod` and `userdel --remove`
//! semantics, with the flags Ignition passes.

use super::alloc::{find_new_id, Range};
use super::db::{add_member, del_member, has_member};
use super::home::Chown;
use super::{check_field, check_name, Planner};
use crate::config::User;
use crate::error::{Error, Result};

/// A non-empty string option (Ignition's `appendIfStringSet`).
fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// A shadow numeric field: negative = empty.
fn num(v: i64) -> String {
    if v < 0 {
        String::new()
    } else {
        v.to_string()
    }
}

impl Planner<'_> {
    /// One `passwd.users[]` entry at JSON path `path`.
    pub(crate) fn ensure_user(&mut self, path: &str, u: &User) -> Result<()> {
        check_name(&format!("{path}.name"), "user", &u.name)?;
        let exists = self.db.passwd.get(&u.name).is_some();
        if u.should_exist == Some(false) {
            if exists {
                self.userdel(&u.name);
            }
            return Ok(());
        }
        self.check_user_fields(path, u)?;
        if exists {
            self.usermod(path, u)?;
        } else {
            self.useradd(path, u)?;
        }
        if !u.ssh_authorized_keys.is_empty() {
            self.write_ssh_keys(&u.name, &u.ssh_authorized_keys);
        }
        Ok(())
    }

    /// The checks useradd/usermod make on field values.
    fn check_user_fields(&self, path: &str, u: &User) -> Result<()> {
        if let Some(h) = set(&u.password_hash) {
            check_field(&format!("{path}.passwordHash"), "password", h)?;
        }
        if let Some(c) = set(&u.gecos) {
            check_field(&format!("{path}.gecos"), "comment", c)?;
        }
        if let Some(h) = set(&u.home_dir) {
            check_field(&format!("{path}.homeDir"), "home directory", h)?;
            if !h.starts_with('/') {
                return Err(Error::apply(
                    format!("{path}.homeDir"),
                    format!("invalid home directory '{h}'"),
                ));
            }
        }
        if let Some(s) = set(&u.shell) {
            check_field(&format!("{path}.shell"), "shell", s)?;
            if !s.starts_with(['/', '*']) {
                return Err(Error::apply(
                    format!("{path}.shell"),
                    format!("invalid shell '{s}'"),
                ));
            }
        }
        Ok(())
    }

    /// Resolves `primaryGroup` and `groups[]` to `(gid, group names)`.
    fn resolve_groups(&self, path: &str, u: &User) -> Result<(Option<u32>, Vec<String>)> {
        let primary = match set(&u.primary_group) {
            Some(g) => Some(self.db.resolve_group(g).map(|r| r.1).ok_or_else(|| {
                Error::apply(
                    format!("{path}.primaryGroup"),
                    format!("group '{g}' does not exist"),
                )
            })?),
            None => None,
        };
        let mut names = Vec::new();
        for (j, g) in u.groups.iter().enumerate() {
            let (name, _) = self.db.resolve_group(g).ok_or_else(|| {
                Error::apply(
                    format!("{path}.groups[{j}]"),
                    format!("group '{g}' does not exist"),
                )
            })?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok((primary, names))
    }

    /// `useradd --home-dir --create-home|--no-create-home --no-user-group
    /// --system --password --uid --comment --gid --groups --shell NAME`.
    fn useradd(&mut self, path: &str, u: &User) -> Result<()> {
        let name = u.name.as_str();
        let system = u.system == Some(true);
        let (primary, supplementary) = self.resolve_groups(path, u)?;
        let user_group =
            primary.is_none() && u.no_user_group != Some(true) && self.defs.bool("USERGROUPS_ENAB");
        if user_group && self.db.group.get(name).is_some() {
            return Err(Error::apply(
                format!("{path}.name"),
                format!("group {name} exists - if you want to add this user to that group, use primaryGroup"),
            ));
        }
        let uid = self.new_uid(path, u.uid, system)?;
        let gid = if user_group {
            let gid = self.alloc_gid(path, system, Some(uid))?;
            self.add_group_entry(name, gid, "!");
            gid
        } else {
            primary.unwrap_or_else(|| self.default_gid())
        };
        let home = match set(&u.home_dir) {
            Some(h) => h.to_string(),
            None => format!("{}/{}", self.dflt.home, name),
        };
        let shell = set(&u.shell).unwrap_or(&self.dflt.shell).to_string();
        self.db.passwd.add(vec![
            name.into(),
            "x".into(),
            uid.to_string(),
            gid.to_string(),
            set(&u.gecos).unwrap_or_default().into(),
            home.clone(),
            shell,
        ]);
        let entry = self.new_shadow_entry(name, set(&u.password_hash).unwrap_or("*"), system);
        self.db.shadow.add(entry);
        for g in &supplementary {
            self.db.group.update(g, |f| add_member(&mut f[3], name));
            self.db.gshadow.update(g, |f| add_member(&mut f[3], name));
        }
        if u.no_create_home != Some(true) {
            self.create_home(&home, uid, gid);
        }
        Ok(())
    }

    /// The new user's uid: `uid` when set and free, else one allocated in
    /// login.defs' `UID_MIN`..`UID_MAX` (`SYS_UID_*` for a system user).
    fn new_uid(&self, path: &str, uid: Option<u32>, system: bool) -> Result<u32> {
        match uid {
            Some(uid) if self.db.uids().contains(&uid) => Err(Error::apply(
                format!("{path}.uid"),
                format!("UID {uid} is not unique"),
            )),
            Some(uid) => Ok(uid),
            None => Range::new(&self.defs, "UID", system)
                .and_then(|r| find_new_id(&self.db.uids(), r, None))
                .ok_or_else(|| Error::apply(path, "can't allocate a user ID")),
        }
    }

    /// The new user's shadow entry: password `pass`, last change today
    /// (empty when the clock is unknown), the aging fields of login.defs
    /// and `INACTIVE` of /etc/default/useradd (all empty for a system user).
    fn new_shadow_entry(&self, name: &str, pass: &str, system: bool) -> Vec<String> {
        let lastchg = if self.now_days == 0 {
            -1
        } else {
            self.now_days as i64
        };
        let aging = |key: &str| {
            if system {
                String::new()
            } else {
                num(self.defs.num(key, -1))
            }
        };
        let inactive = if system {
            String::new()
        } else {
            num(self.dflt.inactive)
        };
        vec![
            name.into(),
            pass.into(),
            num(lastchg),
            aging("PASS_MIN_DAYS"),
            aging("PASS_MAX_DAYS"),
            aging("PASS_WARN_AGE"),
            inactive,
            String::new(),
            String::new(),
        ]
    }

    /// gid of `GROUP=` in `/etc/default/useradd` when it names an
    /// existing group, else 100 (Debian's built-in default).
    fn default_gid(&self) -> u32 {
        self.dflt
            .group
            .as_deref()
            .and_then(|g| self.db.resolve_group(g))
            .map_or(100, |r| r.1)
    }

    /// `usermod [--home H --move-home] [--password P] [--uid] [--comment]
    /// [--gid] [--groups] [--shell] NAME`.
    fn usermod(&mut self, path: &str, u: &User) -> Result<()> {
        let name = u.name.as_str();
        let (primary, supplementary) = self.resolve_groups(path, u)?;
        let (old_uid, old_gid, old_home) = self.db.user(name).unwrap_or((0, 0, String::new()));
        if let Some(uid) = u.uid.filter(|uid| *uid != old_uid) {
            if self.db.uids().contains(&uid) {
                return Err(Error::apply(
                    format!("{path}.uid"),
                    format!("UID '{uid}' already exists"),
                ));
            }
        }
        let new_home = set(&u.home_dir).map(|h| {
            let h = if h.len() > 1 {
                h.strip_suffix('/').unwrap_or(h)
            } else {
                h
            };
            h.to_string()
        });
        let move_home = new_home.as_ref().filter(|h| **h != old_home).cloned();
        if let Some(h) = &move_home {
            if self.home_exists(h) {
                return Err(Error::apply(
                    format!("{path}.homeDir"),
                    format!("directory {h} exists"),
                ));
            }
        }
        self.db.passwd.update(name, |f| {
            if let Some(uid) = u.uid {
                f[2] = uid.to_string();
            }
            if let Some(gid) = primary {
                f[3] = gid.to_string();
            }
            if let Some(c) = set(&u.gecos) {
                f[4] = c.into();
            }
            if let Some(h) = &new_home {
                f[5] = h.clone();
            }
            if let Some(s) = set(&u.shell) {
                f[6] = s.into();
            }
        });
        if let Some(hash) = &u.password_hash {
            self.set_password(name, if hash.is_empty() { "*" } else { hash });
        }
        if !supplementary.is_empty() {
            self.replace_groups(name, &supplementary);
        }
        let (uid, gid, _) = self.db.user(name).unwrap_or_default();
        if let Some(h) = move_home {
            self.move_home(&old_home, &h, uid, gid);
        } else if uid != old_uid || gid != old_gid {
            let chown = Chown {
                old_uid,
                new_uid: (uid != old_uid).then_some(uid),
                old_gid,
                new_gid: (gid != old_gid).then_some(gid),
            };
            let home = new_home.unwrap_or(old_home);
            self.chown_home(&home, &chown);
        }
        Ok(())
    }

    /// `usermod --password P`: shadow (and a non-shadowed passwd field),
    /// last change = today.
    fn set_password(&mut self, name: &str, pass: &str) {
        self.db.passwd.update(name, |f| {
            if f[1] != "x" {
                f[1] = pass.into();
            }
        });
        let lastchg = num(if self.now_days == 0 {
            -1
        } else {
            self.now_days as i64
        });
        let shadowed = self.db.passwd.get(name).is_some_and(|f| f[1] == "x");
        let found = self.db.shadow.update(name, |f| {
            f[1] = pass.into();
            f[2] = lastchg.clone();
        });
        if !found && shadowed {
            let mut entry = vec![String::new(); 9];
            entry[0] = name.into();
            entry[1] = pass.into();
            entry[2] = lastchg;
            self.db.shadow.add(entry);
        }
    }

    /// `usermod --groups a,b`: the supplementary list becomes exactly
    /// `groups` (group and gshadow members; gshadow admins untouched).
    fn replace_groups(&mut self, name: &str, groups: &[String]) {
        for g in self.db.group.names() {
            let want = groups.contains(&g);
            self.db.group.update(&g, |f| {
                if want {
                    add_member(&mut f[3], name)
                } else {
                    del_member(&mut f[3], name)
                }
            });
        }
        for g in self.db.gshadow.names() {
            let want = groups.contains(&g);
            self.db.gshadow.update(&g, |f| {
                if want {
                    add_member(&mut f[3], name)
                } else {
                    del_member(&mut f[3], name)
                }
            });
        }
    }

    /// `userdel --remove NAME`: entries, memberships, the user private
    /// group (when nothing else uses it), home directory and mail spool.
    fn userdel(&mut self, name: &str) {
        let (_, gid, home) = self.db.user(name).unwrap_or_default();
        self.db.passwd.remove(name);
        self.db.shadow.remove(name);
        for g in self.db.group.names() {
            self.db.group.update(&g, |f| del_member(&mut f[3], name));
        }
        if self.defs.bool("USERGROUPS_ENAB") {
            let private = self
                .db
                .group
                .get(name)
                .is_some_and(|f| f[2].parse() == Ok(gid) && f[3].is_empty());
            let shared = self.db.passwd.entries().any(|f| f[3].parse() == Ok(gid));
            if private && !shared {
                self.db.group.remove(name);
                self.db.gshadow.remove(name);
            }
        }
        for g in self.db.gshadow.names() {
            self.db.gshadow.update(&g, |f| {
                if has_member(&f[2], name) {
                    del_member(&mut f[2], name);
                }
                del_member(&mut f[3], name);
            });
        }
        self.remove_home(name, &home);
    }
}
