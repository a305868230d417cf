//! Where a file's content comes from: an input, a file beside the spec, or
//! inline text. Shared by the image spec and the initrd spec.
//!
//! ```toml
//! source = { input = "busybox" }                          # the input itself
//! source = { input = "kernel-modules", path = "modules.dep" } # a file inside a dir input
//! source = { file = "files/motd" }                        # relative to the spec file
//! source = { text = "hello\n" }                           # inline
//! source = { artifact = "setup-initrd" }                  # built earlier in the same image build
//! ```

use crate::error::FieldError;
use crate::inputs::InputsManifest;
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};

/// A content source as written in a spec. Exactly one of `input`, `file`
/// and `text` must be set; `path` only goes with `input`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Name of an entry in the inputs manifest.
    pub input: Option<String>,
    /// Relative path inside a directory input.
    pub path: Option<String>,
    /// Path relative to the spec file's directory.
    pub file: Option<String>,
    /// Inline content.
    pub text: Option<String>,
    /// Name of an artifact (initrd, UKI) built earlier in the same build.
    pub artifact: Option<String>,
}

/// A source after resolution.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Content lives in this host file (or directory).
    Path(PathBuf),
    /// Inline bytes.
    Bytes(Vec<u8>),
}

impl Resolved {
    /// Reads the whole content.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Resolved::Path(p) => std::fs::read(p),
            Resolved::Bytes(b) => Ok(b.clone()),
        }
    }
}

/// Resolves [`Source`]s against a spec directory and an inputs manifest.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// Directory that `file = …` sources are relative to.
    pub base_dir: PathBuf,
    /// Named inputs.
    pub inputs: InputsManifest,
    /// Artifacts built so far in this build, by name.
    pub artifacts: std::collections::BTreeMap<String, PathBuf>,
}

impl Resolver {
    /// Creates a resolver.
    pub fn new(base_dir: impl Into<PathBuf>, inputs: InputsManifest) -> Self {
        Self {
            base_dir: base_dir.into(),
            inputs,
            artifacts: Default::default(),
        }
    }

    /// Checks the shape of `source` and resolves it; `field` names it in errors.
    /// Paths are checked to exist.
    pub fn resolve(&self, source: &Source, field: &str) -> Result<Resolved, FieldError> {
        let err = |m: String| FieldError::new(field, m);
        let set = [
            source.input.is_some(),
            source.file.is_some(),
            source.text.is_some(),
            source.artifact.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Err(err(
                "set exactly one of `input`, `file`, `text` or `artifact`".into(),
            ));
        }
        if source.path.is_some() && source.input.is_none() {
            return Err(err("`path` is only valid together with `input`".into()));
        }
        if let Some(text) = &source.text {
            return Ok(Resolved::Bytes(text.as_bytes().to_vec()));
        }
        let path = if let Some(name) = &source.artifact {
            self.artifacts.get(name).cloned().ok_or_else(|| {
                let known: Vec<_> = self.artifacts.keys().map(String::as_str).collect();
                err(format!(
                    "unknown artifact {name:?} (built before this point: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })?
        } else if let Some(name) = &source.input {
            let entry = self.inputs.inputs.get(name).ok_or_else(|| {
                let known: Vec<_> = self.inputs.inputs.keys().map(String::as_str).collect();
                err(format!(
                    "unknown input {name:?} (the inputs manifest has: {})",
                    if known.is_empty() {
                        "nothing".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
            match &source.path {
                Some(sub) => {
                    check_relative(sub).map_err(|m| FieldError::new(format!("{field}.path"), m))?;
                    entry.path.join(sub)
                }
                None => entry.path.clone(),
            }
        } else {
            let file = source.file.as_deref().unwrap_or_default();
            self.base_dir.join(file)
        };
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(err(format!("{} does not exist", path.display())));
        }
        Ok(Resolved::Path(path))
    }
}

/// Accepts a relative path without `..` components.
pub fn check_relative(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if p.is_absolute() {
        return Err(format!("{path:?} must be relative"));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("{path:?} must not contain `..`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> Resolver {
        Resolver::new("/nonexistent-base", InputsManifest::new())
    }

    #[test]
    fn text_source_resolves_to_bytes() {
        let s = Source {
            text: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(
            resolver().resolve(&s, "f").unwrap(),
            Resolved::Bytes(b"hi".to_vec())
        );
    }

    #[test]
    fn errors_name_the_field() {
        let s = Source::default();
        let e = resolver().resolve(&s, "usr.entries[2].source").unwrap_err();
        assert_eq!(e.field, "usr.entries[2].source");
        let s = Source {
            input: Some("kernel".into()),
            ..Default::default()
        };
        let e = resolver().resolve(&s, "x").unwrap_err();
        assert!(e.message.contains("unknown input \"kernel\""), "{e}");
        let s = Source {
            file: Some("missing".into()),
            ..Default::default()
        };
        assert!(resolver()
            .resolve(&s, "x")
            .unwrap_err()
            .message
            .contains("does not exist"));
    }
}
