//! What a provider needs to fetch ([`FetchContext`]) and the two retry
//! policies: Ignition's for the user config ([`Rules::Ignition`]: bounded
//! by the context's deadline) and afterburn's for metadata
//! ([`Rules::Afterburn`]: bounded by a number of retries).

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use metalos_net::http::{HttpClient, HttpError, HttpOptions, HttpResponse, Method};

use crate::PlatformError;

/// The link-local metadata service of EC2 and OpenStack.
pub const METADATA_URL: &str = "http://169.254.169.254";

/// Ignition's bound on fetching the provider config (`--fetch-timeout`).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// A place for progress and retry lines (the console in metalinit, stderr
/// in the CLI).
#[derive(Clone)]
pub struct Log(Arc<dyn Fn(&str) + Send + Sync>);

impl Log {
    /// Lines go to `f`.
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Log {
        Log(Arc::new(f))
    }

    /// Lines go to stderr, prefixed `metalos-platform: `.
    pub fn stderr() -> Log {
        Log::new(|line| eprintln!("metalos-platform: {line}"))
    }

    /// Writes one line.
    pub fn line(&self, line: &str) {
        (self.0)(line)
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Log")
    }
}

/// Pauses between tries: `first`, doubled each time up to `max`; at most
/// `retries` retries after the first try (`None`: until the deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The first pause.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
    /// Retries after the first try; `None` = bounded only by the deadline.
    pub retries: Option<u32>,
}

impl Retry {
    /// Ignition's HTTP retries: 200 ms doubling to 5 s, until the deadline.
    pub const IGNITION: Retry = Retry {
        first: Duration::from_millis(200),
        max: Duration::from_secs(5),
        retries: None,
    };
    /// afterburn's: 10 retries, 1 s doubling to 5 s (about 42 s of pauses).
    pub const AFTERBURN: Retry = Retry {
        first: Duration::from_secs(1),
        max: Duration::from_secs(5),
        retries: Some(10),
    };
}

/// Everything a provider reads from: the metadata service's base URL, the
/// sysfs and `/dev` roots (overridable for tests), an HTTP client and the
/// bounds. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FetchContext {
    /// Base URL of the link-local metadata service, without a trailing
    /// `/` ([`METADATA_URL`]).
    pub metadata_url: String,
    /// Where sysfs is mounted (`/sys`): block devices, fw_cfg, DMI.
    pub sysfs: PathBuf,
    /// Where device nodes are (`/dev`).
    pub dev: PathBuf,
    /// The HTTP client; it should make one try per request
    /// (`HttpOptions::attempts` = 1): the providers retry themselves.
    pub http: HttpClient,
    /// No try starts after this instant (`None`: no bound but the retry
    /// counts). [`FetchContext::new`] sets now + [`FETCH_TIMEOUT`].
    pub deadline: Option<Instant>,
    /// Retries of the user config fetches ([`Retry::IGNITION`]).
    pub config_retry: Retry,
    /// Retries of metadata fetches ([`Retry::AFTERBURN`]).
    pub metadata_retry: Retry,
    /// Longest wait for each response head and each read of a body.
    pub request_timeout: Duration,
    /// How often a config drive is looked for while racing (1 s).
    pub drive_poll: Duration,
    /// Progress, retry and fallback lines.
    pub log: Log,
}

impl FetchContext {
    /// The production context: [`METADATA_URL`], `/sys`, `/dev`, a client
    /// with one try per request (30 s connect timeout as Ignition's dial),
    /// Ignition's and afterburn's retries, 30 s per response, a deadline
    /// [`FETCH_TIMEOUT`] from now, lines to stderr.
    pub fn new() -> Result<FetchContext, PlatformError> {
        let request_timeout = Duration::from_secs(30);
        let http = HttpClient::new(HttpOptions {
            attempts: 1,
            connect_timeout: Duration::from_secs(30),
            io_timeout: request_timeout,
            ..HttpOptions::default()
        })
        .map_err(|e| PlatformError::Http {
            method: "GET",
            url: METADATA_URL.to_string(),
            reason: e.to_string(),
        })?;
        Ok(FetchContext {
            metadata_url: METADATA_URL.to_string(),
            sysfs: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
            http,
            deadline: Some(Instant::now() + FETCH_TIMEOUT),
            config_retry: Retry::IGNITION,
            metadata_retry: Retry::AFTERBURN,
            request_timeout,
            drive_poll: Duration::from_secs(1),
            log: Log::stderr(),
        })
    }

