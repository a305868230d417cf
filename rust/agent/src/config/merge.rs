//! Applying one drop-in's TOML to the merged, not yet checked, values;
//! each value remembers the file that set it.

use super::ConfigError;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A value and the drop-in that set it.
#[derive(Debug, Clone)]
pub(super) struct Sourced<T> {
    /// The value.
    pub value: T,
    /// The file it came from.
    pub file: PathBuf,
}

/// One `[[updates.periodic.window]]` as written.
#[derive(Debug, Clone)]
pub(super) struct RawWindow {
    /// `updates.periodic.window[I]`, I counting the file's own windows.
    pub key: String,
    /// `days`.
    pub days: Vec<String>,
    /// `start_time`.
    pub start_time: String,
    /// `length_minutes`.
    pub length_minutes: i64,
}

/// Every key's latest value; windows accumulate.
#[derive(Debug, Default)]
pub(super) struct Raw {
    pub channel_base_url: Option<Sourced<String>>,
    pub channel_name: Option<Sourced<String>>,
    pub steady_interval_secs: Option<Sourced<i64>>,
    pub group: Option<Sourced<String>>,
    pub node_uuid: Option<Sourced<String>>,
    pub rollout_wariness: Option<Sourced<f64>>,
    pub enabled: Option<Sourced<bool>>,
    pub allow_downgrade: Option<Sourced<bool>>,
    pub strategy: Option<Sourced<String>>,
    pub fleet_lock_base_url: Option<Sourced<String>>,
    pub time_zone: Option<Sourced<String>>,
    pub windows: Vec<Sourced<RawWindow>>,
}

/// The tables the schema has; any other table is an unknown key.
const TABLES: [&str; 7] = [
    "channel",
    "agent",
    "agent.timing",
    "identity",
    "updates",
    "updates.fleet_lock",
    "updates.periodic",
];

/// The array of tables holding the windows.
const WINDOWS: &str = "updates.periodic.window";

/// An `Invalid` error for `key` in `file`.
pub(super) fn invalid(file: &Path, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: file.to_path_buf(),
        key: key.to_string(),
        message: message.into(),
    }
}

fn wrong_type(file: &Path, key: &str, want: &str, found: &Value) -> ConfigError {
    invalid(
        file,
        key,
        format!("expected {want}, found {}", found.type_str()),
    )
}

/// A TOML syntax error with its 1-based line and column.
fn syntax(file: &Path, text: &str, err: toml::de::Error) -> ConfigError {
    let at = err.span().map_or(0, |s| s.start).min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    ConfigError::Syntax {
        path: file.to_path_buf(),
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        message: err.message().trim().to_string(),
    }
}

/// Flattens the schema's tables into `(dotted key, value)` leaves; an
/// unknown table stays one leaf (one warning for all of it).
fn flatten(
    file: &Path,
    prefix: &str,
    table: Table,
    out: &mut Vec<(String, Value)>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        let schema_table = TABLES.contains(&key.as_str());
        match value {
            Value::Table(t) if schema_table => flatten(file, &key, t, out)?,
            other if schema_table => return Err(wrong_type(file, &key, "a table", &other)),
            other => out.push((key, other)),
        }
    }
    Ok(())
}

fn string(file: &Path, key: &str, value: Value) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(file, key, "a string", &other)),
    }
}

fn boolean(file: &Path, key: &str, value: Value) -> Result<bool, ConfigError> {
    match value {
        Value::Boolean(b) => Ok(b),
        other => Err(wrong_type(file, key, "a boolean", &other)),
    }
}

fn integer(file: &Path, key: &str, value: Value) -> Result<i64, ConfigError> {
    match value {
        Value::Integer(i) => Ok(i),
        other => Err(wrong_type(file, key, "an integer", &other)),
    }
}

/// A float; an integer counts (`rollout_wariness = 1`), as with serde.
fn number(file: &Path, key: &str, value: Value) -> Result<f64, ConfigError> {
    match value {
        Value::Float(f) => Ok(f),
        Value::Integer(i) => Ok(i as f64),
        other => Err(wrong_type(file, key, "a number", &other)),
    }
}

