//! The four account files as shadow-utils' `commonio` sees them: a list
//! of lines, each either a parsed entry or kept verbatim (comments,
//! malformed or NIS `+`/`-` lines). Untouched lines are written back
//! byte-exact; changed entries are re-serialised; every line ends in `\n`
//! (as `commonio` writes them).

/// One line of an account file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    /// The original text (without `\n`); `None` once the entry changed.
    raw: Option<String>,
    /// The `:`-separated fields, when the line parsed as an entry.
    fields: Option<Vec<String>>,
}

/// One account file (`passwd`, `shadow`, `group` or `gshadow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    lines: Vec<Line>,
    nfields: usize,
}

impl Table {
    /// Parses `text`; lines with exactly `nfields` fields and a non-empty
    /// name are entries, everything else is kept verbatim.
    pub(crate) fn parse(text: &str, nfields: usize) -> Table {
        let lines = text
            .lines()
            .map(|l| {
                let fields: Vec<String> = l.split(':').map(str::to_string).collect();
                let entry = fields.len() == nfields
                    && !fields[0].is_empty()
                    && !l.starts_with('+')
                    && !l.starts_with('-')
                    && !l.starts_with('#');
                Line {
                    raw: Some(l.to_string()),
                    fields: entry.then_some(fields),
                }
            })
            .collect();
        Table { lines, nfields }
    }

    /// The file contents.
    pub(crate) fn render(&self) -> Vec<u8> {
        let mut out = String::new();
        for l in &self.lines {
            match (&l.raw, &l.fields) {
                (Some(raw), _) => out.push_str(raw),
                (None, Some(f)) => out.push_str(&f.join(":")),
                (None, None) => {}
            }
            out.push('\n');
        }
        out.into_bytes()
    }

    /// The fields of the entry named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&[String]> {
        self.lines
            .iter()
            .filter_map(|l| l.fields.as_deref())
            .find(|f| f[0] == name)
    }

    /// Every entry, in file order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &[String]> {
        self.lines.iter().filter_map(|l| l.fields.as_deref())
    }

    /// Names of every entry, in file order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.entries().map(|f| f[0].clone()).collect()
    }

    /// Changes the entry named `name` with `f` (marking it re-serialised
    /// only when `f` changed a field). Returns false when absent.
    pub(crate) fn update(&mut self, name: &str, f: impl FnOnce(&mut Vec<String>)) -> bool {
        let Some(line) = self
            .lines
            .iter_mut()
            .find(|l| l.fields.as_ref().is_some_and(|x| x[0] == name))
        else {
            return false;
        };
        let fields = line.fields.as_mut().expect("entry");
        let before = fields.clone();
        f(fields);
        if *fields != before {
            line.raw = None;
        }
        true
    }

    /// Adds an entry like `commonio`: before the first NIS (`+`/`-`)
    /// line, else at the end.
    pub(crate) fn add(&mut self, fields: Vec<String>) {
        debug_assert_eq!(fields.len(), self.nfields);
        let line = Line {
            raw: None,
            fields: Some(fields),
        };
        let nis = self.lines.iter().position(|l| {
            l.raw
                .as_deref()
                .is_some_and(|r| r.starts_with('+') || r.starts_with('-'))
        });
        match nis {
            Some(i) => self.lines.insert(i, line),
            None => self.lines.push(line),
        }
    }

    /// Removes the entry named `name`; false when absent.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let before = self.lines.len();
        self.lines
            .retain(|l| l.fields.as_ref().is_none_or(|x| x[0] != name));
        self.lines.len() != before
    }
}

/// A comma-separated member list (`""` = none).
pub(crate) fn split_list(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_string).collect()
    }
}

/// Adds `name` to the comma-separated list `field` unless present
/// (shadow-utils `add_list`).
pub(crate) fn add_member(field: &mut String, name: &str) {
    let mut list = split_list(field);
    if !list.iter().any(|m| m == name) {
        list.push(name.to_string());
        *field = list.join(",");
    }
}

/// Removes `name` from the comma-separated list `field` (`del_list`).
pub(crate) fn del_member(field: &mut String, name: &str) {
    let list = split_list(field);
    if list.iter().any(|m| m == name) {
        let kept: Vec<String> = list.into_iter().filter(|m| m != name).collect();
        *field = kept.join(",");
    }
}

/// Whether `name` is in the comma-separated list `field`.
pub(crate) fn has_member(field: &str, name: &str) -> bool {
    split_list(field).iter().any(|m| m == name)
}

/// The four files of a root, in memory.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    /// `/etc/passwd`.
    pub passwd: Table,
    /// `/etc/shadow`.
    pub shadow: Table,
    /// `/etc/group`.
    pub group: Table,
    /// `/etc/gshadow`.
    pub gshadow: Table,
}

impl Db {
    /// Parses the four files' texts.
    pub(crate) fn parse(passwd: &str, shadow: &str, group: &str, gshadow: &str) -> Db {
        Db {
            passwd: Table::parse(passwd, 7),
            shadow: Table::parse(shadow, 9),
            group: Table::parse(group, 4),
            gshadow: Table::parse(gshadow, 4),
        }
    }

    /// `(uid, gid, home)` of user `name`.
    pub(crate) fn user(&self, name: &str) -> Option<(u32, u32, String)> {
        let f = self.passwd.get(name)?;
        Some((f[2].parse().ok()?, f[3].parse().ok()?, f[5].clone()))
    }

    /// Gid of group `name`.
    pub(crate) fn gid(&self, name: &str) -> Option<u32> {
        self.group.get(name)?[2].parse().ok()
    }

    /// Resolves a group given by name or (all digits) by number, like
    /// shadow-utils `getgr_nam_gid`; returns `(name, gid)`.
    pub(crate) fn resolve_group(&self, spec: &str) -> Option<(String, u32)> {
        if let Some(gid) = self.gid(spec) {
            return Some((spec.to_string(), gid));
        }
        let n: u32 = spec
            .parse()
            .ok()
            .filter(|_| spec.bytes().all(|b| b.is_ascii_digit()))?;
        self.group
            .entries()
            .find(|f| f[2].parse() == Ok(n))
            .map(|f| (f[0].clone(), n))
    }

    /// Every uid used in passwd, in file order.
    pub(crate) fn uids(&self) -> Vec<u32> {
        self.passwd
            .entries()
            .filter_map(|f| f[2].parse().ok())
            .collect()
    }

    /// Every gid used in group, in file order.
    pub(crate) fn gids(&self) -> Vec<u32> {
        self.group
            .entries()
            .filter_map(|f| f[2].parse().ok())
            .collect()
    }
}