    /// `metadata_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.metadata_url.trim_end_matches('/'))
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// A flag telling racing fetches to stop (the race is decided).
#[derive(Debug, Clone, Default)]
pub(crate) struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub(crate) fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps `d`, or less when cancelled or `deadline` comes first;
    /// false when the sleep was cut short.
    pub(crate) fn sleep(&self, d: Duration, deadline: Option<Instant>) -> bool {
        let end = Instant::now() + d;
        let end = deadline.map_or(end, |dl| end.min(dl));
        while Instant::now() < end {
            if self.is_cancelled() {
                return false;
            }
            thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
        }
        !self.is_cancelled() && deadline.is_none_or(|dl| Instant::now() < dl)
    }
}

/// Which answers count as what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    /// Ignition: 200 and 204 are success, 404 is "not found", 5xx and
    /// connection failures are retried, anything else fails at once; with
    /// [`FetchContext::config_retry`].
    Ignition,
    /// afterburn: 200 (PUT: any 2xx) is success, 404 is "absent", anything
    /// else is retried; with [`FetchContext::metadata_retry`].
    Afterburn,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Got {
    /// The body.
    Body(Vec<u8>),
    /// HTTP 404.
    NotFound,
}

/// One request as a provider makes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub limit: u64,
}

impl<'a> Request<'a> {
    /// A GET of `url` with `headers`, bodies up to `limit` bytes.
    pub(crate) fn get(url: &'a str, headers: &'a [(&'a str, &'a str)], limit: u64) -> Self {
        Request {
            method: Method::Get,
            url,
            headers,
            limit,
        }
    }
}

/// What one try gave.
enum Try {
    Done(Got),
    Retry(String),
    Fatal(String),
}

/// Sends `req` under `rules`, retrying as they say until the retries, the
/// deadline or `cancel` end it; the error names the method, URL, the last
/// reason and the number of tries.
pub(crate) fn fetch(
    ctx: &FetchContext,
    rules: Rules,
    req: Request<'_>,
    cancel: &Cancel,
) -> Result<Got, PlatformError> {
    let retry = match rules {
        Rules::Ignition => ctx.config_retry,
        Rules::Afterburn => ctx.metadata_retry,
    };
    let mut pause = retry.first;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let reason = match try_once(ctx, rules, req) {
            Try::Done(got) => return Ok(got),
            Try::Fatal(reason) => return Err(http_error(req, reason, tries)),
            Try::Retry(reason) => reason,
        };
        let out_of_retries = retry.retries.is_some_and(|r| tries > r);
        if out_of_retries || ctx.expired() || cancel.is_cancelled() {
            return Err(http_error(req, reason, tries));
        }
        ctx.log.line(&format!(
            "{} {}: {reason}; retrying in {pause:?}",
            req.method.as_str(),
            req.url
        ));
        if !cancel.sleep(pause, ctx.deadline) {
            return Err(http_error(req, reason, tries));
        }
        pause = (pause * 2).min(retry.max);
    }
}

fn http_error(req: Request<'_>, reason: String, tries: u32) -> PlatformError {
    let s = if tries == 1 { "" } else { "s" };
    PlatformError::Http {
        method: req.method.as_str(),
        url: req.url.to_string(),
        reason: format!("{reason} (after {tries} attempt{s})"),
    }
}

fn try_once(ctx: &FetchContext, rules: Rules, req: Request<'_>) -> Try {
    let mut options = ctx.http.request_options();
    options.headers = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    options.response_timeout = Some(ctx.request_timeout);
    options.read_timeout = Some(ctx.request_timeout);
    options.total_timeout = ctx.deadline.map(|d| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    });
    match ctx.http.send(req.method, req.url, b"", req.limit, &options) {
        Ok(response) => judge(rules, req.method, response),
        Err(e @ HttpError::TooLarge { .. }) => Try::Fatal(strip_prefix(req, &e)),
        Err(e) => Try::Retry(strip_prefix(req, &e)),
    }
}

/// The error text without its leading `METHOD URL: ` (added back once).
fn strip_prefix(req: Request<'_>, e: &HttpError) -> String {
    let text = e.to_string();
    let prefix = format!("{} {}: ", req.method.as_str(), req.url);
    text.strip_prefix(&prefix).unwrap_or(&text).to_string()
}

fn judge(rules: Rules, method: Method, response: HttpResponse) -> Try {
    let status = response.status;
    let ok = match (rules, method) {
        (Rules::Ignition, _) => status == 200 || status == 204,
        (Rules::Afterburn, Method::Get) => status == 200,
        (Rules::Afterburn, _) => (200..300).contains(&status),
    };
    if ok {
        return Try::Done(Got::Body(response.body));
    }
    if status == 404 {
        return Try::Done(Got::NotFound);
    }
    let reason = format!("HTTP {status}{}", status_text(status));
    match rules {
        Rules::Ignition if status < 500 => Try::Fatal(reason),
        _ => Try::Retry(reason),
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        204 => " No Content",
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        405 => " Method Not Allowed",
        500 => " Internal Server Error",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    }
}
