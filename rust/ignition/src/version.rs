//! Which spec a config was written for.
//!
//! Versions must match exactly (`3.4.0`, not `3.4.1`): 3.0.0–3.5.0 are read
//! natively, 2.0.0–2.4.0 are translated (see [`crate::translate2`]), spec 1
//! (`{"ignitionVersion": 1}`) and anything else are refused.

use crate::error::Issue;
use serde_json::Value;

/// A supported spec version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Spec {
    /// 2.MINOR.0, translated to 3.x.
    V2(u32),
    /// 3.MINOR.0.
    V3(u32),
}

/// The newest 3.x minor version read natively.
pub const MAX_V3_MINOR: u32 = 5;
/// The newest 2.x minor version translated.
pub const MAX_V2_MINOR: u32 = 4;

impl Spec {
    /// The version string, e.g. `3.4.0`.
    pub fn as_string(&self) -> String {
        match self {
            Spec::V2(m) => format!("2.{m}.0"),
            Spec::V3(m) => format!("3.{m}.0"),
        }
    }
}

/// Reads `ignition.version` from a parsed JSON document.
pub fn detect(doc: &Value) -> Result<Spec, Issue> {
    if doc.get("ignitionVersion").is_some() {
        return Err(Issue::new(
            "ignitionVersion",
            "spec 1 configs are not supported; convert the config to spec 3.x (butane, or ign-converter)",
        ));
    }
    let Some(version) = doc.get("ignition").and_then(|i| i.get("version")) else {
        return Err(Issue::new(
            "ignition.version",
            "unsupported config version: ignition.version is missing",
        ));
    };
    let Some(s) = version.as_str() else {
        return Err(Issue::new(
            "ignition.version",
            "invalid config version (couldn't parse): not a string",
        ));
    };
    parse_version(s).map_err(|m| Issue::new("ignition.version", m))
}

/// Parses an exact version string.
pub fn parse_version(s: &str) -> Result<Spec, String> {
    let parts: Vec<&str> = s.split('.').collect();
    let num = |p: &str| -> Option<u32> {
        (!p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0')))
        .then(|| p.parse().ok())
        .flatten()
    };
    let [major, minor, patch] = parts.as_slice() else {
        return Err(format!("invalid config version (couldn't parse): {s:?}"));
    };
    let (Some(major), Some(minor), Some(patch)) = (num(major), num(minor), num(patch)) else {
        return Err(format!("invalid config version (couldn't parse): {s:?}"));
    };
    match (major, minor, patch) {
        (3, m, 0) if m <= MAX_V3_MINOR => Ok(Spec::V3(m)),
        (2, m, 0) if m <= MAX_V2_MINOR => Ok(Spec::V2(m)),
        _ => Err(format!(
            "unsupported config version {s:?} (MetalOS reads 3.0.0-3.5.0 and translates 2.0.0-2.4.0)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_versions_only() {
        for (v, ok) in [
            ("3.0.0", Some(Spec::V3(0))),
            ("3.5.0", Some(Spec::V3(5))),
            ("2.2.0", Some(Spec::V2(2))),
            ("3.4.1", None),
            ("3.6.0", None),
            ("3.6.0-experimental", None),
            ("4.0.0", None),
            ("1.0.0", None),
            ("3.04.0", None),
            ("3.4", None),
            ("", None),
        ] {
            assert_eq!(parse_version(v).ok(), ok, "{v}");
        }
    }

    #[test]
    fn detect_errors_name_the_field() {
        let e = detect(&json!({})).unwrap_err();
        assert_eq!(e.path, "ignition.version");
        assert!(e.message.contains("unsupported config version"));
        let e = detect(&json!({"ignition": {"version": 3}})).unwrap_err();
        assert!(e.message.contains("couldn't parse"));
        let e = detect(&json!({"ignitionVersion": 1})).unwrap_err();
        assert!(e.message.contains("spec 1"));
    }
}
