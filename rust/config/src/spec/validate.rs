//! [`ImageSpec::validate`]: the checks that run after parsing, in a fixed
//! order so the error always names the first bad field.

use super::disk::ContentKind;
use super::image::ImageSpec;
use super::validate_oem::check_oem;
use super::validate_partitions::{check_content_kinds, check_disk, check_partitions};
use super::validate_trees::{check_esp_files, check_usr};
use crate::error::FieldError;
use std::collections::{BTreeMap, BTreeSet};

impl ImageSpec {
    /// Checks every field; the error names the first bad field.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_disk(&self.disk)?;
        check_partitions(&self.partitions, self.disk.sector_size)?;
        check_content_kinds(&self.partitions)?;
        check_oem(self.oem.as_ref(), &self.partitions)?;
        self.validate_esp_users()?;
        self.validate_artifacts()?;
        check_esp_files(&self.esp)?;
        check_usr(&self.usr)
    }

    /// ESP files and the HostConfig need a partition with `content = "esp"`.
    fn validate_esp_users(&self) -> Result<(), FieldError> {
        let has_esp = self
            .partitions
            .iter()
            .any(|p| p.content == ContentKind::Esp);
        if !self.esp.files.is_empty() && !has_esp {
            return Err(FieldError::new(
                "esp.files",
                "files are listed but no partition has content = \"esp\"",
            ));
        }
        if self.host_config.is_some() && !has_esp {
            return Err(FieldError::new(
                "host-config",
                "a HostConfig needs a partition with content = \"esp\"",
            ));
        }
        Ok(())
    }

    /// Artifact names are plain file names, unique across initrds and UKIs.
    fn validate_artifacts(&self) -> Result<(), FieldError> {
        let mut names = BTreeSet::new();
        let all = self
            .initrds
            .iter()
            .map(|i| ("initrds", &i.name))
            .chain(self.ukis.iter().map(|u| ("ukis", &u.name)));
        let mut counters = BTreeMap::new();
        for (list, name) in all {
            let i = counters.entry(list).or_insert(0usize);
            let field = format!("{list}[{i}].name");
            *i += 1;
            if !is_plain_file_name(name) {
                return Err(FieldError::new(
                    field,
                    format!("{name:?} must be a plain file name (letters, digits, - _ .)"),
                ));
            }
            if !names.insert(name.as_str()) {
                return Err(FieldError::new(
                    field,
                    format!("artifact {name:?} is defined twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Letters, digits, `-`, `_` and `.`, not empty and not starting with `.`.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.')
}
