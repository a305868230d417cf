//! Checks of `[esp]` and `[usr]`: clean, unique paths, modes, link targets,
//! imported trees and their exclude patterns.

use super::content::{EspSpec, TreeSpec, UsrSpec};
use super::mode::parse_mode;
use crate::error::FieldError;
use crate::source::check_relative;
use std::collections::BTreeSet;
use std::path::Path;

/// ESP paths are clean and unique, ignoring case (FAT names are case-insensitive).
pub(super) fn check_esp_files(esp: &EspSpec) -> Result<(), FieldError> {
    let mut esp_paths = BTreeSet::new();
    for (i, file) in esp.files.iter().enumerate() {
        check_tree_path(&file.path)
            .map_err(|m| FieldError::new(format!("esp.files[{i}].path"), m))?;
        if !esp_paths.insert(file.path.to_ascii_lowercase()) {
            return Err(FieldError::new(
                format!("esp.files[{i}].path"),
                format!(
                    "{:?} is listed twice (FAT names are case-insensitive)",
                    file.path
                ),
            ));
        }
    }
    Ok(())
}

/// Checks the filesystem settings, then every entry of `[usr]`.
pub(super) fn check_usr(usr: &UsrSpec) -> Result<(), FieldError> {
    check_usr_filesystem(usr)?;
    let paths = check_usr_entries(usr)?;
    for (i, t) in usr.trees.iter().enumerate() {
        check_usr_tree(i, t)?;
    }
    check_no_entry_inside_non_directory(usr, &paths)
}

fn check_usr_filesystem(usr: &UsrSpec) -> Result<(), FieldError> {
    if usr.filesystem != "squashfs" {
        return Err(FieldError::new(
            "usr.filesystem",
            format!("{:?} is not supported (use \"squashfs\")", usr.filesystem),
        ));
    }
    if !(1..=22).contains(&usr.compression_level) {
        return Err(FieldError::new(
            "usr.compression-level",
            format!("{} is outside 1..=22", usr.compression_level),
        ));
    }
    Ok(())
}

/// Checks files, directories and symlinks; returns the paths they claim.
fn check_usr_entries(usr: &UsrSpec) -> Result<BTreeSet<String>, FieldError> {
    let mut paths = BTreeSet::new();
    let mut claim = |path: &str, field: String| -> Result<(), FieldError> {
        check_tree_path(path).map_err(|m| FieldError::new(format!("{field}.path"), m))?;
        if !paths.insert(path.to_string()) {
            return Err(FieldError::new(
                format!("{field}.path"),
                format!("{path:?} is listed twice"),
            ));
        }
        Ok(())
    };
    for (i, f) in usr.files.iter().enumerate() {
        claim(&f.path, format!("usr.files[{i}]"))?;
        if let Some(m) = &f.mode {
            parse_mode(m).map_err(|e| FieldError::new(format!("usr.files[{i}].mode"), e))?;
        }
    }
    for (i, d) in usr.directories.iter().enumerate() {
        claim(&d.path, format!("usr.directories[{i}]"))?;
        if let Some(m) = &d.mode {
            parse_mode(m).map_err(|e| FieldError::new(format!("usr.directories[{i}].mode"), e))?;
        }
    }
    for (i, l) in usr.symlinks.iter().enumerate() {
        claim(&l.path, format!("usr.symlinks[{i}]"))?;
        if l.target.is_empty() {
            return Err(FieldError::new(
                format!("usr.symlinks[{i}].target"),
                "must not be empty",
            ));
        }
    }
    Ok(paths)
}

/// `usr.trees[i]`: a clean destination, a directory source, valid excludes.
fn check_usr_tree(i: usize, t: &TreeSpec) -> Result<(), FieldError> {
    if !t.path.is_empty() {
        check_tree_path(&t.path).map_err(|m| FieldError::new(format!("usr.trees[{i}].path"), m))?;
    }
    if t.source.text.is_some() {
        return Err(FieldError::new(
            format!("usr.trees[{i}].source"),
            "a tree needs a directory (`input`, `file` or `artifact`), not `text`",
        ));
    }
    for (j, pattern) in t.exclude.iter().enumerate() {
        crate::tree::check_pattern(pattern)
            .map_err(|m| FieldError::new(format!("usr.trees[{i}].exclude[{j}]"), m))?;
    }
    Ok(())
}

/// A file or link used as a directory is an error too.
fn check_no_entry_inside_non_directory(
    usr: &UsrSpec,
    paths: &BTreeSet<String>,
) -> Result<(), FieldError> {
    for p in paths {
        for dir in Path::new(p).ancestors().skip(1) {
            let dir = dir.to_string_lossy();
            let is_dir = usr.directories.iter().any(|d| d.path == dir);
            if paths.contains(dir.as_ref()) && !is_dir {
                return Err(FieldError::new(
                    "usr",
                    format!("{dir:?} is a file or link but {p:?} is inside it"),
                ));
            }
        }
    }
    Ok(())
}

fn check_tree_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.ends_with('/') || path.contains("//") {
        return Err(format!("{path:?} is not a clean relative path"));
    }
    check_relative(path)?;
    if path.split('/').any(|c| c == ".") {
        return Err(format!("{path:?} must not contain `.` components"));
    }
    Ok(())
}
