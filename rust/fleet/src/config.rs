//! The server's settings: a TOML file (`--config FILE`) and command-line
//! flags with the same settings, flags winning.
//!
//! ```toml
//! listen = "0.0.0.0:3333"
//! etcd = ["http://127.0.0.1:2379"]
//! default_slots = 1
//! halt_after = 1
//!
//! [[group]]
//! name = "workers"
//! slots = 3
//! ```
//!
//! Unknown keys are errors (a misspelt setting should not silently fall
//! back to its default). A group of 0 slots lets no host reboot (a pause).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Slots of a group not configured otherwise (airlock's default too).
pub const DEFAULT_SLOTS: u64 = 1;
/// Failed hosts that halt a release.
pub const DEFAULT_HALT_AFTER: u32 = 1;

/// Why the settings are not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A setting has a bad value.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting (`listen`, `etcd`, `group workers`, `--group`, …).
        setting: String,
        /// What is wrong.
        reason: String,
    },
}

/// The settings file as written (every key optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on, e.g. `0.0.0.0:3333`.
    pub listen: Option<String>,
    /// etcd client URLs.
    pub etcd: Option<Vec<String>>,
    /// Slots of groups not listed.
    pub default_slots: Option<u64>,
    /// Failed hosts that halt a release.
    pub halt_after: Option<u32>,
    /// Groups with their own slot count.
    #[serde(default)]
    pub group: Vec<GroupSlots>,
}

/// `[[group]]`: a group's slot count.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSlots {
    /// The FleetLock group.
    pub name: String,
    /// How many of its hosts may reboot at once.
    pub slots: u64,
}

impl FileConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` (read from `path`, named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string().trim_end().to_string(),
        })
    }
}

/// Command-line settings, each overriding the file's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--listen ADDR`.
    pub listen: Option<String>,
    /// `--etcd URL[,URL…]`.
    pub etcd: Option<String>,
    /// `--default-slots N`.
    pub default_slots: Option<u64>,
    /// `--group NAME=SLOTS`, each replacing the file's group of that name.
    pub groups: Vec<String>,
    /// `--halt-after N`.
    pub halt_after: Option<u32>,
}

/// The server's settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// etcd client URLs.
    pub etcd: Vec<String>,
    /// Slots of groups not in `groups`.
    pub default_slots: u64,
    /// Slots per group.
    pub groups: BTreeMap<String, u64>,
    /// Failed hosts (distinct) that halt a release.
    pub halt_after: u32,
}

impl FleetConfig {
    /// `file`'s settings with `flags` applied, checked.
    pub fn resolve(file: FileConfig, flags: &Overrides) -> Result<Self, ConfigError> {
        let listen_text = flags.listen.clone().or(file.listen).ok_or_else(|| {
            invalid(
                "listen",
                "missing: give --listen ADDR or `listen` in the file",
            )
        })?;
        let listen = listen_text
            .parse()
            .map_err(|e| invalid("listen", &format!("{listen_text:?}: {e} (want IP:PORT)")))?;
        let etcd = match &flags.etcd {
            Some(list) => split_urls(list),
            None => file.etcd.unwrap_or_default(),
        };
        check_etcd(&etcd)?;
        let mut groups = BTreeMap::new();
        for g in file.group {
            check_group(&g.name, &format!("group {:?}", g.name))?;
            if groups.insert(g.name.clone(), g.slots).is_some() {
                return Err(invalid(&format!("group {:?}", g.name), "listed twice"));
            }
        }
        for spec in &flags.groups {
            let (name, slots) = parse_group_flag(spec)?;
            groups.insert(name, slots);
        }
        let halt_after = flags
            .halt_after
            .or(file.halt_after)
            .unwrap_or(DEFAULT_HALT_AFTER);
        if halt_after == 0 {
            return Err(invalid("halt_after", "must be at least 1"));
        }
        Ok(FleetConfig {
            listen,
            etcd,
            default_slots: flags
                .default_slots
                .or(file.default_slots)
                .unwrap_or(DEFAULT_SLOTS),
            groups,
            halt_after,
        })
    }

    /// The slots of `group`.
    pub fn slots_for(&self, group: &str) -> u64 {
        self.groups
            .get(group)
            .copied()
            .unwrap_or(self.default_slots)
    }
}

