//! Applying configs to a root directory, in three steps that each can fail
//! without touching the root:
//!
//! 1. [`prepare`]: parse every input, resolve its merge/replace chain,
//!    merge the inputs in order (base configs first, the user config last),
//!    validate the result, then fetch and verify every file resource;
//! 2. [`plan`]: turn the merged config into [`Op`]s against the root's
//!    current state (passwd first, then nodes by path depth, then units),
//!    checking every "exists and overwrite is false" and owner name;
//! 3. [`write()`]: execute the ops through the undo [`Journal`]: an I/O
//!    error part-way restores the root.

use crate::config::Config;
use crate::error::{Error, Issue, Report, Result};
use crate::journal::Journal;
use crate::merge::merge;
use crate::nodes::{plan_nodes, FileData, Owners};
use crate::parse::{parse, ParseOptions, Parsed};
use crate::passwd::{self, PasswdPlan};
use crate::plan::Op;
use crate::planner::Planner;
use crate::render::{prefix_report, Renderer, SourceRecord};
use crate::resource::{fetch, Fetcher};
use crate::units::plan_units;
use crate::validate::validate;
use crate::version::MAX_V3_MINOR;
use std::path::Path;
use std::sync::Arc;

/// How to apply.
#[derive(Clone, Default)]
pub struct ApplyOptions {
    /// Unknown keys are errors, not warnings.
    pub strict: bool,
    /// Days since the epoch written as the shadow "last change" field of
    /// new users (default: today; builds pass `SOURCE_DATE_EPOCH`).
    pub now_days: Option<u64>,
    /// GETs http(s) resources; `None` makes any such resource an error.
    pub fetcher: Option<Arc<dyn Fetcher>>,
    /// Test hook: inject an I/O failure before write op number N.
    #[doc(hidden)]
    pub fail_before_op: Option<usize>,
}

/// One config to apply.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where it came from (file name, URL, `HostConfig.provisioning`).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Everything fetched and verified, ready to plan.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The merged config.
    pub config: Config,
    /// Fetched contents of `config.storage.files`, index for index.
    pub files: Vec<FileData>,
    /// Warnings, rendered `path: message`.
    pub warnings: Vec<String>,
    /// Every config read: the inputs, then referenced configs.
    pub sources: Vec<SourceRecord>,
}

/// What an apply did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Warnings from parsing and validation, rendered `path: message`.
    pub warnings: Vec<String>,
    /// Paths changed inside the root, in order.
    pub changed: Vec<String>,
    /// Every config read.
    pub sources: Vec<SourceRecord>,
}

fn prefix(name: &str, many: bool, r: Report) -> Report {
    if many {
        prefix_report(name, r)
    } else {
        r
    }
}

/// Parses each input (errors name the input when there are several).
pub fn parse_inputs(inputs: &[Input], options: &ApplyOptions) -> Result<Vec<Parsed>> {
    let many = inputs.len() > 1;
    let popts = ParseOptions {
        strict: options.strict,
    };
    let mut out = Vec::new();
    let mut failed = Report::default();
    for input in inputs {
        match parse(&input.bytes, popts) {
            Ok(p) => out.push(p),
            Err(r) => failed.absorb(prefix(&input.name, many, r)),
        }
    }
    if failed.is_ok() {
        Ok(out)
    } else {
        Err(Error::Invalid(failed))
    }
}

/// Whether any resource of `parsed` (before rendering) needs the network.
pub fn needs_network(parsed: &[Parsed]) -> bool {
    let remote = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|s| !s.is_empty() && !s.starts_with("data:"))
    };
    parsed.iter().any(|p| {
        let c = &p.config;
        remote(&c.ignition.config.replace.source)
            || c.ignition.config.merge.iter().any(|r| remote(&r.source))
            || c.ignition
                .security
                .tls
                .certificate_authorities
                .iter()
                .any(|r| remote(&r.source))
            || c.storage
                .files
                .iter()
                .any(|f| remote(&f.contents.source) || f.append.iter().any(|a| remote(&a.source)))
    })
}

/// Merges parsed configs in order (without following their references)
/// and validates the result: what `prepare` would find, minus fetching.
pub fn merge_parsed(parsed: &[Parsed]) -> Report {
    let mut merged: Option<Config> = None;
    for p in parsed {
        let mut c = p.config.clone();
        c.ignition.config = Default::default();
        merged = Some(match merged {
            None => c,
            Some(m) => merge(m, c),
        });
    }
    let mut report = Report::default();
    if let Some(mut c) = merged {
        validate(&mut c, MAX_V3_MINOR, &mut report);
    }
    mark_merged(&mut report);
    report
}

