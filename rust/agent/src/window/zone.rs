//! The periodic strategy's time zone: `UTC` (the default), `localtime`
//! (`/etc/localtime`, UTC when it is missing) or an IANA name.

use super::WindowError;
use jiff::tz::TimeZone;
use std::io::ErrorKind;
use std::path::Path;

/// The system's local time zone file.
pub const LOCALTIME: &str = "/etc/localtime";

/// Resolves a configured zone name to the zone and the name to show:
/// an IANA name from jiff's database (the system's zoneinfo, else the
/// bundled copy), or `localtime`, read from `localtime` (normally
/// [`LOCALTIME`]). A missing (or dangling) localtime means UTC, as in
/// Zincati. A symlink into a `zoneinfo/` directory names its zone; any
/// other localtime file is read as TZif and shown as `localtime`.
pub fn time_zone(name: &str, localtime: &Path) -> Result<(TimeZone, String), WindowError> {
    if name == "localtime" {
        return local_zone(localtime);
    }
    let unknown = |reason: String| WindowError::UnknownZone {
        name: name.to_string(),
        reason,
    };
    if name.eq_ignore_ascii_case("Etc/Unknown") {
        return Err(unknown("the placeholder for an unknown zone".into()));
    }
    let zone = TimeZone::get(name).map_err(|e| unknown(e.to_string()))?;
    Ok((zone, name.to_string()))
}

/// `localtime`: see [`time_zone`].
fn local_zone(path: &Path) -> Result<(TimeZone, String), WindowError> {
    let fail = |reason: String| WindowError::Localtime {
        path: path.to_path_buf(),
        reason,
    };
    let utc = || Ok((TimeZone::UTC, "UTC".to_string()));
    match std::fs::metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return utc(),
        Err(e) => return Err(fail(e.to_string())),
    }
    let linked_name = std::fs::read_link(path).ok().and_then(|target| {
        let target = target.to_string_lossy().into_owned();
        let (_, name) = target.rsplit_once("zoneinfo/")?;
        (!name.is_empty()).then(|| name.to_string())
    });
    if let Some(name) = &linked_name {
        if let Ok(zone) = TimeZone::get(name) {
            return Ok((zone, name.clone()));
        }
    }
    let data = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let name = linked_name.unwrap_or_else(|| "localtime".to_string());
    let zone = TimeZone::tzif(&name, &data).map_err(|e| fail(format!("not a TZif file: {e}")))?;
    Ok((zone, name))
}