/// `a,b, c` → the URLs, blanks dropped.
pub fn split_urls(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Whether `group` is a FleetLock group name: `^[a-zA-Z0-9.-]+$`.
pub fn is_valid_group(group: &str) -> bool {
    !group.is_empty()
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// At least one URL, each http(s).
fn check_etcd(urls: &[String]) -> Result<(), ConfigError> {
    if urls.is_empty() {
        return Err(invalid(
            "etcd",
            "missing: give --etcd URL[,URL…] or `etcd = [\"http://…\"]` in the file",
        ));
    }
    for u in urls {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(invalid(
                "etcd",
                &format!("{u:?}: must start with http:// or https://"),
            ));
        }
    }
    Ok(())
}

/// `name` must be a FleetLock group.
fn check_group(name: &str, setting: &str) -> Result<(), ConfigError> {
    if is_valid_group(name) {
        Ok(())
    } else {
        Err(invalid(
            setting,
            "a group name is one or more of letters, digits, '.' and '-'",
        ))
    }
}

/// `NAME=SLOTS`.
fn parse_group_flag(spec: &str) -> Result<(String, u64), ConfigError> {
    let setting = format!("--group {spec:?}");
    let (name, slots) = spec
        .split_once('=')
        .ok_or_else(|| invalid(&setting, "want NAME=SLOTS"))?;
    check_group(name, &setting)?;
    let slots = slots
        .parse()
        .map_err(|_| invalid(&setting, "SLOTS must be a whole number"))?;
    Ok((name.to_string(), slots))
}

fn invalid(setting: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
listen = "127.0.0.1:3333"
etcd = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
default_slots = 2
halt_after = 3

[[group]]
name = "workers"
slots = 5

[[group]]
name = "db"
slots = 1
"#;

    fn file() -> FileConfig {
        FileConfig::parse(FILE, Path::new("fleet.toml")).unwrap()
    }

    #[test]
    fn file_settings_are_read() {
        let c = FleetConfig::resolve(file(), &Overrides::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:3333".parse().unwrap());
        assert_eq!(c.etcd.len(), 2);
        assert_eq!((c.default_slots, c.halt_after), (2, 3));
        assert_eq!(c.slots_for("workers"), 5);
        assert_eq!(c.slots_for("db"), 1);
        assert_eq!(c.slots_for("other"), 2);
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../../../images/fleet/fleet.toml");
        let f = FileConfig::parse(text, Path::new("images/fleet/fleet.toml")).unwrap();
        let c = FleetConfig::resolve(f, &Overrides::default()).unwrap();
        assert_eq!(c.listen.port(), 3333);
        assert_eq!(c.slots_for("workers"), 3);
    }

    #[test]
    fn flags_win() {
        let flags = Overrides {
            listen: Some("[::1]:8080".into()),
            etcd: Some("http://a:2379, http://b:2379,".into()),
            default_slots: Some(4),
            groups: vec!["workers=0".into(), "new=7".into()],
            halt_after: Some(2),
        };
        let c = FleetConfig::resolve(file(), &flags).unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.etcd, ["http://a:2379", "http://b:2379"]);
        assert_eq!(c.slots_for("workers"), 0);
        assert_eq!(c.slots_for("new"), 7);
        assert_eq!(c.slots_for("db"), 1);
        assert_eq!((c.default_slots, c.halt_after), (4, 2));
    }

    #[test]
    fn defaults_without_a_file() {
        let flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            etcd: Some("http://127.0.0.1:2379".into()),
            ..Overrides::default()
        };
        let c = FleetConfig::resolve(FileConfig::default(), &flags).unwrap();
        assert_eq!(
            (c.default_slots, c.halt_after),
            (DEFAULT_SLOTS, DEFAULT_HALT_AFTER)
        );
        assert!(c.groups.is_empty());
    }

    #[test]
    fn bad_settings_are_named() {
        let ok = || Overrides {
            listen: Some("127.0.0.1:0".into()),
            etcd: Some("http://e:2379".into()),
            ..Overrides::default()
        };
        let cases: Vec<(Overrides, &str)> = vec![
            (
                Overrides {
                    listen: None,
                    ..ok()
                },
                "listen: missing",
            ),
            (
                Overrides {
                    listen: Some("host:80".into()),
                    ..ok()
                },
                "listen: \"host:80\"",
            ),
            (Overrides { etcd: None, ..ok() }, "etcd: missing"),
            (
                Overrides {
                    etcd: Some("e:2379".into()),
                    ..ok()
                },
                "etcd: \"e:2379\"",
            ),
            (
                Overrides {
                    groups: vec!["a_b=1".into()],
                    ..ok()
                },
                "--group \"a_b=1\"",
            ),
            (
                Overrides {
                    groups: vec!["ab".into()],
                    ..ok()
                },
                "want NAME=SLOTS",
            ),
            (
                Overrides {
                    groups: vec!["ab=x".into()],
                    ..ok()
                },
                "whole number",
            ),
            (
                Overrides {
                    halt_after: Some(0),
                    ..ok()
                },
                "halt_after: must be at least 1",
            ),
        ];
        for (flags, want) in cases {
            let e = FleetConfig::resolve(FileConfig::default(), &flags).unwrap_err();
            assert!(e.to_string().contains(want), "{e} lacks {want}");
        }
    }

    #[test]
    fn bad_files_are_named() {
        let e = FileConfig::parse("listn = \"x\"", Path::new("/etc/f.toml")).unwrap_err();
        assert!(e.to_string().starts_with("/etc/f.toml: "), "{e}");
        assert!(e.to_string().contains("listn"), "{e}");
        let twice = "[[group]]\nname = \"a\"\nslots = 1\n[[group]]\nname = \"a\"\nslots = 2\n";
        let f = FileConfig::parse(twice, Path::new("f")).unwrap();
        let flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            etcd: Some("http://e".into()),
            ..Overrides::default()
        };
        let e = FleetConfig::resolve(f, &flags).unwrap_err();
        assert_eq!(e.to_string(), "group \"a\": listed twice");
        let e = FileConfig::load(Path::new("/nonexistent/fleet.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("/nonexistent/fleet.toml: "),
            "{e}"
        );
    }
}
