//! Applying configs to a root directory (see the crate docs).

use crate::error::Result;
use std::path::Path;

/// How [`apply_configs`] runs.
#[derive(Clone, Default)]
pub struct ApplyOptions {
    /// Unknown keys are errors, not warnings.
    pub strict: bool,
    /// Days since the epoch written as the shadow "last change" field of
    /// new users (default: today; builds pass `SOURCE_DATE_EPOCH`).
    pub now_days: Option<u64>,
    /// GETs http(s) resources; `None` makes any such resource an error.
    pub fetcher: Option<std::sync::Arc<dyn crate::resource::Fetcher>>,
}

/// What an apply did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Warnings from parsing and validation, rendered `path: message`.
    pub warnings: Vec<String>,
    /// Paths changed inside the root, in order.
    pub changed: Vec<String>,
}

/// Parses, merges (in the order given), fetches and verifies every
/// resource, plans and writes `configs` into `root`. On any error the root
/// is left exactly as it was.
pub fn apply_configs(
    root: &Path,
    configs: &[Vec<u8>],
    options: &ApplyOptions,
) -> Result<ApplyReport> {
    let _ = (root, configs, options);
    todo!("apply_configs")
}
