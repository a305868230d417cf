//! The `ignition.config` chain: `replace` throws the config away for the
//! referenced one, otherwise every `merge[]` child is fetched, rendered
//! (depth first) and merged in order. Timeouts and CAs of what has been
//! merged so far apply to the next fetch, as in Ignition.

use crate::config::Config;
use crate::error::{Error, Issue, Report, Result};
use crate::merge::merge;
use crate::parse::{parse, ParseOptions};
use crate::resource::{fetch, Fetcher, HttpPolicy};
use sha2::{Digest, Sha512};
use std::time::Duration;

/// Deepest merge/replace nesting followed (a loop would never end).
const MAX_DEPTH: usize = 8;

/// A config the render step read, for the provisioning record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Where it came from (URL, file name, or JSON path of the reference).
    pub source: String,
    /// sha512 of its bytes, hex.
    pub sha512: String,
}

/// State shared across one render.
pub struct Renderer<'a> {
    /// GETs http(s) URLs.
    pub fetcher: Option<&'a dyn Fetcher>,
    /// Parse options for referenced configs.
    pub parse: ParseOptions,
    /// Warnings collected from every config read.
    pub warnings: Vec<Issue>,
    /// Configs read through references, in order.
    pub sources: Vec<SourceRecord>,
    /// CA bundles fetched so far, by source URL.
    pub ca_cache: std::collections::HashMap<String, Vec<u8>>,
}

/// sha512 of `bytes` in hex.
pub fn sha512_hex(bytes: &[u8]) -> String {
    hex::encode(Sha512::digest(bytes))
}

impl Renderer<'_> {
    /// The HTTP policy `config`'s `ignition` section sets. Each CA bundle
    /// is fetched once per render, however many fetches it applies to.
    pub fn policy(&mut self, config: &Config) -> Result<HttpPolicy> {
        let mut policy = HttpPolicy {
            response_headers_timeout: config
                .ignition
                .timeouts
                .http_response_headers
                .map(Duration::from_secs),
            total_timeout: config.ignition.timeouts.http_total.map(Duration::from_secs),
            ..HttpPolicy::default()
        };
        let base = policy.clone();
        let cas = &config.ignition.security.tls.certificate_authorities;
        for (i, ca) in cas.iter().enumerate() {
            let key = ca.source.clone().unwrap_or_default();
            if !self.ca_cache.contains_key(&key) {
                let path = format!("ignition.security.tls.certificateAuthorities[{i}]");
                let pem = fetch(ca, &path, self.fetcher, &base)?;
                self.ca_cache.insert(key.clone(), pem);
            }
            policy.extra_ca_pem.push(self.ca_cache[&key].clone());
        }
        Ok(policy)
    }

    /// Resolves `config`'s merge/replace chain; `at` prefixes JSON paths of
    /// findings in referenced configs.
    pub fn render(&mut self, config: Config, at: &str) -> Result<Config> {
        self.render_depth(config, at, 0)
    }

    fn render_depth(&mut self, mut config: Config, at: &str, depth: usize) -> Result<Config> {
        let chain = std::mem::take(&mut config.ignition.config);
        if chain.replace.source.is_some() {
            let path = prefixed(at, "ignition.config.replace");
            if depth >= MAX_DEPTH {
                return Err(Error::resource(path, "config references nest too deeply"));
            }
            let policy = self.policy(&config)?;
            let child = self.fetch_config(&chain.replace, &path, &policy)?;
            return self.render_depth(child, &path, depth + 1);
        }
        for (i, r) in chain.merge.iter().enumerate() {
            let path = prefixed(at, &format!("ignition.config.merge[{i}]"));
            if depth >= MAX_DEPTH {
                return Err(Error::resource(path, "config references nest too deeply"));
            }
            let policy = self.policy(&config)?;
            let child = self.fetch_config(r, &path, &policy)?;
            let child = self.render_depth(child, &path, depth + 1)?;
            config = merge(config, child);
        }
        Ok(config)
    }

    fn fetch_config(
        &mut self,
        r: &crate::config::Resource,
        path: &str,
        policy: &HttpPolicy,
    ) -> Result<Config> {
        let bytes = fetch(r, path, self.fetcher, policy)?;
        self.sources.push(SourceRecord {
            source: r.source.clone().unwrap_or_default(),
            sha512: sha512_hex(&bytes),
        });
        match parse(&bytes, self.parse) {
            Ok(p) => {
                self.warnings
                    .extend(p.report.warnings.into_iter().map(|i| prefix_issue(path, i)));
                Ok(p.config)
            }
            Err(report) => Err(Error::Invalid(prefix_report(path, report))),
        }
    }
}

fn prefixed(at: &str, path: &str) -> String {
    if at.is_empty() {
        path.to_string()
    } else {
        format!("{at} → {path}")
    }
}

fn prefix_issue(at: &str, i: Issue) -> Issue {
    Issue::new(prefixed(at, &i.path), i.message)
}

/// Prefixes every finding's path with `at` (the reference it came through).
pub fn prefix_report(at: &str, r: Report) -> Report {
    Report {
        errors: r.errors.into_iter().map(|i| prefix_issue(at, i)).collect(),
        warnings: r
            .warnings
            .into_iter()
            .map(|i| prefix_issue(at, i))
            .collect(),
    }
}
