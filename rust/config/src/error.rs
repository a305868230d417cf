//! Errors that name the offending field.

use std::fmt;

/// A validation error tied to a field path such as `partition[2].size`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// Dotted/indexed path of the field, e.g. `usr.entries[3].mode`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// Creates an error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Deserialises TOML, reporting errors with the path of the offending
/// field (e.g. `partitions[1].size: invalid value …`).
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| FieldError::new(location(text, &e), e.message().to_string()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." {
            location(text, &inner)
        } else {
            path
        };
        FieldError::new(field, inner.message().to_string())
    })
}

fn location(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        }
        None => "spec".into(),
    }
}
