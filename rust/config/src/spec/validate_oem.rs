//! Checks of `[oem]` and the partition it fills: `[oem]` and a partition
//! with `content = "oem"` come together, that partition is labelled
//! `OEM`, the id is a platform id and the base configs get distinct,
//! plain names on the partition.

use super::content::OemSpec;
use super::disk::{ContentKind, PartitionSpec};
use crate::error::FieldError;
use crate::source::check_relative;
use metalos_contract::oem::{check_id, OEM_PARTITION_LABEL};
use std::collections::BTreeMap;

/// `[oem]` against the partitions: one needs the other, the label is
/// fixed, the id and the base config names are valid.
pub(super) fn check_oem(
    oem: Option<&OemSpec>,
    partitions: &[PartitionSpec],
) -> Result<(), FieldError> {
    let part = partitions
        .iter()
        .enumerate()
        .find(|(_, p)| p.content == ContentKind::Oem);
    let oem = match (oem, part) {
        (None, None) => return Ok(()),
        (Some(_), None) => {
            return Err(FieldError::new(
                "oem",
                "[oem] is given but no partition has content = \"oem\" (add one, e.g. \
                 label = \"OEM\", type = \"linux-generic\", size = \"128MiB\")",
            ))
        }
        (None, Some((i, _))) => {
            return Err(FieldError::new(
                format!("partitions[{i}].content"),
                "content = \"oem\" needs an [oem] section (at least `id`)",
            ))
        }
        (Some(oem), Some((i, p))) => {
            if p.label != OEM_PARTITION_LABEL {
                return Err(FieldError::new(
                    format!("partitions[{i}].label"),
                    format!(
                        "{:?}: the partition with content = \"oem\" must be labelled \
                         {OEM_PARTITION_LABEL:?} (the bootloader finds it by that name)",
                        p.label
                    ),
                ));
            }
            oem
        }
    };
    check_id(&oem.id).map_err(|m| FieldError::new("oem.id", m))?;
    oem.base_config_names().map(drop)
}

impl OemSpec {
    /// Each base config's file name under `base/` on the OEM partition
    /// (`<file stem>.ign`), in spec order; names must be plain and
    /// distinct ignoring case (FAT). The error names the entry.
    pub fn base_config_names(&self) -> Result<Vec<String>, FieldError> {
        let mut seen = BTreeMap::new();
        let mut names = vec![];
        for (i, path) in self.base_configs.iter().enumerate() {
            let field = format!("oem.base-configs[{i}]");
            check_relative(path).map_err(|m| FieldError::new(&field, m))?;
            let file = path.rsplit('/').next().unwrap_or_default();
            let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
            if !is_plain_name(stem) {
                return Err(FieldError::new(
                    field,
                    format!(
                        "{path:?}: the file name without its extension ({stem:?}) must be letters, \
                         digits, '-', '_' or '.' (it becomes base/{stem}.ign)"
                    ),
                ));
            }
            let name = format!("{stem}.ign");
            if let Some(j) = seen.insert(name.to_ascii_lowercase(), i) {
                return Err(FieldError::new(
                    field,
                    format!("{path:?} would be base/{name}, as oem.base-configs[{j}] is"),
                ));
            }
            names.push(name);
        }
        Ok(names)
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
#[path = "validate_oem_tests.rs"]
mod tests;
