//! EC2 metadata as afterburn reads it: an IMDSv2 token if the service
//! hands one out (afterburn retries a failing token request and then goes
//! on with IMDSv1; a 404 goes on at once here, with the same result), then
//! plain-text values under `/2021-01-03/meta-data/` and the region from the
//! instance identity document.

use super::{check_key, key_indexes, Metadata, Wanted};
use crate::fetch::{fetch, Cancel, FetchContext, Got, Request, Rules};
use crate::providers::aws::{token, token_headers};
use crate::PlatformError;

/// The metadata version afterburn asks for.
const VERSION: &str = "/2021-01-03";

/// Largest metadata value accepted.
pub(crate) const VALUE_LIMIT: u64 = 1 << 20;

/// afterburn's attribute keys and their `meta-data/` paths, in its order.
const ATTRIBUTES: [(&str, &str); 9] = [
    ("AWS_INSTANCE_ID", "instance-id"),
    ("AWS_INSTANCE_TYPE", "instance-type"),
    ("AWS_IPV4_LOCAL", "local-ipv4"),
    ("AWS_IPV4_PUBLIC", "public-ipv4"),
    ("AWS_IPV6", "ipv6"),
    ("AWS_AVAILABILITY_ZONE", "placement/availability-zone"),
    ("AWS_AVAILABILITY_ZONE_ID", "placement/availability-zone-id"),
    ("AWS_HOSTNAME", "hostname"),
    ("AWS_PUBLIC_HOSTNAME", "public-hostname"),
];

pub(super) fn fetch_all(ctx: &FetchContext, wanted: Wanted) -> Result<Metadata, PlatformError> {
    let cancel = Cancel::default();
    let token = match token(ctx, Rules::Afterburn, &cancel) {
        Ok(token) => token,
        Err(e) => {
            ctx.log.line(&format!(
                "aws: failed to fetch an IMDSv2 session token ({e}); going on with IMDSv1"
            ));
            None
        }
    };
    let imds = Imds {
        ctx,
        headers: token_headers(token.as_deref()),
    };
    let mut out = Metadata {
        source: ctx.url(VERSION),
        ..Metadata::default()
    };
    if wanted.attributes {
        for (key, path) in ATTRIBUTES {
            if let Some(value) = imds.text(&format!("meta-data/{path}"))? {
                out.attributes.insert(key.to_string(), value);
            }
        }
        if let Some(region) = imds.region()? {
            out.attributes.insert("AWS_REGION".to_string(), region);
        }
    }
    if wanted.hostname {
        out.hostname = imds.text("meta-data/hostname")?;
    }
    if wanted.ssh_keys {
        out.ssh_keys = imds.keys()?;
    }
    Ok(out)
}

/// Requests to IMDS with the session token, if any.
struct Imds<'a> {
    ctx: &'a FetchContext,
    headers: Vec<(&'static str, &'a str)>,
}

impl Imds<'_> {
    /// `GET /2021-01-03/<path>` as text; `None` on 404.
    fn text(&self, path: &str) -> Result<Option<String>, PlatformError> {
        let url = self.ctx.url(&format!("{VERSION}/{path}"));
        get_text(self.ctx, &url, &self.headers)
    }

    /// The `region` of the instance identity document.
    fn region(&self) -> Result<Option<String>, PlatformError> {
        let path = "dynamic/instance-identity/document";
        let Some(doc) = self.text(path)? else {
            return Ok(None);
        };
        let bad = |reason: String| PlatformError::BadMetadata {
            origin: self.ctx.url(&format!("{VERSION}/{path}")),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(&doc).map_err(|e| bad(format!("not JSON: {e}")))?;
        match value.get("region") {
            Some(serde_json::Value::String(region)) => Ok(Some(region.clone())),
            _ => Err(bad("no string \"region\"".to_string())),
        }
    }

    /// The keys of `meta-data/public-keys` (404: none).
    fn keys(&self) -> Result<Vec<String>, PlatformError> {
        let Some(listing) = self.text("meta-data/public-keys")? else {
            return Ok(Vec::new());
        };
        let source = self.ctx.url(&format!("{VERSION}/meta-data/public-keys"));
        let mut keys = Vec::new();
        for index in key_indexes(&source, &listing)? {
            let path = format!("meta-data/public-keys/{index}/openssh-key");
            let url = self.ctx.url(&format!("{VERSION}/{path}"));
            let key = self
                .text(&path)?
                .ok_or_else(|| PlatformError::BadMetadata {
                    origin: url.clone(),
                    reason: "missing ssh key (404)".to_string(),
                })?;
            keys.push(check_key(&url, &key)?);
        }
        Ok(keys)
    }
}

/// `GET url` with afterburn's rules, as UTF-8 text; `None` on 404.
pub(crate) fn get_text(
    ctx: &FetchContext,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Option<String>, PlatformError> {
    let req = Request::get(url, headers, VALUE_LIMIT);
    match fetch(ctx, Rules::Afterburn, req, &Cancel::default())? {
        Got::NotFound => Ok(None),
        Got::Body(body) => {
            String::from_utf8(body)
                .map(Some)
                .map_err(|_| PlatformError::BadMetadata {
                    origin: url.to_string(),
                    reason: "not UTF-8 text".to_string(),
                })
        }
    }
}
