//! `passwd.groups[]`: `groupadd`, `groupmod` and `groupdel` semantics.

use super::alloc::{find_new_id, Range};
use super::{check_field, check_name, Planner};
use crate::config::Group;
use crate::error::{Error, Result};

impl Planner<'_> {
    /// One `passwd.groups[]` entry at JSON path `path`.
    pub(crate) fn ensure_group(&mut self, path: &str, g: &Group) -> Result<()> {
        check_name(&format!("{path}.name"), "group", &g.name)?;
        let exists = self.db.group.get(&g.name).is_some();
        if g.should_exist == Some(false) {
            return if exists {
                self.groupdel(path, &g.name)
            } else {
                Ok(())
            };
        }
        let hash = g.password_hash.as_deref().filter(|h| !h.is_empty());
        if let Some(h) = hash {
            check_field(&format!("{path}.passwordHash"), "password", h)?;
        }
        if exists {
            self.groupmod(path, g, hash)
        } else {
            self.groupadd(path, g, hash)
        }
    }

    /// `groupadd [--gid N] [--password H] [--system] NAME`.
    fn groupadd(&mut self, path: &str, g: &Group, hash: Option<&str>) -> Result<()> {
        let gids = self.db.gids();
        let gid = match g.gid {
            Some(gid) if gids.contains(&gid) => {
                return Err(Error::apply(
                    format!("{path}.gid"),
                    format!("GID '{gid}' already exists"),
                ))
            }
            Some(gid) => gid,
            None => self.alloc_gid(path, g.system == Some(true), None)?,
        };
        // Ignition 2.14 (and Flatcar) pass `--password *` when the config
        // has no hash, so gshadow gets `*` (a user's private group, made by
        // useradd itself, gets `!`).
        self.add_group_entry(&g.name, gid, hash.unwrap_or("*"));
        Ok(())
    }

    /// Appends `NAME:x:GID:` to group and `NAME:PASS::` to gshadow.
    pub(crate) fn add_group_entry(&mut self, name: &str, gid: u32, pass: &str) {
        self.db.group.add(vec![
            name.into(),
            "x".into(),
            gid.to_string(),
            String::new(),
        ]);
        self.db
            .gshadow
            .add(vec![name.into(), pass.into(), String::new(), String::new()]);
    }

    /// `find_new_gid` in the (system) group range.
    pub(crate) fn alloc_gid(
        &self,
        path: &str,
        system: bool,
        preferred: Option<u32>,
    ) -> Result<u32> {
        Range::new(&self.defs, "GID", system)
            .and_then(|r| find_new_id(&self.db.gids(), r, preferred))
            .ok_or_else(|| Error::apply(path, "can't allocate a group ID"))
    }

    /// `groupmod [--gid N] [--password H] NAME`.
    fn groupmod(&mut self, path: &str, g: &Group, hash: Option<&str>) -> Result<()> {
        let name = &g.name;
        let old = self.db.gid(name);
        if let Some(gid) = g.gid.filter(|gid| Some(*gid) != old) {
            if self.db.gids().contains(&gid) {
                return Err(Error::apply(
                    format!("{path}.gid"),
                    format!("GID '{gid}' already exists"),
                ));
            }
            self.db.group.update(name, |f| f[2] = gid.to_string());
            // update_primary_groups: users whose primary gid was the old one.
            if let Some(old) = old {
                for user in self.db.passwd.names() {
                    self.db.passwd.update(&user, |f| {
                        if f[3].parse() == Ok(old) {
                            f[3] = gid.to_string();
                        }
                    });
                }
            }
        }
        if let Some(h) = hash {
            let shadowed = self.db.group.get(name).is_some_and(|f| f[1] == "x");
            if !shadowed {
                self.db.group.update(name, |f| f[1] = h.into());
            }
            if !self.db.gshadow.update(name, |f| f[1] = h.into()) && shadowed {
                let members = self.db.group.get(name).map(|f| f[3].clone());
                self.db.gshadow.add(vec![
                    name.clone(),
                    h.into(),
                    String::new(),
                    members.unwrap_or_default(),
                ]);
            }
        }
        Ok(())
    }

    /// `groupdel NAME`: refused while it is a user's primary group.
    fn groupdel(&mut self, path: &str, name: &str) -> Result<()> {
        let gid = self.db.gid(name);
        let primary_of = self
            .db
            .passwd
            .entries()
            .find(|f| gid.is_some() && f[3].parse().ok() == gid)
            .map(|f| f[0].clone());
        if let Some(user) = primary_of {
            return Err(Error::apply(
                format!("{path}.shouldExist"),
                format!("cannot remove the primary group of user '{user}'"),
            ));
        }
        self.db.group.remove(name);
        self.db.gshadow.remove(name);
        Ok(())
    }
}
