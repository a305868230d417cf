//! Planning `systemd.units`: unit files and drop-ins under
//! `/etc/systemd/system`, masks as symlinks to `/dev/null`, and the preset
//! file `/etc/systemd/system-preset/20-ignition.preset`.
//!
//! The preset file keeps what it held and gains one line per unit with
//! `enabled` set: `enable NAME` / `disable NAME`, instances of a template
//! folded into one line (`enable echo@.service bar foo`). Lines are sorted
//! (Ignition 2.14 writes them in config order; systemd reads presets
//! first-match per unit, so the order of distinct units does not matter).
//! `disable` is written for every `enabled: false`, as Ignition 2.14 does.
//!
//! Ignition 2.14 also runs `systemctl --root ROOT disable NAME` for those
//! units; MetalOS has no systemctl in the initrd and plans what it does
//! instead ([`plan_disable`]): every symlink under `/etc/systemd/system`
//! named for the unit or pointing at it (`*.wants/`, `*.requires/` links,
//! aliases, linked unit files) is removed, then the directories that
//! leaves empty. Masks (links to `/dev/null`) stay.

use crate::config::Unit;
use crate::error::{Error, Result};
use crate::plan::{Attrs, Op};
use crate::planner::Planner;
use crate::validate::UNIT_DIR;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The preset file Ignition writes.
pub const PRESET_FILE: &str = "/etc/systemd/system-preset/20-ignition.preset";

const FILE: Attrs = Attrs {
    mode: 0o644,
    uid: 0,
    gid: 0,
};

fn write(planner: &mut Planner, path: &str, contents: &[u8], jp: &str) -> Result<()> {
    let at = planner.resolve(path).map_err(|m| Error::apply(jp, m))?;
    planner
        .ensure_parents(&at)
        .map_err(|m| Error::apply(jp, m))?;
    planner.push(Op::WriteFile {
        path: at,
        contents: contents.to_vec(),
        attrs: FILE,
    });
    Ok(())
}

/// Plans every unit into `planner`.
pub fn plan_units(planner: &mut Planner, units: &[Unit]) -> Result<()> {
    let mut presets = Presets::default();
    for (i, u) in units.iter().enumerate() {
        let jp = format!("systemd.units[{i}]");
        let unit_path = format!("{UNIT_DIR}/{}", u.name);
        plan_unit_files(planner, u, &unit_path, &jp)?;
        if let Some(mask) = u.mask {
            plan_mask(planner, mask, &unit_path, &format!("{jp}.mask"))?;
        }
        match u.enabled {
            Some(true) => presets.enable(&u.name),
            Some(false) => {
                presets.disable(&u.name);
                plan_disable(planner, &u.name, &format!("{jp}.enabled"))?;
            }
            None => {}
        }
    }
    write_presets(planner, presets.into_lines())
}

/// The unit's file and drop-ins, where it has contents.
fn plan_unit_files(planner: &mut Planner, u: &Unit, unit_path: &str, jp: &str) -> Result<()> {
    if let Some(c) = &u.contents {
        write(planner, unit_path, c.as_bytes(), &format!("{jp}.contents"))?;
    }
    for (k, d) in u.dropins.iter().enumerate() {
        if let Some(c) = &d.contents {
            let p = format!("{UNIT_DIR}/{}.d/{}", u.name, d.name);
            write(planner, &p, c.as_bytes(), &format!("{jp}.dropins[{k}]"))?;
        }
    }
    Ok(())
}

/// `mask: true` links the unit to `/dev/null`; `mask: false` removes such
/// a link (and nothing else) where the root has one.
fn plan_mask(planner: &mut Planner, mask: bool, unit_path: &str, jp: &str) -> Result<()> {
    let at = planner
        .resolve(unit_path)
        .map_err(|m| Error::apply(jp, m))?;
    if mask {
        planner
            .ensure_parents(&at)
            .map_err(|m| Error::apply(jp, m))?;
        planner.push(Op::Symlink {
            path: at,
            target: PathBuf::from("/dev/null"),
            uid: 0,
            gid: 0,
        });
    } else if std::fs::read_link(planner.host(&at)).is_ok_and(|t| t == Path::new("/dev/null")) {
        planner.push(Op::Remove { path: at });
    }
    Ok(())
}

