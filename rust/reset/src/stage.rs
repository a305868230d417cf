//! Staging on the running system (`metalos reset`): write the keep regex
//! and the provisioning source on the state subvolume, then set the ESP's
//! first-boot flag; un-staging (`--stop`); previewing.

use crate::ere::Matcher;
use crate::fsutil::{read_if_exists, remove_if_exists, write_atomic};
use crate::keep::keep_regex;
use crate::layout::{CONFIG_URL, FIRST_BOOT_FLAG, KEEP_FILE, MACHINE_ID_FILE, USER_CONFIG};
use crate::walk::{walk, Entry, Visitor};
use crate::ResetError;
use std::path::{Path, PathBuf};

/// The ESP's first-boot flag (`metalos/first_boot`).
pub trait FirstBootFlag {
    /// Creates the flag.
    fn set(&self) -> Result<(), ResetError>;
    /// Removes the flag if it exists.
    fn clear(&self) -> Result<(), ResetError>;
}

/// The flag in a directory holding the ESP's files (a mounted ESP, or a
/// plain directory in tests): `DIR/metalos/first_boot`.
#[derive(Debug, Clone)]
pub struct DirFlag(pub PathBuf);

impl FirstBootFlag for DirFlag {
    fn set(&self) -> Result<(), ResetError> {
        write_atomic(&self.0.join(FIRST_BOOT_FLAG), b"")
    }
    fn clear(&self) -> Result<(), ResetError> {
        remove_if_exists(&self.0.join(FIRST_BOOT_FLAG)).map(drop)
    }
}

/// Where the next provisioning takes its user config from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioning {
    /// Copy this Ignition config to [`USER_CONFIG`] (`--provisioning-file`).
    File(PathBuf),
    /// Record this URL in [`CONFIG_URL`] (`--config-url`).
    Url(String),
}

/// What `metalos reset` stages.
#[derive(Debug, Clone, Default)]
pub struct StageOptions {
    /// `--keep-paths` entries.
    pub keep_paths: Vec<String>,
    /// `--keep-machine-id`.
    pub keep_machine_id: bool,
    /// `--provisioning-file` / `--config-url`; `None` keeps the previous source.
    pub provisioning: Option<Provisioning>,
}

/// What [`stage`] did.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The keep regex written.
    pub regex: String,
    /// A previously staged reset was replaced.
    pub replaced: bool,
    /// The machine-id that will be kept.
    pub machine_id: Option<String>,
}

/// Stages a reset below `root` (the running system's `/`): validates and
/// writes the keep regex to [`KEEP_FILE`], the provisioning source, the
/// machine-id to keep (or removes a stale one), then sets the flag.
pub fn stage(
    root: &Path,
    flag: &dyn FirstBootFlag,
    options: &StageOptions,
) -> Result<Staged, ResetError> {
    let regex = keep_regex(&options.keep_paths)?;
    Matcher::new(&regex)?;
    let machine_id = if options.keep_machine_id {
        Some(current_machine_id(root)?)
    } else {
        None
    };
    match &options.provisioning {
        Some(Provisioning::File(f)) => {
            let bytes = std::fs::read(f).map_err(|e| ResetError::io("reading", f, e))?;
            write_atomic(&root.join(USER_CONFIG), &bytes)?;
            remove_if_exists(&root.join(CONFIG_URL))?;
        }
        Some(Provisioning::Url(u)) => {
            if u.is_empty() || u.contains(char::is_whitespace) {
                return Err(ResetError::Invalid(format!(
                    "config URL {u:?} is not a URL"
                )));
            }
            write_atomic(&root.join(CONFIG_URL), format!("{u}\n").as_bytes())?;
            remove_if_exists(&root.join(USER_CONFIG))?;
        }
        None => {}
    }
    match &machine_id {
        Some(id) => write_atomic(&root.join(MACHINE_ID_FILE), format!("{id}\n").as_bytes())?,
        None => drop(remove_if_exists(&root.join(MACHINE_ID_FILE))?),
    }
    let replaced = root.join(KEEP_FILE).exists();
    write_atomic(&root.join(KEEP_FILE), format!("{regex}\n").as_bytes())?;
    flag.set()?;
    Ok(Staged {
        regex,
        replaced,
        machine_id,
    })
}

/// Un-stages a reset: removes the keep regex, the kept machine-id and the
/// first-boot flag. Returns whether a reset was staged. The provisioning
/// source stays (it is the "previous source" a later reset reuses).
pub fn stop(root: &Path, flag: &dyn FirstBootFlag) -> Result<bool, ResetError> {
    let was = remove_if_exists(&root.join(KEEP_FILE))?;
    remove_if_exists(&root.join(MACHINE_ID_FILE))?;
    flag.clear()?;
    Ok(was)
}

/// The staged keep regex, if a reset is staged.
pub fn staged_regex(root: &Path) -> Result<Option<String>, ResetError> {
    Ok(read_if_exists(&root.join(KEEP_FILE))?.map(|b| {
        String::from_utf8_lossy(&b)
            .trim_end_matches('\n')
            .to_string()
    }))
}

/// The running system's machine-id (`/etc/machine-id`), checked to be 32
/// lowercase hex digits.
pub fn current_machine_id(root: &Path) -> Result<String, ResetError> {
    let path = root.join("etc/machine-id");
    let text = std::fs::read_to_string(&path).map_err(|e| ResetError::io("reading", &path, e))?;
    let id = text.trim();
    if id.len() != 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ResetError::Invalid(format!(
            "{} holds no machine-id to keep ({id:?})",
            path.display()
        )));
    }
    Ok(id.to_string())
}

/// What a preview says about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Removed at the next boot.
    Delete,
    /// Left in place (matched, or a directory that still holds kept entries).
    Keep,
}

/// Lists what a reset with `options` would delete and keep on the system
/// whose subvolumes are mounted below `root` (`/` on a running system):
/// `/`, `/var`, `/home`, `/var/lib/metalos`, and `/etc` from the overlay's
/// upper directory. Nothing is staged or changed.
pub fn preview(root: &Path, options: &StageOptions) -> Result<Vec<(Fate, PathBuf)>, ResetError> {
    let keep = Matcher::new(&keep_regex(&options.keep_paths)?)?;
    let mut p = Preview {
        keep_machine_id: options.keep_machine_id,
        out: Vec::new(),
    };
    walk(root, &keep, &mut p);
    Ok(p.out)
}

struct Preview {
    keep_machine_id: bool,
    out: Vec<(Fate, PathBuf)>,
}

impl Visitor for Preview {
    fn visit(&mut self, e: &Entry) -> bool {
        let keep = if e.system == Path::new("/etc/machine-id") {
            self.keep_machine_id
        } else {
            e.keep || e.child_remains
        };
        let fate = if keep { Fate::Keep } else { Fate::Delete };
        self.out.push((fate, e.system.to_path_buf()));
        keep
    }
    fn error(&mut self, _path: &Path, _err: std::io::Error) {}
}
