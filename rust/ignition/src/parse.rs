//! Bytes → [`Config`]: JSON, version, 2.x translation, unknown keys, types,
//! validation. Every finding carries a JSON path.

use crate::config::Config;
use crate::error::Report;
use crate::version::{self, Spec};
use crate::{schema, translate2, validate};

/// A parsed, validated config.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The config in the 3.5 model.
    pub config: Config,
    /// The version it was written for.
    pub spec: Spec,
    /// Warnings (errors are returned as `Err`).
    pub report: Report,
}

/// How to parse.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Unknown keys are errors, not warnings.
    pub strict: bool,
}

/// Whether `bytes` hold no config at all (empty or whitespace): Ignition
/// ignores an empty user config and carries on with the base configs.
pub fn is_empty(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| b.is_ascii_whitespace())
}

/// Parses and validates one config.
pub fn parse(bytes: &[u8], options: ParseOptions) -> Result<Parsed, Report> {
    let mut report = Report::default();
    if is_empty(bytes) {
        report.error("", "not a config (empty)");
        return Err(report);
    }
    let mut doc: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            report.error("", format!("config is not valid JSON: {e}"));
            return Err(report);
        }
    };
    if !doc.is_object() {
        report.error(
            "",
            "config is not valid: the top level must be a JSON object",
        );
        return Err(report);
    }
    let spec = match version::detect(&doc) {
        Ok(s) => s,
        Err(issue) => {
            report.errors.push(issue);
            return Err(report);
        }
    };
    let minor = match spec {
        Spec::V3(m) => m,
        Spec::V2(_) => {
            doc = translate2::translate(doc, &mut report);
            if !report.is_ok() {
                return Err(report);
            }
            translate2::TARGET_MINOR
        }
    };
    schema::prune(&mut doc, minor, options.strict, &mut report);
    let mut config: Config = match serde_path_to_error::deserialize(doc) {
        Ok(c) => c,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            report.error(path, format!("config is not valid: {}", e.inner()));
            return Err(report);
        }
    };
    validate::validate(&mut config, minor, &mut report);
    if report.is_ok() {
        Ok(Parsed {
            config,
            spec,
            report,
        })
    } else {
        Err(report)
    }
}

/// Checks a HostConfig's `provisioning` object (a whole Ignition config)
/// at build time: returns every error as `provisioning.PATH: message`.
/// Referenced configs and resources are not fetched.
pub fn check_provisioning(value: &serde_json::Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    parse(&bytes, ParseOptions::default())
        .map(|_| ())
        .map_err(|r| {
            r.errors
                .iter()
                .map(|i| {
                    if i.path.is_empty() {
                        format!("provisioning: {}", i.message)
                    } else {
                        format!("provisioning.{}: {}", i.path, i.message)
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        let r = parse(json.as_bytes(), ParseOptions::default()).unwrap_err();
        r.errors[0].to_string()
    }

    #[test]
    fn type_errors_carry_the_path() {
        let e = err(
            r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/a"},{"path":"/b","mode":"0644"}]}}"#,
        );
        assert!(
            e.starts_with("storage.files[1].mode: config is not valid"),
            "{e}"
        );
        assert!(err("").contains("empty"));
        assert!(err("{,}").contains("not valid JSON"));
        assert!(err("[]").contains("JSON object"));
    }

    #[test]
    fn provisioning_errors_are_prefixed() {
        let v = serde_json::json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "a"}]}});
        assert_eq!(
            check_provisioning(&v).unwrap_err(),
            "provisioning.storage.files[0].path: path not absolute"
        );
    }

    #[test]
    fn minimal_configs_parse() {
        for v in [
            "3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0", "2.0.0", "2.2.0", "2.4.0",
        ] {
            let json = format!(r#"{{"ignition":{{"version":"{v}"}}}}"#);
            let p = parse(json.as_bytes(), ParseOptions::default()).unwrap();
            assert_eq!(p.spec.as_string(), v);
            assert!(p.report.warnings.is_empty(), "{v}: {:?}", p.report);
        }
    }
}
