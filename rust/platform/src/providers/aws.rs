//! `aws`: EC2 instance user data from IMDS. An IMDSv2 session token first
//! (`PUT /latest/api/token`); a 404 there means an IMDSv1-only service and
//! the user data is fetched without a token, any other failure is an error
//! (Ignition's rules). `GET /latest/user-data`: 404 = no config.

use metalos_net::http::Method;

use super::{UserConfig, USER_DATA_LIMIT};
use crate::fetch::{fetch, Cancel, FetchContext, Got, Request, Rules};
use crate::PlatformError;

/// The IMDSv2 token endpoint (only `latest` hands out tokens).
pub(crate) const TOKEN_PATH: &str = "/latest/api/token";
/// The header asking for a token and its lifetime.
pub(crate) const TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
/// The header carrying the token.
pub(crate) const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";

pub(super) fn user_config(ctx: &FetchContext) -> Result<Option<UserConfig>, PlatformError> {
    let cancel = Cancel::default();
    let token = token(ctx, Rules::Ignition, &cancel)?;
    let url = ctx.url("/latest/user-data");
    let headers = token_headers(token.as_deref());
    let req = Request::get(&url, &headers, USER_DATA_LIMIT);
    match fetch(ctx, Rules::Ignition, req, &cancel)? {
        Got::Body(data) => Ok(Some(UserConfig { data, source: url })),
        Got::NotFound => {
            ctx.log.line(&format!("aws: GET {url}: 404: no user data"));
            Ok(None)
        }
    }
}

/// `[(X-aws-ec2-metadata-token, token)]`, or nothing without a token.
pub(crate) fn token_headers(token: Option<&str>) -> Vec<(&'static str, &str)> {
    token.map(|t| (TOKEN_HEADER, t)).into_iter().collect()
}

/// An IMDSv2 session token; `None` when the service has no token endpoint
/// (404: IMDSv1 only).
pub(crate) fn token(
    ctx: &FetchContext,
    rules: Rules,
    cancel: &Cancel,
) -> Result<Option<String>, PlatformError> {
    let url = ctx.url(TOKEN_PATH);
    let headers = [(TTL_HEADER, "21600")];
    let req = Request {
        method: Method::Put,
        url: &url,
        headers: &headers,
        limit: 4096,
    };
    match fetch(ctx, rules, req, cancel)? {
        Got::Body(token) => {
            let token = String::from_utf8(token).map_err(|_| PlatformError::BadMetadata {
                origin: format!("PUT {url}"),
                reason: "the session token is not UTF-8".into(),
            })?;
            Ok(Some(token.trim().to_string()))
        }
        Got::NotFound => {
            ctx.log.line(&format!(
                "aws: PUT {url}: 404: IMDSv2 service is unavailable; falling back to IMDSv1"
            ));
            Ok(None)
        }
    }
}
