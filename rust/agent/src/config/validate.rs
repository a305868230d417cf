//! Checking the merged values and building [`AgentConfig`]; each error
//! names the file that set the offending value.

use super::merge::{invalid, Raw, RawWindow, Sourced};
use super::{
    AgentConfig, Channel, ConfigError, Identity, Strategy, Updates, DEFAULT_GROUP,
    DEFAULT_STEADY_INTERVAL_SECS, FLEET_LOCK_VARIABLES,
};
use crate::window::{self, Schedule, Window, WEEK_MINUTES};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// An error for the value `v` at `key`.
fn bad<T>(v: &Sourced<T>, key: &str, message: impl Into<String>) -> ConfigError {
    invalid(&v.file, key, message)
}

/// Builds the configuration; `localtime` stands for `/etc/localtime`.
pub(super) fn validate(raw: Raw, localtime: &Path) -> Result<AgentConfig, ConfigError> {
    Ok(AgentConfig {
        channel: channel(&raw)?,
        steady_interval: steady_interval(&raw)?,
        identity: identity(&raw)?,
        updates: Updates {
            enabled: raw.enabled.as_ref().is_none_or(|v| v.value),
            allow_downgrade: raw.allow_downgrade.as_ref().is_some_and(|v| v.value),
            strategy: strategy(&raw, localtime)?,
        },
    })
}

/// `agent.timing.steady_interval_secs`: positive.
fn steady_interval(raw: &Raw) -> Result<Duration, ConfigError> {
    let Some(v) = &raw.steady_interval_secs else {
        return Ok(Duration::from_secs(DEFAULT_STEADY_INTERVAL_SECS));
    };
    match u64::try_from(v.value) {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => {
            let message = format!("{} is not a positive number of seconds", v.value);
            Err(bad(v, "agent.timing.steady_interval_secs", message))
        }
    }
}

/// An `http://` or `https://` URL with a host and no spaces.
fn http_url(v: &Sourced<String>, key: &str) -> Result<String, ConfigError> {
    let url = &v.value;
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme));
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(bad(
            v,
            key,
            format!("{url:?} is not an http:// or https:// URL"),
        ));
    }
    Ok(url.clone())
}

/// `[channel]`: both keys or neither.
fn channel(raw: &Raw) -> Result<Option<Channel>, ConfigError> {
    let (base, name) = match (&raw.channel_base_url, &raw.channel_name) {
        (None, None) => return Ok(None),
        (Some(b), None) => {
            return Err(bad(
                b,
                "channel.name",
                "missing (channel.base_url is set here)",
            ))
        }
        (None, Some(n)) => {
            return Err(bad(
                n,
                "channel.base_url",
                "missing (channel.name is set here)",
            ))
        }
        (Some(b), Some(n)) => (b, n),
    };
    let safe = !name.value.is_empty()
        && name.value != "."
        && name.value != ".."
        && name
            .value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    if !safe {
        let message = format!(
            "{:?} is not a channel name ([A-Za-z0-9._-]+, not . or ..)",
            name.value
        );
        return Err(bad(name, "channel.name", message));
    }
    Ok(Some(Channel {
        base_url: http_url(base, "channel.base_url")?,
        name: name.value.clone(),
    }))
}

/// `[identity]`.
fn identity(raw: &Raw) -> Result<Identity, ConfigError> {
    let group = match raw.group.as_ref().filter(|g| !g.value.is_empty()) {
        None => DEFAULT_GROUP.to_string(),
        Some(g)
            if g.value
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-') =>
        {
            g.value.clone()
        }
        Some(g) => {
            let message = format!("{:?} does not match ^[a-zA-Z0-9.-]+$", g.value);
            return Err(bad(g, "identity.group", message));
        }
    };
    let node_uuid = match raw.node_uuid.as_ref().filter(|u| !u.value.is_empty()) {
        None => None,
        Some(u) if u.value.len() == 32 && u.value.bytes().all(|c| c.is_ascii_hexdigit()) => {
            Some(u.value.to_ascii_lowercase())
        }
        Some(u) => {
            return Err(bad(
                u,
                "identity.node_uuid",
                format!("{:?} is not 32 hex digits", u.value),
            ))
        }
    };
    let rollout_wariness = match &raw.rollout_wariness {
        None => None,
        Some(w) if (0.0..=1.0).contains(&w.value) => Some(w.value),
        Some(w) => {
            let message = format!("{} is not between 0.0 and 1.0", w.value);
            return Err(bad(w, "identity.rollout_wariness", message));
        }
    };
    Ok(Identity {
        group,
        node_uuid,
        rollout_wariness,
    })
}