fn mark_merged(report: &mut Report) {
    report.errors.iter_mut().for_each(|i| {
        i.message = format!("{} (in the merged config)", i.message);
    });
}

/// Renders, merges, validates and fetches (step 1).
pub fn prepare(inputs: &[Input], parsed: Vec<Parsed>, options: &ApplyOptions) -> Result<Prepared> {
    let many = inputs.len() > 1;
    let fetcher = options.fetcher.as_deref();
    let mut renderer = Renderer {
        fetcher,
        parse: ParseOptions {
            strict: options.strict,
        },
        warnings: Vec::new(),
        sources: Vec::new(),
        ca_cache: Default::default(),
    };
    let mut warnings: Vec<Issue> = Vec::new();
    let mut sources = Vec::new();
    let mut merged: Option<Config> = None;
    for (input, p) in inputs.iter().zip(parsed) {
        sources.push(SourceRecord {
            source: input.name.clone(),
            sha512: crate::render::sha512_hex(&input.bytes),
        });
        warnings.extend(prefix(&input.name, many, p.report).warnings);
        let at = if many { input.name.as_str() } else { "" };
        let rendered = renderer.render(p.config, at)?;
        merged = Some(match merged {
            None => rendered,
            Some(m) => merge(m, rendered),
        });
    }
    let mut config = merged.unwrap_or_default();
    warnings.append(&mut renderer.warnings);
    sources.append(&mut renderer.sources);
    let mut report = Report::default();
    validate(&mut config, MAX_V3_MINOR, &mut report);
    if !report.is_ok() {
        mark_merged(&mut report);
        return Err(Error::Invalid(report));
    }
    let policy = renderer.policy(&config)?;
    let mut files = Vec::new();
    for (i, f) in config.storage.files.iter().enumerate() {
        let jp = format!("storage.files[{i}]");
        let contents = match f.contents.source {
            Some(_) => Some(fetch(
                &f.contents,
                &format!("{jp}.contents"),
                fetcher,
                &policy,
            )?),
            None => None,
        };
        let mut appends = Vec::new();
        for (k, a) in f.append.iter().enumerate() {
            appends.push(fetch(a, &format!("{jp}.append[{k}]"), fetcher, &policy)?);
        }
        files.push(FileData { contents, appends });
    }
    Ok(Prepared {
        config,
        files,
        warnings: warnings.iter().map(Issue::to_string).collect(),
        sources,
    })
}

struct PlanOwners<'a>(&'a PasswdPlan);

impl Owners for PlanOwners<'_> {
    fn uid(&self, name: &str) -> Option<u32> {
        self.0.uid_of(name)
    }
    fn gid(&self, name: &str) -> Option<u32> {
        self.0.gid_of(name)
    }
}

/// Today, in days since the epoch (or `SOURCE_DATE_EPOCH`'s day).
pub fn today() -> u64 {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    secs / 86400
}

/// Plans the writes (step 2).
pub fn plan(root: &Path, prepared: &Prepared, options: &ApplyOptions) -> Result<Vec<Op>> {
    let c = &prepared.config;
    let now = options.now_days.unwrap_or_else(today);
    let pw = passwd::plan(root, &c.passwd.users, &c.passwd.groups, now)?;
    let mut planner = Planner::new(root);
    for op in &pw.ops {
        planner
            .ensure_parents(op.path())
            .map_err(|m| Error::apply("passwd", m))?;
        planner.push(op.clone());
    }
    plan_nodes(&mut planner, &c.storage, &prepared.files, &PlanOwners(&pw))?;
    plan_units(&mut planner, &c.systemd.units)?;
    Ok(planner.ops)
}

/// Executes the plan (step 3); on error the root is restored.
pub fn write(root: &Path, ops: &[Op], options: &ApplyOptions) -> Result<()> {
    Journal::new(root, options.fail_before_op).run(ops)
}

/// Parses, merges (in the order given), fetches and verifies every
/// resource, plans and writes `inputs` into `root`. On any error the root
/// is left exactly as it was.
pub fn apply_configs(root: &Path, inputs: &[Input], options: &ApplyOptions) -> Result<ApplyReport> {
    let parsed = parse_inputs(inputs, options)?;
    let prepared = prepare(inputs, parsed, options)?;
    let ops = plan(root, &prepared, options)?;
    write(root, &ops, options)?;
    Ok(ApplyReport {
        warnings: prepared.warnings,
        changed: ops.iter().map(|o| o.path().display().to_string()).collect(),
        sources: prepared.sources,
    })
}
