//! Per-request settings and sending one request.

use std::time::{Duration, Instant};

use ureq::Agent;

/// Settings for one [`super::HttpClient::get_bytes_with`] call; start from
/// [`super::HttpClient::request_options`].
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Request headers (name, value), sent with every try.
    pub headers: Vec<(String, String)>,
    /// Longest wait for the response head of each try; `None` = no limit.
    /// A try that times out is retried.
    pub response_timeout: Option<Duration>,
    /// Longest wait for each read of the body; `None` = no limit.
    pub read_timeout: Option<Duration>,
    /// Longest time for the whole GET — every try, the pauses between
    /// them and reading the body; `None` = bounded only by
    /// [`super::HttpOptions::attempts`] and the timeouts above.
    pub total_timeout: Option<Duration>,
    /// Only 200 and 204 are success (Ignition's rule); otherwise any 2xx.
    pub only_200_or_204: bool,
}

/// Whether `status` ends the request successfully under `options`.
pub(super) fn is_success(status: u16, options: &RequestOptions) -> bool {
    if options.only_200_or_204 {
        status == 200 || status == 204
    } else {
        (200..300).contains(&status)
    }
}

/// Sends one GET with `options` through `agent`; a try that has no time
/// left before `deadline` fails with a timeout at once.
pub(super) fn send(
    agent: &Agent,
    url: &str,
    options: &RequestOptions,
    deadline: Option<Instant>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    with_options(agent.get(url), options, time_left(deadline)?).call()
}

/// An HTTP method for [`super::HttpClient::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (no request body).
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
}

impl Method {
    /// The method's name on the request line, e.g. `PUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// Sends one `method` request (with `body`, except for GET) with `options`
/// through `agent` (as [`send`]).
pub(super) fn send_method(
    agent: &Agent,
    method: Method,
    url: &str,
    body: &[u8],
    options: &RequestOptions,
    deadline: Option<Instant>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let global = time_left(deadline)?;
    match method {
        Method::Get => with_options(agent.get(url), options, global).call(),
        Method::Post => with_options(agent.post(url), options, global).send(body),
        Method::Put => with_options(agent.put(url), options, global).send(body),
    }
}

/// `request` with the timeouts and headers of `options`.
fn with_options<B>(
    request: ureq::RequestBuilder<B>,
    options: &RequestOptions,
    global: Option<Duration>,
) -> ureq::RequestBuilder<B> {
    let mut request = request
        .config()
        .timeout_recv_response(options.response_timeout)
        .timeout_per_read(options.read_timeout)
        .timeout_global(global)
        .build();
    for (name, value) in &options.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    request
}

/// The time left before `deadline` (None: no limit); a timeout error when
/// none is.
fn time_left(deadline: Option<Instant>) -> Result<Option<Duration>, ureq::Error> {
    let Some(d) = deadline else {
        return Ok(None);
    };
    let left = d.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ureq::Error::Timeout(ureq::Timeout::Global));
    }
    Ok(Some(left))
}