/// `updates.strategy` with its settings. The FleetLock URL, the time
/// zone and the windows are checked whatever the strategy.
fn strategy(raw: &Raw, localtime: &Path) -> Result<Strategy, ConfigError> {
    let fleet_lock = raw
        .fleet_lock_base_url
        .as_ref()
        .map(fleet_lock_url)
        .transpose()?;
    let windows = raw
        .windows
        .iter()
        .map(window)
        .collect::<Result<Vec<_>, _>>()?;
    let (zone, zone_name) = match &raw.time_zone {
        None => (jiff::tz::TimeZone::UTC, "UTC".to_string()),
        Some(tz) => window::time_zone(&tz.value, localtime)
            .map_err(|e| bad(tz, "updates.periodic.time_zone", e.to_string()))?,
    };
    let Some(s) = raw.strategy.as_ref().filter(|s| !s.value.is_empty()) else {
        return Ok(Strategy::Immediate);
    };
    let key = "updates.strategy";
    match s.value.as_str() {
        "immediate" => Ok(Strategy::Immediate),
        "periodic" if windows.is_empty() => Err(bad(
            s,
            key,
            "\"periodic\" needs at least one [[updates.periodic.window]]",
        )),
        "periodic" => Ok(Strategy::Periodic(Schedule::new(zone, zone_name, windows))),
        "fleet_lock" => match fleet_lock {
            Some(base_url) => Ok(Strategy::FleetLock { base_url }),
            None => Err(bad(
                s,
                key,
                "\"fleet_lock\" needs updates.fleet_lock.base_url",
            )),
        },
        other => Err(bad(
            s,
            key,
            format!("{other:?} is not one of immediate, periodic, fleet_lock"),
        )),
    }
}

/// `updates.fleet_lock.base_url`: an HTTP URL whose `${…}` variables are
/// all ones [`Strategy::fleet_lock_base`] fills in.
fn fleet_lock_url(v: &Sourced<String>) -> Result<String, ConfigError> {
    let key = "updates.fleet_lock.base_url";
    let url = http_url(v, key)?;
    let mut rest = url.as_str();
    while let Some(at) = rest.find("${") {
        let Some(len) = rest[at..].find('}') else {
            return Err(bad(v, key, format!("{url:?}: unterminated ${{")));
        };
        let name = &rest[at + 2..at + len];
        if !FLEET_LOCK_VARIABLES.contains(&name) {
            let message = format!(
                "{url:?}: ${{{name}}} is not one of ${{group}}, ${{basearch}}, ${{platform}}"
            );
            return Err(bad(v, key, message));
        }
        rest = &rest[at + len + 1..];
    }
    Ok(url)
}

/// One `[[updates.periodic.window]]`.
fn window(v: &Sourced<RawWindow>) -> Result<Window, ConfigError> {
    let w = &v.value;
    let at = |field: &str| format!("{}.{field}", w.key);
    let mut days = BTreeSet::new();
    for day in &w.days {
        days.insert(window::parse_day(day).map_err(|e| bad(v, &at("days"), e.to_string()))?);
    }
    if days.is_empty() {
        return Err(bad(v, &at("days"), window::WindowError::NoDays.to_string()));
    }
    let start =
        window::parse_time(&w.start_time).map_err(|e| bad(v, &at("start_time"), e.to_string()))?;
    let length = u32::try_from(w.length_minutes)
        .ok()
        .filter(|l| (1..=WEEK_MINUTES).contains(l))
        .ok_or_else(|| {
            bad(
                v,
                &at("length_minutes"),
                window::WindowError::BadLength(w.length_minutes).to_string(),
            )
        })?;
    Window::new(days, start, length).map_err(|e| bad(v, &w.key, e.to_string()))
}
