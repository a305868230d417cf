//! `/etc/login.defs` and `/etc/default/useradd` of the target root, read
//! the way shadow-utils 4.13 reads them (`getdef_*`, `get_defaults`).

use std::collections::BTreeMap;

/// The settings of `login.defs` that useradd/groupadd consult.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoginDefs {
    values: BTreeMap<String, String>,
}

/// Parses a C integer like `strtol(s, _, 0)`: `0x` hex, leading `0`
/// octal, else decimal; the whole string must be consumed.
fn parse_c_long(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

impl LoginDefs {
    /// Parses `NAME value` lines (`#` comments, optional double quotes).
    pub(crate) fn parse(text: &str) -> LoginDefs {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut it = line.splitn(2, [' ', '\t']);
            let name = it.next().unwrap_or_default();
            let value = it.next().unwrap_or_default().trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            values.insert(name.to_string(), value.to_string());
        }
        LoginDefs { values }
    }

    /// `getdef_num`: a C integer, `dflt` when absent or invalid.
    pub(crate) fn num(&self, name: &str, dflt: i64) -> i64 {
        self.values
            .get(name)
            .and_then(|v| parse_c_long(v))
            .unwrap_or(dflt)
    }

    /// `getdef_ulong`: a non-negative decimal id, `dflt` when absent or
    /// invalid.
    pub(crate) fn ulong(&self, name: &str, dflt: u32) -> u32 {
        self.values
            .get(name)
            .and_then(|v| parse_c_long(v))
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(dflt)
    }

    /// `getdef_str`: the raw value.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `getdef_bool`: `yes` (any case) is true.
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.values
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    }

    /// Mode of a new home directory: `HOME_MODE`, else `0777 & ~UMASK`
    /// (`UMASK` default 022).
    pub(crate) fn home_mode(&self) -> u32 {
        let umask = self.num("UMASK", 0o22);
        let dflt = 0o777 & !umask;
        (self.num("HOME_MODE", dflt) & 0o7777) as u32
    }
}

/// `/etc/default/useradd` with the built-in defaults of Debian's
/// shadow-utils 4.13.
#[derive(Debug, Clone)]
pub(crate) struct UseraddDefaults {
    /// `GROUP=` (name or gid; resolved by the caller); default gid 100.
    pub group: Option<String>,
    /// `HOME=` base directory (default `/home`).
    pub home: String,
    /// `SHELL=` (default `/bin/bash`, useradd's built-in).
    pub shell: String,
    /// `SKEL=` (default `/etc/skel`).
    pub skel: String,
    /// `INACTIVE=` (-1 = none).
    pub inactive: i64,
}

impl Default for UseraddDefaults {
    fn default() -> Self {
        UseraddDefaults {
            group: None,
            home: "/home".into(),
            shell: "/bin/bash".into(),
            skel: "/etc/skel".into(),
            inactive: -1,
        }
    }
}

impl UseraddDefaults {
    /// Parses `KEY=value` lines; later lines win, values are verbatim.
    pub(crate) fn parse(text: &str) -> UseraddDefaults {
        let mut d = UseraddDefaults::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "GROUP" => d.group = Some(value.to_string()),
                "HOME" => d.home = value.to_string(),
                "SHELL" => d.shell = value.to_string(),
                "SKEL" if value.is_empty() => d.skel = "/etc/skel".into(),
                "SKEL" => d.skel = value.to_string(),
                "INACTIVE" => {
                    d.inactive = value.parse().ok().filter(|v| *v >= -1).unwrap_or(-1);
                }
                _ => {}
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_defs_numbers() {
        let d = LoginDefs::parse(
            "UMASK\t\t027\nUID_MIN  500\n#GID_MIN 7\nUSERGROUPS_ENAB Yes\nX \"0x10\"\n",
        );
        assert_eq!(d.num("UMASK", 0), 0o27);
        assert_eq!(d.home_mode(), 0o750);
        assert_eq!(d.ulong("UID_MIN", 1000), 500);
        assert_eq!(d.ulong("GID_MIN", 1000), 1000);
        assert!(d.bool("USERGROUPS_ENAB"));
        assert_eq!(d.num("X", 0), 16);
        let d = LoginDefs::parse("HOME_MODE 0700\nUMASK 077\n");
        assert_eq!(d.home_mode(), 0o700);
        assert_eq!(LoginDefs::default().home_mode(), 0o755);
    }

    #[test]
    fn useradd_defaults() {
        let d = UseraddDefaults::parse("# c\nSHELL=/bin/sh\nSKEL=\nGROUP=100\nINACTIVE=5\n");
        assert_eq!(d.shell, "/bin/sh");
        assert_eq!(d.skel, "/etc/skel");
        assert_eq!(d.group.as_deref(), Some("100"));
        assert_eq!(d.inactive, 5);
        assert_eq!(UseraddDefaults::default().shell, "/bin/bash");
    }
}