fn strings(file: &Path, key: &str, value: Value) -> Result<Vec<String>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(wrong_type(file, key, "an array of strings", &value));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| string(file, &format!("{key}[{i}]"), item))
        .collect()
}

/// One window table; unknown keys are warnings, the three keys required.
fn window(
    file: &Path,
    key: String,
    value: Value,
    warnings: &mut Vec<String>,
) -> Result<RawWindow, ConfigError> {
    let Value::Table(table) = value else {
        return Err(wrong_type(file, &key, "a table", &value));
    };
    let (mut days, mut start_time, mut length_minutes) = (None, None, None);
    for (name, v) in table {
        let at = format!("{key}.{name}");
        match name.as_str() {
            "days" => days = Some(strings(file, &at, v)?),
            "start_time" => start_time = Some(string(file, &at, v)?),
            "length_minutes" => length_minutes = Some(integer(file, &at, v)?),
            _ => warnings.push(format!("{}: {at}: unknown key, ignored", file.display())),
        }
    }
    let missing = |name: &str| invalid(file, &format!("{key}.{name}"), "missing");
    Ok(RawWindow {
        days: days.ok_or_else(|| missing("days"))?,
        start_time: start_time.ok_or_else(|| missing("start_time"))?,
        length_minutes: length_minutes.ok_or_else(|| missing("length_minutes"))?,
        key,
    })
}

/// `value`, set by `file`.
fn sourced<T>(file: &Path, value: T) -> Option<Sourced<T>> {
    Some(Sourced {
        value,
        file: file.to_path_buf(),
    })
}

impl Raw {
    /// Applies the drop-in `file` (its contents `text`) over the values
    /// so far.
    pub(super) fn apply(
        &mut self,
        file: &Path,
        text: &str,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let doc: Table = toml::from_str(text).map_err(|e| syntax(file, text, e))?;
        let mut leaves = Vec::new();
        flatten(file, "", doc, &mut leaves)?;
        for (key, value) in leaves {
            self.set(file, &key, value, warnings)?;
        }
        Ok(())
    }

    fn set(
        &mut self,
        file: &Path,
        key: &str,
        value: Value,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        match key {
            "channel.base_url" => self.channel_base_url = sourced(file, string(file, key, value)?),
            "channel.name" => self.channel_name = sourced(file, string(file, key, value)?),
            "agent.timing.steady_interval_secs" => {
                self.steady_interval_secs = sourced(file, integer(file, key, value)?)
            }
            "identity.group" => self.group = sourced(file, string(file, key, value)?),
            "identity.node_uuid" => self.node_uuid = sourced(file, string(file, key, value)?),
            "identity.rollout_wariness" => {
                self.rollout_wariness = sourced(file, number(file, key, value)?)
            }
            "updates.enabled" => self.enabled = sourced(file, boolean(file, key, value)?),
            "updates.allow_downgrade" => {
                self.allow_downgrade = sourced(file, boolean(file, key, value)?)
            }
            "updates.strategy" => self.strategy = sourced(file, string(file, key, value)?),
            "updates.fleet_lock.base_url" => {
                self.fleet_lock_base_url = sourced(file, string(file, key, value)?)
            }
            "updates.periodic.time_zone" => {
                self.time_zone = sourced(file, string(file, key, value)?)
            }
            WINDOWS => self.add_windows(file, value, warnings)?,
            _ => warnings.push(format!("{}: {key}: unknown key, ignored", file.display())),
        }
        Ok(())
    }

    fn add_windows(
        &mut self,
        file: &Path,
        value: Value,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let Value::Array(items) = value else {
            return Err(wrong_type(file, WINDOWS, "an array of tables", &value));
        };
        for (i, item) in items.into_iter().enumerate() {
            let parsed = window(file, format!("{WINDOWS}[{i}]"), item, warnings)?;
            self.windows.push(Sourced {
                value: parsed,
                file: file.to_path_buf(),
            });
        }
        Ok(())
    }
}