/// The preset lines the units ask for.
#[derive(Default)]
struct Presets {
    /// Instances to enable, by template (`echo@.service` → `bar`, `foo`).
    templates: BTreeMap<String, BTreeSet<String>>,
    /// `enable NAME` / `disable NAME` lines of other units.
    lines: BTreeSet<String>,
}

impl Presets {
    /// `enabled: true`: an instance joins its template's line, any other
    /// unit gets its own.
    fn enable(&mut self, name: &str) {
        match name.split_once('@') {
            Some((prefix, rest)) if !rest.starts_with('.') => {
                let (instance, suffix) = rest.rsplit_once('.').unwrap_or((rest, ""));
                self.templates
                    .entry(format!("{prefix}@.{suffix}"))
                    .or_default()
                    .insert(instance.to_string());
            }
            _ => {
                self.lines.insert(format!("enable {name}"));
            }
        }
    }

    /// `enabled: false`.
    fn disable(&mut self, name: &str) {
        self.lines.insert(format!("disable {name}"));
    }

    /// Every line, sorted, templates folded into one line each.
    fn into_lines(self) -> BTreeSet<String> {
        let mut lines = self.lines;
        for (template, instances) in self.templates {
            let list: Vec<&str> = instances.iter().map(String::as_str).collect();
            lines.insert(format!("enable {template} {}", list.join(" ")));
        }
        lines
    }
}

/// Writes the preset file: what it held plus `lines`, sorted (nothing
/// when `lines` is empty).
fn write_presets(planner: &mut Planner, mut lines: BTreeSet<String>) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    // Read through the root's own symlinks, never the host's.
    let existing = planner
        .resolve_full(PRESET_FILE)
        .ok()
        .and_then(|p| std::fs::read_to_string(planner.host(&p)).ok())
        .unwrap_or_default();
    lines.extend(
        existing
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string),
    );
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    write(planner, PRESET_FILE, text.as_bytes(), "systemd.units")
}

/// What `systemctl disable NAME` removes under `/etc/systemd/system`: the
/// symlinks whose name is `name` or whose target is the unit (by path or
/// file name), then the directories below it that are left empty. Nodes
/// the plan itself created are not touched.
pub fn plan_disable(planner: &mut Planner, name: &str, jp: &str) -> Result<()> {
    let Ok(dir) = planner.resolve_full(UNIT_DIR) else {
        return Ok(());
    };
    let host = planner.host(&dir);
    if !host.is_dir() {
        return Ok(());
    }
    disable_in(planner, &dir, name, jp).map(|_| ())
}

/// Plans the removals inside `dir` (a path inside the root); returns
/// whether it removed something there and left `dir` empty (then `dir`
/// goes too, as systemctl removes the parents it empties).
fn disable_in(planner: &mut Planner, dir: &Path, name: &str, jp: &str) -> Result<bool> {
    let host = planner.host(dir);
    let io = |what: &Path, e| Error::io(format!("{jp}: reading {}", what.display()), e);
    let mut left = 0usize;
    let mut removed = false;
    for entry in std::fs::read_dir(&host).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let inside = dir.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io(&inside, e))?;
        if planner.planned(&inside).is_none() && planner.removes(&inside) {
            continue; // an earlier unit's removal
        }
        let gone = planner.planned(&inside).is_none()
            && if kind.is_symlink() {
                links_to_unit(&entry.path(), &entry.file_name(), name)
            } else {
                kind.is_dir() && disable_in(planner, &inside, name, jp)?
            };
        if gone {
            planner.push(Op::Remove { path: inside });
            removed = true;
        } else {
            left += 1;
        }
    }
    Ok(removed && left == 0)
}

/// Whether the symlink `link` (file name `file_name`) enables, aliases or
/// links the unit `name`; a mask (`/dev/null`) does not.
fn links_to_unit(link: &Path, file_name: &std::ffi::OsStr, name: &str) -> bool {
    let Ok(target) = std::fs::read_link(link) else {
        return false;
    };
    if target == Path::new("/dev/null") {
        return false;
    }
    file_name == name || target == Path::new(name) || target.file_name() == Some(name.as_ref())
}
